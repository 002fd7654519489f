//! `whistle-bench`: the load benchmark. For each backend and each mode it starts
//! the `whistle` binary cargo built for the bench as its own process, on a fresh
//! database and a generated organisation (`workload.rs`), drives it over real
//! gRPC with `--concurrency` closed-loop clients (EscalatePetition with distinct
//! petitions, then GetCase on random escalated cases), and then measures the
//! floor: the store's own transactions called straight from the bench
//! (`floor.rs`) by as many tasks, on another fresh database. Two modes:
//!
//! - single office: every client escalates for 翠屏街道, so every escalation
//!   draws from one reference counter; the floor draws from it too;
//! - spread: clients take `--offices` offices in turn, a counter each; the
//!   floor writes the same rows with numbers already assigned (no counter).
//!
//! Then the outbox phase (`outbox.rs`): escalations at a steady rate, open
//! loop, while a probe watches the age of the oldest pending letter, with the
//! file transport and with an SMTP receiver on loopback (`smtp.rs`).
//!
//! Then the backlog phase (`backlog.rs`): letters written while the mail
//! server is down, and how soon they are all out once it is back.
//!
//! Last the idle phase (`idle.rs`): the server's CPU with nothing to do, with
//! no stream open and with `--idle-streams` live streams open.
//!
//! It prints throughput, latency percentiles and errors for each, the ratio
//! service/floor, the server's peak memory, the outbox's figures and the goals
//! met or missed. A measurement, not a test: it exits 0 whether the goals are
//! met or not, and non-zero only when it could not measure (no PostgreSQL).
//!
//! ```sh
//! cargo bench --bench whistle-bench                            # everything
//! cargo bench --bench whistle-bench -- --backend sqlite --mode spread --no-outbox
//! cargo bench --bench whistle-bench -- --idle-only --idle-streams 1000
//! ```
//!
//! `cargo test --benches` runs it without `--bench`: it then only checks its own
//! pure helpers and exits, rather than loading the machine for minutes.

#![forbid(unsafe_code)]

mod backlog;
mod floor;
mod grpc;
mod idle;
mod load;
mod outbox;
mod server;
mod smtp;
mod workload;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::{Parser, ValueEnum};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use backlog::BacklogRun;
use floor::Floor;
use idle::IdleRun;
use load::{Phase, Plan};
use outbox::OutboxRun;
use server::{Server, Writes};
use workload::{Mode, Workload};

/// The goals are judged at this concurrency; other runs still print them.
const DEFAULT_CONCURRENCY: usize = 32;
const GET_P99_GOAL: Duration = Duration::from_millis(20);
const MEMORY_GOAL: u64 = 100 * 1024 * 1024;
const RATIO_GOAL: f64 = 0.5;
/// Spread over offices, on PostgreSQL: throughput, share of the no-counter
/// floor, p99.
const SPREAD_THROUGHPUT_GOAL: f64 = 1200.0;
const SPREAD_FLOOR_GOAL: f64 = 0.6;
const SPREAD_P99_GOAL: Duration = Duration::from_millis(50);
/// Every client for one office, one reference counter, on PostgreSQL.
const SINGLE_THROUGHPUT_GOAL: f64 = 600.0;
/// Spread over offices on SQLite, while the outbox keeps up.
const SQLITE_THROUGHPUT_GOAL: f64 = 800.0;
/// The outbox keeps up while the letters still pending at the end of the
/// load are fewer than it writes in this long.
const KEEPING_UP: Duration = Duration::from_secs(2);
/// The oldest pending letter stays younger than this throughout the load:
/// 2 s at up to 100 escalations a second, 5 s at up to 300.
fn outbox_age_goal(rate: u32) -> Option<Duration> {
    match rate {
        0..=100 => Some(Duration::from_secs(2)),
        101..=300 => Some(Duration::from_secs(5)),
        _ => None,
    }
}
/// A backlog left by a mail server's outage is out this soon after its return.
const BACKLOG_GOAL: Duration = Duration::from_secs(30);
const BACKLOG_GOAL_LETTERS: u64 = 20_000;
/// Idle live streams add less than this share of one core to an idle server.
const IDLE_STREAMS_CPU_GOAL: f64 = 0.01;
/// With `--requests`, a phase still stops after this long.
const REQUESTS_CAP: Duration = Duration::from_secs(60);

#[derive(Parser)]
#[command(about = "Load benchmark of whistle: the service over gRPC against the database floor")]
struct Cli {
    /// Which backend to measure.
    #[arg(long, value_enum, default_value_t = BackendArg::Both)]
    backend: BackendArg,
    /// One office for every client, clients spread over `--offices`, or both.
    #[arg(long, value_enum, default_value_t = ModeArg::Both)]
    mode: ModeArg,
    /// Street offices the spread mode (and the outbox phase) share the clients over.
    #[arg(long, default_value_t = 16)]
    offices: usize,
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
    /// Escalations a second in the outbox phase, started whatever the answers.
    #[arg(long, default_value_t = 100)]
    outbox_rate: u32,
    /// Seconds of load in the outbox phase.
    #[arg(long, default_value_t = 20)]
    outbox_duration: u64,
    /// Which transports the outbox phase delivers through.
    #[arg(long, value_enum, default_value_t = TransportArg::Both)]
    outbox_transport: TransportArg,
    /// Skip the outbox phase.
    #[arg(long, conflicts_with = "outbox_only")]
    no_outbox: bool,
    /// Run only the outbox phase.
    #[arg(long, conflicts_with = "idle_only")]
    outbox_only: bool,
    /// Letters the backlog phase leaves in the outbox while the mail server
    /// is down, before it starts one (0 skips the phase).
    #[arg(long, default_value_t = BACKLOG_GOAL_LETTERS)]
    backlog: u64,
    /// Run only the backlog phase.
    #[arg(long, conflicts_with_all = ["outbox_only", "idle_only"])]
    backlog_only: bool,
    /// Live streams the idle phase holds open (0 skips the phase).
    #[arg(long, default_value_t = 1000)]
    idle_streams: usize,
    /// Run only the idle phase.
    #[arg(long)]
    idle_only: bool,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ModeArg {
    Single,
    Spread,
    Both,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TransportArg {
    File,
    Smtp,
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

/// One mode on one backend.
struct Measured {
    backend: Backend,
    mode: Mode,
    escalate: Phase,
    get: Phase,
    floor_escalate: Phase,
    floor_get: Phase,
    peak_rss: Option<u64>,
    /// Letters the service wrote, and those its outbox workers had delivered
    /// (as files) by the time the server was stopped.
    letters: (usize, usize),
    /// The server's write transactions during the escalation phase (warm-up
    /// included), and how long that phase ran.
    writes: (Writes, Duration),
}

impl Measured {
    /// How far the outbox was behind when the escalations stopped: the
    /// letters still pending, in seconds of the letters the phase wrote.
    fn behind(&self) -> Duration {
        let (written, delivered) = self.letters;
        let per_second = written as f64 / self.writes.1.as_secs_f64().max(1e-9);
        if per_second <= 0.0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(written.saturating_sub(delivered) as f64 / per_second)
    }
}

fn ratio(service: &Phase, floor: &Phase) -> f64 {
    let f = floor.throughput();
    if f > 0.0 {
        service.throughput() / f
    } else {
        0.0
    }
}

/// Everything measured on one backend.
struct BackendResults {
    backend: Backend,
    modes: Vec<Measured>,
    outbox: Vec<OutboxRun>,
    backlog: Option<BacklogRun>,
    idle: Option<IdleRun>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if !cli.bench {
        self_check()?;
        println!(
            "whistle-bench: helpers checked; measure with `cargo bench --bench whistle-bench`"
        );
        return Ok(());
    }
    anyhow::ensure!(cli.concurrency > 0, "--concurrency must be at least 1");
    anyhow::ensure!(cli.offices > 0, "--offices must be at least 1");
    note("whistle-bench starting");
    let binary = server::binary()?;
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let run = format!("{stamp}_{}", std::process::id());
    let dir = std::env::temp_dir().join(format!("whistle-bench-{run}"));
    std::fs::create_dir_all(&dir)?;
    let workload = Workload::write(&dir, cli.offices)?;

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
    let modes = if cli.outbox_only || cli.idle_only || cli.backlog_only {
        vec![]
    } else {
        match cli.mode {
            ModeArg::Single => vec![Mode::Single],
            ModeArg::Spread => vec![Mode::Spread],
            ModeArg::Both => vec![Mode::Single, Mode::Spread],
        }
    };
    let transports: Vec<&'static str> =
        if cli.no_outbox || cli.idle_only || cli.backlog_only || cli.outbox_rate == 0 {
            vec![]
        } else {
            match cli.outbox_transport {
                TransportArg::File => vec!["file"],
                TransportArg::Smtp => vec!["smtp"],
                TransportArg::Both => vec!["file", "smtp"],
            }
        };
    println!(
        "whistle-bench: {} clients on {channels} connection(s), {} warm-up, {} per phase, \
         spread over {} offices, {} cores",
        plan.concurrency,
        secs(plan.warmup),
        match plan.requests {
            Some(n) => format!("{n} calls"),
            None => secs(plan.duration),
        },
        cli.offices,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    println!("whistle-bench: load average at start: {}", load_average());

    let mut results = Vec::new();
    let mut failed = false;
    for backend in backends {
        let mut databases = Databases {
            backend,
            dir: dir.join(backend.name().to_lowercase()),
            admin: &cli.postgres_url,
            run: &run,
            created: Vec::new(),
        };
        let cx = Setup {
            binary: &binary,
            workload: &workload,
            run: &run,
            plan,
            channels,
        };
        let mut done = BackendResults {
            backend,
            modes: Vec::new(),
            outbox: Vec::new(),
            backlog: None,
            idle: None,
        };
        for &mode in &modes {
            let measured = measure_mode(backend, mode, &cx, &mut databases).await;
            databases.drop_all().await;
            match measured {
                Ok(m) => {
                    print_mode(&m, &plan, channels, cli.offices);
                    done.modes.push(m);
                }
                Err(e) => {
                    failed = true;
                    eprintln!(
                        "\n{} {}: could not measure: {e:#}",
                        backend.name(),
                        mode.name()
                    );
                }
            }
        }
        for &transport in &transports {
            let window = Duration::from_secs(cli.outbox_duration.max(1));
            let measured = measure_outbox(
                backend,
                transport,
                &cx,
                &mut databases,
                cli.outbox_rate,
                window,
            )
            .await;
            databases.drop_all().await;
            match measured {
                Ok(o) => {
                    print_outbox(backend, &o, cli.offices);
                    done.outbox.push(o);
                }
                Err(e) => {
                    failed = true;
                    eprintln!(
                        "\n{} outbox ({transport}): could not measure: {e:#}",
                        backend.name()
                    );
                }
            }
        }
        if cli.backlog > 0 && !cli.no_outbox && !cli.idle_only {
            let measured = measure_backlog(backend, &cx, &mut databases, cli.backlog).await;
            databases.drop_all().await;
            match measured {
                Ok(run) => {
                    print_backlog(backend, &run);
                    done.backlog = Some(run);
                }
                Err(e) => {
                    failed = true;
                    eprintln!("\n{} backlog: could not measure: {e:#}", backend.name());
                }
            }
        }
        if cli.idle_streams > 0 && !cli.outbox_only && !cli.backlog_only {
            let window = Duration::from_secs(cli.duration.max(1));
            let measured =
                measure_idle(backend, &cx, &mut databases, cli.idle_streams, window).await;
            databases.drop_all().await;
            match measured {
                Ok(run) => {
                    print_idle(backend, &run);
                    done.idle = Some(run);
                }
                Err(e) => {
                    failed = true;
                    eprintln!(
                        "\n{} idle streams: could not measure: {e:#}",
                        backend.name()
                    );
                }
            }
        }
        results.push(done);
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "\nwhistle-bench: load average at the end: {}",
        load_average()
    );
    if results.iter().any(|r| {
        !r.modes.is_empty() || !r.outbox.is_empty() || r.backlog.is_some() || r.idle.is_some()
    }) {
        print_goals(&results, plan.concurrency, cli.offices);
    }
    if failed {
        std::process::exit(1);
    }
    Ok(())
}

struct Setup<'a> {
    binary: &'a Path,
    workload: &'a Workload,
    run: &'a str,
    plan: Plan,
    channels: usize,
}

/// Fresh databases on one backend: SQLite files in the run's folder, or
/// PostgreSQL databases `whistle_bench_RUN_LABEL`, dropped by `drop_all`.
struct Databases<'a> {
    backend: Backend,
    dir: PathBuf,
    admin: &'a str,
    run: &'a str,
    created: Vec<String>,
}

impl Databases<'_> {
    async fn fresh(&mut self, label: &str) -> anyhow::Result<String> {
        match self.backend {
            Backend::Sqlite => {
                std::fs::create_dir_all(&self.dir)?;
                Ok(format!(
                    "sqlite://{}",
                    self.dir.join(format!("{label}.db")).display()
                ))
            }
            Backend::Postgres => {
                let name = format!("whistle_bench_{}_{label}", self.run);
                let mut admin = PgConnection::connect(self.admin)
                    .await
                    .with_context(|| format!("connecting to {}", self.admin))?;
                sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut admin)
                    .await
                    .with_context(|| format!("creating database {name}"))?;
                let _ = admin.close().await;
                self.created.push(name.clone());
                Ok(with_database(self.admin, &name))
            }
        }
    }

    /// Drops the PostgreSQL databases made so far, whatever happened to them.
    async fn drop_all(&mut self) {
        if self.created.is_empty() {
            return;
        }
        if let Ok(mut admin) = PgConnection::connect(self.admin).await {
            for name in self.created.drain(..) {
                let _ = sqlx::query(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await;
            }
            let _ = admin.close().await;
        }
    }
}

fn label(mode: Mode) -> &'static str {
    match mode {
        Mode::Single => "single",
        Mode::Spread => "spread",
    }
}

async fn measure_mode(
    backend: Backend,
    mode: Mode,
    cx: &Setup<'_>,
    databases: &mut Databases<'_>,
) -> anyhow::Result<Measured> {
    let name = format!("{} {}", backend.name(), mode.name());
    let c = cx.plan.concurrency;
    let callers = cx.workload.callers(mode);
    let service_url = databases.fresh(&format!("{}_service", label(mode))).await?;
    let floor_url = databases.fresh(&format!("{}_floor", label(mode))).await?;
    let dir = databases.dir.join(label(mode));
    let config = &cx.workload.config;

    note(&format!("{name}: starting the server …"));
    let mut server = Server::start(cx.binary, config, &service_url, &dir, &[]).await?;
    note(&format!(
        "{name}: server {} listening on {}",
        server.pid(),
        server.addr
    ));
    let channels = grpc::channels(&server.addr, cx.channels).await?;
    note(&format!("{name}: EscalatePetition through the service …"));
    let writes_before = server.writes().await?;
    let began = std::time::Instant::now();
    let escalate = load::drive(cx.plan, grpc::escalate_ops(&channels, c, cx.run, callers)).await;
    let writes = (server.writes().await?.since(writes_before), began.elapsed());
    server.check_alive()?;
    anyhow::ensure!(
        !escalate.produced.is_empty(),
        "no petition was escalated; errors: {:?}",
        escalate.errors
    );
    let escalating_rss = server.peak_rss();
    drop(channels);
    server.stop().await;
    let delivered = std::fs::read_dir(dir.join("outbox")).map_or(0, |d| d.count());

    // The escalation phase leaves thousands of letters queued, far more than any
    // office writes; delivering them would bill the reads for the writes' mail.
    // The floor reads with no mail to deliver, so the service does too.
    note(&format!(
        "{name}: GetCase through the service (restarted with mail.workers = 0) …"
    ));
    let mut server = Server::start(
        cx.binary,
        config,
        &service_url,
        &dir,
        &[("WHISTLE__MAIL__WORKERS", "0".into())],
    )
    .await?;
    let channels = grpc::channels(&server.addr, cx.channels).await?;
    let ids: Vec<Arc<Vec<String>>> = escalate
        .ids_by_group(callers.len())
        .into_iter()
        .map(Arc::new)
        .collect();
    anyhow::ensure!(
        ids.iter().all(|ids| !ids.is_empty()),
        "an office escalated nothing to read back"
    );
    let get = load::drive(cx.plan, grpc::get_ops(&channels, c, callers, &ids)).await;
    server.check_alive()?;
    let peak_rss = escalating_rss.max(server.peak_rss());
    drop(channels);
    server.stop().await;
    let letters = (escalate.produced.len() * 2, delivered);

    let floor = Floor::open(&floor_url, cx.workload).await?;
    let numbered = mode == Mode::Single;
    note(&format!(
        "{name}: the store's escalations straight from the bench (floor, {}) …",
        if numbered {
            "counter drawn"
        } else {
            "no counter"
        }
    ));
    let floor_escalate =
        load::drive(cx.plan, floor.escalate_ops(c, cx.run, callers, numbered)).await;
    anyhow::ensure!(
        !floor_escalate.produced.is_empty(),
        "the floor escalated nothing; errors: {:?}",
        floor_escalate.errors
    );
    note(&format!("{name}: the store's reads (floor) …"));
    let ids = Arc::new(floor_escalate.ids());
    let floor_get = load::drive(cx.plan, floor.get_ops(c, ids)).await;
    floor.close().await;
    note(&format!("{name}: done"));

    Ok(Measured {
        backend,
        mode,
        escalate,
        get,
        floor_escalate,
        floor_get,
        peak_rss,
        letters,
        writes,
    })
}

async fn measure_outbox(
    backend: Backend,
    transport: &'static str,
    cx: &Setup<'_>,
    databases: &mut Databases<'_>,
    rate: u32,
    window: Duration,
) -> anyhow::Result<OutboxRun> {
    let name = format!("{} outbox ({transport})", backend.name());
    let url = databases.fresh(&format!("outbox_{transport}")).await?;
    let dir = databases.dir.join(format!("outbox-{transport}"));
    let receiver = match transport {
        "smtp" => Some(smtp::Receiver::start()?),
        _ => None,
    };
    let env = receiver
        .as_ref()
        .map(smtp::Receiver::env)
        .unwrap_or_default();
    note(&format!("{name}: starting the server …"));
    let mut server = Server::start(cx.binary, &cx.workload.config, &url, &dir, &env).await?;
    let callers = cx.workload.callers(Mode::Spread);
    let channels = grpc::channels(&server.addr, callers.len().min(cx.channels)).await?;
    note(&format!(
        "{name}: {rate} escalations/s for {} s, open loop, over {} offices …",
        window.as_secs(),
        callers.len()
    ));
    let mut result = outbox::run(transport, &url, &channels, callers, cx.run, rate, window).await?;
    server.check_alive()?;
    result.received = receiver.as_ref().map(smtp::Receiver::received);
    drop(channels);
    server.stop().await;
    note(&format!("{name}: done"));
    Ok(result)
}

async fn measure_backlog(
    backend: Backend,
    cx: &Setup<'_>,
    databases: &mut Databases<'_>,
    target: u64,
) -> anyhow::Result<BacklogRun> {
    let name = format!("{} backlog", backend.name());
    let url = databases.fresh("backlog").await?;
    let dir = databases.dir.join("backlog");
    let port = smtp::free_port()?;
    let env = smtp::env_for(port);
    note(&format!(
        "{name}: starting the server, its mail server down …"
    ));
    let mut server = Server::start(cx.binary, &cx.workload.config, &url, &dir, &env).await?;
    let callers = cx.workload.callers(Mode::Spread);
    let channels = grpc::channels(&server.addr, callers.len().min(cx.channels)).await?;
    note(&format!(
        "{name}: escalating until {target} letters wait, then starting the mail server …"
    ));
    let result = backlog::run(
        &url,
        &channels,
        callers,
        cx.plan.concurrency,
        cx.run,
        port,
        target,
    )
    .await?;
    server.check_alive()?;
    drop(channels);
    server.stop().await;
    note(&format!("{name}: done"));
    Ok(result)
}

async fn measure_idle(
    backend: Backend,
    cx: &Setup<'_>,
    databases: &mut Databases<'_>,
    streams: usize,
    window: Duration,
) -> anyhow::Result<IdleRun> {
    let name = format!("{} idle streams", backend.name());
    let url = databases.fresh("idle").await?;
    let dir = databases.dir.join("idle");
    note(&format!(
        "{name}: the server idle for {} s, then with {streams} streams open …",
        window.as_secs()
    ));
    let run = idle::run(cx.binary, &cx.workload.config, &url, &dir, streams, window).await?;
    note(&format!("{name}: done"));
    Ok(run)
}

fn print_idle(backend: Backend, run: &IdleRun) {
    println!(
        "\n== {} idle — the server's CPU over {} with nothing to do ==",
        backend.name(),
        secs(run.window)
    );
    println!(
        "  no stream open:                      {}",
        percent(run.without)
    );
    println!(
        "  {} WatchAlerts streams open ({} connections): {}",
        run.streams,
        run.connections,
        percent(run.with)
    );
}

fn percent(share: f64) -> String {
    format!("{:.2}% of a core", share * 100.0)
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

/// The machine's load averages (1, 5, 15 min): the bench shares its cores
/// with whatever else runs, and figures are read with that in mind.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".to_owned(),
        |l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
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

fn age(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
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

fn print_mode(m: &Measured, plan: &Plan, channels: usize, offices: usize) {
    let (how, floor) = match m.mode {
        Mode::Single => (
            "one office (翠屏街道), one reference counter".to_owned(),
            "the store's transactions, numbers drawn from the office's counter",
        ),
        Mode::Spread => (
            format!("spread over {offices} offices, a counter each"),
            "the store's transactions, same rows, numbers assigned beforehand (no counter)",
        ),
    };
    println!(
        "\n== {}, {how} — {} clients on {channels} connection(s); {} warm-up not counted ==",
        m.backend.name(),
        plan.concurrency,
        secs(plan.warmup)
    );
    println!("  floor: {floor}");
    println!(
        "  {:<17} {:<8} {:>9} {:>10} {:>10} {:>10} {:>10} {:>8} {:>7}",
        "operation", "path", "ops/s", "p50", "p90", "p99", "max", "ok", "errors"
    );
    row("EscalatePetition", "service", &m.escalate);
    row("EscalatePetition", "floor", &m.floor_escalate);
    println!(
        "  {:<26} ratio service/floor: {:.2}",
        "",
        ratio(&m.escalate, &m.floor_escalate)
    );
    row("GetCase", "service", &m.get);
    row("GetCase", "floor", &m.floor_get);
    println!(
        "  {:<26} ratio service/floor: {:.2}",
        "",
        ratio(&m.get, &m.floor_get)
    );
    println!(
        "  server peak resident memory (VmHWM): {}",
        m.peak_rss.map_or("unknown (not Linux?)".to_owned(), mib)
    );
    println!(
        "  outbox: the service wrote {} letters; its workers had delivered {} when stopped \
         ({} of letters behind)",
        m.letters.0,
        m.letters.1,
        age(m.behind())
    );
    let (w, took) = m.writes;
    if w.count > 0.0 {
        println!(
            "  write transactions while escalating (warm-up included, the outbox's too): {:.0}/s; \
             each held the writer {} and waited {} for it on average; held {:.0} % of the time",
            w.count / took.as_secs_f64(),
            ms(Duration::from_secs_f64(w.held / w.count)),
            ms(Duration::from_secs_f64(w.waited / w.count)),
            100.0 * w.held / took.as_secs_f64(),
        );
    }
}

fn print_outbox(backend: Backend, o: &OutboxRun, offices: usize) {
    println!(
        "\n== {} outbox, {} transport — {} escalations/s open loop for {} over {offices} offices ==",
        backend.name(),
        o.transport,
        o.rate,
        secs(o.window)
    );
    let c = &o.calls;
    println!(
        "  escalations: {} started, {} ok, {} failed; latency from when due: p50 {}, p99 {}, max {}",
        o.started,
        c.ok,
        c.error_count(),
        ms(c.quantile(0.50)),
        ms(c.quantile(0.99)),
        ms(c.max())
    );
    if !c.errors.is_empty() {
        let list: Vec<String> = c.errors.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
        println!("  errors: {}", list.join(", "));
    }
    println!(
        "  oldest pending letter: at most {} during the load ({} with the drain), {} at its end \
         ({} samples, every 250 ms)",
        age(o.max_age()),
        age(o.max_age_overall()),
        o.at_end
            .and_then(|s| s.oldest)
            .map_or("none pending".to_owned(), age),
        o.samples.len()
    );
    if let Some(s) = o.at_end {
        println!(
            "  at the end of the load: {} letters written, {} delivered, {} failed",
            s.written, s.sent, s.failed
        );
    }
    match (o.drained_after, o.last) {
        (Some(after), Some(s)) => println!(
            "  every letter delivered {} after the load ({} written, {} delivered, {} failed)",
            age(after),
            s.written,
            s.sent,
            s.failed
        ),
        (None, Some(s)) => println!(
            "  NOT drained 30 s after the load: {} written, {} delivered, {} failed; \
             oldest pending {}",
            s.written,
            s.sent,
            s.failed,
            s.oldest.map_or("none".to_owned(), age)
        ),
        _ => println!("  the probe took no sample"),
    }
    if let Some(received) = o.received {
        println!("  the SMTP receiver accepted {received} messages");
    }
}

fn print_backlog(backend: Backend, b: &BacklogRun) {
    println!(
        "\n== {} backlog — {} letters written while the mail server was down, then it came back ==",
        backend.name(),
        b.letters
    );
    println!(
        "  escalations while mail was down: {} in {} ({:.1}/s)",
        b.escalations,
        age(b.filled_in),
        b.escalations as f64 / b.filled_in.as_secs_f64().max(0.001)
    );
    println!(
        "  after the mail server's return: first letter sent within {}, every letter within {}{}",
        b.first_sent.map_or("—".to_owned(), age),
        b.drained.map_or("— (NOT drained)".to_owned(), age),
        b.drain_rate()
            .map_or(String::new(), |r| format!(" ({r:.0} letters/s)"))
    );
    println!(
        "  {} sent, {} still pending; the SMTP receiver accepted {} messages",
        b.sent, b.pending, b.received
    );
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

fn print_goals(results: &[BackendResults], concurrency: usize, offices: usize) {
    println!("\n== goals ==");
    println!("  {:<66} {:>16}  verdict", "goal", "measured");
    let judged = concurrency == DEFAULT_CONCURRENCY;
    let line = |goal: String, value: String, met: Option<bool>| {
        let v = met.map_or("not judged (run at --concurrency 32)", verdict);
        println!("  {goal:<66} {value:>16}  {v}");
    };
    for r in results {
        let name = r.backend.name();
        for m in &r.modes {
            let mode = match m.mode {
                Mode::Single => "single office",
                Mode::Spread => "spread",
            };
            let e = &m.escalate;
            if r.backend == Backend::Postgres && m.mode == Mode::Spread {
                line(
                    format!(
                        "EscalatePetition ≥ {SPREAD_THROUGHPUT_GOAL}/s, {mode} over {offices}, {name}"
                    ),
                    format!("{:.1}/s", e.throughput()),
                    judged.then_some(e.throughput() >= SPREAD_THROUGHPUT_GOAL),
                );
                let r = ratio(e, &m.floor_escalate);
                line(
                    format!(
                        "EscalatePetition ≥ {SPREAD_FLOOR_GOAL} × no-counter floor, {mode}, {name}"
                    ),
                    format!("{r:.2}"),
                    Some(r >= SPREAD_FLOOR_GOAL),
                );
                line(
                    format!("EscalatePetition p99 < 50 ms, {mode}, {name}"),
                    ms(e.quantile(0.99)),
                    judged.then_some(e.ok > 0 && e.quantile(0.99) < SPREAD_P99_GOAL),
                );
            }
            if r.backend == Backend::Postgres && m.mode == Mode::Single {
                line(
                    format!("EscalatePetition ≥ {SINGLE_THROUGHPUT_GOAL}/s, {mode}, {name}"),
                    format!("{:.1}/s", e.throughput()),
                    judged.then_some(e.throughput() >= SINGLE_THROUGHPUT_GOAL),
                );
            }
            if r.backend == Backend::Sqlite && m.mode == Mode::Spread {
                let behind = m.behind();
                line(
                    format!(
                        "EscalatePetition ≥ {SQLITE_THROUGHPUT_GOAL}/s, {mode} over {offices}, \
                         the outbox under {} s of letters behind, {name}",
                        KEEPING_UP.as_secs()
                    ),
                    format!("{:.1}/s, {} behind", e.throughput(), age(behind)),
                    judged
                        .then_some(e.throughput() >= SQLITE_THROUGHPUT_GOAL && behind < KEEPING_UP),
                );
            }
            for (op, service, floor) in [
                ("EscalatePetition", &m.escalate, &m.floor_escalate),
                ("GetCase", &m.get, &m.floor_get),
            ] {
                let r = ratio(service, floor);
                line(
                    format!("{op} ≥ {RATIO_GOAL} × floor, {mode}, {name}"),
                    format!("{r:.2}"),
                    Some(r >= RATIO_GOAL),
                );
            }
            if r.backend == Backend::Postgres {
                let p99 = m.get.quantile(0.99);
                line(
                    format!("GetCase p99 < 20 ms, {mode}, {name}"),
                    ms(p99),
                    judged.then_some(m.get.ok > 0 && p99 < GET_P99_GOAL),
                );
            }
            match m.peak_rss {
                Some(peak) => line(
                    format!("server peak memory < 100 MiB, {mode}, {name}"),
                    mib(peak),
                    Some(peak < MEMORY_GOAL),
                ),
                None => {
                    println!("  server peak memory < 100 MiB, {mode}, {name}: unknown (no /proc)")
                }
            }
        }
        if let Some(idle) = &r.idle {
            let added = idle.with - idle.without;
            line(
                format!("{} idle streams add < 1% of a core, {name}", idle.streams),
                format!("{:+.2}%", added * 100.0),
                Some(added < IDLE_STREAMS_CPU_GOAL),
            );
        }
        for o in &r.outbox {
            match outbox_age_goal(o.rate) {
                Some(goal) => line(
                    format!(
                        "oldest pending letter < {} at {}/s, {} transport, {name}",
                        secs(goal),
                        o.rate,
                        o.transport
                    ),
                    age(o.max_age()),
                    Some(!o.samples.is_empty() && o.max_age() < goal),
                ),
                None => println!(
                    "  oldest pending letter at {}/s, {} transport, {name}: {} (no goal above 300/s)",
                    o.rate,
                    o.transport,
                    age(o.max_age())
                ),
            }
        }
        if let Some(b) = &r.backlog {
            let goal = format!(
                "a backlog of {} letters out < {} after the mail server's return, {name}",
                b.letters,
                secs(BACKLOG_GOAL)
            );
            let drained = b.drained.map_or("not drained".to_owned(), age);
            if b.letters >= BACKLOG_GOAL_LETTERS {
                let met = b.drained.is_some_and(|d| d < BACKLOG_GOAL);
                println!("  {goal:<66} {drained:>16}  {}", verdict(met));
            } else {
                println!(
                    "  {goal:<66} {drained:>16}  not judged (under {BACKLOG_GOAL_LETTERS} letters)"
                );
            }
        }
    }
}

/// What a unit test would check, run by `cargo test --benches` (a bench with
/// `harness = false` has no test harness of its own).
fn self_check() -> anyhow::Result<()> {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "b"),
        "postgres://postgres@127.0.0.1:5432/b"
    );
    assert_eq!(
        with_database("postgres://u:p@h:5432?sslmode=disable", "b"),
        "postgres://u:p@h:5432/b?sslmode=disable"
    );
    // The generated organisation passes the service's own checks, keeps the
    // demo office and its key, and gives each office its own prefix and key.
    let dir = std::env::temp_dir().join(format!("whistle-bench-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let workload = Workload::write(&dir, 3);
    let _ = std::fs::remove_dir_all(&dir);
    let workload = workload?;
    let org = whistle::assemble::Parts::of(&workload.settings)?.organisation;
    assert!(!workload.settings.demo);
    assert_eq!(org.offices.len(), 4);
    assert_eq!(org.offices["office-02"].reference_prefix, "02街哨");
    let digest = |name: &str| {
        workload.settings.principals[name]
            .key_sha256
            .clone()
            .unwrap_or_default()
    };
    assert_eq!(
        digest("cuiping-office"),
        whistle::grpc::auth::key_digest("demo-office-cuiping")
    );
    assert_eq!(
        digest("office-03"),
        whistle::grpc::auth::key_digest("bench-office-03")
    );
    assert_eq!(workload.callers(Mode::Spread).len(), 3);
    Ok(())
}
