-- IMTransmitFile.size: TeamTalk's int(11) unsigned holds at most 4 GiB - 1;
-- a ferry peer's offline file may be larger (IMFileAddOfflineReq's
-- file_size_u64, PROTOCOL-EXTENSIONS.md). Widening keeps every value.
ALTER TABLE `IMTransmitFile` MODIFY `size` bigint(20) unsigned NOT NULL DEFAULT '0';
