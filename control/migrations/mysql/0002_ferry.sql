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

CREATE TABLE IF NOT EXISTS `FerryPair` (
  `smallId` int(11) unsigned NOT NULL,
  `bigId` int(11) unsigned NOT NULL,
  `relateId` int(11) unsigned NOT NULL DEFAULT '0',
  `msgId` int(11) unsigned NOT NULL DEFAULT '0',
  PRIMARY KEY (`smallId`,`bigId`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `FerryGroupCounter` (
  `groupId` int(11) unsigned NOT NULL,
  `msgId` int(11) unsigned NOT NULL DEFAULT '0',
  `msgCount` int(11) unsigned NOT NULL DEFAULT '0',
  PRIMARY KEY (`groupId`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `FerryUnread` (
  `userId` int(11) unsigned NOT NULL,
  `peerId` int(11) unsigned NOT NULL,
  `cnt` int(11) unsigned NOT NULL DEFAULT '0',
  PRIMARY KEY (`userId`,`peerId`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `FerryGroupRead` (
  `userId` int(11) unsigned NOT NULL,
  `groupId` int(11) unsigned NOT NULL,
  `cnt` int(11) unsigned NOT NULL DEFAULT '0',
  PRIMARY KEY (`userId`,`groupId`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `FerryPassword` (
  `userId` int(11) unsigned NOT NULL,
  `hash` varchar(255) COLLATE utf8mb4_bin NOT NULL,
  `updated` int(11) unsigned NOT NULL DEFAULT '0',
  PRIMARY KEY (`userId`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
