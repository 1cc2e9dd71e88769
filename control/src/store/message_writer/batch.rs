//! One batch of messages grouped by conversation, with each message's
//! outcome, and what committed batches leave cached.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::NewMessage;
use crate::Error;

/// An IMRecentSession key: (userId, peerId, type).
pub(super) type Side = (u32, u32, u32);

/// IMRecentSession.type of a single chat and of a group chat.
pub(super) const SESSION_SINGLE: u32 = 1;
pub(super) const SESSION_GROUP: u32 = 2;

/// Cached conversations and session ids at most; past it the cache starts
/// over.
const CACHE_LIMIT: usize = 200_000;

/// One conversation of a batch.
#[derive(Default)]
pub(super) struct Conv {
    /// Indexes of its messages in the batch, in queue order (refused ones
    /// removed).
    pub msgs: Vec<usize>,
    /// relateId of a pair (0 until known); the group id of a group.
    pub key: u32,
    /// The largest msg_id issued for it so far (FerryPair / FerryGroupCounter).
    pub high: u32,
    /// Group messages ever counted (FerryGroupCounter.msgCount).
    pub count: u32,
    pub first_id: u32,
}

pub(super) struct Batch<'a> {
    pub msgs: &'a [&'a NewMessage],
    /// Pairs by (smallId, bigId), in key order (the lock order).
    pub pairs: BTreeMap<(u32, u32), Conv>,
    /// Groups by id, in key order.
    pub groups: BTreeMap<u32, Conv>,
    /// Each message's msg_id or why it was refused; `None` until decided.
    pub results: Vec<Option<Result<u32, Error>>>,
}

impl<'a> Batch<'a> {
    pub(super) fn new(msgs: &'a [&'a NewMessage]) -> Batch<'a> {
        let mut pairs: BTreeMap<(u32, u32), Conv> = BTreeMap::new();
        let mut groups: BTreeMap<u32, Conv> = BTreeMap::new();
        for (i, m) in msgs.iter().enumerate() {
            let conv = if m.group {
                groups.entry(m.to).or_default()
            } else {
                pairs
                    .entry((m.from.min(m.to), m.from.max(m.to)))
                    .or_default()
            };
            conv.msgs.push(i);
        }
        for (&g, conv) in groups.iter_mut() {
            conv.key = g;
        }
        Batch {
            msgs,
            pairs,
            groups,
            results: msgs.iter().map(|_| None).collect(),
        }
    }

    /// The pairs and groups whose counter rows this process has not seen.
    pub(super) fn unseen(&self, cache: &Cache) -> (Vec<(u32, u32)>, Vec<u32>) {
        (
            self.pairs
                .keys()
                .filter(|k| !cache.pairs.contains(k))
                .copied()
                .collect(),
            self.groups
                .keys()
                .filter(|g| !cache.groups.contains(g))
                .copied()
                .collect(),
        )
    }

    /// Every message's outcome, in queue order.
    pub(super) fn results(self) -> Vec<Result<u32, Error>> {
        self.results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::Corrupt("message left unanswered".into()))))
            .collect()
    }

    /// The msg_id given to message `i`.
    pub(super) fn id_of(&self, i: usize) -> u32 {
        match &self.results[i] {
            Some(Ok(id)) => *id,
            _ => unreachable!("every stored message has its id"),
        }
    }

    /// (receiver, sender) -> stored pair messages, for the unread counters.
    pub(super) fn unread_counts(&self) -> BTreeMap<(u32, u32), u32> {
        let mut counts = BTreeMap::new();
        for &i in self.pairs.values().flat_map(|c| &c.msgs) {
            *counts
                .entry((self.msgs[i].to, self.msgs[i].from))
                .or_insert(0) += 1;
        }
        counts
    }

    /// (sender, group) -> (the group's messages stored after the sender's
    /// last one in this batch, the group's msgCount at that last one).
    pub(super) fn group_reads(&self) -> BTreeMap<(u32, u32), (u32, u32)> {
        let mut reads = BTreeMap::new();
        for c in self.groups.values() {
            let n = c.msgs.len() as u32;
            for (k, &i) in c.msgs.iter().enumerate() {
                let k = k as u32;
                reads.insert((self.msgs[i].from, c.key), (n - k - 1, c.count + k + 1));
            }
        }
        reads
    }
}

/// What earlier committed batches established.
#[derive(Default)]
pub(super) struct Cache {
    /// Pairs whose FerryPair row exists.
    pub pairs: HashSet<(u32, u32)>,
    /// Groups whose FerryGroupCounter row exists.
    pub groups: HashSet<u32>,
    /// (userId, peerId, type) -> the IMRecentSession row's id.
    pub sessions: HashMap<Side, u32>,
}

/// What a committed batch adds to the cache.
#[derive(Default)]
pub(super) struct Learned {
    pub pairs: Vec<(u32, u32)>,
    pub groups: Vec<u32>,
    pub sessions: Vec<(Side, u32)>,
}

impl Cache {
    pub(super) fn learn(&mut self, learned: Learned) {
        if self.pairs.len() + self.groups.len() + self.sessions.len() > CACHE_LIMIT {
            *self = Cache::default();
        }
        self.pairs.extend(learned.pairs);
        self.groups.extend(learned.groups);
        self.sessions.extend(learned.sessions);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_has_read_up_to_its_own_last_message() {
        let m = |from| NewMessage {
            group: true,
            from,
            to: 9,
            msg_type: 0x11,
            text: String::new(),
            create_time: 0,
        };
        let (a, b) = (m(1), m(2));
        let msgs = [&a, &b, &a];
        let mut batch = Batch::new(&msgs);
        batch.groups.get_mut(&9).unwrap().count = 10;
        let reads = batch.group_reads();
        // User 1 sent the 11th and 13th: nothing after its last, read 13.
        assert_eq!(reads[&(1, 9)], (0, 13));
        // User 2 sent the 12th: one after it, read 12.
        assert_eq!(reads[&(2, 9)], (1, 12));
    }

    #[test]
    fn messages_group_by_conversation_in_key_order() {
        let m = |from, to, group| NewMessage {
            group,
            from,
            to,
            msg_type: 1,
            text: String::new(),
            create_time: 0,
        };
        let (x, y, z) = (m(5, 3, false), m(3, 5, false), m(1, 7, true));
        let msgs = [&x, &y, &z];
        let batch = Batch::new(&msgs);
        assert_eq!(
            batch.pairs[&(3, 5)].msgs,
            [0, 1],
            "both directions, one pair"
        );
        assert_eq!(batch.groups[&7].msgs, [2]);
        assert_eq!(batch.unread_counts()[&(3, 5)], 1);
        assert_eq!(batch.unread_counts()[&(5, 3)], 1);
    }
}
