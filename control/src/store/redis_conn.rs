//! Redis with TeamTalk's keys (each documented where it is used), through one multiplexed
//! connection that reconnects by itself (redis' `ConnectionManager`). Every
//! call is bounded by a response timeout, so an outage becomes an error
//! result for the caller, never a hang.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::Error;

/// How long one Redis command may take before the request fails.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct RedisConn {
    manager: ConnectionManager,
}

impl std::fmt::Debug for RedisConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisConn")
    }
}

/// How every Redis connection of ferry's behaves when Redis is slow or
/// gone: a command fails within about a second rather than waiting on
/// reconnects, so a caller falls back (SQL counters, a route_server's own
/// view) instead of hanging.
pub(crate) fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_secs(1))
}

impl RedisConn {
    pub async fn connect(url: &str) -> Result<RedisConn, Error> {
        let client = redis::Client::open(url)?;
        let manager = ConnectionManager::new_lazy_with_config(client, manager_config())?;
        let conn = RedisConn { manager };
        if let Err(e) = conn.ping().await {
            tracing::warn!(error = %e, "redis is not answering yet; requests needing it fail until it does");
        }
        Ok(conn)
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, Error> {
        let mut conn = self.manager.clone();
        Ok(cmd.query_async(&mut conn).await?)
    }

    pub async fn ping(&self) -> Result<(), Error> {
        self.query::<String>(&redis::cmd("PING")).await.map(drop)
    }

    pub async fn incr(&self, key: &str) -> Result<i64, Error> {
        self.query(redis::cmd("INCR").arg(key)).await
    }

    pub async fn set(&self, key: &str, value: u32) -> Result<(), Error> {
        self.query::<()>(redis::cmd("SET").arg(key).arg(value))
            .await
    }

    pub async fn hincrby(&self, key: &str, field: &str, by: i64) -> Result<i64, Error> {
        self.query(redis::cmd("HINCRBY").arg(key).arg(field).arg(by))
            .await
    }

    pub async fn hset(&self, key: &str, field: &str, value: i64) -> Result<(), Error> {
        self.query::<i64>(redis::cmd("HSET").arg(key).arg(field).arg(value))
            .await
            .map(drop)
    }

    pub async fn hget(&self, key: &str, field: &str) -> Result<Option<i64>, Error> {
        self.query(redis::cmd("HGET").arg(key).arg(field)).await
    }

    pub async fn hdel(&self, key: &str, field: &str) -> Result<(), Error> {
        self.query::<i64>(redis::cmd("HDEL").arg(key).arg(field))
            .await
            .map(drop)
    }

    pub async fn hgetall(&self, key: &str) -> Result<Vec<(String, i64)>, Error> {
        self.query(redis::cmd("HGETALL").arg(key)).await
    }

    pub async fn get(&self, key: &str) -> Result<Option<String>, Error> {
        self.query(redis::cmd("GET").arg(key)).await
    }

    pub async fn set_str(&self, key: &str, value: &str) -> Result<(), Error> {
        self.query::<()>(redis::cmd("SET").arg(key).arg(value))
            .await
    }

    /// SET key value NX: true when the key was absent and is now set.
    pub async fn set_nx(&self, key: &str, value: &str) -> Result<bool, Error> {
        let set: Option<String> = self
            .query(redis::cmd("SET").arg(key).arg(value).arg("NX"))
            .await?;
        Ok(set.is_some())
    }

    pub async fn del(&self, key: &str) -> Result<(), Error> {
        self.query::<i64>(redis::cmd("DEL").arg(key))
            .await
            .map(drop)
    }

    /// The values of `keys`, in order; `None` where a key is missing.
    pub async fn mget(&self, keys: &[String]) -> Result<Vec<Option<String>>, Error> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.query(redis::cmd("MGET").arg(keys)).await
    }

    /// HSET with several fields in one command.
    pub async fn hset_many(&self, key: &str, fields: &[(String, i64)]) -> Result<(), Error> {
        if fields.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("HSET");
        cmd.arg(key);
        for (field, value) in fields {
            cmd.arg(field).arg(*value);
        }
        self.query::<i64>(&cmd).await.map(drop)
    }

    /// HDEL with several fields in one command.
    pub async fn hdel_many(&self, key: &str, fields: &[String]) -> Result<(), Error> {
        if fields.is_empty() {
            return Ok(());
        }
        self.query::<i64>(redis::cmd("HDEL").arg(key).arg(fields))
            .await
            .map(drop)
    }

    /// INCRBY of each (key, by), pipelined; the new values in order.
    pub async fn incr_by_many<'a>(
        &self,
        keys: impl IntoIterator<Item = (&'a str, u32)>,
    ) -> Result<Vec<i64>, Error> {
        let mut pipe = redis::pipe();
        for (key, by) in keys {
            pipe.cmd("INCRBY").arg(key).arg(by);
        }
        if pipe.cmd_iter().next().is_none() {
            return Ok(Vec::new());
        }
        let mut conn = self.manager.clone();
        Ok(pipe.query_async(&mut conn).await?)
    }

    /// MSET of (key, value) pairs; nothing when empty.
    pub async fn set_many(&self, pairs: &[(&str, u32)]) -> Result<(), Error> {
        if pairs.is_empty() {
            return Ok(());
        }
        let mut cmd = redis::cmd("MSET");
        for (key, value) in pairs {
            cmd.arg(*key).arg(*value);
        }
        self.query::<()>(&cmd).await
    }

    /// HINCRBY of each (key, field, by), pipelined; the new values in order.
    pub async fn hincrby_many(&self, raises: &[(String, String, i64)]) -> Result<Vec<i64>, Error> {
        if raises.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for (key, field, by) in raises {
            pipe.cmd("HINCRBY").arg(key).arg(field).arg(*by);
        }
        let mut conn = self.manager.clone();
        Ok(pipe.query_async(&mut conn).await?)
    }

    /// HSET of one field in each of several keys, (key, field, value),
    /// pipelined.
    pub async fn hset_many_keys(&self, sets: &[(String, String, i64)]) -> Result<(), Error> {
        if sets.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for (key, field, value) in sets {
            pipe.cmd("HSET").arg(key).arg(field).arg(*value).ignore();
        }
        let mut conn = self.manager.clone();
        pipe.query_async::<()>(&mut conn).await?;
        Ok(())
    }
}
