//! The `whistle` binary: read settings and check what they describe
//! (`assemble`), set up tracing, then serve, migrate, back up the database,
//! look after the outbox, check the timelines' hash chains, write the ledger
//! (台账), import an office's visit sheet, make and hash keys, ask a running
//! server whether it is healthy, or play the demo week (`whistle::demo`).
//! Each command but serving, migrating and backing up has its module under
//! `cli/`; everything else lives in the library. The operator's commands
//! (`outbox`, `verify`, `ledger`) call use cases as the built-in operator
//! principal (`service::operator`), as every other door calls them.
//!
//! Failures end in one line on stderr, `error: …` with its causes, and exit
//! code 2 for a mistake the operator can fix in the command or the
//! configuration, 1 for anything that went wrong while working. A backtrace
//! helps nobody who typed a wrong path.

#![forbid(unsafe_code)]

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use whistle::app::{Application, open_existing_store, open_store, redact};
use whistle::assemble::Parts;
use whistle::settings::Settings;

use cli::health::HealthArgs;
use cli::import::ImportArgs;
use cli::keys::NewKeyRole;
use cli::ledger::LedgerArgs;
use cli::outbox::{OutboxCommand, WebhooksCommand};
use cli::seed_data::{CasesArgs, SeedCommand};
use cli::{Failure, one_line};

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
    Health(HealthArgs),
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

/// The commands that run on checked settings: every one but the few that
/// need none (or, as `health`, only perhaps an address from them).
enum Configured {
    Serve,
    Migrate,
    Backup(PathBuf),
    Outbox(OutboxCommand),
    Webhooks(WebhooksCommand),
    Verify { heads: bool },
    Ledger(LedgerArgs),
    Import(ImportArgs),
    SeedCases(CasesArgs),
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
    let command = match cli.command.unwrap_or(Command::Serve) {
        Command::HashKey { key } => return cli::keys::hash_key(key),
        Command::NewKey { name, role } => return cli::keys::make_key(&name, role),
        Command::Health(args) => return cli::health::run(args, cli.config.as_deref()).await,
        Command::SeedData(SeedCommand::Organisation(args)) => {
            return cli::seed_data::organisation(args);
        }
        Command::Demo => {
            let mut out = std::io::stdout().lock();
            whistle::demo::run(&mut out).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Serve => Configured::Serve,
        Command::Migrate => Configured::Migrate,
        Command::Backup { file } => Configured::Backup(file),
        Command::Outbox(command) => Configured::Outbox(command),
        Command::Webhooks(command) => Configured::Webhooks(command),
        Command::Verify { heads } => Configured::Verify { heads },
        Command::Ledger(args) => Configured::Ledger(args),
        Command::Import(args) => Configured::Import(args),
        Command::SeedData(SeedCommand::Cases(args)) => Configured::SeedCases(args),
    };
    let settings = Settings::load(cli.config.as_deref()).map_err(Failure::usage)?;
    // Every value checked before any command touches the database.
    let parts = Parts::of(&settings)
        .context("checking the configuration")
        .map_err(Failure::usage)?;
    let telemetry = whistle::telemetry::init(&settings.log, &settings.telemetry)
        .context("starting the trace exporter")
        .map_err(Failure::usage)?;
    match command {
        Configured::Migrate => {
            open_store(&settings).await?.close().await;
            tracing::info!("migrations applied");
        }
        Configured::Serve => {
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
        Configured::Backup(file) => {
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
        Configured::Outbox(command) => cli::outbox::outbox(&settings, parts, command).await?,
        Configured::Webhooks(command) => cli::outbox::webhooks(&settings, parts, command).await?,
        Configured::Ledger(args) => cli::ledger::run(&settings, parts, args).await?,
        Configured::Import(args) => return cli::import::run(&settings, parts, args).await,
        Configured::Verify { heads } => {
            return Ok(cli::verify::verify(&settings, parts, heads).await?);
        }
        Configured::SeedCases(args) => cli::seed_data::cases(&settings, parts, args).await?,
    }
    Ok(ExitCode::SUCCESS)
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
