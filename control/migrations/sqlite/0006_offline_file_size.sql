-- IMTransmitFile.size: a SQLite INTEGER already holds 64 bits, so files past
-- 4 GiB need no change here (mysql/0006 widens the column); this script
-- keeps the two backends' migration numbers aligned.
SELECT 1;
