-- Push settings kept by ferry when no Redis is configured (with Redis they
-- are TeamTalk's keys, PROTOCOL.md §e, and these tables stay empty).
--
-- FerryDeviceToken: TeamTalk's `device_<userId>` ("ios:<token>",
-- "android:<token>" or "<token>") as one row per user, with the client type
-- apart; the index on token is TeamTalk's reverse key `device_<token>`. A
-- token belongs to one user at a time: setting it for a user removes it from
-- any other.
-- FerryGroupShield: TeamTalk's `group_set_<groupId>` hash (field
-- `<userId>_1`, value: shield status) as one row per member who set it.

CREATE TABLE IF NOT EXISTS FerryDeviceToken (
  userId INTEGER PRIMARY KEY,
  clientType INTEGER NOT NULL DEFAULT 0,
  token TEXT NOT NULL,
  updated INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS idx_FerryDeviceToken_token ON FerryDeviceToken (token);

CREATE TABLE IF NOT EXISTS FerryGroupShield (
  groupId INTEGER NOT NULL,
  userId INTEGER NOT NULL,
  status INTEGER NOT NULL DEFAULT 0,
  updated INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (groupId, userId)
);
