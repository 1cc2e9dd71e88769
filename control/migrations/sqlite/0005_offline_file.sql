-- IMTransmitFile: one row per (fromId, toId, taskId), so a repeated
-- CID_FILE_ADD_OFFLINE_REQ (it has no answer; msg_server may send it again)
-- changes nothing. Rows earlier repeats left behind are folded into the
-- oldest first. fileName needs no change here: a SQLite column holds the
-- bytes of a non-UTF-8 name as a BLOB.

DELETE FROM IMTransmitFile WHERE id NOT IN
  (SELECT MIN(id) FROM IMTransmitFile GROUP BY fromId, toId, taskId);

CREATE UNIQUE INDEX IF NOT EXISTS IMTransmitFile_uk_fromId_toId_taskId
  ON IMTransmitFile (fromId, toId, taskId);
