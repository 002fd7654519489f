//! Fresh, isolated databases for tests: the lib's own store suite and the
//! integration tests under `tests/` both take their URLs from here, so that every
//! test gets a database no other test touches, on either backend.
//!
//! SQLite: `sqlite_url(tempdir.path())`, keeping the `TempDir` alive for the test.
//! PostgreSQL: `fresh_postgres_url().await`, which is `None` (and says so once on
//! stderr) unless `WHISTLE_TEST_POSTGRES_URL` names a server to use; then each call
//! creates a new schema there and returns a URL whose connections live in it.

use std::io::Write;
use std::path::Path;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// An admin URL such as `postgres://postgres@127.0.0.1:5432/postgres`.
pub const POSTGRES_ENV: &str = "WHISTLE_TEST_POSTGRES_URL";

const SCHEMA_PREFIX: &str = "whistle_t_";

/// Schemas older than this are left over by earlier runs (killed, or a failed
/// test) and are dropped by the first test of a later run.
const STALE_AFTER: Duration = Duration::from_secs(3600);

/// A database file inside `dir` (which the caller keeps alive and removes).
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("whistle.db").display())
}

/// A URL to an empty schema of its own on the server `WHISTLE_TEST_POSTGRES_URL`
/// names, or `None` when the variable is unset.
///
/// # Panics
/// When the variable is set but the server cannot be reached: a CI that asks for
/// the PostgreSQL half must not pass by silently skipping it.
pub async fn fresh_postgres_url() -> Option<String> {
    let admin = match std::env::var(POSTGRES_ENV) {
        Ok(url) if !url.trim().is_empty() => url.trim().to_owned(),
        _ => {
            static NOTE: Once = Once::new();
            // Straight to the process's stderr: libtest captures eprintln! output of
            // passing tests, and this line is for whoever reads the run.
            NOTE.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "PostgreSQL half skipped: {POSTGRES_ENV} is not set"
                );
            });
            return None;
        }
    };
    let mut conn = PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("{POSTGRES_ENV}={admin}: cannot connect to PostgreSQL: {e}"));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();

    static SWEPT: AtomicBool = AtomicBool::new(false);
    if !SWEPT.swap(true, Ordering::SeqCst) {
        drop_stale_schemas(&mut conn, now).await;
    }

    // The creation time in the name is what the sweep reads.
    let schema = format!("{SCHEMA_PREFIX}{now}_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{POSTGRES_ENV}: cannot create schema {schema}: {e}"));
    let _ = conn.close().await;

    // sqlx passes `options` in the startup packet, so every pooled connection
    // starts with the schema as its search path (migrations included).
    let separator = if admin.contains('?') { '&' } else { '?' };
    Some(format!(
        "{admin}{separator}options=-c%20search_path%3D{schema}"
    ))
}

/// Best effort: another run may be sweeping at the same time, and a failure here
/// must not fail the test that happened to come first.
async fn drop_stale_schemas(conn: &mut PgConnection, now: u64) {
    let pattern = format!("{}%", SCHEMA_PREFIX.replace('_', "\\_"));
    let Ok(names) = sqlx::query_scalar::<_, String>(
        "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE $1",
    )
    .bind(pattern)
    .fetch_all(&mut *conn)
    .await
    else {
        return;
    };
    for name in names {
        let Some(created) = name
            .strip_prefix(SCHEMA_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok())
        else {
            continue;
        };
        // Only names this module makes get spliced into SQL.
        let ours = name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if ours && now.saturating_sub(created) > STALE_AFTER.as_secs() {
            let _ = sqlx::query(AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {name} CASCADE"
            )))
            .execute(&mut *conn)
            .await;
        }
    }
}
