//! The msg_servers that registered, with their load, and the choice of one
//! for a client: the least loaded below its maximum (TeamTalk's rule; on a
//! tie the one registered first).

use std::collections::BTreeMap;
use std::net::IpAddr;

/// One registered msg_server (IMMsgServInfo), updated by IMUserCntUpdate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MsgServer {
    pub ip1: String,
    pub ip2: String,
    pub port: u32,
    pub max_conn: u32,
    pub cur_conn: u32,
    pub host: String,
}

/// The answer for a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// `prior_ip` first, `backup_ip` second.
    Server {
        prior_ip: String,
        backup_ip: String,
        port: u32,
    },
    /// TeamTalk's code 1: no msg_server registered.
    NoServer,
    /// TeamTalk's code 2: every msg_server is at its maximum.
    AllFull,
}

/// Registered msg_servers by link, in registration order.
#[derive(Debug, Default)]
pub struct Registry {
    servers: BTreeMap<u64, MsgServer>,
}

impl Registry {
    pub fn register(&mut self, link: u64, server: MsgServer) {
        self.servers.insert(link, server);
    }

    pub fn remove(&mut self, link: u64) -> Option<MsgServer> {
        self.servers.remove(&link)
    }

    /// A login (+1) or logout (-1) on `link`'s msg_server.
    pub fn count(&mut self, link: u64, login: bool) {
        if let Some(s) = self.servers.get_mut(&link) {
            s.cur_conn = if login {
                s.cur_conn.saturating_add(1)
            } else {
                s.cur_conn.saturating_sub(1)
            };
        }
    }

    pub fn len(&self) -> usize {
        self.servers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// Sessions over all msg_servers.
    pub fn sessions(&self) -> u64 {
        self.servers.values().map(|s| u64::from(s.cur_conn)).sum()
    }

    /// The msg_server for a client at `client_ip`: IPv4 clients get ip1
    /// first, others ip2 (TeamTalk's two-network rule).
    pub fn choose(&self, client_ip: IpAddr) -> Choice {
        if self.servers.is_empty() {
            return Choice::NoServer;
        }
        let Some(best) = self
            .servers
            .values()
            .filter(|s| s.cur_conn < s.max_conn)
            .min_by_key(|s| s.cur_conn)
        else {
            return Choice::AllFull;
        };
        let (prior_ip, backup_ip) = if client_ip.is_ipv4() {
            (best.ip1.clone(), best.ip2.clone())
        } else {
            (best.ip2.clone(), best.ip1.clone())
        };
        Choice::Server {
            prior_ip,
            backup_ip,
            port: best.port,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(ip: &str, max: u32, cur: u32) -> MsgServer {
        MsgServer {
            ip1: ip.into(),
            ip2: format!("{ip}-2"),
            port: 8000,
            max_conn: max,
            cur_conn: cur,
            host: "h".into(),
        }
    }

    #[test]
    fn the_least_loaded_below_its_maximum_is_chosen() {
        let v4: IpAddr = [10, 0, 0, 9].into();
        let mut r = Registry::default();
        assert_eq!(r.choose(v4), Choice::NoServer);
        r.register(1, server("a", 10, 10));
        assert_eq!(r.choose(v4), Choice::AllFull);
        r.register(2, server("b", 10, 3));
        r.register(3, server("c", 10, 3));
        let Choice::Server { prior_ip, .. } = r.choose(v4) else {
            panic!()
        };
        assert_eq!(prior_ip, "b", "ties go to the one registered first");
        r.count(2, true);
        let Choice::Server {
            prior_ip,
            backup_ip,
            ..
        } = r.choose(v4)
        else {
            panic!()
        };
        assert_eq!((prior_ip.as_str(), backup_ip.as_str()), ("c", "c-2"));
        let Choice::Server { prior_ip, .. } = r.choose("::1".parse().unwrap()) else {
            panic!()
        };
        assert_eq!(prior_ip, "c-2", "non-IPv4 clients get ip2 first");
        r.remove(3);
        r.count(2, false);
        r.count(2, false);
        assert_eq!(r.sessions(), 12);
    }
}
