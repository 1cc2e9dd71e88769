//! The client sessions of one msg_server: by connection handle, by user, and
//! who wants to hear of whose presence. Behind one `std::sync::Mutex` that
//! is held for a few map operations and never across an `.await`; sends
//! happen after the lock is released, on the outboxes taken out.
//!
//! Presence interest: a status change of user U goes to the PC sessions that
//! asked about U (IMUsersStatReq; at most `watch_limit` users each) and to
//! the PC sessions of U's department when U's department is known here (U
//! logged in here, now or before). TeamTalk sends every change to every PC
//! session on the server: O(N) per login, O(N²) for N logins.

use std::collections::{HashMap, HashSet};

use ferry_proto::pb::im::base_define::ServerUserStat;

use crate::server::Outbox;

/// A client connection's number on this msg_server (never 0): what the
/// `attach_data` cookie names.
pub(super) type Handle = u32;

/// TeamTalk's rule: client types with bit 0x10 set are mobile.
pub(super) fn is_mobile(client_type: i32) -> bool {
    client_type & 0x10 != 0
}

/// One client connection.
#[derive(Debug)]
pub(super) struct Session {
    pub outbox: Outbox,
    /// 0 until the login is validated.
    pub user: u32,
    pub client_type: i32,
    pub online_status: i32,
    /// Users this session asked the status of.
    pub watching: HashSet<u32>,
    /// Its login answer is queued: from now on it hears of others.
    pub answered: bool,
}

/// Departments remembered at most (users who logged in here).
const DEPARTMENTS: usize = 200_000;

#[derive(Debug, Default)]
pub(super) struct Table {
    sessions: HashMap<Handle, Session>,
    by_user: HashMap<u32, Vec<Handle>>,
    /// user -> department, for users seen logging in here.
    department_of: HashMap<u32, u32>,
    /// department -> handles of validated PC sessions in it.
    by_department: HashMap<u32, HashSet<Handle>>,
    /// watched user -> handles of sessions watching them.
    watchers: HashMap<u32, HashSet<Handle>>,
    /// Users last seen with a PC session here (see [`Table::pc_flipped`]).
    pc_online: HashSet<u32>,
}

impl Table {
    pub(super) fn insert(&mut self, handle: Handle, outbox: Outbox) {
        self.sessions.insert(
            handle,
            Session {
                outbox,
                user: 0,
                client_type: 0,
                online_status: 0,
                watching: HashSet::new(),
                answered: false,
            },
        );
    }

    /// `handle`'s login answer is queued: presence notifies may follow it.
    pub(super) fn answered(&mut self, handle: Handle) {
        if let Some(s) = self.sessions.get_mut(&handle) {
            s.answered = true;
        }
    }

    pub(super) fn get(&self, handle: Handle) -> Option<&Session> {
        self.sessions.get(&handle)
    }

    /// Marks `handle` logged in as `user`; returns the sessions it
    /// supersedes (same user, same kind of client: PC or mobile), which the
    /// caller tells they were kicked and closes.
    pub(super) fn validate(
        &mut self,
        handle: Handle,
        user: u32,
        client_type: i32,
        online_status: i32,
        department: u32,
    ) -> Vec<(Handle, Outbox)> {
        let kicked = self.same_kind(user, client_type, Some(handle));
        let Some(s) = self.sessions.get_mut(&handle) else {
            return kicked;
        };
        s.user = user;
        s.client_type = client_type;
        s.online_status = online_status;
        self.by_user.entry(user).or_default().push(handle);
        if self.department_of.len() >= DEPARTMENTS && !self.department_of.contains_key(&user) {
            self.department_of.clear();
        }
        self.department_of.insert(user, department);
        if !is_mobile(client_type) {
            self.by_department
                .entry(department)
                .or_default()
                .insert(handle);
        }
        kicked
    }

    /// Sessions of `user` of the same kind (PC or mobile) as `client_type`,
    /// but `except`.
    pub(super) fn same_kind(
        &self,
        user: u32,
        client_type: i32,
        except: Option<Handle>,
    ) -> Vec<(Handle, Outbox)> {
        self.by_user
            .get(&user)
            .into_iter()
            .flatten()
            .filter(|h| Some(**h) != except)
            .filter_map(|h| self.sessions.get(h).map(|s| (*h, s)))
            .filter(|(_, s)| is_mobile(s.client_type) == is_mobile(client_type))
            .map(|(h, s)| (h, s.outbox.clone()))
            .collect()
    }

    /// Removes a session and everything that names it.
    pub(super) fn remove(&mut self, handle: Handle) -> Option<Session> {
        let s = self.sessions.remove(&handle)?;
        if s.user != 0 {
            if let Some(list) = self.by_user.get_mut(&s.user) {
                list.retain(|h| *h != handle);
                if list.is_empty() {
                    self.by_user.remove(&s.user);
                }
            }
            if let Some(d) = self.department_of.get(&s.user)
                && let Some(set) = self.by_department.get_mut(d)
            {
                set.remove(&handle);
                if set.is_empty() {
                    self.by_department.remove(d);
                }
            }
        }
        for watched in &s.watching {
            if let Some(set) = self.watchers.get_mut(watched) {
                set.remove(&handle);
                if set.is_empty() {
                    self.watchers.remove(watched);
                }
            }
        }
        Some(s)
    }

    /// Every session of `user`: (handle, outbox, client type).
    pub(super) fn of_user(&self, user: u32) -> Vec<(Handle, Outbox, i32)> {
        self.by_user
            .get(&user)
            .into_iter()
            .flatten()
            .filter_map(|h| {
                self.sessions
                    .get(h)
                    .map(|s| (*h, s.outbox.clone(), s.client_type))
            })
            .collect()
    }

    /// True when `user` has a PC session here.
    pub(super) fn has_pc(&self, user: u32) -> bool {
        self.of_user(user).iter().any(|(_, _, t)| !is_mobile(*t))
    }

    /// Whether `user`'s PC presence on this msg_server changed since the
    /// last call for them (a session came or went): exact whatever order
    /// a kicked session's end and its successor's login arrive in.
    pub(super) fn pc_flipped(&mut self, user: u32) -> bool {
        if self.has_pc(user) {
            self.pc_online.insert(user)
        } else {
            self.pc_online.remove(&user)
        }
    }

    /// `handle` watches `users`, up to `limit` in all.
    pub(super) fn watch(&mut self, handle: Handle, users: &[u32], limit: usize) {
        let Some(s) = self.sessions.get_mut(&handle) else {
            return;
        };
        for &u in users {
            if s.watching.len() >= limit {
                break;
            }
            if s.watching.insert(u) {
                self.watchers.entry(u).or_default().insert(handle);
            }
        }
    }

    /// The PC sessions to tell of `user`'s status change: watchers and the
    /// user's department, those whose login has been answered.
    pub(super) fn for_interested(&self, user: u32, mut each: impl FnMut(Handle, &Outbox)) {
        // Each session once: the department's, then watchers outside it
        // (no set is built per status change).
        let department = self
            .department_of
            .get(&user)
            .and_then(|d| self.by_department.get(d));
        let watchers = self
            .watchers
            .get(&user)
            .into_iter()
            .flatten()
            .filter(|h| !department.is_some_and(|d| d.contains(h)));
        department
            .into_iter()
            .flatten()
            .chain(watchers)
            .filter_map(|h| self.sessions.get(h).map(|s| (*h, s)))
            .filter(|(_, s)| s.answered && !is_mobile(s.client_type))
            .for_each(|(h, s)| each(h, &s.outbox));
    }

    /// One entry per validated session (IMOnlineUserInfo for route_server).
    pub(super) fn online_stats(&self) -> Vec<ServerUserStat> {
        self.sessions
            .values()
            .filter(|s| s.user != 0)
            .map(|s| ServerUserStat {
                user_id: s.user,
                status: s.online_status,
                client_type: s.client_type,
            })
            .collect()
    }

    /// Validated sessions now.
    pub(super) fn logged_in(&self) -> usize {
        self.sessions.values().filter(|s| s.user != 0).count()
    }

    /// Connections now, logged in or not.
    pub(super) fn connections(&self) -> usize {
        self.sessions.len()
    }
}
