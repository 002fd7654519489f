//! The `whistle` binary: read settings, set up tracing, then serve, migrate or
//! hash a key. Everything else lives in the library.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use whistle::app::{Application, open_store};
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
    /// Print the SHA-256 digest of a bearer key, for `principals.*.key_sha256`.
    HashKey { key: String },
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
        Command::HashKey { .. } => unreachable!("handled before settings"),
    }
    Ok(())
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
