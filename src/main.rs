//! The `whistle` binary: read settings, set up tracing, then serve, migrate or
//! hash a key. Everything else lives in the library.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use whistle::app::{Application, open_store};
use whistle::domain::PageRequest;
use whistle::settings::Settings;
use whistle::store::MailStatus;

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
    /// Print the SHA-256 digest of a bearer key, for `principals.*.key_sha256`.
    HashKey { key: String },
    /// Inspect the outbox: letters waiting, sent and failed.
    #[command(subcommand)]
    Outbox(OutboxCommand),
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::HashKey { key }) = &cli.command {
        println!("{}", whistle::grpc::auth::key_digest(key));
        return Ok(());
    }
    let settings = Settings::load(cli.config.as_deref())?;
    whistle::telemetry::init(&settings.log);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => {
            open_store(&settings).await?.close().await;
            tracing::info!("migrations applied");
        }
        Command::Serve => {
            let app = Application::build(&settings).await?;
            let token = app.shutdown_token();
            tokio::spawn(async move {
                wait_for_signal().await;
                tracing::info!("shutting down: finishing in-flight calls");
                token.cancel();
            });
            app.run_until_stopped().await?;
        }
        Command::Outbox(command) => outbox(&settings, command).await?,
        Command::HashKey { .. } => unreachable!("handled before settings"),
    }
    Ok(())
}

async fn outbox(settings: &Settings, command: OutboxCommand) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let result = match command {
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
                let page = store
                    .list_mail(
                        status,
                        &PageRequest {
                            size: left.min(500),
                            after,
                        },
                    )
                    .await?;
                for m in &page.items {
                    let subject = if m.subject.is_empty() {
                        format!(
                            "({} for {}, not rendered yet)",
                            m.mail.kind,
                            m.reference.as_deref().unwrap_or("?")
                        )
                    } else {
                        m.subject.clone()
                    };
                    println!(
                        "{:<36}  {:<7}  {:>8}  {:<20}  {:<30}  {}",
                        m.mail.id,
                        m.status.as_str(),
                        m.attempts,
                        m.next_attempt_at.format("%Y-%m-%d %H:%M:%S"),
                        m.mail.recipients.join(","),
                        subject
                    );
                    if !m.last_error.is_empty() {
                        println!("{:>112}{}", "", m.last_error);
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
        OutboxCommand::Retry { mail_id } => store
            .retry_mail(&mail_id, chrono::Utc::now())
            .await
            .map(|m| {
                println!(
                    "{} is pending again; the running service will deliver it",
                    m.mail.id
                )
            })
            .map_err(anyhow::Error::from),
    };
    store.close().await;
    result
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
