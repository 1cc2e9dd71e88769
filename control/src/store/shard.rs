//! TeamTalk's message tables are split in eight: a pair's messages live in
//! `IMMessage_<relateId % 8>`, a group's in `IMGroupMessage_<groupId % 8>`.
//! Table names cannot be parameters, so each statement is written once per
//! shard as a constant and picked by [`of`].

/// The shard of a relation's or group's messages (TeamTalk: id % 8).
pub(super) fn of(id: u32) -> usize {
    (id % 8) as usize
}

/// One constant statement per shard: `$head` + shard digit + `$tail`. Table
/// names cannot be parameters; a fixed table keeps every statement a
/// compile-time constant.
macro_rules! per_shard {
    ($head:literal, $tail:literal) => {
        [
            concat!($head, "0", $tail),
            concat!($head, "1", $tail),
            concat!($head, "2", $tail),
            concat!($head, "3", $tail),
            concat!($head, "4", $tail),
            concat!($head, "5", $tail),
            concat!($head, "6", $tail),
            concat!($head, "7", $tail),
        ]
    };
}
pub(super) use per_shard;

pub(super) const INSERT_MESSAGE: [&str; 8] = per_shard!(
    "INSERT INTO IMMessage_",
    " (relateId, fromId, toId, msgId, content, type, status, updated, created) \
     VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)"
);
pub(super) const INSERT_GROUP_MESSAGE: [&str; 8] = per_shard!(
    "INSERT INTO IMGroupMessage_",
    " (groupId, userId, msgId, content, type, status, updated, created) \
     VALUES (?, ?, ?, ?, ?, 0, ?, ?)"
);
pub(super) const MAX_MSG_ID: [&str; 8] = per_shard!(
    "SELECT MAX(msgId) AS m FROM IMMessage_",
    " WHERE relateId = ?"
);
pub(super) const MAX_GROUP_MSG_ID: [&str; 8] = per_shard!(
    "SELECT MAX(msgId) AS m FROM IMGroupMessage_",
    " WHERE groupId = ?"
);
