//! The `whistle` binary: read settings and check what they describe
//! (`assemble`), set up tracing, then serve, migrate, back up the database,
//! look after the outbox, check the timelines' hash chains, write the ledger
//! (台账), import an office's visit sheet, make and hash keys, ask a running
//! server whether it is healthy, or play the demo week (`whistle::demo`).
//! Everything else lives in the library; the operator's commands (`outbox`,
//! `verify`, `ledger`) call use cases as the built-in operator principal
//! (`service::operator`), as every other door calls them.
//!
//! Failures end in one line on stderr, `error: …` with its causes, and exit
//! code 2 for a mistake the operator can fix in the command or the
//! configuration, 1 for anything that went wrong while working. A backtrace
//! helps nobody who typed a wrong path.

#![forbid(unsafe_code)]

use std::io::{BufRead, IsTerminal, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use clap::{Parser, Subcommand, ValueEnum};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use whistle::app::{Application, open_existing_store, open_store, operator_whistle, redact};
use whistle::assemble::Parts;
use whistle::domain::text::reorders_or_breaks;
use whistle::grpc::auth::key_digest;
use whistle::service::ledger::ExportLedger;
use whistle::service::operator::{MailStatus, operator};
use whistle::service::{PageRequest, Whistle};
use whistle::settings::Settings;

#[derive(Parser)]
#[command(
    version,
    about = "街乡吹哨、部门报到: escalated petitions, tracked until the resident is satisfied"
)]
struct Cli {
    /// A TOML file layered over the embedded defaults; WHISTLE__SECTION__KEY
    /// environment variables override both.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default).
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
    /// Copy the SQLite database into a new FILE while the service runs: a
    /// consistent snapshot, restored by using FILE as `database.url`.
    /// PostgreSQL is backed up with `pg_dump` (see the README).
    Backup {
        /// Where the copy goes; it must not exist.
        file: PathBuf,
    },
    /// Print the SHA-256 digest of a bearer key, for `principals.*.key_sha256`.
    /// Reads the key from standard input (one line) unless it is given.
    HashKey {
        /// The key. Prefer standard input: an argument stays in shell history
        /// and is visible to every user in `ps`.
        key: Option<String>,
    },
    /// Make a new random bearer key; print it once, then the configuration
    /// that accepts it.
    NewKey {
        /// The principal's name, as the timeline records it.
        #[arg(long, default_value = "NAME")]
        name: String,
        /// What the key may do; the snippet leaves it to fill in when omitted.
        #[arg(long)]
        role: Option<NewKeyRole>,
    },
    /// Ask a running server for its gRPC health: exit 0 when it is SERVING,
    /// 1 otherwise (also when unreachable). For container health checks.
    Health {
        /// Where the server listens; `grpc.listen` from the configuration when
        /// omitted (an unspecified address such as 0.0.0.0 means this host).
        #[arg(long, value_name = "HOST:PORT")]
        addr: Option<String>,
        /// The service to ask about; the whole server when omitted.
        #[arg(long, default_value = "")]
        service: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 3)]
        timeout_secs: u64,
        #[command(flatten)]
        tls: HealthTls,
    },
    /// Inspect the outbox: letters waiting, sent and failed.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Webhook endpoints: how far each got, and resuming a paused one.
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// Recompute the hash chain of every case's timeline: one line per case
    /// whose chain is broken, naming its first bad event, then a summary.
    /// Exit 0 when every chain holds, 1 otherwise.
    Verify {
        /// Also print every case's head hash (`head <case> <events> <hash>`),
        /// to keep outside the database and compare with a later run.
        #[arg(long)]
        heads: bool,
    },
    /// Write the ledger (台账) of the cases escalated in an ISO week (local
    /// time, Monday 00:00 to Monday 00:00) or in a range of days, as a
    /// workbook or CSV, straight from the configured database.
    Ledger(LedgerArgs),
    /// Escalate the rows of an office's visit sheet (走访登记表: .xlsx, or
    /// CSV in GBK or UTF-8) as that office, through the batch escalation;
    /// the headers are configured in [import]. Rows imported before are
    /// found, not escalated again. Exit 0 when every row was escalated or
    /// found, 1 when any was refused.
    Import(ImportArgs),
    /// Play a working week of the demo organisation on a moved clock, in a
    /// scratch database, and print what happens: the letters, a reply, a
    /// reminder, a deadline missed and its alerts. Reads no configuration.
    Demo,
    /// A city in the database, for measuring: write a generated organisation
    /// (`organisation`), then seed the configured database with months of
    /// its cases played through the service's rules (`cases`). See
    /// docs/benchmark.md.
    #[command(subcommand)]
    SeedData(SeedCommand),
}

#[derive(Subcommand)]
enum SeedCommand {
    /// Write an organisation file of generated offices, departments and
    /// categories, with public keys (city-office-001, city-dept-001,
    /// city-supervisor): never for production.
    Organisation {
        #[arg(long, default_value_t = 300)]
        offices: usize,
        #[arg(long, default_value_t = 60)]
        departments: usize,
        #[arg(long, default_value_t = 120)]
        categories: usize,
        /// Where to write it; an existing file is replaced.
        file: PathBuf,
    },
    /// Seed the configured database (migrated first) with cases of the
    /// configured organisation, escalated over --months before now.
    Cases {
        #[arg(long, default_value_t = 20_000)]
        cases: u64,
        #[arg(long, default_value_t = 12)]
        months: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Cases per transaction.
        #[arg(long, default_value_t = 500)]
        batch: usize,
        /// Concurrent writing transactions (PostgreSQL; SQLite has one writer).
        #[arg(long, default_value_t = 2)]
        writers: usize,
    },
}

#[derive(clap::Args)]
struct ImportArgs {
    /// The office whose sheet it is (its code, e.g. cuiping).
    #[arg(long)]
    office: String,
    /// Print what each row would become and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// The sheet.
    file: PathBuf,
}

#[derive(clap::Args)]
struct LedgerArgs {
    /// One office's cases (its code, e.g. cuiping); every office's when omitted.
    #[arg(long)]
    office: Option<String>,
    /// An ISO week, e.g. 2026-W48.
    #[arg(long, conflicts_with_all = ["from", "to"], required_unless_present_any = ["from", "to"])]
    week: Option<String>,
    /// The first day, YYYY-MM-DD (with --to).
    #[arg(long, requires = "to")]
    from: Option<String>,
    /// The last day, YYYY-MM-DD, included (with --from).
    #[arg(long, requires = "from")]
    to: Option<String>,
    /// xlsx or csv; by the extension of --out when omitted, else xlsx.
    #[arg(long)]
    format: Option<String>,
    /// Where to write it; the ledger's own name (翠屏街道台账2026-W48.xlsx) in
    /// the current folder when omitted. An existing file is replaced.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// How `health` reaches a listener with `grpc.tls` on.
#[derive(clap::Args)]
struct HealthTls {
    /// Speak TLS and trust the CA (PEM) that signed the server's certificate.
    /// Required when the configuration turns `grpc.tls` on.
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// The name the server's certificate is for, when it is not the host
    /// connected to (a container asks 127.0.0.1 for whistle.example.gov.cn).
    #[arg(long, value_name = "NAME", requires = "ca_file")]
    server_name: Option<String>,
    /// A client certificate (PEM), for `grpc.tls.client_auth = "required"`
    /// (with --key-file).
    #[arg(long, value_name = "FILE", requires_all = ["ca_file", "key_file"])]
    cert_file: Option<PathBuf>,
    /// The private key (PEM) of --cert-file.
    #[arg(long, value_name = "FILE", requires = "cert_file")]
    key_file: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum NewKeyRole {
    Office,
    Department,
    Supervisor,
}

#[derive(Subcommand)]
enum WebhooksCommand {
    /// List the endpoints: active or paused, the last event taken, failures
    /// in a row, the last error.
    List,
    /// Resume a paused endpoint from the last event it took.
    Resume { name: String },
}

#[derive(Subcommand)]
enum OutboxCommand {
    /// List letters, newest first.
    List {
        /// pending, sent or failed; all when omitted.
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Put a failed letter back in the queue with fresh attempts.
    Retry { mail_id: String },
}

/// Why the binary stops, with the exit code that tells scripts which kind.
struct Failure {
    code: u8,
    error: anyhow::Error,
}

/// A mistake in the command line or the configuration.
const USAGE: u8 = 2;
/// Something failed while working: a database, a port, a mail folder.
const RUNTIME: u8 = 1;

impl Failure {
    fn usage(error: anyhow::Error) -> Failure {
        Failure { code: USAGE, error }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        Failure {
            code: RUNTIME,
            error,
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(Failure { code, error }) => {
            eprintln!("error: {}", one_line(&error));
            ExitCode::from(code)
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let command = cli.command.unwrap_or(Command::Serve);
    match command {
        Command::HashKey { key } => {
            let key = match key {
                Some(key) => checked_key(key),
                None => key_from_stdin(),
            }
            .map_err(Failure::usage)?;
            println!("{}", key_digest(&key));
            return Ok(ExitCode::SUCCESS);
        }
        Command::NewKey { name, role } => {
            if name.is_empty() || name.chars().any(char::is_control) {
                return Err(Failure::usage(anyhow::anyhow!(
                    "--name {name:?} cannot name a principal"
                )));
            }
            let key = new_key().context("asking the OS for random bytes")?;
            print!("{}", principal_snippet(&key, &name, role));
            return Ok(ExitCode::SUCCESS);
        }
        Command::Health {
            addr,
            service,
            timeout_secs,
            tls,
        } => {
            // Docker reserves exit code 2, so a health check fails with 1 whatever went wrong.
            let check = async {
                let addr = match addr {
                    Some(addr) => addr,
                    None => {
                        let settings = Settings::load(cli.config.as_deref())?;
                        if settings.grpc.tls.enabled() && tls.ca_file.is_none() {
                            bail!(
                                "grpc.tls is on: give --ca-file with the CA that signed grpc.tls.cert_file"
                            );
                        }
                        local_addr(&settings.grpc.listen)
                    }
                };
                health(
                    &addr,
                    &service,
                    &tls,
                    Duration::from_secs(timeout_secs.max(1)),
                )
                .await
            };
            return match check.await {
                Ok(status) => {
                    println!("{}", status.as_str_name());
                    Ok(if status == ServingStatus::Serving {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(RUNTIME)
                    })
                }
                Err(error) => Err(error.into()),
            };
        }
        Command::SeedData(SeedCommand::Organisation {
            offices,
            departments,
            categories,
            file,
        }) => {
            let toml = whistle::seed_data::organisation_toml(offices, departments, categories);
            std::fs::write(&file, toml).with_context(|| format!("writing {}", file.display()))?;
            println!(
                "wrote {} ({offices} offices, {departments} departments, {categories} categories)",
                file.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
        Command::Demo => {
            let mut out = std::io::stdout().lock();
            whistle::demo::run(&mut out).await?;
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let settings = Settings::load(cli.config.as_deref()).map_err(Failure::usage)?;
    // Every value checked before any command touches the database.
    let parts = Parts::of(&settings)
        .context("checking the configuration")
        .map_err(Failure::usage)?;
    let telemetry = whistle::telemetry::init(&settings.log, &settings.telemetry)
        .context("starting the trace exporter")
        .map_err(Failure::usage)?;
    match command {
        Command::Migrate => {
            open_store(&settings).await?.close().await;
            tracing::info!("migrations applied");
        }
        Command::Serve => {
            let app = Application::builder(&settings).parts(parts).start().await?;
            let token = app.shutdown_token();
            tokio::spawn(async move {
                wait_for_signal().await;
                tracing::info!("shutting down: finishing in-flight calls");
                token.cancel();
            });
            let stopped = app.run_until_stopped().await;
            // The exporter's shutdown waits for its last batch: off the runtime's threads.
            let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
            stopped?;
        }
        Command::Backup { file } => {
            let store = open_existing_store(&settings).await?;
            let outcome = store.backup_to(&file).await;
            store.close().await;
            let outcome = outcome
                .with_context(|| format!("backing up {}", redact(&settings.database.url)))?;
            println!(
                "backed up {} to {} ({} bytes, {} ms)",
                redact(&settings.database.url),
                file.display(),
                outcome.bytes,
                outcome.elapsed.as_millis()
            );
        }
        Command::Outbox(command) => outbox(&settings, parts, command).await?,
        Command::Webhooks(command) => webhooks(&settings, parts, command).await?,
        Command::Ledger(args) => ledger(&settings, parts, args).await?,
        Command::Import(args) => return import(&settings, parts, args).await,
        Command::Verify { heads } => return Ok(verify(&settings, parts, heads).await?),
        Command::SeedData(SeedCommand::Cases {
            cases,
            months,
            seed,
            batch,
            writers,
        }) => {
            let store = open_store(&settings).await?;
            let options = whistle::seed_data::SeedOptions {
                cases,
                months,
                end: chrono::Utc::now(),
                seed,
                batch,
                writers,
            };
            let started = std::time::Instant::now();
            let step = (cases / 20).max(1);
            let shown = std::sync::atomic::AtomicU64::new(0);
            let progress = |r: whistle::seed_data::SeedReport| {
                if r.cases / step > shown.load(std::sync::atomic::Ordering::Relaxed) {
                    shown.store(r.cases / step, std::sync::atomic::Ordering::Relaxed);
                    eprintln!(
                        "  {} cases ({:.0}/s)",
                        r.cases,
                        r.cases as f64 / started.elapsed().as_secs_f64()
                    );
                }
            };
            let report =
                whistle::seed_data::seed(&store, &parts.organisation, &options, &progress).await;
            let report = match report {
                Ok(report) => report,
                Err(e) => {
                    store.close().await;
                    return Err(e.into());
                }
            };
            let secs = started.elapsed().as_secs_f64();
            let keeping = std::time::Instant::now();
            let kept =
                whistle::seed_data::keep_figures(&store, &parts.organisation, &options).await;
            store.close().await;
            kept?;
            eprintln!(
                "  settled parts of the figures kept in {:.1} s",
                keeping.elapsed().as_secs_f64()
            );
            println!(
                "seeded {} cases, {} requests, {} events, {} alerts in {secs:.1} s ({:.0} cases/s)",
                report.cases,
                report.requests,
                report.events,
                report.alerts,
                report.cases as f64 / secs
            );
        }
        Command::HashKey { .. }
        | Command::NewKey { .. }
        | Command::Health { .. }
        | Command::Demo
        | Command::SeedData(SeedCommand::Organisation { .. }) => {
            unreachable!("handled before settings")
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The key piped in: a file, a password manager, `new-key`'s output. From a
/// terminal one line is enough (Enter ends it), although the key shows as it
/// is typed.
fn key_from_stdin() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let mut text = String::new();
    if stdin.is_terminal() {
        eprint!("key (shown as typed; prefer a pipe): ");
        stdin.lock().read_line(&mut text)?;
    } else {
        stdin.lock().read_to_string(&mut text)?;
    }
    let text = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    checked_key(text.to_owned())
}

/// Refuses keys that could never authenticate, so nobody configures a digest
/// that no client can match.
fn checked_key(key: String) -> anyhow::Result<String> {
    if key.is_empty() {
        bail!("the key is empty: pipe it in, e.g. `whistle hash-key < key.txt`");
    }
    if key.contains(['\n', '\r']) {
        bail!("the key must be one line");
    }
    // The server trims the key it reads from the header.
    if key.trim() != key {
        bail!("the key starts or ends with white space, which clients cannot send");
    }
    // Keys travel in an HTTP/2 header, which takes printable ASCII only.
    if !key.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
        bail!("the key must be printable ASCII: it travels in an HTTP header");
    }
    Ok(key)
}

/// 256 bits from the OS, as URL-safe base64 (43 characters, no padding).
fn new_key() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// The key on the first line (its only copy), then the table to paste into the
/// configuration. What only the operator knows is left as a placeholder that
/// start-up refuses until it is filled in.
fn principal_snippet(key: &str, name: &str, role: Option<NewKeyRole>) -> String {
    let bare = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let table = if bare {
        name.to_owned()
    } else {
        format!("{name:?}")
    };
    let role_lines = match role {
        Some(NewKeyRole::Office) => {
            "role = \"office\"\noffice = \"OFFICE\"          # the code of its [offices.…] table\n"
        }
        Some(NewKeyRole::Department) => {
            "role = \"department\"\ndepartment = \"DEPARTMENT\"  # the code of its [departments.…] table\n"
        }
        Some(NewKeyRole::Supervisor) => "role = \"supervisor\"\n",
        None => "role = \"ROLE\"              # office, department or supervisor\n",
    };
    format!(
        "{key}\n\n# The key above is shown only now: hand it to its holder. Configuration:\n\
         [principals.{table}]\n{role_lines}key_sha256 = \"{digest}\"\n",
        digest = key_digest(key),
    )
}

/// `grpc.listen` as a client reaches it: a server bound to every interface
/// answers on loopback.
fn local_addr(listen: &str) -> String {
    match listen.parse::<SocketAddr>() {
        Ok(mut addr) if addr.ip().is_unspecified() => {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
            addr.to_string()
        }
        _ => listen.to_owned(),
    }
}

/// One `grpc.health.v1.Health/Check`, all of it within `timeout`.
async fn health(
    addr: &str,
    service: &str,
    tls: &HealthTls,
    timeout: Duration,
) -> anyhow::Result<ServingStatus> {
    let scheme = if tls.ca_file.is_some() {
        "https"
    } else {
        "http"
    };
    let mut endpoint = tonic::transport::Endpoint::from_shared(format!("{scheme}://{addr}"))
        .with_context(|| format!("{addr:?} is not HOST:PORT"))?
        .connect_timeout(timeout);
    if let Some(ca_file) = &tls.ca_file {
        let read = |path: &PathBuf| {
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))
        };
        let mut config = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(read(ca_file)?));
        if let Some(name) = &tls.server_name {
            config = config.domain_name(name.clone());
        }
        if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
            config = config.identity(tonic::transport::Identity::from_pem(
                read(cert)?,
                read(key)?,
            ));
        }
        endpoint = endpoint.tls_config(config).context("setting up TLS")?;
    }
    let check = async {
        let channel = endpoint
            .connect()
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        let answer = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .map_err(|status| anyhow::anyhow!("{}: {}", status.code(), status.message()))
            .with_context(|| format!("health of {service:?} at {addr}"))?;
        Ok(answer.into_inner().status())
    };
    tokio::time::timeout(timeout, check)
        .await
        .map_err(|_| anyhow::anyhow!("no health answer from {addr} within {timeout:?}"))?
}

/// Writes the ledger as `whistle ledger` was asked, through the export the
/// gRPC door uses, as the operator; a wrong week, day, office or format is
/// the operator's to fix (exit 2).
async fn ledger(settings: &Settings, parts: Parts, args: LedgerArgs) -> Result<(), Failure> {
    use whistle::domain::ledger::{LedgerFormat, LedgerRange};
    let usage = |m: String| Failure::usage(anyhow::anyhow!(m));
    let org = &parts.organisation;
    let tz = org.calendar.tz();
    if let Some(code) = &args.office
        && org.office(code).is_none()
    {
        return Err(usage(format!(
            "--office: no office {code:?}; configured: {}",
            org.offices.keys().cloned().collect::<Vec<_>>().join(", ")
        )));
    }
    let range = match (&args.week, &args.from, &args.to) {
        (Some(week), _, _) => week
            .split_once("-W")
            .and_then(|(y, w)| Some((y.parse().ok()?, w.parse().ok()?)))
            .and_then(|(y, w)| LedgerRange::iso_week(y, w, tz))
            .ok_or_else(|| {
                usage(format!(
                    "--week: {week:?} is not an ISO week such as 2026-W48"
                ))
            })?,
        (None, Some(from), Some(to)) => {
            let day = |flag: &str, s: &str| {
                chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .map_err(|_| usage(format!("--{flag}: {s:?} is not a day such as 2026-11-23")))
            };
            let (first, last) = (day("from", from)?, day("to", to)?);
            let range = LedgerRange::days(first, last, tz)
                .ok_or_else(|| usage("--from/--to: not days of the calendar".into()))?;
            LedgerRange::parse(Ok(range.from), Ok(range.to)).map_err(|e| {
                usage(format!(
                    "--from/--to: {e} (the last day is included; at most 366 days)"
                ))
            })?
        }
        _ => return Err(usage("give --week, or --from and --to".into())),
    };
    let format = match args.format.as_deref() {
        Some(f) => LedgerFormat::of_file(&format!(".{f}"))
            .ok_or_else(|| usage(format!("--format: {f:?} is not xlsx or csv")))?,
        None => args
            .out
            .as_ref()
            .and_then(|p| LedgerFormat::of_file(&p.to_string_lossy()))
            .unwrap_or_default(),
    };
    let store = open_existing_store(settings).await?;
    let file = async {
        let export = ExportLedger {
            range,
            office: args.office.clone(),
            format,
        };
        operator_whistle(settings, parts, store.clone())?
            .export_ledger(&operator(), export)
            .await
            .context("reading the ledger")
    }
    .await;
    store.close().await;
    let file = file?;
    let out = args.out.unwrap_or_else(|| PathBuf::from(&file.file_name));
    std::fs::write(&out, &file.content).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "{}: {} cases, {} rows, {} bytes",
        out.display(),
        file.cases,
        file.rows,
        file.content.len()
    );
    Ok(())
}

/// Reads the sheet and escalates its rows as the office (or, with
/// --dry-run, checks them against the configuration without opening the
/// database). A wrong office or a sheet that cannot be read is the
/// operator's to fix (exit 2); a refused row exits 1 after every row is
/// reported.
async fn import(settings: &Settings, parts: Parts, args: ImportArgs) -> Result<ExitCode, Failure> {
    use whistle::service::intake::importer;
    use whistle::visit_sheet::{self, import};
    let org = &parts.organisation;
    if org.office(&args.office).is_none() {
        return Err(Failure::usage(anyhow::anyhow!(
            "--office: no office {:?}; configured: {}",
            args.office,
            org.offices.keys().cloned().collect::<Vec<_>>().join(", ")
        )));
    }
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))
        .map_err(Failure::usage)?;
    let sheet = visit_sheet::read_sheet(&bytes, &parts.import, org)
        .with_context(|| format!("reading {}", args.file.display()))
        .map_err(Failure::usage)?;
    let actor = importer(&args.office);
    let mut out = std::io::stdout().lock();
    let report = if args.dry_run {
        import::dry_run(&sheet, &parts.import, org, &actor, &mut out)?
    } else {
        let store = open_store(settings).await?;
        let columns = parts.import.clone();
        let report = async {
            let whistle = operator_whistle(settings, parts, store.clone())?;
            import::import(&sheet, &columns, &whistle, &actor, &mut out).await
        }
        .await;
        store.close().await;
        report?
    };
    Ok(if report.refused == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(RUNTIME)
    })
}

/// Lists or retries letters through the operator's use cases.
async fn outbox(settings: &Settings, parts: Parts, command: OutboxCommand) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let result = async {
        let whistle = operator_whistle(settings, parts, store.clone())?;
        outbox_command(&whistle, command).await
    }
    .await;
    store.close().await;
    result
}

async fn outbox_command(whistle: &Whistle, command: OutboxCommand) -> anyhow::Result<()> {
    let operator = operator();
    match command {
        OutboxCommand::List { status, limit } => {
            let status = match status.as_deref() {
                None => None,
                Some(s) => Some(MailStatus::parse(s).ok_or_else(|| {
                    anyhow::anyhow!("--status: {s:?} is not pending, sent or failed")
                })?),
            };
            let mut after = None;
            let mut left = limit;
            println!(
                "{:<36}  {:<7}  {:>8}  {:<20}  {:<30}  subject / last error",
                "id", "status", "attempts", "next attempt (UTC)", "to"
            );
            while left > 0 {
                let page = whistle
                    .list_outbox(
                        &operator,
                        status,
                        &PageRequest {
                            size: left.min(PageRequest::MAX),
                            after,
                        },
                    )
                    .await?;
                for m in &page.items {
                    let subject = if m.subject.is_empty() {
                        format!(
                            "({} for {}, not rendered yet)",
                            m.kind,
                            m.reference.as_deref().unwrap_or("?")
                        )
                    } else {
                        m.subject.clone()
                    };
                    println!(
                        "{:<36}  {:<7}  {:>8}  {:<20}  {:<30}  {}",
                        m.id,
                        m.status.as_str(),
                        m.attempts,
                        m.next_attempt_at.format("%Y-%m-%d %H:%M:%S"),
                        shown(&m.recipients.join(",")),
                        shown(&subject)
                    );
                    if !m.last_error.is_empty() {
                        println!("{:>112}{}", "", shown(&m.last_error));
                    }
                }
                left = left.saturating_sub(page.items.len() as u32);
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            Ok(())
        }
        OutboxCommand::Retry { mail_id } => {
            let m = whistle.retry_letter(&operator, &mail_id).await?;
            println!(
                "{} is pending again; the running service will deliver it",
                m.id
            );
            Ok(())
        }
    }
}

/// Lists or resumes webhook endpoints through the operator's use cases.
async fn webhooks(
    settings: &Settings,
    parts: Parts,
    command: WebhooksCommand,
) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let result = async {
        let whistle = operator_whistle(settings, parts, store.clone())?;
        let operator = operator();
        match command {
            WebhooksCommand::List => {
                println!(
                    "{:<20}  {:<6}  {:>10}  {:>8}  {:<20}  last error",
                    "name", "status", "last taken", "failures", "next attempt (UTC)"
                );
                for e in whistle.webhook_endpoints(&operator).await? {
                    println!(
                        "{:<20}  {:<6}  {:>10}  {:>8}  {:<20}  {}",
                        shown(&e.name),
                        if e.paused { "paused" } else { "active" },
                        e.cursor,
                        e.failures,
                        e.next_attempt_at.format("%Y-%m-%d %H:%M:%S"),
                        shown(e.last_error.as_deref().unwrap_or_default())
                    );
                }
            }
            WebhooksCommand::Resume { name } => {
                let e = whistle.resume_webhook(&operator, &name).await?;
                println!(
                    "{} is active again; the running service delivers what came after {}",
                    e.name, e.cursor
                );
            }
        }
        Ok(())
    }
    .await;
    store.close().await;
    result
}

/// Case ids `whistle verify` reads at once; each case's events are read
/// separately, so memory holds one batch of ids and one timeline.
const VERIFY_BATCH: u32 = 500;

/// Checks every case's chain on the database as it is (no migration: a check
/// changes nothing), in id order, as the operator.
async fn verify(settings: &Settings, parts: Parts, heads: bool) -> anyhow::Result<ExitCode> {
    let store = open_existing_store(settings).await?;
    let result = async {
        let whistle = operator_whistle(settings, parts, store.clone())?;
        let operator = operator();
        let (mut cases, mut events, mut broken) = (0u64, 0u64, 0u64);
        let started = std::time::Instant::now();
        let mut after: Option<String> = None;
        loop {
            let batch = whistle
                .check_chains(&operator, after.as_deref(), VERIFY_BATCH)
                .await?;
            for (id, report) in &batch.reports {
                cases += 1;
                events += report.checked;
                if let Some(b) = &report.first_break {
                    broken += 1;
                    println!(
                        "broken {}: seq {} (event {}, {}): {}",
                        shown(id),
                        b.seq,
                        b.id.map_or_else(|| "?".to_owned(), |id| id.to_string()),
                        shown(&b.kind),
                        b.problem.explain()
                    );
                }
                if heads {
                    println!(
                        "head {} {} {}",
                        shown(id),
                        report.checked,
                        shown(&report.head)
                    );
                }
            }
            for (id, error) in &batch.unalerted {
                eprintln!("warning: no alert raised for {}: {error}", shown(id));
            }
            match batch.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        // The rate on stderr: the summary line is for scripts, and stays as it was.
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "checked in {secs:.1} s: {:.0} cases/s, {:.0} events/s",
            cases as f64 / secs.max(1e-9),
            events as f64 / secs.max(1e-9)
        );
        println!(
            "{cases} cases, {events} events checked: {}",
            if broken == 0 {
                "every chain holds".to_owned()
            } else {
                format!("{broken} broken")
            }
        );
        anyhow::Ok(if broken == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(RUNTIME)
        })
    }
    .await;
    store.close().await;
    result
}

/// An error and its causes on one line, `outer: inner: innermost`, without
/// the repetition some libraries put in: sqlx and hyper end a message with
/// the text of its own cause (`… does not exist at line 948: … does not
/// exist at line 948`, `tcp connect error: tcp connect error: …`), so a
/// cause whose text the line already ends with is left out. Debug would add
/// a backtrace, which helps nobody who typed a wrong path.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// A value from the database as a terminal may print it: control characters
/// (a line break that forges a row, an escape sequence) and the bidirectional
/// overrides that reorder what follows are written as `\u{…}` escapes.
fn shown(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_control() || reorders_or_breaks(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_no_client_could_send_are_refused() {
        assert_eq!(checked_key("k-1_x".into()).unwrap(), "k-1_x");
        for bad in ["", " k", "k ", "a\nb", "钥匙", "k\t"] {
            assert!(checked_key(bad.into()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn new_keys_are_256_bits_of_url_safe_text() {
        let key = new_key().unwrap();
        assert_eq!(key.len(), 43);
        assert_ne!(key, new_key().unwrap());
    }

    #[test]
    fn a_name_toml_cannot_take_bare_is_quoted() {
        let snippet = principal_snippet("k", "翠屏 office", Some(NewKeyRole::Supervisor));
        assert!(
            snippet.contains("[principals.\"翠屏 office\"]"),
            "{snippet}"
        );
    }

    #[test]
    fn a_server_on_every_interface_is_asked_on_loopback() {
        assert_eq!(local_addr("0.0.0.0:50051"), "127.0.0.1:50051");
        assert_eq!(local_addr("[::]:50051"), "[::1]:50051");
        assert_eq!(local_addr("10.0.0.5:50051"), "10.0.0.5:50051");
        assert_eq!(local_addr("whistle:50051"), "whistle:50051");
    }

    #[test]
    fn what_the_cli_prints_cannot_forge_lines_or_reorder_text() {
        assert_eq!(shown("翠街哨〔2026〕0001号"), "翠街哨〔2026〕0001号");
        assert_eq!(shown("a\nb\r\x1b[31m"), "a\\u{a}b\\u{d}\\u{1b}[31m");
        assert_eq!(shown("x\u{202E}y"), "x\\u{202e}y");
    }
}
