//! `city`: a city in the database, and how the figures, the lists, the
//! deadline watch, the ledger and `whistle verify` fare at its size. It
//! writes a generated organisation and seeds a database with a year of its
//! cases through `whistle seed-data` (the binary cargo built for the bench),
//! starts `whistle` on it, and prints:
//!
//! - the seeding rate;
//! - GetStatistics for the year, for a month and for one department over
//!   the year: the first call and the median and worst of the next ones;
//! - ListCases, ListOverdue and ListAlerts: every page walked with page
//!   tokens at the largest page size, and pages of the default size from the
//!   first, middle and last tokens;
//! - the deadline watch's two queries, through the store;
//! - ExportLedger for a month, XLSX and CSV, each on a fresh server: time,
//!   size, and the server's peak memory;
//! - `whistle verify` over every case: time and cases a second.
//!
//! A measurement, not a test: it exits 0 whether the goals are met or not.
//!
//! ```sh
//! cargo bench --bench city -- --backend sqlite --cases 20000
//! cargo bench --bench city -- --backend postgres --cases 2000000
//! cargo bench --bench city -- --backend postgres --reuse   # the database seeded before
//! ```
//!
//! Without `--bench` (as `cargo test --benches` runs it) it does nothing.

#![forbid(unsafe_code)]

#[path = "whistle-bench/server.rs"]
mod server;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Datelike, TimeZone, Utc};
use clap::{Parser, ValueEnum};
use tonic::Request;
use tonic::transport::Channel;

use whistle::proto::case_service_client::CaseServiceClient;
use whistle::proto::supervision_service_client::SupervisionServiceClient;
use whistle::proto::{
    ExportLedgerRequest, GetStatisticsRequest, ListAlertsRequest, ListCasesRequest,
    ListOverdueRequest,
};

const STATISTICS_GOAL: Duration = Duration::from_secs(2);
const PAGE_GOAL: Duration = Duration::from_millis(50);

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    Sqlite,
    Postgres,
}

#[derive(Parser)]
struct Args {
    #[arg(long, value_enum, default_value = "sqlite")]
    backend: BackendArg,
    /// Cases to seed (a year of them).
    #[arg(long, default_value_t = 20_000)]
    cases: u64,
    #[arg(long, default_value_t = 300)]
    offices: usize,
    #[arg(long, default_value_t = 60)]
    departments: usize,
    #[arg(long, default_value_t = 120)]
    categories: usize,
    /// Concurrent writers while seeding (PostgreSQL).
    #[arg(long, default_value_t = 2)]
    writers: usize,
    /// Measure the database seeded by an earlier run instead of seeding.
    #[arg(long)]
    reuse: bool,
    /// The PostgreSQL server; the bench uses its database `whistle_city`.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,
    /// Pages walked per list at most (0: every page).
    #[arg(long, default_value_t = 0)]
    walk_limit: usize,
    /// Calls of each statistics scope after the first.
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    #[arg(long)]
    skip_verify: bool,
    /// Passed by `cargo bench`; without it nothing is measured.
    #[arg(long)]
    bench: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.bench {
        return Ok(());
    }
    let binary = server::binary()?;
    let name = match args.backend {
        BackendArg::Sqlite => "sqlite",
        BackendArg::Postgres => "postgres",
    };
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("city-{name}"));
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("city.toml");
    let url = match args.backend {
        BackendArg::Sqlite => format!("sqlite://{}", dir.join("city.db").display()),
        BackendArg::Postgres => args
            .postgres_url
            .rsplit_once('/')
            .map(|(server, _)| format!("{server}/whistle_city"))
            .context("--postgres-url names no database")?,
    };
    println!("== city on {name}: {} ==", machine());
    if !args.reuse {
        run(
            &binary,
            &[
                "seed-data".into(),
                "organisation".into(),
                format!("--offices={}", args.offices),
                format!("--departments={}", args.departments),
                format!("--categories={}", args.categories),
                config.display().to_string(),
            ],
            None,
        )?;
        match args.backend {
            BackendArg::Sqlite => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(dir.join(format!("city.db{suffix}")));
                }
            }
            BackendArg::Postgres => recreate(&args.postgres_url).await?,
        }
        let started = Instant::now();
        let out = run(
            &binary,
            &[
                "--config".into(),
                config.display().to_string(),
                "seed-data".into(),
                "cases".into(),
                format!("--cases={}", args.cases),
                format!("--writers={}", args.writers),
            ],
            Some(&url),
        )?;
        println!(
            "seeding: {} in {:.0} s",
            out.lines().last().unwrap_or_default(),
            started.elapsed().as_secs_f64()
        );
    } else if !config.exists() {
        bail!("--reuse: no earlier run in {}", dir.display());
    }
    let counts = counts(&url).await?;
    println!("database: {counts}");

    let env = [("WHISTLE__MAIL__WORKERS", "0".to_owned())];
    // The ledger first, each on a fresh server, so the peak is the export's.
    let now = Utc::now();
    let month = last_full_month(now);
    for (format, label) in [(1, "XLSX"), (2, "CSV")] {
        let server = server::Server::start(&binary, &config, &url, &dir, &env).await?;
        let before = server.peak_rss().unwrap_or(0);
        println!("  (server pid {})", server.pid());
        let mut cases = CaseServiceClient::new(channel(&server.addr).await?)
            .max_decoding_message_size(64 << 20);
        let started = Instant::now();
        let mut stream = cases
            .export_ledger(supervisor(ExportLedgerRequest {
                from: Some(timestamp(month.0)),
                to: Some(timestamp(month.1)),
                format,
                office: String::new(),
            }))
            .await?
            .into_inner();
        let mut bytes = 0usize;
        while let Some(chunk) = stream.message().await? {
            bytes += chunk.data.len();
        }
        let took = started.elapsed();
        println!(
            "ExportLedger {label}, {} to {}: {:.2} s, {:.1} MiB; server peak memory {:.0} MiB (at start {:.0} MiB)",
            month.0.format("%Y-%m-%d"),
            month.1.format("%Y-%m-%d"),
            took.as_secs_f64(),
            bytes as f64 / 1048576.0,
            server.peak_rss().unwrap_or(0) as f64 / 1048576.0,
            before as f64 / 1048576.0,
        );
        server.stop().await;
    }

    let mut server = server::Server::start(&binary, &config, &url, &dir, &env).await?;
    let channel = channel(&server.addr).await?;
    let mut supervision = SupervisionServiceClient::new(channel.clone());
    let year = (now - chrono::Duration::days(365), now);
    let scopes = [
        ("year", year, ""),
        ("month", month, ""),
        ("one department, year", year, "dept-001"),
    ];
    println!("GetStatistics (goal < {} s):", STATISTICS_GOAL.as_secs());
    let writes_before = server.writes().await?;
    for (label, (from, to), department) in scopes {
        let mut times = Vec::new();
        let mut total = 0;
        for _ in 0..=args.repeat {
            let started = Instant::now();
            let s = supervision
                .get_statistics(supervisor(GetStatisticsRequest {
                    from: Some(timestamp(from)),
                    to: Some(timestamp(to)),
                    office: String::new(),
                    department: department.into(),
                }))
                .await?
                .into_inner();
            times.push(started.elapsed());
            total = s.total.map_or(0, |t| t.cases);
        }
        let first = times.remove(0);
        times.sort();
        let median = times.get(times.len() / 2).copied().unwrap_or(first);
        let worst = times.last().copied().unwrap_or(first);
        println!(
            "  {label:<22} {total:>9} cases: first {}, then median {}, worst {}  {}",
            ms(first),
            ms(median),
            ms(worst),
            verdict(worst.max(median) < STATISTICS_GOAL)
        );
    }
    // The figures keep the parts of cases settled since the last call: writes
    // that take their turn with the escalations.
    let w = server.writes().await?.since(writes_before);
    println!(
        "  parts kept meanwhile: {:.0} write transactions, holding the writer {} in all",
        w.count,
        ms(Duration::from_secs_f64(w.held)),
    );

    println!(
        "lists (goal: every page p99 < {} ms):",
        PAGE_GOAL.as_millis()
    );
    let cases = CaseServiceClient::new(channel.clone());
    walk("ListCases", args.walk_limit, |size, token| {
        let mut c = cases.clone();
        async move {
            let r = c
                .list_cases(supervisor(ListCasesRequest {
                    page_size: size,
                    page_token: token,
                    ..Default::default()
                }))
                .await?
                .into_inner();
            anyhow::Ok((r.cases.len(), r.next_page_token))
        }
    })
    .await?;
    let s = supervision.clone();
    walk("ListOverdue", args.walk_limit, |size, token| {
        let mut c = s.clone();
        async move {
            let r = c
                .list_overdue(supervisor(ListOverdueRequest {
                    page_size: size,
                    page_token: token,
                    ..Default::default()
                }))
                .await?
                .into_inner();
            anyhow::Ok((r.requests.len(), r.next_page_token))
        }
    })
    .await?;
    let s = supervision.clone();
    walk("ListAlerts", args.walk_limit, |size, token| {
        let mut c = s.clone();
        async move {
            let r = c
                .list_alerts(supervisor(ListAlertsRequest {
                    page_size: size,
                    page_token: token,
                    ..Default::default()
                }))
                .await?
                .into_inner();
            anyhow::Ok((r.alerts.len(), r.next_page_token))
        }
    })
    .await?;
    server.check_alive()?;
    println!(
        "server peak memory after statistics and lists: {:.0} MiB",
        server.peak_rss().unwrap_or(0) as f64 / 1048576.0
    );
    server.stop().await;

    watch_scan(&url).await?;

    if !args.skip_verify {
        let started = Instant::now();
        let out = run(
            &binary,
            &[
                "--config".into(),
                config.display().to_string(),
                "verify".into(),
            ],
            Some(&url),
        )?;
        println!(
            "whistle verify: {} ({:.0} s)",
            out.lines().last().unwrap_or_default(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Walks a list with page tokens at the largest page size, then times pages
/// of the default size from the first, the middle and the last token.
async fn walk<F, Fut>(name: &str, limit: usize, call: F) -> anyhow::Result<()>
where
    F: Fn(i32, String) -> Fut,
    Fut: Future<Output = anyhow::Result<(usize, String)>>,
{
    let mut tokens = vec![String::new()];
    let mut times = Vec::new();
    let mut rows = 0;
    let started = Instant::now();
    loop {
        let token = tokens.last().cloned().unwrap_or_default();
        let at = Instant::now();
        let (n, next) = call(500, token).await?;
        times.push(at.elapsed());
        rows += n;
        if next.is_empty() || (limit > 0 && times.len() >= limit) {
            break;
        }
        tokens.push(next);
    }
    let walked = started.elapsed();
    times.sort();
    println!(
        "  {name}: {rows} rows in {} pages of 500 ({:.0} s): p50 {}, p99 {}, max {}",
        times.len(),
        walked.as_secs_f64(),
        ms(pct(&times, 50)),
        ms(pct(&times, 99)),
        ms(times.last().copied().unwrap_or_default())
    );
    let points = [
        ("first", String::new()),
        ("middle", tokens[tokens.len() / 2].clone()),
        ("last", tokens.last().cloned().unwrap_or_default()),
    ];
    for (label, token) in points {
        let mut t = Vec::new();
        for _ in 0..30 {
            let at = Instant::now();
            call(50, token.clone()).await?;
            t.push(at.elapsed());
        }
        t.sort();
        let p99 = pct(&t, 99);
        println!(
            "    page of 50 at the {label:<6}: p50 {}, p99 {}  {}",
            ms(pct(&t, 50)),
            ms(p99),
            verdict(p99 < PAGE_GOAL)
        );
    }
    Ok(())
}

/// The watch's two queries through the store, as `benches/watch-scan.rs`
/// times them, on the seeded database.
async fn watch_scan(url: &str) -> anyhow::Result<()> {
    let store = whistle::store::connect_existing(url, &Default::default()).await?;
    let now = Utc::now();
    let (mut scan, mut next) = (Vec::new(), Vec::new());
    let mut due = 0;
    for _ in 0..50 {
        let at = Instant::now();
        due = store.due_for_watch(now, 100).await?.len();
        scan.push(at.elapsed());
        let at = Instant::now();
        store.next_watch_due().await?;
        next.push(at.elapsed());
    }
    scan.sort();
    next.sort();
    println!(
        "deadline watch: scan p50 {}, p90 {} ({due} due now); next wake-up p50 {}, p90 {}",
        ms(pct(&scan, 50)),
        ms(pct(&scan, 90)),
        ms(pct(&next, 50)),
        ms(pct(&next, 90))
    );
    store.close().await;
    Ok(())
}

fn pct(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted[rank - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

fn supervisor<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        "Bearer city-supervisor".parse().expect("ASCII"),
    );
    request
}

fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    }
}

/// The last whole calendar month before `now`, Beijing time.
fn last_full_month(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let tz = chrono_tz::Asia::Shanghai;
    let local = now.with_timezone(&tz);
    let first = |y, m| {
        tz.with_ymd_and_hms(y, m, 1, 0, 0, 0)
            .single()
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or(now)
    };
    let to = first(local.year(), local.month());
    let (y, m) = if local.month() == 1 {
        (local.year() - 1, 12)
    } else {
        (local.year(), local.month() - 1)
    };
    (first(y, m), to)
}

async fn channel(addr: &str) -> anyhow::Result<Channel> {
    Ok(
        tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(600))
            .connect()
            .await?,
    )
}

/// Runs the whistle binary to the end; its stdout. Its stderr (progress)
/// goes to ours.
fn run(binary: &Path, args: &[String], database_url: Option<&str>) -> anyhow::Result<String> {
    let mut command = std::process::Command::new(binary);
    command.args(args).env("RUST_LOG", "warn");
    if let Some(url) = database_url {
        command.env("WHISTLE__DATABASE__URL", url);
    }
    let out = command
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("running whistle {}", args.join(" ")))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    // verify exits 1 when a chain is broken: that is a figure, not a failure.
    if !out.status.success() && !stdout.contains("checked") {
        bail!(
            "whistle {} failed: {}\n{stdout}",
            args.join(" "),
            out.status
        );
    }
    Ok(stdout)
}

async fn recreate(admin: &str) -> anyhow::Result<()> {
    use sqlx::{Connection, PgConnection};
    let mut c = PgConnection::connect(admin).await?;
    sqlx::query("DROP DATABASE IF EXISTS whistle_city WITH (FORCE)")
        .execute(&mut c)
        .await?;
    sqlx::query("CREATE DATABASE whistle_city")
        .execute(&mut c)
        .await?;
    c.close().await?;
    Ok(())
}

/// Rows of the tables the measurements read, and the database's size.
async fn counts(url: &str) -> anyhow::Result<String> {
    use sqlx::Row;
    let mut out = Vec::new();
    if url.starts_with("postgres") {
        let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(url).await?;
        for table in ["cases", "requests", "events", "alerts", "case_figures"] {
            let n: i64 = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(&mut c)
                .await?
                .get(0);
            out.push(format!("{n} {table}"));
        }
        let size: i64 = sqlx::query("SELECT pg_database_size(current_database())")
            .fetch_one(&mut c)
            .await?
            .get(0);
        out.push(format!("{:.1} GiB", size as f64 / (1u64 << 30) as f64));
    } else {
        let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(url).await?;
        for table in ["cases", "requests", "events", "alerts", "case_figures"] {
            let n: i64 = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(&mut c)
                .await?
                .get(0);
            out.push(format!("{n} {table}"));
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            out.push(format!("{:.1} GiB", size as f64 / (1u64 << 30) as f64));
        }
    }
    Ok(out.join(", "))
}

/// What the figures were measured on.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_default();
    format!("{cores} cores, load average {load} at the start")
}
