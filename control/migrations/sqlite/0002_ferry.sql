-- ferry's own tables, beside TeamTalk's (which stay exactly as TeamTalk reads
-- them; no unique key is added to them, so a TeamTalk dump with the duplicate
-- rows its races left behind still loads).
--
-- FerryPair: one row per ordered user pair (smallId < bigId). Its primary key
-- is the lock that serialises every message of the pair, so the IMRelationShip
-- row and the two IMRecentSession rows are created exactly once; relateId
-- caches the relation id; msgId is the pair's high-water msg_id (the embedded
-- counter, and the floor a Redis counter is checked against).
-- FerryGroupCounter: the same for a group: msgId high water, msgCount = every
-- message ever sent (TeamTalk's `<groupId>_im_group_msg` count without Redis).
-- FerryUnread / FerryGroupRead: unread counters without Redis (TeamTalk's
-- `unread_<userId>` hash and `<userId>_<groupId>_im_user_group` count).
-- FerryPassword: argon2 hashes of users created by ferry. IMUser.password is
-- varchar(32) and TeamTalk compares it with md5hex(md5hex(plain) + salt): it
-- holds the marker `!argon2` for such users, which no MD5 hex can equal, so a
-- TeamTalk db_proxy sharing the database refuses them rather than misreading.

CREATE TABLE IF NOT EXISTS FerryPair (
  smallId INTEGER NOT NULL,
  bigId INTEGER NOT NULL,
  relateId INTEGER NOT NULL DEFAULT 0,
  msgId INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (smallId, bigId)
);

CREATE TABLE IF NOT EXISTS FerryGroupCounter (
  groupId INTEGER PRIMARY KEY,
  msgId INTEGER NOT NULL DEFAULT 0,
  msgCount INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS FerryUnread (
  userId INTEGER NOT NULL,
  peerId INTEGER NOT NULL,
  cnt INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (userId, peerId)
);

CREATE TABLE IF NOT EXISTS FerryGroupRead (
  userId INTEGER NOT NULL,
  groupId INTEGER NOT NULL,
  cnt INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (userId, groupId)
);

CREATE TABLE IF NOT EXISTS FerryPassword (
  userId INTEGER PRIMARY KEY,
  hash TEXT NOT NULL,
  updated INTEGER NOT NULL DEFAULT 0
);
