-- IMTransmitFile (offline files waiting for their receiver; ferry defines
-- the table, TeamTalk ships none) becomes safe to repeat into and able to
-- hold any file name:
--
-- * fileName holds the bytes a client sent. Windows clients send names in
--   the system code page (GBK on Chinese Windows), which a utf8mb4 column
--   refuses; varbinary(2048) keeps every name a varchar(512) utf8mb4 could,
--   byte for byte.
-- * One row per (fromId, toId, taskId). CID_FILE_ADD_OFFLINE_REQ has no
--   answer, so msg_server cannot know whether it arrived and may send it
--   again; a repeat must change nothing. Rows that earlier repeats left
--   behind are folded into the oldest first.

ALTER TABLE `IMTransmitFile` MODIFY `fileName` varbinary(2048) NOT NULL DEFAULT '';

DELETE t1 FROM `IMTransmitFile` t1 JOIN `IMTransmitFile` t2
  ON t1.fromId = t2.fromId AND t1.toId = t2.toId AND t1.taskId = t2.taskId AND t1.id > t2.id;

ALTER TABLE `IMTransmitFile` ADD UNIQUE KEY `uk_fromId_toId_taskId` (`fromId`, `toId`, `taskId`);
