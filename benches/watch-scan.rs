//! `watch-scan`: what the deadline watch's scan costs as open requests grow.
//! For each backend and each size (10,000, 100,000 and 1,000,000 open requests
//! by default) it seeds a fresh database with that many open requests whose
//! next look is far ahead, plus the same 100 due now, and times the two queries
//! the watch runs on every wake-up, through the store itself:
//!
//! - `due_for_watch(now, 100)`: the cases to look at now (the scan);
//! - `next_watch_due()`: when to wake up next.
//!
//! It prints the median and p90 of 50 runs of each, and the query plan the
//! database chose for the scan, so one can see it reads the due rows of one
//! index and nothing else. A measurement, not a test: it exits 0 whatever the
//! figures.
//!
//! ```sh
//! cargo bench --bench watch-scan                               # both backends
//! cargo bench --bench watch-scan -- --backend sqlite --sizes 10000,100000
//! ```

#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clap::{Parser, ValueEnum};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use whistle::store::{self, PoolOptions, Store};

#[derive(Parser)]
#[command(about = "How the deadline watch's scan scales with open requests")]
struct Cli {
    #[arg(long, value_enum, default_value_t = BackendArg::Both)]
    backend: BackendArg,
    /// Open requests to seed, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [10_000u64, 100_000, 1_000_000])]
    sizes: Vec<u64>,
    /// Requests due now among them.
    #[arg(long, default_value_t = 100)]
    due: u64,
    /// Timed runs of each query.
    #[arg(long, default_value_t = 50)]
    runs: usize,
    /// A PostgreSQL server where the bench may create (and drop) databases
    /// `whistle_scan_*`.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,
    /// `cargo bench` passes this to every bench; nothing to do with it.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    Sqlite,
    Postgres,
    Both,
}

/// The moment the bench calls "now": every seeded deadline is measured from it.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_000_000, 0).expect("a valid instant")
}

/// Rows numbered 1..=n, in each backend's own way of making them.
fn numbers(postgres: bool, n: u64) -> String {
    if postgres {
        format!("generate_series(1, {n}) AS s(g)")
    } else {
        format!(
            "(WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {n}) \
             SELECT g FROM s) AS s"
        )
    }
}

/// Seeds `n` open requests, one per case; the first `due` are due at `now`,
/// the others a year later. Written as set-based SQL: the seeding is not what
/// is measured.
async fn seed(url: &str, postgres: bool, n: u64, due: u64) -> anyhow::Result<()> {
    let now_ms = now().timestamp_millis();
    let later_ms = now_ms + 365 * 24 * 3600 * 1000;
    let rows = numbers(postgres, n);
    let cases = format!(
        "INSERT INTO cases (id, office, petition_id, category, title, description, resident_name, \
         resident_phone, address, community, difficulty, status, fingerprint, created_at, updated_at) \
         SELECT 'case-' || g, 'cuiping', 'P-' || g, 'property-certificate', '房产证迟迟未办', '', \
         '张女士', '13812345678', '', '杨柳社区', 3, 'OPEN', '', {now_ms}, {now_ms} FROM {rows}"
    );
    let requests = format!(
        "INSERT INTO requests (id, case_id, position, reference, department, role, status, round, \
         issued_at, ack_due_at, reply_due_at, reissue_reason, watch_at) \
         SELECT 'req-' || g, 'case-' || g, 0, 'REF-' || g, 'housing', 'LEAD', 'ISSUED', 1, \
         {now_ms}, {later_ms}, {later_ms}, '', \
         CASE WHEN g <= {due} THEN {now_ms} ELSE {later_ms} END FROM {rows}"
    );
    // Statistics as a database that has run a while would have them.
    let analyze = "ANALYZE";
    if postgres {
        let mut conn = PgConnection::connect(url).await?;
        for sql in [&cases, &requests, analyze] {
            sqlx::query(AssertSqlSafe(sql.to_owned()))
                .execute(&mut conn)
                .await?;
        }
        conn.close().await?;
    } else {
        let mut conn = sqlx::SqliteConnection::connect(url).await?;
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(&mut conn)
            .await?;
        let mut tx = conn.begin().await?;
        for sql in [&cases, &requests] {
            sqlx::query(AssertSqlSafe(sql.to_owned()))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        sqlx::query(analyze).execute(&mut conn).await?;
        conn.close().await?;
    }
    Ok(())
}

/// The plan the database chose for the scan's query, one line per step.
async fn scan_plan(url: &str, postgres: bool) -> anyhow::Result<Vec<String>> {
    let query = format!(
        "SELECT case_id, MIN(watch_at) AS at FROM requests WHERE watch_at IS NOT NULL AND \
         watch_at <= {} GROUP BY case_id ORDER BY at LIMIT 100",
        now().timestamp_millis()
    );
    if postgres {
        let mut conn = PgConnection::connect(url).await?;
        let lines: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!("EXPLAIN {query}")))
            .fetch_all(&mut conn)
            .await?;
        conn.close().await?;
        Ok(lines)
    } else {
        let mut conn = sqlx::SqliteConnection::connect(url).await?;
        let rows: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {query}")))
                .fetch_all(&mut conn)
                .await?;
        conn.close().await?;
        Ok(rows.into_iter().map(|r| r.3).collect())
    }
}

/// Median and p90 of `runs` timed calls of `f`.
async fn time<F, Fut, T>(runs: usize, mut f: F) -> anyhow::Result<(Duration, Duration, T)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, store::StoreError>>,
{
    let mut last = f().await?;
    let mut took = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        last = f().await?;
        took.push(started.elapsed());
    }
    took.sort();
    let at = |q: f64| took[((took.len() as f64 * q) as usize).min(took.len() - 1)];
    Ok((at(0.5), at(0.9), last))
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

async fn measure(cli: &Cli, postgres: bool, n: u64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (url, drop_url) = if postgres {
        let name = format!("whistle_scan_{}_{n}", std::process::id());
        let mut admin = PgConnection::connect(&cli.postgres_url).await?;
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        let (base, _) = cli
            .postgres_url
            .rsplit_once('/')
            .expect("a database in the URL");
        (format!("{base}/{name}"), Some(name))
    } else {
        (store::testing::sqlite_url(dir.path()), None)
    };
    let result = async {
        let store: Store = store::connect(&url, &PoolOptions::default()).await?;
        store.migrate().await?;
        let seeding = Instant::now();
        seed(&url, postgres, n, cli.due.min(n)).await?;
        let seeded = seeding.elapsed();
        let (scan_p50, scan_p90, due) = time(cli.runs, || store.due_for_watch(now(), 100)).await?;
        let (next_p50, next_p90, next) = time(cli.runs, || store.next_watch_due()).await?;
        anyhow::ensure!(
            due.len() as u64 == cli.due.min(n).min(100),
            "the scan found {} due cases",
            due.len()
        );
        anyhow::ensure!(next == Some(now()), "the next look is {next:?}");
        store.close().await;
        println!(
            "| {} | {n} | {} | {} | {} | {} | {} | seeded in {:.1} s |",
            if postgres { "PostgreSQL" } else { "SQLite" },
            due.len(),
            ms(scan_p50),
            ms(scan_p90),
            ms(next_p50),
            ms(next_p90),
            seeded.as_secs_f64()
        );
        if n == *cli.sizes.iter().max().unwrap_or(&n) {
            for line in scan_plan(&url, postgres).await? {
                println!("|   plan: {line} |||||||");
            }
        }
        anyhow::Ok(())
    }
    .await;
    if let Some(name) = drop_url {
        let mut admin = PgConnection::connect(&cli.postgres_url).await?;
        sqlx::query(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await?;
        admin.close().await?;
    }
    result
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let backends = match cli.backend {
        BackendArg::Sqlite => vec![false],
        BackendArg::Postgres => vec![true],
        BackendArg::Both => vec![true, false],
    };
    println!(
        "watch-scan: {} due among N open requests, {} runs per query",
        cli.due, cli.runs
    );
    println!();
    println!(
        "| backend | open requests | due found | scan p50 | scan p90 | next-due p50 | next-due p90 | |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    let mut failed = false;
    for postgres in backends {
        for &n in &cli.sizes {
            if let Err(e) = measure(&cli, postgres, n).await {
                failed = true;
                eprintln!(
                    "{} with {n}: could not measure: {e:#}",
                    if postgres { "PostgreSQL" } else { "SQLite" }
                );
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
    Ok(())
}
