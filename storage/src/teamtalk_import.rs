//! Import of TeamTalk file_server's `offline_file/`: comes with a later commit.
