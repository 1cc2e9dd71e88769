//! A logged-in session with a msg_server: what a TeamTalk client keeps
//! open. Requests are answered by seq; what the server sends on its own
//! (messages, notifies, a kick) arrives as [`Event`]s.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use ferry_proto::pb::im::base_define::{ClientType, MsgType, UserStatType};
use ferry_proto::pb::im::buddy::ImUserStatNotify;
use ferry_proto::pb::im::file::ImFileNotify;
use ferry_proto::pb::im::login::{ImKickUser, ImLoginReq, ImLoginRes};
use ferry_proto::pb::im::message::{ImMsgData, ImMsgDataAck};
use ferry_proto::registry::{
    CID_BUDDY_LIST_STATUS_NOTIFY, CID_FILE_NOTIFY, CID_LOGIN_KICK_USER, CID_MSG_DATA,
};
use ferry_proto::{Frame, Pdu};
use md5::{Digest, Md5};
use tokio::sync::mpsc;

use crate::conn::Conn;
use crate::error::{Error, Kind};

/// How to log in. Its Debug output hides the password.
#[derive(Clone)]
pub struct Login {
    /// login_server's HTTP address, `http://host:8080`.
    pub server: String,
    pub user: String,
    /// The plain password; it is sent as TeamTalk's clients send it (MD5
    /// hex).
    pub password: String,
    /// PC types (Windows, Mac) are ONLINE for others; a second login of
    /// the same kind replaces (kicks) the first.
    pub client_type: ClientType,
    /// Between heartbeats (TeamTalk's clients: 5 s; msg_server closes a PC
    /// session silent for 120 s by default).
    pub heartbeat: Duration,
    /// How long discovery and each request may take.
    pub timeout: Duration,
    /// Attempts to log in again after the connection to msg_server is
    /// lost (not after a kick), each through login_server when the
    /// session was made with [`Session::login`] (so a stopped msg_server
    /// is left for another); 0 never reconnects. See
    /// [`Session::next_event`].
    pub reconnects: u32,
    /// The wait before the first attempt, doubled before each next one up
    /// to 10 s.
    pub backoff: Duration,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("server", &self.server)
            .field("user", &self.user)
            .field("password", &"***")
            .field("client_type", &self.client_type)
            .field("heartbeat", &self.heartbeat)
            .field("timeout", &self.timeout)
            .field("reconnects", &self.reconnects)
            .field("backoff", &self.backoff)
            .finish()
    }
}

impl Login {
    /// `user`/`password` at `server`, as a Windows client, heartbeat 5 s,
    /// requests 10 s, 8 reconnects 250 ms apart at first (about 40 s in
    /// all).
    pub fn new(
        server: impl Into<String>,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Login {
        Login {
            server: server.into(),
            user: user.into(),
            password: password.into(),
            client_type: ClientType::Windows,
            heartbeat: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            reconnects: 8,
            backoff: Duration::from_millis(250),
        }
    }
}

/// What the server sent on its own.
#[derive(Debug)]
pub enum Event {
    /// A message to this user (or a copy of one this user sent from
    /// another session).
    Message(ImMsgData),
    /// Someone offers a file (online or offline).
    File(ImFileNotify),
    /// A watched user's PC presence changed.
    Status { user: u32, online: bool },
    /// Another login of the same kind replaced this session; the server
    /// closes it (and the session does not log in again: it would kick
    /// the other in turn).
    Kicked(ImKickUser),
    /// The connection was lost and the session logged in again, at
    /// `msg_server`. Requests made while it was down failed (`is_closed`);
    /// what the server sent meanwhile is lost: ask again what matters
    /// (the offline files, unread messages).
    Reconnected { msg_server: SocketAddr },
    /// Anything else, as received.
    Other(Frame),
}

/// A session logged in to a msg_server.
pub struct Session {
    conn: Conn,
    events: mpsc::Receiver<Frame>,
    user_id: u32,
    msg_server: SocketAddr,
    /// How it logged in, to do it again.
    login: Login,
    /// Through login_server ([`Session::login`]), not at a fixed address.
    discover: bool,
    /// A kick was seen: no reconnect.
    kicked: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Session(user {} at {})", self.user_id, self.msg_server)
    }
}

/// What a login refusal's result code (TeamTalk's `ResultType`, IM.BaseDefine)
/// means.
fn login_refusal(code: i32) -> &'static str {
    use ferry_proto::pb::im::base_define::ResultType as R;
    match R::try_from(code) {
        Ok(R::RefuseReasonNoMsgServer) => "no msg_server to log in to",
        Ok(R::RefuseReasonMsgServerFull) => "msg_server is full",
        Ok(R::RefuseReasonNoDbServer) => "msg_server has no db_proxy",
        Ok(R::RefuseReasonNoLoginServer) => "msg_server has no login_server",
        Ok(R::RefuseReasonNoRouteServer) => "msg_server has no route_server",
        Ok(R::RefuseReasonDbValidateFailed) => "unknown user or wrong password",
        Ok(R::RefuseReasonVersionTooOld) => "client version too old",
        Ok(R::RefuseReasonNone) | Err(_) => "login refused",
    }
}

/// TeamTalk's client-side password: MD5 of the plain text, lowercase hex.
pub fn password_digest(plain: &str) -> String {
    Md5::digest(plain.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Session {
    /// Asks login_server for a msg_server, connects and logs in.
    ///
    /// Errors: see [`crate::discovery::msg_server`]; `is_io` when msg_server
    /// cannot be reached; `is_refused` with TeamTalk's refuse reason as
    /// [`Error::result_code`] (3: no db_proxy, 4: no login_server, 5: no
    /// route_server, 6: wrong password or unknown user).
    pub async fn login(login: &Login) -> Result<Session, Error> {
        let at = crate::discovery::msg_server(&login.server, login.timeout).await?;
        let mut session = Session::login_at(at, login).await?;
        session.discover = true;
        Ok(session)
    }

    /// Logs in to the msg_server at `at` directly (no login_server; a
    /// reconnect comes back to `at`).
    pub async fn login_at(at: SocketAddr, login: &Login) -> Result<Session, Error> {
        let (conn, events, user_id) = Session::connect(at, login).await?;
        Ok(Session {
            conn,
            events,
            user_id,
            msg_server: at,
            login: login.clone(),
            discover: false,
            kicked: false,
        })
    }

    /// Connects to `at` and logs in: the connection, its events, the user id.
    async fn connect(
        at: SocketAddr,
        login: &Login,
    ) -> Result<(Conn, mpsc::Receiver<Frame>, u32), Error> {
        let (conn, events) =
            Conn::connect(at, "msg_server", login.heartbeat, login.timeout).await?;
        let res: ImLoginRes = conn
            .call(&ImLoginReq {
                user_name: login.user.clone().into(),
                password: password_digest(&login.password).into(),
                online_status: UserStatType::UserStatusOnline as i32,
                client_type: login.client_type as i32,
                client_version: Some("ferry-client".into()),
            })
            .await?;
        if res.result_code != 0 {
            // TeamTalk's text is Chinese ("用户名/密码错误" for 6); the
            // code's meaning goes first, the server's text after it.
            let said = res
                .result_string
                .map(|s| String::from_utf8_lossy(&s).into_owned());
            let meaning = login_refusal(res.result_code);
            return Err(Error::new(Kind::Refused {
                code: res.result_code as u32,
                reason: Some(match said {
                    Some(text) if !text.is_empty() => format!("{meaning}: {text}"),
                    _ => meaning.to_string(),
                }),
                server_error: None,
            }));
        }
        let user_id = res
            .user_info
            .map(|u| u.user_id)
            .ok_or_else(|| Error::protocol("a successful login without user_info"))?;
        Ok((conn, events, user_id))
    }

    /// Logs in again (the old connection, if still open, is dropped):
    /// through login_server when the session was made that way, else at
    /// the same address; up to [`Login::reconnects`] attempts (at least
    /// one), [`Login::backoff`] apart and doubling, up to 10 s.
    ///
    /// Errors: those of [`Session::login`] from the last attempt; a
    /// refusal (`is_refused`: the password changed, the user left) ends
    /// the attempts at once; `is_protocol` if the login names another
    /// user id.
    pub async fn reconnect(&mut self) -> Result<(), Error> {
        let mut wait = self.login.backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(10));
            let at = if self.discover {
                crate::discovery::msg_server(&self.login.server, self.login.timeout).await
            } else {
                Ok(self.msg_server)
            };
            let tried = match at {
                Ok(at) => Session::connect(at, &self.login).await.map(|c| (at, c)),
                Err(e) => Err(e),
            };
            match tried {
                Ok((at, (conn, events, user_id))) => {
                    if user_id != self.user_id {
                        return Err(Error::protocol("logged in again as another user id"));
                    }
                    (self.conn, self.events, self.msg_server) = (conn, events, at);
                    self.kicked = false;
                    tracing::info!(user = user_id, %at, attempt, "session logged in again");
                    return Ok(());
                }
                Err(e) if e.is_refused() || attempt >= self.login.reconnects.max(1) => {
                    return Err(e);
                }
                Err(e) => tracing::info!(attempt, error = %e, "reconnect failed; trying again"),
            }
        }
    }

    /// This session's user id.
    pub fn user_id(&self) -> u32 {
        self.user_id
    }

    /// The msg_server this session is on.
    pub fn msg_server(&self) -> SocketAddr {
        self.msg_server
    }

    /// Sends a text message to user `to`; its msg_id once stored.
    ///
    /// Errors: `is_refused` when msg_server refuses it (over the rate
    /// limit, or not stored); `is_timeout`, `is_closed`.
    pub async fn send_text(&self, to: u32, text: impl Into<Bytes>) -> Result<u32, Error> {
        let ack: ImMsgDataAck = self
            .conn
            .call(&ImMsgData {
                from_user_id: self.user_id,
                to_session_id: to,
                msg_id: 0,
                create_time: 0,
                msg_type: MsgType::SingleText as i32,
                msg_data: text.into(),
                attach_data: None,
            })
            .await?;
        if ack.msg_id == 0 {
            return Err(Error::new(Kind::Refused {
                code: 1,
                reason: Some("message not accepted".into()),
                server_error: None,
            }));
        }
        Ok(ack.msg_id)
    }

    /// Any request and its answer (the answer's type names the command
    /// expected back).
    pub async fn call<Req: Pdu, Rsp: Pdu>(&self, req: &Req) -> Result<Rsp, Error> {
        self.conn.call(req).await
    }

    /// Any PDU that has no answer.
    pub async fn send<T: Pdu>(&self, msg: &T) -> Result<(), Error> {
        self.conn.send(msg).await
    }

    /// Logs out by closing the connection once everything sent is written
    /// (within the request timeout). Dropping a session writes what is
    /// queued too, but only while the runtime runs: a process about to exit
    /// closes its sessions with this, so a last PDU that has no answer
    /// (DEL_OFFLINE: the relay then drops the stored file) is not lost.
    pub async fn close(self) {
        self.conn.close().await;
    }

    /// The next thing the server sent on its own. When the connection is
    /// lost (not after [`Event::Kicked`]) and [`Login::reconnects`] allows,
    /// the session logs in again ([`Session::reconnect`]) and yields
    /// [`Event::Reconnected`]; `None` once the connection is closed for
    /// good.
    pub async fn next_event(&mut self) -> Option<Event> {
        let Some(f) = self.events.recv().await else {
            if self.kicked || self.login.reconnects == 0 {
                return None;
            }
            tracing::info!(user = self.user_id, at = %self.msg_server, "msg_server connection lost: logging in again");
            return match self.reconnect().await {
                Ok(()) => Some(Event::Reconnected {
                    msg_server: self.msg_server,
                }),
                Err(e) => {
                    tracing::warn!(error = %e, "could not log in again");
                    None
                }
            };
        };
        let cmd = f.header.command;
        let event = if cmd == CID_MSG_DATA {
            f.decode().map(Event::Message)
        } else if cmd == CID_FILE_NOTIFY {
            f.decode().map(Event::File)
        } else if cmd == CID_BUDDY_LIST_STATUS_NOTIFY {
            f.decode::<ImUserStatNotify>().map(|n| Event::Status {
                user: n.user_stat.user_id,
                online: n.user_stat.status == UserStatType::UserStatusOnline as i32,
            })
        } else if cmd == CID_LOGIN_KICK_USER {
            self.kicked = true;
            f.decode().map(Event::Kicked)
        } else {
            return Some(Event::Other(f));
        };
        Some(event.unwrap_or_else(|e| {
            tracing::warn!(command = %cmd, error = %e, "unreadable event; passed on as received");
            Event::Other(f)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logins_debug_output_hides_the_password() {
        let shown = format!("{:?}", Login::new("http://h:8080", "alice", "hunter2"));
        assert!(shown.contains("alice") && shown.contains("***"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
