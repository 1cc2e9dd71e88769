//! A MariaDB database of a bench's own: created on the server
//! `FERRY_BENCH_MYSQL_URL` names (default mysql://root@127.0.0.1:3306),
//! dropped afterwards.

use std::time::Duration;

use ferry_control::store::Pool;

/// Creates database `{prefix}_{pid}`; `(server URL, database name)`, or why
/// MariaDB cannot be used (the bench then skips it and says so).
pub(crate) async fn create(prefix: &str) -> Result<(String, String), String> {
    let url = std::env::var("FERRY_BENCH_MYSQL_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "mysql://root@127.0.0.1:3306".into());
    // The server only: a database named in the URL is not ours to use.
    let server = match url.strip_prefix("mysql://").and_then(|r| r.find('/')) {
        Some(i) => url[.."mysql://".len() + i].to_string(),
        None => url,
    };
    let db = format!("{prefix}_{}", std::process::id());
    let pool = tokio::time::timeout(Duration::from_secs(5), Pool::open(&server, 1, true))
        .await
        .map_err(|_| format!("{server}: no connection within 5 s"))?
        .map_err(|e| format!("{server}: {e}"))?;
    let Pool::MySql(p) = &pool else {
        return Err(format!("{server} is not a mysql:// URL"));
    };
    sqlx::query(&format!(
        "CREATE DATABASE `{db}` DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
    ))
    .execute(p)
    .await
    .map_err(|e| format!("CREATE DATABASE: {e}"))?;
    pool.close().await;
    Ok((server, db))
}

pub(crate) async fn drop_db(server: &str, db: &str) {
    if let Ok(Pool::MySql(p)) = Pool::open(server, 1, true).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS `{db}`"))
            .execute(&p)
            .await;
        p.close().await;
    }
}
