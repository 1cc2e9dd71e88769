//! Several route_servers sharing one view through Redis, so msg_servers on
//! different machines, linked to different route_servers, reach each
//! other's users.
//!
//! Each route_server keeps its own links' sessions in memory (`presence`,
//! which decides local delivery) and counts them into Redis, which decides
//! who is ONLINE and which route_servers a PDU must be handed to.
//!
//! ```text
//! keys (P = redis_prefix, R = a route_server's id, random at each start):
//!   P:rs:alive:R        "1", expires after presence_ttl, refreshed every ttl/3
//!   P:rs:all            set of route_server ids (dead ones pruned)
//!   P:rs:users:R        set of users that had sessions on R (for pruning)
//!   P:presence:<user>   hash: field "R/<client_type>" -> sessions of that
//!                       type on R's links (fields of dead R are ignored,
//!                       then deleted by whichever route_server prunes R)
//! channels:
//!   P:rs:R              envelopes for route_server R
//!   P:rs:*all*          envelopes for every route_server
//! envelope = { origin_len: u8, origin: [u8; origin_len], kind: u8 (1 users, 2 all),
//!              n: u32 BE, users: [u32 BE; n], pdu: [u8] (a whole TeamTalk frame) }
//! ```
//!
//! A route_server that dies stops refreshing its mark: within presence_ttl
//! its sessions count as offline everywhere, and the first route_server to
//! notice announces its PC users offline. A msg_server that dies closes its
//! link: its route_server takes its sessions out at once. Losing Redis
//! leaves every route_server serving its own links from its own view
//! (logged, counted in `failures`, `/health` 503): after one failed
//! command no other waits on Redis until a refresh succeeds; then the
//! route_server writes its sessions back (`Event::Restate`), since the
//! moves made meanwhile never reached Redis.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::StreamExt as _;
use redis::aio::ConnectionManager;
use tokio::sync::mpsc;

use super::presence::is_pc;
use crate::Error;

/// Where an envelope's PDU goes on the receiving route_server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Reach {
    /// The links holding a session of any of these users.
    Users(Vec<u32>),
    /// Every link.
    All,
}

/// A PDU handed over by another route_server.
#[derive(Debug)]
pub(super) struct Envelope {
    pub reach: Reach,
    pub pdu: Bytes,
}

/// What reaches this route_server from the others.
#[derive(Debug)]
pub(super) enum Event {
    /// A PDU handed over.
    Envelope(Envelope),
    /// A dead route_server's sessions were taken out of the view: these
    /// users had a PC client on it.
    Gone(Vec<u32>),
    /// Redis answers again after failing: what it holds of this
    /// route_server's sessions missed the moves made meanwhile, so they
    /// are written again from this route_server's own view
    /// ([`Cluster::restate`]).
    Restate,
}

/// How one user's presence across every alive route_server moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Flip {
    pub pc_before: bool,
    pub pc_after: bool,
    /// Any client of the user is online anywhere now.
    pub present: bool,
}

/// KEYS: the user's presence hash, this route_server's user set. ARGV:
/// field, delta, user. Counts, drops a field at zero, returns the hash: one
/// step, so two route_servers counting one user never both miss a flip.
const COUNT: &str = r"
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('SADD', KEYS[2], ARGV[3]) end
return redis.call('HGETALL', KEYS[1])
";

/// KEYS: the dead route_server's user set. ARGV: presence key prefix, the
/// dead one's field prefix ("R/"). Deletes its fields; returns the users
/// that had a PC client (type bit 0x10 clear) on it.
const PRUNE: &str = r"
local pc = {}
for _, u in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[1] .. u
  for _, f in ipairs(redis.call('HKEYS', key)) do
    if string.sub(f, 1, #ARGV[2]) == ARGV[2] then
      local n = tonumber(redis.call('HGET', key, f))
      local t = tonumber(string.sub(f, #ARGV[2] + 1))
      redis.call('HDEL', key, f)
      if n and n > 0 and t and bit.band(t, 16) == 0 then pc[#pc + 1] = u end
    end
  end
end
redis.call('DEL', KEYS[1])
return pc
";

/// This route_server's part of the shared view.
pub(super) struct Cluster {
    id: String,
    prefix: String,
    conn: ConnectionManager,
    /// Route_servers listed in Redis whose mark has expired, as of the last
    /// refresh (until one prunes them). Any other id counts as alive, so a
    /// route_server that joined since is reached at once.
    dead: RwLock<HashSet<String>>,
    /// Redis commands that failed (the route_server then served its own
    /// links only).
    pub failures: AtomicU64,
    /// The last Redis command failed (cleared by the next refresh that
    /// succeeds).
    pub failing: AtomicBool,
    /// Envelopes published to other route_servers.
    pub handed_out: AtomicU64,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cluster({})", self.id)
    }
}

impl Cluster {
    /// Connects, marks this route_server alive and subscribes to its
    /// channels; what the others hand over arrives on the receiver.
    ///
    /// Errors: [`Error::Redis`] when Redis does not answer at start.
    pub(super) async fn join(
        url: &str,
        prefix: &str,
        ttl: Duration,
    ) -> Result<(Arc<Cluster>, mpsc::Receiver<Event>), Error> {
        let client = redis::Client::open(url)?;
        let conn = ConnectionManager::new_with_config(
            client.clone(),
            crate::store::redis_conn::manager_config(),
        )
        .await?;
        let id = format!("{:016x}", rand::random::<u64>());
        let cluster = Arc::new(Cluster {
            id: id.clone(),
            prefix: prefix.to_string(),
            conn,
            dead: RwLock::new(HashSet::new()),
            failures: AtomicU64::new(0),
            failing: AtomicBool::new(false),
            handed_out: AtomicU64::new(0),
        });
        let (tx, rx) = mpsc::channel(4096);
        cluster.refresh(ttl, &tx).await?;
        tokio::spawn(subscribe(client, Arc::downgrade(&cluster), tx.clone()));
        tokio::spawn(keep_alive(Arc::downgrade(&cluster), ttl, tx));
        tracing::info!(route_server = %cluster.id, "joined the route_servers sharing redis");
        Ok((cluster, rx))
    }

    /// This route_server's id in Redis.
    pub(super) fn id(&self) -> &str {
        &self.id
    }

    fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.prefix)
    }

    fn channel_of(&self, id: &str) -> String {
        self.key(&format!("rs:{id}"))
    }

    fn all_channel(&self) -> String {
        self.key("rs:*all*")
    }

    /// Redis failed and no refresh has succeeded since: callers fall back
    /// to this route_server's own view at once instead of each waiting out
    /// a timeout (the refresh every presence_ttl/3 tries again).
    fn down(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    fn failed(&self, what: &str, e: &redis::RedisError) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.failing.store(true, Ordering::Relaxed);
        tracing::warn!(error = %e, what, "redis failed; serving this route_server's own links only");
    }

    /// Marks this route_server alive, learns which others are, and prunes
    /// the dead (reporting their PC users on `events`).
    async fn refresh(&self, ttl: Duration, events: &mpsc::Sender<Event>) -> Result<(), Error> {
        let mut conn = self.conn.clone();
        let (servers,): (Vec<String>,) = redis::pipe()
            .cmd("SET")
            .arg(self.key(&format!("rs:alive:{}", self.id)))
            .arg(1)
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .ignore()
            .cmd("SADD")
            .arg(self.key("rs:all"))
            .arg(&self.id)
            .ignore()
            .cmd("SMEMBERS")
            .arg(self.key("rs:all"))
            .query_async(&mut conn)
            .await?;
        let keys: Vec<String> = servers
            .iter()
            .map(|s| self.key(&format!("rs:alive:{s}")))
            .collect();
        let marks: Vec<Option<String>> =
            redis::cmd("MGET").arg(&keys).query_async(&mut conn).await?;
        let dead: Vec<String> = servers
            .into_iter()
            .zip(marks)
            .filter(|(server, mark)| mark.is_none() && *server != self.id)
            .map(|(server, _)| server)
            .collect();
        *self.dead.write().unwrap_or_else(|p| p.into_inner()) = dead.iter().cloned().collect();
        if self.failing.swap(false, Ordering::Relaxed) {
            tracing::info!("redis answers again; restating this route_server's sessions");
            let _ = events.send(Event::Restate).await;
        }
        for server in dead {
            // Whoever removes it from the set prunes it: exactly one.
            let removed: i64 = redis::cmd("SREM")
                .arg(self.key("rs:all"))
                .arg(&server)
                .query_async(&mut conn)
                .await?;
            if removed == 0 {
                continue;
            }
            let pc: Vec<u32> = self.prune(&server).query_async(&mut conn).await?;
            tracing::warn!(route_server = %server, pc_users = pc.len(), "route_server gone; its sessions are offline");
            let _ = events.send(Event::Gone(pc)).await;
        }
        Ok(())
    }

    fn is_alive(&self, id: &str) -> bool {
        !self
            .dead
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(id)
    }

    /// The sessions of each user on alive route_servers: (route_server,
    /// client type, sessions).
    async fn sessions(
        &self,
        users: &[u32],
    ) -> Result<Vec<Vec<(String, i32, i64)>>, redis::RedisError> {
        let mut pipe = redis::pipe();
        for u in users {
            pipe.cmd("HGETALL").arg(self.key(&format!("presence:{u}")));
        }
        let mut conn = self.conn.clone();
        let maps: Vec<HashMap<String, i64>> = pipe.query_async(&mut conn).await?;
        Ok(maps
            .into_iter()
            .map(|fields| self.alive_fields(fields))
            .collect())
    }

    fn alive_fields(&self, fields: HashMap<String, i64>) -> Vec<(String, i32, i64)> {
        fields
            .into_iter()
            .filter_map(|(field, n)| {
                let (server, t) = field.split_once('/')?;
                let t: i32 = t.parse().ok()?;
                (n > 0 && self.is_alive(server)).then(|| (server.to_string(), t, n))
            })
            .collect()
    }

    /// Counts `delta` sessions of `user` with `client_type` coming (> 0) or
    /// going (< 0) on this route_server's links, and reads back, in the same
    /// step, how the user's presence across every alive route_server moved;
    /// `None` if Redis failed.
    pub(super) async fn count(&self, user: u32, client_type: i32, delta: i64) -> Option<Flip> {
        if self.down() {
            return None;
        }
        let field = format!("{}/{client_type}", self.id);
        let mut conn = self.conn.clone();
        let counted: Result<HashMap<String, i64>, _> = redis::cmd("EVAL")
            .arg(COUNT)
            .arg(2)
            .arg(self.key(&format!("presence:{user}")))
            .arg(self.key(&format!("rs:users:{}", self.id)))
            .arg(&field)
            .arg(delta)
            .arg(user)
            .query_async(&mut conn)
            .await;
        match counted {
            Ok(fields) => Some(flip(
                &self.id,
                client_type,
                delta,
                &self.alive_fields(fields),
            )),
            Err(e) => {
                self.failed("count a session", &e);
                None
            }
        }
    }

    /// For each user: a PC client online on any alive route_server's links;
    /// `None` if Redis failed.
    pub(super) async fn pc_online(&self, users: &[u32]) -> Option<Vec<bool>> {
        if self.down() {
            return None;
        }
        match self.sessions(users).await {
            Ok(all) => Some(
                all.iter()
                    .map(|s| s.iter().any(|(_, t, _)| is_pc(*t)))
                    .collect(),
            ),
            Err(e) => {
                self.failed("status query", &e);
                None
            }
        }
    }

    /// Hands `pdu` to the other route_servers holding a session of any of
    /// `users`.
    pub(super) async fn to_users(&self, users: &[u32], pdu: &Bytes) {
        if self.down() {
            return;
        }
        let servers: HashSet<String> = match self.sessions(users).await {
            Ok(all) => all
                .into_iter()
                .flatten()
                .map(|(s, _, _)| s)
                .filter(|s| *s != self.id)
                .collect(),
            Err(e) => return self.failed("find users elsewhere", &e),
        };
        if servers.is_empty() {
            return;
        }
        let envelope = envelope(&self.id, &Reach::Users(users.to_vec()), pdu);
        for server in servers {
            self.publish(&self.channel_of(&server), &envelope).await;
        }
    }

    /// Hands `pdu` to every other route_server, for all their links.
    pub(super) async fn to_all(&self, pdu: &Bytes) {
        if self.down() {
            return;
        }
        let envelope = envelope(&self.id, &Reach::All, pdu);
        self.publish(&self.all_channel(), &envelope).await;
    }

    async fn publish(&self, channel: &str, envelope: &Bytes) {
        let mut conn = self.conn.clone();
        let sent: Result<i64, _> = redis::cmd("PUBLISH")
            .arg(channel)
            .arg(envelope.as_ref())
            .query_async(&mut conn)
            .await;
        match sent {
            Ok(_) => {
                self.handed_out.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => self.failed("hand over", &e),
        }
    }

    /// The command deleting `server`'s counts ([`PRUNE`]); it answers the
    /// users that had a PC client there.
    fn prune(&self, server: &str) -> redis::Cmd {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(PRUNE)
            .arg(1)
            .arg(self.key(&format!("rs:users:{server}")))
            .arg(self.key("presence:"))
            .arg(format!("{server}/"));
        cmd
    }

    /// Replaces what Redis holds of this route_server's sessions with
    /// `sessions` (user, client type, count), after an outage.
    pub(super) async fn restate(&self, sessions: &[(u32, i32, u32)]) {
        let mut pipe = redis::pipe();
        pipe.add_command(self.prune(&self.id)).ignore();
        for (user, client_type, n) in sessions {
            pipe.cmd("HSET")
                .arg(self.key(&format!("presence:{user}")))
                .arg(format!("{}/{client_type}", self.id))
                .arg(*n)
                .ignore()
                .cmd("SADD")
                .arg(self.key(&format!("rs:users:{}", self.id)))
                .arg(*user)
                .ignore();
        }
        let mut conn = self.conn.clone();
        if let Err(e) = pipe.query_async::<()>(&mut conn).await {
            self.failed("restate", &e);
        }
    }

    /// Leaves the view at shutdown: the mark and any count left go at once
    /// rather than after presence_ttl (the links' sessions were counted out
    /// as they closed).
    pub(super) async fn leave(&self) {
        let mut conn = self.conn.clone();
        let left: Result<(Vec<u32>,), _> = redis::pipe()
            .cmd("DEL")
            .arg(self.key(&format!("rs:alive:{}", self.id)))
            .ignore()
            .cmd("SREM")
            .arg(self.key("rs:all"))
            .arg(&self.id)
            .ignore()
            .add_command(self.prune(&self.id))
            .query_async(&mut conn)
            .await;
        if let Err(e) = left {
            self.failed("leave", &e);
        }
    }
}

/// The user's presence move, from the alive fields after counting `delta`
/// on `own` route_server's field of `client_type`.
fn flip(own: &str, client_type: i32, delta: i64, after: &[(String, i32, i64)]) -> Flip {
    let mine_after = after
        .iter()
        .find(|(s, t, _)| s == own && *t == client_type)
        .map_or(0, |(_, _, n)| *n);
    let others_pc = after
        .iter()
        .any(|(s, t, _)| is_pc(*t) && (s != own || *t != client_type));
    Flip {
        pc_before: others_pc || (is_pc(client_type) && mine_after - delta > 0),
        pc_after: after.iter().any(|(_, t, _)| is_pc(*t)),
        present: !after.is_empty(),
    }
}

fn envelope(origin: &str, reach: &Reach, pdu: &Bytes) -> Bytes {
    let users: &[u32] = match reach {
        Reach::Users(u) => u,
        Reach::All => &[],
    };
    let mut b = BytesMut::with_capacity(6 + origin.len() + users.len() * 4 + pdu.len());
    b.put_u8(origin.len() as u8);
    b.put_slice(origin.as_bytes());
    b.put_u8(if matches!(reach, Reach::All) { 2 } else { 1 });
    b.put_u32(users.len() as u32);
    for u in users {
        b.put_u32(*u);
    }
    b.put_slice(pdu);
    b.freeze()
}

/// Reads an envelope: its origin and what it carries; `None` if malformed.
fn open(bytes: &[u8]) -> Option<(String, Envelope)> {
    let n = *bytes.first()? as usize;
    let origin = std::str::from_utf8(bytes.get(1..1 + n)?).ok()?.to_string();
    let mut at = 1 + n;
    let kind = *bytes.get(at)?;
    at += 1;
    let count = u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize;
    at += 4;
    let users: Vec<u32> = bytes
        .get(at..at.checked_add(count.checked_mul(4)?)?)?
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    at += count * 4;
    let reach = match kind {
        1 => Reach::Users(users),
        2 => Reach::All,
        _ => return None,
    };
    let pdu = Bytes::copy_from_slice(bytes.get(at..)?);
    Some((origin, Envelope { reach, pdu }))
}

/// Receives envelopes for this route_server (its own channel and the one
/// for all), resubscribing after Redis comes back, until the route_server
/// is gone.
async fn subscribe(
    client: redis::Client,
    cluster: std::sync::Weak<Cluster>,
    out: mpsc::Sender<Event>,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let Some(c) = cluster.upgrade() else { return };
        let (own, all, id) = (c.channel_of(&c.id), c.all_channel(), c.id.clone());
        drop(c);
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&own).await?;
            pubsub.subscribe(&all).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match subscribed.await {
            Ok(pubsub) => {
                backoff = Duration::from_millis(200);
                let mut messages = pubsub.into_on_message();
                while let Some(msg) = messages.next().await {
                    let Some((origin, envelope)) = open(msg.get_payload_bytes()) else {
                        tracing::warn!("malformed envelope from redis; dropped");
                        continue;
                    };
                    if origin == id {
                        continue; // our own hand-over to all
                    }
                    if out.send(Event::Envelope(envelope)).await.is_err() {
                        return;
                    }
                }
                tracing::warn!("redis subscription lost; resubscribing");
            }
            Err(e) => match cluster.upgrade() {
                Some(c) => c.failed("subscribe", &e),
                None => return,
            },
        }
        if out.is_closed() {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn keep_alive(cluster: std::sync::Weak<Cluster>, ttl: Duration, events: mpsc::Sender<Event>) {
    loop {
        tokio::time::sleep(ttl / 3).await;
        let Some(c) = cluster.upgrade() else { return };
        if let Err(Error::Redis(e)) = c.refresh(ttl, &events).await {
            c.failed("keep alive", &e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOWS: i32 = 0x01;
    const ANDROID: i32 = 0x12;

    #[test]
    fn envelopes_read_back_and_refuse_short_input() {
        let pdu = Bytes::from_static(b"pdu");
        let b = envelope("ab", &Reach::Users(vec![7, 9]), &pdu);
        let (origin, e) = open(&b).unwrap();
        assert_eq!(
            (origin.as_str(), e.reach, &e.pdu[..]),
            ("ab", Reach::Users(vec![7, 9]), &b"pdu"[..])
        );
        let (_, e) = open(&envelope("x", &Reach::All, &pdu)).unwrap();
        assert_eq!(e.reach, Reach::All);
        for cut in 0..10 {
            assert!(open(&b[..cut]).is_none(), "{cut} bytes");
        }
        let mut huge = b.to_vec();
        huge[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(open(&huge).is_none(), "a count past the end");
    }

    fn s(server: &str, t: i32, n: i64) -> (String, i32, i64) {
        (server.to_string(), t, n)
    }

    #[test]
    fn flips_are_read_across_route_servers() {
        // First PC session anywhere: offline -> online.
        let f = flip("a", WINDOWS, 1, &[s("a", WINDOWS, 1)]);
        assert!(!f.pc_before && f.pc_after && f.present);
        // A second PC session of the same type: no flip.
        let f = flip("a", WINDOWS, 1, &[s("a", WINDOWS, 2)]);
        assert!(f.pc_before && f.pc_after);
        // PC already online on another route_server: no flip.
        let f = flip("a", WINDOWS, 1, &[s("a", WINDOWS, 1), s("b", WINDOWS, 1)]);
        assert!(f.pc_before && f.pc_after);
        // The last PC session goes while a phone stays: online -> offline, present.
        let f = flip("a", WINDOWS, -1, &[s("b", ANDROID, 1)]);
        assert!(f.pc_before && !f.pc_after && f.present);
        // A phone comes and goes: never ONLINE.
        let f = flip("a", ANDROID, 1, &[s("a", ANDROID, 1)]);
        assert!(!f.pc_before && !f.pc_after && f.present);
        let f = flip("a", ANDROID, -1, &[]);
        assert!(!f.pc_before && !f.pc_after && !f.present);
        // A whole link's 3 PC sessions go at once.
        let f = flip("a", WINDOWS, -3, &[]);
        assert!(f.pc_before && !f.pc_after);
    }
}
