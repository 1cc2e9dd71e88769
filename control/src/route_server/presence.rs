//! Who is online where: for each user, the msg_server links holding a
//! session of theirs and how many of each client type. Counted per link
//! (TeamTalk counts per user across links, so a msg_server that drops
//! leaves its users' client types behind and their PC looks online for
//! ever): a link that closes takes exactly its own sessions with it.
//!
//! A user is ONLINE for status queries when a PC client (client type bit
//! 0x10 clear) is present on any link, as in TeamTalk.

use std::collections::{HashMap, HashSet};

use ferry_proto::pb::im::base_define::ServerUserStat;

/// A msg_server link, numbered by the route_server.
pub type LinkId = u64;

/// TeamTalk's rule: client types with bit 0x10 set are mobile.
pub fn is_pc(client_type: i32) -> bool {
    client_type & 0x10 == 0
}

/// How a user's presence moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub user: u32,
    /// A PC client was present before / is now.
    pub pc_before: bool,
    pub pc_after: bool,
    /// Any client at all is present now.
    pub present: bool,
}

#[derive(Debug, Default)]
pub struct Presence {
    /// user -> link -> client type -> sessions.
    users: HashMap<u32, HashMap<LinkId, HashMap<i32, u32>>>,
    /// link -> its users, to drop them when it closes.
    links: HashMap<LinkId, HashSet<u32>>,
}

impl Presence {
    pub fn pc_online(&self, user: u32) -> bool {
        self.users.get(&user).is_some_and(|links| {
            links
                .values()
                .any(|types| types.iter().any(|(t, n)| *n > 0 && is_pc(*t)))
        })
    }

    /// The links holding a session of `user`.
    pub fn links_of(&self, user: u32) -> impl Iterator<Item = LinkId> + '_ {
        self.users
            .get(&user)
            .into_iter()
            .flat_map(|links| links.keys().copied())
    }

    pub fn users_online(&self) -> usize {
        self.users.len()
    }

    /// Sessions of `user` with `client_type` on `link`.
    pub fn count_of(&self, link: LinkId, user: u32, client_type: i32) -> u32 {
        self.users
            .get(&user)
            .and_then(|links| links.get(&link))
            .and_then(|types| types.get(&client_type))
            .copied()
            .unwrap_or(0)
    }

    /// Every session on every link, summed: (user, client type, sessions).
    pub fn all_sessions(&self) -> Vec<(u32, i32, u32)> {
        let mut sum: HashMap<(u32, i32), u32> = HashMap::new();
        for (user, links) in &self.users {
            for types in links.values() {
                for (t, n) in types {
                    *sum.entry((*user, *t)).or_default() += n;
                }
            }
        }
        sum.into_iter().map(|((u, t), n)| (u, t, n)).collect()
    }

    /// Every session on `link`: (user, client type, sessions).
    pub fn sessions_of(&self, link: LinkId) -> Vec<(u32, i32, u32)> {
        let Some(users) = self.links.get(&link) else {
            return Vec::new();
        };
        users
            .iter()
            .filter_map(|u| Some((*u, self.users.get(u)?.get(&link)?)))
            .flat_map(|(u, types)| types.iter().map(move |(t, n)| (u, *t, *n)))
            .collect()
    }

    /// One session of `user` with `client_type` on `link` came (`online`)
    /// or went.
    pub fn update(&mut self, link: LinkId, user: u32, client_type: i32, online: bool) -> Change {
        let pc_before = self.pc_online(user);
        if online {
            *self
                .users
                .entry(user)
                .or_default()
                .entry(link)
                .or_default()
                .entry(client_type)
                .or_default() += 1;
            self.links.entry(link).or_default().insert(user);
        } else if let Some(links) = self.users.get_mut(&user)
            && let Some(types) = links.get_mut(&link)
        {
            if let Some(n) = types.get_mut(&client_type) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    types.remove(&client_type);
                }
            }
            if types.is_empty() {
                links.remove(&link);
                if let Some(users) = self.links.get_mut(&link) {
                    users.remove(&user);
                }
            }
            if links.is_empty() {
                self.users.remove(&user);
            }
        }
        Change {
            user,
            pc_before,
            pc_after: self.pc_online(user),
            present: self.users.contains_key(&user),
        }
    }

    /// `link`'s sessions are exactly `stats` (IMOnlineUserInfo, sent when a
    /// msg_server connects).
    pub fn replace_link(&mut self, link: LinkId, stats: &[ServerUserStat]) -> Vec<Change> {
        let mut changes = self.remove_link(link);
        for s in stats {
            let c = self.update(link, s.user_id, s.client_type, true);
            match changes.iter_mut().find(|x| x.user == c.user) {
                Some(x) => {
                    x.pc_after = c.pc_after;
                    x.present = c.present;
                }
                None => changes.push(c),
            }
        }
        changes.retain(|c| c.pc_before != c.pc_after);
        changes
    }

    /// `link` is gone: its sessions with it.
    pub fn remove_link(&mut self, link: LinkId) -> Vec<Change> {
        let users = self.links.remove(&link).unwrap_or_default();
        users
            .into_iter()
            .map(|user| {
                let pc_before = self.pc_online(user);
                if let Some(links) = self.users.get_mut(&user) {
                    links.remove(&link);
                    if links.is_empty() {
                        self.users.remove(&user);
                    }
                }
                Change {
                    user,
                    pc_before,
                    pc_after: self.pc_online(user),
                    present: self.users.contains_key(&user),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOWS: i32 = 0x01;
    const ANDROID: i32 = 0x12;

    #[test]
    fn pc_presence_is_counted_per_link_and_dies_with_it() {
        let mut p = Presence::default();
        let c = p.update(1, 7, ANDROID, true);
        assert!(!c.pc_after && c.present, "mobile only is not ONLINE");
        let c = p.update(2, 7, WINDOWS, true);
        assert!(!c.pc_before && c.pc_after);
        assert_eq!(p.links_of(7).count(), 2);
        // Link 2 dies without saying goodbye: its PC session goes with it.
        let gone = p.remove_link(2);
        assert_eq!(gone.len(), 1);
        assert!(gone[0].pc_before && !gone[0].pc_after && gone[0].present);
        assert!(!p.pc_online(7));
        let c = p.update(1, 7, ANDROID, false);
        assert!(!c.present);
        assert_eq!(p.users_online(), 0);
    }

    #[test]
    fn a_reconnecting_msg_server_restates_its_sessions() {
        let mut p = Presence::default();
        p.update(1, 5, WINDOWS, true);
        p.update(1, 6, WINDOWS, true);
        let stats = [
            ServerUserStat {
                user_id: 6,
                status: 1,
                client_type: WINDOWS,
            },
            ServerUserStat {
                user_id: 8,
                status: 1,
                client_type: WINDOWS,
            },
        ];
        let mut changes = p.replace_link(1, &stats);
        changes.sort_by_key(|c| c.user);
        let flips: Vec<(u32, bool)> = changes.iter().map(|c| (c.user, c.pc_after)).collect();
        assert_eq!(flips, [(5, false), (8, true)], "6 stayed online: no change");
    }
}
