//! Fresh, isolated databases for tests: the lib's own store suite and the
//! integration tests under `tests/` both take their URLs from here, so that every
//! test gets a database no other test touches, on either backend.
//!
//! SQLite: `sqlite_url(tempdir.path())`, keeping the `TempDir` alive for the test.
//! PostgreSQL: `TestDatabase::postgres().await`, which is `None` (and says so
//! once on stderr) unless `WHISTLE_TEST_POSTGRES_URL` names a server to use; then
//! each call creates a new schema in the database that URL names, and the value
//! derefs to a URL whose connections live in that schema. Dropping it drops the
//! schema (ending the connections still in it), so a run leaves nothing behind;
//! what a killed run left is swept by the first test of a later run once it is
//! a day old (younger ones may belong to a run still going).

use std::io::Write;
use std::ops::Deref;
use std::path::Path;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// An admin URL such as `postgres://postgres@127.0.0.1:5432/postgres`.
pub const POSTGRES_ENV: &str = "WHISTLE_TEST_POSTGRES_URL";

const SCHEMA_PREFIX: &str = "whistle_t_";

/// Schemas older than this were left by an earlier run that was killed before
/// its tests ended, and are dropped by the first test of a later run.
const STALE_AFTER: Duration = Duration::from_secs(24 * 3600);

/// A database file inside `dir` (which the caller keeps alive and removes).
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("whistle.db").display())
}

/// A database of its own for one test: derefs to its URL. A PostgreSQL one is
/// a schema, dropped with this value.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    /// The admin URL and the schema's name.
    schema: Option<(String, String)>,
}

impl Deref for TestDatabase {
    type Target = str;

    fn deref(&self) -> &str {
        &self.url
    }
}

impl TestDatabase {
    /// A SQLite file inside `dir` (which the caller keeps alive and removes).
    pub fn sqlite(dir: &Path) -> Self {
        Self {
            url: sqlite_url(dir),
            schema: None,
        }
    }

    /// An empty schema of its own on the server `WHISTLE_TEST_POSTGRES_URL`
    /// names, or `None` when the variable is unset.
    ///
    /// # Panics
    /// When the variable is set but the server cannot be reached: a CI that asks
    /// for the PostgreSQL half must not pass by silently skipping it.
    pub async fn postgres() -> Option<Self> {
        let admin = match std::env::var(POSTGRES_ENV) {
            Ok(url) if !url.trim().is_empty() => url.trim().to_owned(),
            _ => {
                static NOTE: Once = Once::new();
                // Straight to the process's stderr: libtest captures eprintln!
                // output of passing tests, and this line is for whoever reads the run.
                NOTE.call_once(|| {
                    let _ = writeln!(
                        std::io::stderr(),
                        "PostgreSQL half skipped: {POSTGRES_ENV} is not set"
                    );
                });
                return None;
            }
        };
        let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
            panic!("{POSTGRES_ENV}={admin}: cannot connect to PostgreSQL: {e}")
        });
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

        // sqlx passes `options` in the startup packet, so every pooled
        // connection starts with the schema as its search path (migrations
        // included); the application name lets the drop find the connections
        // still in the schema.
        let separator = if admin.contains('?') { '&' } else { '?' };
        Some(Self {
            url: format!(
                "{admin}{separator}options=-c%20search_path%3D{schema}&application_name={schema}"
            ),
            schema: Some((admin, schema)),
        })
    }
}

impl Drop for TestDatabase {
    /// Drops the schema on a thread of its own (a test's runtime may be the
    /// one dropping this, and cannot wait on itself): first the connections
    /// still in it, which a stopping server may hold mid-transaction, then the
    /// schema. Best effort: a schema left behind is swept by a later run.
    fn drop(&mut self) {
        let Some((admin, schema)) = self.schema.take() else {
            return;
        };
        let dropping = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                let Ok(mut conn) = PgConnection::connect(&admin).await else {
                    return;
                };
                // A connection that came back mid-transaction must not hold
                // the drop up for long.
                let _ = sqlx::query("SET lock_timeout = '10s'")
                    .execute(&mut conn)
                    .await;
                for _ in 0..3 {
                    let _ = sqlx::query(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE application_name = $1 AND pid <> pg_backend_pid()",
                    )
                    .bind(&schema)
                    .execute(&mut conn)
                    .await;
                    let dropped = sqlx::query(AssertSqlSafe(format!(
                        "DROP SCHEMA IF EXISTS {schema} CASCADE"
                    )))
                    .execute(&mut conn)
                    .await;
                    if dropped.is_ok() {
                        break;
                    }
                }
                let _ = conn.close().await;
            });
        });
        let _ = dropping.join();
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn schema_exists(admin: &str, schema: &str) -> bool {
        let mut conn = PgConnection::connect(admin).await.unwrap();
        let found: Option<String> =
            sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname = $1")
                .bind(schema)
                .fetch_optional(&mut conn)
                .await
                .unwrap();
        found.is_some()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_test_schema_is_dropped_with_its_database_even_while_in_use() {
        let Some(database) = TestDatabase::postgres().await else {
            return;
        };
        let (admin, schema) = database.schema.clone().unwrap();
        // A connection in the middle of a transaction in the schema, as a
        // server still stopping holds one.
        let mut conn = PgConnection::connect(&database).await.unwrap();
        sqlx::query("CREATE TABLE t (x INT)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
        sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&mut conn)
            .await
            .unwrap();
        assert!(schema_exists(&admin, &schema).await);
        drop(database);
        assert!(!schema_exists(&admin, &schema).await, "{schema} is left");
    }
}
