//! Where a PDU goes: this route_server's links that hold the users it names
//! (or all of them), and, with Redis, the other route_servers that do; and
//! how presence moves are counted and announced.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use ferry_proto::pb::im::base_define::{UserStat, UserStatType};
use ferry_proto::pb::im::buddy::ImUserStatNotify;
use ferry_proto::pb::im::server::ImServerPcLoginStatusNotify;
use ferry_proto::{Pdu, frame};

use super::Shared;
use super::cluster::{Event, Reach};
use super::presence::{Change, LinkId};
use crate::server::Outbox;

/// Where a PDU handed over goes.
#[derive(Debug, Clone)]
pub(super) enum Targets {
    /// The links holding a session of any of these users, but the sender.
    Users(Vec<u32>),
    /// Every link but the sender.
    Others,
    /// Every link, the sender too (it does not deliver locally first).
    All,
}

/// Sessions of a user and client type coming (> 0) or going (< 0) on one
/// link: (user, client type, delta).
pub(super) type Move = (u32, i32, i64);

impl Shared {
    pub(super) fn encode<T: Pdu>(&self, msg: &T, seq: u16) -> Option<Bytes> {
        frame::encode_to_bytes(msg, seq, self.max_frame)
            .map_err(|e| tracing::error!(error = %e, "not sent"))
            .ok()
    }

    /// Delivers `pdu` to `targets` on this route_server (but link `from`,
    /// where the target says so) and hands it to the other route_servers
    /// that need it.
    pub(super) async fn deliver(&self, pdu: Bytes, targets: Targets, from: Option<LinkId>) {
        for outbox in self.local(&targets, from) {
            if outbox.send(pdu.clone()).await.is_ok() {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Some(cluster) = &self.cluster {
            match &targets {
                Targets::Users(users) => cluster.to_users(users, &pdu).await,
                Targets::Others | Targets::All => cluster.to_all(&pdu).await,
            }
        }
    }

    fn local(&self, targets: &Targets, except: Option<LinkId>) -> Vec<Outbox> {
        let links = self.links();
        let except = |id: &LinkId| Some(*id) != except;
        match targets {
            Targets::All => links.values().cloned().collect(),
            Targets::Others => links
                .iter()
                .filter(|(id, _)| except(id))
                .map(|(_, o)| o.clone())
                .collect(),
            Targets::Users(users) => {
                let presence = self.presence();
                let mut ids: Vec<LinkId> = users
                    .iter()
                    .flat_map(|u| presence.links_of(*u))
                    .filter(except)
                    .collect();
                ids.sort_unstable();
                ids.dedup();
                ids.iter().filter_map(|id| links.get(id).cloned()).collect()
            }
        }
    }

    /// What another route_server handed over or found: delivered to this
    /// route_server's links only.
    pub(super) async fn arrive(&self, event: Event) {
        match event {
            Event::Envelope(e) => {
                tracing::debug!(reach = ?e.reach, bytes = e.pdu.len(), "handed over");
                self.handed_in.fetch_add(1, Ordering::Relaxed);
                let targets = match e.reach {
                    Reach::Users(users) => Targets::Users(users),
                    Reach::All => Targets::All,
                };
                for outbox in self.local(&targets, None) {
                    if outbox.send(e.pdu.clone()).await.is_ok() {
                        self.delivered.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Event::Restate => {
                if let Some(cluster) = &self.cluster {
                    let sessions = self.presence().all_sessions();
                    cluster.restate(&sessions).await;
                }
            }
            Event::Gone(users) => {
                let Some(cluster) = &self.cluster else { return };
                let Some(online) = cluster.pc_online(&users).await else {
                    return;
                };
                let changes = users
                    .into_iter()
                    .zip(online)
                    .filter(|(_, online)| !online)
                    .map(|(user, _)| Change {
                        user,
                        pc_before: true,
                        pc_after: false,
                        present: false,
                    })
                    .collect();
                self.announce(changes, None).await;
            }
        }
    }

    /// Presence moves on link `link`, already applied to this route_server's
    /// view (`local`, its flips as seen here): with Redis, counted there and
    /// the flips read across every route_server instead.
    pub(super) async fn moved(&self, moves: Vec<Move>, local: Vec<Change>) -> Vec<Change> {
        let Some(cluster) = &self.cluster else {
            return local;
        };
        let mut by_user: HashMap<u32, Change> = HashMap::new();
        for (user, client_type, delta) in moves.into_iter().filter(|m| m.2 != 0) {
            let Some(f) = cluster.count(user, client_type, delta).await else {
                return local; // Redis is out: this route_server's view
            };
            by_user
                .entry(user)
                .and_modify(|c| {
                    c.pc_after = f.pc_after;
                    c.present = f.present;
                })
                .or_insert(Change {
                    user,
                    pc_before: f.pc_before,
                    pc_after: f.pc_after,
                    present: f.present,
                });
        }
        by_user.into_values().collect()
    }

    /// For users whose PC presence flipped: status notifies to every link
    /// (each msg_server passes them on to the sessions that watch the user),
    /// PC-login notifies to the links of the user but `from` (their mobile
    /// sessions show it).
    pub(super) async fn announce(&self, changes: Vec<Change>, from: Option<LinkId>) {
        for c in changes.into_iter().filter(|c| c.pc_before != c.pc_after) {
            tracing::debug!(user = c.user, online = c.pc_after, "presence flipped");
            let status = if c.pc_after {
                UserStatType::UserStatusOnline
            } else {
                UserStatType::UserStatusOffline
            };
            let notify = ImUserStatNotify {
                user_stat: UserStat {
                    user_id: c.user,
                    status: status as i32,
                },
            };
            if let Some(pdu) = self.encode(&notify, 0) {
                self.deliver(pdu, Targets::All, from).await;
            }
            if c.present {
                let pc = ImServerPcLoginStatusNotify {
                    user_id: c.user,
                    login_status: u32::from(c.pc_after),
                };
                if let Some(pdu) = self.encode(&pc, 0) {
                    self.deliver(pdu, Targets::Users(vec![c.user]), from).await;
                }
            }
        }
    }

    /// Which of `users` have a PC client online: across route_servers with
    /// Redis (this one's view if Redis fails).
    pub(super) async fn pc_online(&self, users: &[u32]) -> Vec<bool> {
        if let Some(cluster) = &self.cluster
            && let Some(online) = cluster.pc_online(users).await
        {
            return online;
        }
        let presence = self.presence();
        users.iter().map(|u| presence.pc_online(*u)).collect()
    }
}
