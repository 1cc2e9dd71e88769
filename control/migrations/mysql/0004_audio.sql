-- Audio messages (MsgType 0x02 single, 0x12 group), stored as TeamTalk
-- stores them: an IMAudio row (fromId, toId, path, size, duration, created)
-- and the message's `content` = the IMAudio id as decimal text.
--
-- TeamTalk keeps the audio bytes on its msfs HTTP server and IMAudio.path is
-- their msfs URL. ferry has no msfs: the bytes live here, one row per IMAudio
-- row ferry wrote, whose path is `ferry:audio/<id>`. Rows migrated from
-- TeamTalk (msfs URLs) have none; reading them gives the duration without
-- the bytes (store/audio.rs).

CREATE TABLE IF NOT EXISTS `FerryAudioData` (
  `audioId` int(11) unsigned NOT NULL,
  `data` mediumblob NOT NULL,
  PRIMARY KEY (`audioId`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
