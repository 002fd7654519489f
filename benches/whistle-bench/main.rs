//! `whistle-bench`: the load benchmark. For each backend it starts the
//! `whistle` binary cargo built for the bench as its own process on a fresh database, drives it over real
//! gRPC with `--concurrency` closed-loop clients (EscalatePetition with distinct
//! petitions, then GetCase on random escalated cases), and then measures the
//! floor: the same rows written and read straight through sqlx by as many tasks,
//! on another fresh database with the same migrations and pools shaped like the
//! service's. It prints throughput, latency percentiles and errors for each, the
//! ratio service/floor, the server's peak memory and the goals met or missed.
//!
//! A measurement, not a test: it exits 0 whether the goals are met or not, and
//! non-zero only when it could not measure (no server binary, no PostgreSQL).
//!
//! ```sh
//! cargo bench --bench whistle-bench                            # both backends
//! cargo bench --bench whistle-bench -- --backend sqlite --duration 5
//! ```
//!
//! `cargo test --benches` runs it without `--bench`: it then only checks its own
//! pure helpers and exits, rather than loading the machine for minutes.

mod floor;
mod grpc;
mod load;
mod server;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::{Parser, ValueEnum};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use floor::Floor;
use load::{Phase, Plan};
use server::Server;

/// The goals are judged at this concurrency; other runs still print them.
const DEFAULT_CONCURRENCY: usize = 32;
const P99_GOAL: Duration = Duration::from_millis(20);
const MEMORY_GOAL: u64 = 100 * 1024 * 1024;
const RATIO_GOAL: f64 = 0.5;
/// With `--requests`, a phase still stops after this long.
const REQUESTS_CAP: Duration = Duration::from_secs(60);

#[derive(Parser)]
#[command(about = "Load benchmark of whistle: the service over gRPC against the database floor")]
struct Cli {
    /// Which backend to measure.
    #[arg(long, value_enum, default_value_t = BackendArg::Both)]
    backend: BackendArg,
    /// Concurrent clients (and, for the floor, concurrent tasks).
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY)]
    concurrency: usize,
    /// Measured seconds per phase, after the warm-up.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Measure this many calls per phase instead of a duration (each phase still
    /// stops after 60 s).
    #[arg(long)]
    requests: Option<u64>,
    /// Seconds of each phase not counted.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// gRPC connections the clients share; default one per client.
    #[arg(long)]
    channels: Option<usize>,
    /// A PostgreSQL server where the benchmark may create (and afterwards drop)
    /// its databases `whistle_bench_*`.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres_url: String,
    /// Passed by `cargo bench` (and not by `cargo test --benches`).
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    Sqlite,
    Postgres,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// Everything measured on one backend.
struct Measured {
    backend: Backend,
    escalate: Phase,
    get: Phase,
    floor_escalate: Phase,
    floor_get: Phase,
    peak_rss: Option<u64>,
    /// Letters the service wrote, and those its outbox worker had delivered
    /// (as files) by the time the server was stopped.
    letters: (usize, usize),
    letter_bytes: usize,
}

impl Measured {
    fn ratio(service: &Phase, floor: &Phase) -> f64 {
        let f = floor.throughput();
        if f > 0.0 {
            service.throughput() / f
        } else {
            0.0
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if !cli.bench {
        self_check();
        println!(
            "whistle-bench: helpers checked; measure with `cargo bench --bench whistle-bench`"
        );
        return Ok(());
    }
    anyhow::ensure!(cli.concurrency > 0, "--concurrency must be at least 1");
    note("whistle-bench starting");
    let binary = server::binary()?;
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let run = format!("{stamp}_{}", std::process::id());
    let dir = std::env::temp_dir().join(format!("whistle-bench-{run}"));
    std::fs::create_dir_all(&dir)?;

    let plan = Plan {
        concurrency: cli.concurrency,
        warmup: Duration::from_secs(cli.warmup),
        duration: Duration::from_secs(cli.duration.max(1)),
        requests: cli.requests,
        cap: REQUESTS_CAP,
    };
    let channels = cli
        .channels
        .unwrap_or(cli.concurrency)
        .clamp(1, cli.concurrency);
    let backends = match cli.backend {
        BackendArg::Sqlite => vec![Backend::Sqlite],
        BackendArg::Postgres => vec![Backend::Postgres],
        BackendArg::Both => vec![Backend::Postgres, Backend::Sqlite],
    };
    println!(
        "whistle-bench: {} clients on {channels} connection(s), {} warm-up, {} per phase, {} cores",
        plan.concurrency,
        secs(plan.warmup),
        match plan.requests {
            Some(n) => format!("{n} calls"),
            None => secs(plan.duration),
        },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );

    let mut measured = Vec::new();
    let mut failed = false;
    for backend in backends {
        let setup = Setup {
            binary: &binary,
            dir: &dir,
            run: &run,
            plan,
            channels,
            postgres_url: &cli.postgres_url,
        };
        match measure(backend, &setup).await {
            Ok(m) => {
                print_backend(&m, &plan, channels);
                measured.push(m);
            }
            Err(e) => {
                failed = true;
                eprintln!("\n{}: could not measure: {e:#}", backend.name());
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    if !measured.is_empty() {
        print_goals(&measured, plan.concurrency);
    }
    if failed {
        std::process::exit(1);
    }
    Ok(())
}

struct Setup<'a> {
    binary: &'a Path,
    dir: &'a Path,
    run: &'a str,
    plan: Plan,
    channels: usize,
    postgres_url: &'a str,
}

/// Fresh databases for the service and for the floor; PostgreSQL ones are
/// dropped afterwards whatever happened.
async fn measure(backend: Backend, cx: &Setup<'_>) -> anyhow::Result<Measured> {
    let dir = cx.dir.join(backend.name().to_lowercase());
    std::fs::create_dir_all(&dir)?;
    match backend {
        Backend::Sqlite => {
            let service = format!("sqlite://{}", dir.join("service.db").display());
            let floor = format!("sqlite://{}", dir.join("floor.db").display());
            measure_on(backend, cx, &dir, &service, &floor).await
        }
        Backend::Postgres => {
            let names = [
                format!("whistle_bench_{}_service", cx.run),
                format!("whistle_bench_{}_floor", cx.run),
            ];
            let result = async {
                let mut admin = PgConnection::connect(cx.postgres_url)
                    .await
                    .with_context(|| format!("connecting to {}", cx.postgres_url))?;
                for name in &names {
                    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                        .execute(&mut admin)
                        .await
                        .with_context(|| format!("creating database {name}"))?;
                }
                let _ = admin.close().await;
                let service = with_database(cx.postgres_url, &names[0]);
                let floor = with_database(cx.postgres_url, &names[1]);
                measure_on(backend, cx, &dir, &service, &floor).await
            }
            .await;
            if let Ok(mut admin) = PgConnection::connect(cx.postgres_url).await {
                for name in &names {
                    let _ = sqlx::query(AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut admin)
                    .await;
                }
                let _ = admin.close().await;
            }
            result
        }
    }
}

async fn measure_on(
    backend: Backend,
    cx: &Setup<'_>,
    dir: &Path,
    service_url: &str,
    floor_url: &str,
) -> anyhow::Result<Measured> {
    let name = backend.name();
    let c = cx.plan.concurrency;

    note(&format!("{name}: starting the server …"));
    let mut server = Server::start(cx.binary, service_url, dir, &[]).await?;
    note(&format!(
        "{name}: server {} listening on {}",
        server.pid(),
        server.addr
    ));
    let channels = grpc::channels(&server.addr, cx.channels).await?;
    note(&format!("{name}: EscalatePetition through the service …"));
    let escalate = load::drive(cx.plan, grpc::escalate_ops(&channels, c, cx.run)).await;
    server.check_alive()?;
    anyhow::ensure!(
        !escalate.produced.is_empty(),
        "no petition was escalated; errors: {:?}",
        escalate.errors
    );
    let escalating_rss = server.peak_rss();
    drop(channels);
    server.stop().await;
    let outbox = dir.join("outbox");
    let delivered = std::fs::read_dir(&outbox).map_or(0, |d| d.count());

    // The escalation phase leaves thousands of letters queued, far more than any
    // office writes; delivering them would bill the reads for the writes' mail.
    // The floor reads with no mail to deliver, so the service does too.
    note(&format!(
        "{name}: GetCase through the service (restarted with mail.workers = 0) …"
    ));
    let mut server = Server::start(
        cx.binary,
        service_url,
        dir,
        &[("WHISTLE__MAIL__WORKERS", "0")],
    )
    .await?;
    let channels = grpc::channels(&server.addr, cx.channels).await?;
    let ids = Arc::new(escalate.produced.clone());
    let get = load::drive(cx.plan, grpc::get_ops(&channels, c, ids)).await;
    server.check_alive()?;
    let peak_rss = escalating_rss.max(server.peak_rss());
    drop(channels);
    server.stop().await;
    let letters = (escalate.produced.len() * 2, delivered);

    let raw = floor::letter(&outbox);
    let letter_bytes = raw.len();
    let floor = Floor::open(floor_url).await?;
    note(&format!(
        "{name}: the same writes straight through sqlx (floor) …"
    ));
    let floor_escalate = load::drive(cx.plan, floor.escalate_ops(c, cx.run, Arc::new(raw))).await;
    anyhow::ensure!(
        !floor_escalate.produced.is_empty(),
        "the floor escalated nothing; errors: {:?}",
        floor_escalate.errors
    );
    note(&format!(
        "{name}: the same reads straight through sqlx (floor) …"
    ));
    let ids = Arc::new(floor_escalate.produced.clone());
    let floor_get = load::drive(cx.plan, floor.get_ops(c, ids)).await;
    floor.close().await;
    note(&format!("{name}: done"));

    Ok(Measured {
        backend,
        escalate,
        get,
        floor_escalate,
        floor_get,
        peak_rss,
        letters,
        letter_bytes,
    })
}

/// `admin` with its database replaced by `name`, query string kept.
fn with_database(admin: &str, name: &str) -> String {
    let (head, query) = match admin.split_once('?') {
        Some((head, query)) => (head, format!("?{query}")),
        None => (admin, String::new()),
    };
    let authority = head.find("://").map_or(0, |i| i + 3);
    let base = match head[authority..].find('/') {
        Some(slash) => &head[..authority + slash],
        None => head,
    };
    format!("{base}/{name}{query}")
}

/// A progress line on stderr, with the time since start, so a slow step shows.
fn note(what: &str) {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let start = START.get_or_init(std::time::Instant::now);
    eprintln!("[{:>6.1} s] {what}", start.elapsed().as_secs_f64());
}

fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn row(operation: &str, path: &str, p: &Phase) {
    println!(
        "  {operation:<17} {path:<8} {:>9.1} {:>10} {:>10} {:>10} {:>10} {:>8} {:>7}",
        p.throughput(),
        ms(p.quantile(0.50)),
        ms(p.quantile(0.90)),
        ms(p.quantile(0.99)),
        ms(p.max()),
        p.ok,
        p.error_count(),
    );
    if !p.errors.is_empty() {
        let list: Vec<String> = p.errors.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
        println!("  {:<26} errors: {}", "", list.join(", "));
    }
}

fn print_backend(m: &Measured, plan: &Plan, channels: usize) {
    println!(
        "\n== {} — {} clients on {channels} connection(s); {} warm-up not counted ==",
        m.backend.name(),
        plan.concurrency,
        secs(plan.warmup)
    );
    println!(
        "  {:<17} {:<8} {:>9} {:>10} {:>10} {:>10} {:>10} {:>8} {:>7}",
        "operation", "path", "ops/s", "p50", "p90", "p99", "max", "ok", "errors"
    );
    row("EscalatePetition", "service", &m.escalate);
    row("EscalatePetition", "floor", &m.floor_escalate);
    println!(
        "  {:<26} ratio service/floor: {:.2}",
        "",
        Measured::ratio(&m.escalate, &m.floor_escalate)
    );
    row("GetCase", "service", &m.get);
    row("GetCase", "floor", &m.floor_get);
    println!(
        "  {:<26} ratio service/floor: {:.2}",
        "",
        Measured::ratio(&m.get, &m.floor_get)
    );
    println!(
        "  server peak resident memory (VmHWM): {}",
        m.peak_rss.map_or("unknown (not Linux?)".to_owned(), mib)
    );
    println!(
        "  outbox: the service wrote {} letters; its worker had delivered {} when stopped; \
         the floor stores {} bytes per letter",
        m.letters.0, m.letters.1, m.letter_bytes
    );
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

fn print_goals(measured: &[Measured], concurrency: usize) {
    println!("\n== goals ==");
    println!("  {:<58} {:>12}  verdict", "goal", "measured");
    let line = |goal: String, value: String, met: Option<bool>| {
        let v = met.map_or("not judged (run at --concurrency 32)", verdict);
        println!("  {goal:<58} {value:>12}  {v}");
    };
    for m in measured {
        let name = m.backend.name();
        let r = Measured::ratio(&m.escalate, &m.floor_escalate);
        line(
            format!("EscalatePetition ≥ {RATIO_GOAL} × floor on {name}"),
            format!("{r:.2}"),
            Some(r >= RATIO_GOAL),
        );
        let r = Measured::ratio(&m.get, &m.floor_get);
        line(
            format!("GetCase ≥ {RATIO_GOAL} × floor on {name}"),
            format!("{r:.2}"),
            Some(r >= RATIO_GOAL),
        );
        if m.backend == Backend::Postgres {
            let judged = concurrency == DEFAULT_CONCURRENCY;
            for (op, p) in [("EscalatePetition", &m.escalate), ("GetCase", &m.get)] {
                let p99 = p.quantile(0.99);
                line(
                    format!("{op} p99 < 20 ms at {DEFAULT_CONCURRENCY} clients on {name}"),
                    ms(p99),
                    judged.then_some(p99 < P99_GOAL && p.ok > 0),
                );
            }
        }
        match m.peak_rss {
            Some(peak) => line(
                format!("server peak memory < 100 MiB on {name}"),
                mib(peak),
                Some(peak < MEMORY_GOAL),
            ),
            None => println!("  server peak memory < 100 MiB on {name}: unknown (no /proc)"),
        }
    }
}

/// What a unit test would check, run by `cargo test --benches` (a bench with
/// `harness = false` has no test harness of its own).
fn self_check() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "b"),
        "postgres://postgres@127.0.0.1:5432/b"
    );
    assert_eq!(
        with_database("postgres://u:p@h:5432?sslmode=disable", "b"),
        "postgres://u:p@h:5432/b?sslmode=disable"
    );
}
