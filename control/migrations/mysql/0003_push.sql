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

CREATE TABLE IF NOT EXISTS `FerryDeviceToken` (
  `userId` int(11) unsigned NOT NULL,
  `clientType` int(11) unsigned NOT NULL DEFAULT '0',
  `token` varchar(255) COLLATE utf8mb4_bin NOT NULL,
  `updated` int(11) unsigned NOT NULL DEFAULT '0',
  PRIMARY KEY (`userId`),
  KEY `idx_token` (`token`(191))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS `FerryGroupShield` (
  `groupId` int(11) unsigned NOT NULL,
  `userId` int(11) unsigned NOT NULL,
  `status` int(11) unsigned NOT NULL DEFAULT '0',
  `updated` int(11) unsigned NOT NULL DEFAULT '0',
  PRIMARY KEY (`groupId`,`userId`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
