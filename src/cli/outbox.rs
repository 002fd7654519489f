//! `outbox` and `webhooks`: what waits to go out, by letter and by
//! endpoint, and putting a failed letter or a paused endpoint back to work,
//! through the operator's use cases.

use clap::Subcommand;
use whistle::app::{open_store, operator_whistle};
use whistle::assemble::Parts;
use whistle::service::operator::{MailStatus, operator};
use whistle::service::{PageRequest, Whistle};
use whistle::settings::Settings;

use super::shown;

#[derive(Subcommand)]
pub enum WebhooksCommand {
    /// List the endpoints: active or paused, the last event taken, failures
    /// in a row, the last error.
    List,
    /// Resume a paused endpoint from the last event it took.
    Resume { name: String },
}

#[derive(Subcommand)]
pub enum OutboxCommand {
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

/// Lists or retries letters through the operator's use cases.
pub async fn outbox(
    settings: &Settings,
    parts: Parts,
    command: OutboxCommand,
) -> anyhow::Result<()> {
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
pub async fn webhooks(
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
