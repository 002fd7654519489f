//! What the operator does, from the command line and the metrics endpoint:
//! look after the outbox (list the letters, put a failed one back in the
//! queue), check every timeline's hash chain, and read the gauges of the
//! outbox and the database pools.
//!
//! The command line is one built-in principal, [`operator`]: whoever runs
//! `whistle` with the configuration and the database holds everything in
//! them already, so the operator has a supervisor's reach (every office's
//! ledger, every case). It is still a caller like any other: each use case
//! asks the access policy, and the operator's own work (the outbox, the
//! chains) is `Action::Operate`, which only that reach allows. The gauges
//! name no case and no person; the metrics endpoint, which serves the
//! operator's network only, reads them without a caller, as the workers
//! act without one.

use chrono::{DateTime, Utc};

use super::*;
use crate::domain::access::{self, Action};
use crate::domain::audit_chain::ChainReport;
use crate::domain::{Actor, ActorRole};
pub use crate::store::MailStatus;
use crate::store::QueuedMail;

/// The name the timeline and the logs know the command line by. No
/// configured principal can take it: configured names are table keys, and
/// this one has a space.
pub const OPERATOR: &str = "operator (whistle CLI)";

/// The command line's principal.
pub fn operator() -> Actor {
    Actor {
        name: OPERATOR.to_owned(),
        role: ActorRole::Supervisor,
    }
}

/// A letter in the outbox, with its delivery record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxLetter {
    pub id: String,
    /// What kind of letter it is (`request`, `reminder`, …).
    pub kind: String,
    /// The reference number (文号) of its request, when it has one.
    pub reference: Option<String>,
    pub recipients: Vec<String>,
    /// Empty until the outbox first rendered the letter.
    pub subject: String,
    pub status: MailStatus,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    /// The last failure as the transport described it; empty when none.
    pub last_error: String,
}

impl From<QueuedMail> for OutboxLetter {
    fn from(m: QueuedMail) -> Self {
        Self {
            id: m.mail.id,
            kind: m.mail.kind.to_string(),
            reference: m.reference,
            recipients: m.mail.recipients,
            subject: m.subject,
            status: m.status,
            attempts: m.attempts,
            next_attempt_at: m.next_attempt_at,
            last_error: m.last_error,
        }
    }
}

/// One batch of timelines checked, in case id order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBatch {
    /// Each case checked, with what its chain showed.
    pub reports: Vec<(String, ChainReport)>,
    /// Where the next batch starts; `None` after the last case.
    pub next: Option<String>,
    /// Broken cases whose alert could not be raised, with why: the check
    /// still reports the break, and the operator hears of the alert's loss.
    pub unalerted: Vec<(String, String)>,
}

/// What the metrics endpoint shows of the outbox and the database pools.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gauges {
    /// Pool connections open and idle, and in use.
    pub idle_connections: u32,
    pub busy_connections: u32,
    /// `None` when the outbox could not be read: the gauges keep their last
    /// values (the health watch says when the database is away).
    pub outbox: Option<OutboxGauges>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutboxGauges {
    pub pending: u64,
    pub failed: u64,
    /// How long the oldest pending letter has waited, in seconds; 0 when
    /// none waits.
    pub oldest_pending_secs: f64,
}

impl Whistle {
    /// The outbox, newest first, optionally one status.
    #[tracing::instrument(skip_all)]
    pub async fn list_outbox(
        &self,
        actor: &Actor,
        status: Option<MailStatus>,
        page: &PageRequest,
    ) -> Result<Page<OutboxLetter>> {
        access::permit(actor, Action::Operate)?;
        let page = self.store.list_mail(status, page).await?;
        Ok(Page {
            items: page.items.into_iter().map(OutboxLetter::from).collect(),
            next: page.next,
            cursors: page.cursors,
        })
    }

    /// Puts a failed letter back in the queue, due now, with fresh attempts;
    /// the running service delivers it. A letter that did not fail is
    /// FAILED_PRECONDITION, an unknown one NOT_FOUND.
    #[tracing::instrument(skip_all, fields(mail_id = %mail_id), err(level = "debug"))]
    pub async fn retry_letter(&self, actor: &Actor, mail_id: &str) -> Result<OutboxLetter> {
        access::permit(actor, Action::Operate)?;
        let mail = self.store.retry_mail(mail_id, self.clock.now()).await?;
        Ok(mail.into())
    }

    /// Recomputes the hash chains of up to `limit` cases after `after` (none:
    /// from the first), reading each timeline on its own so that memory holds
    /// one batch of ids and one timeline.
    #[tracing::instrument(skip_all)]
    pub async fn check_chains(
        &self,
        actor: &Actor,
        after: Option<&str>,
        limit: u32,
    ) -> Result<ChainBatch> {
        access::permit(actor, Action::Operate)?;
        let ids = self.store.case_ids_after(after, limit).await?;
        let next = (ids.len() as u32 >= limit.max(1))
            .then(|| ids.last().cloned())
            .flatten();
        let mut reports = Vec::with_capacity(ids.len());
        let mut unalerted = Vec::new();
        // A case removed since its id was read has nothing to check.
        for (id, report) in self.store.verify_cases(&ids).await? {
            // The supervisors hear of a break too; a database the check
            // may only read still gets its report.
            if report.first_break.is_some() {
                match self
                    .store
                    .raise_chain_alert(&id, &report, self.clock.now())
                    .await
                {
                    Ok(true) => self.wakes.after_commit(false, []),
                    Ok(false) => {}
                    Err(e) => unalerted.push((id.clone(), e.to_string())),
                }
            }
            reports.push((id, report));
        }
        Ok(ChainBatch {
            reports,
            next,
            unalerted,
        })
    }

    /// The outbox's and the pools' gauges as they are now.
    #[tracing::instrument(skip_all)]
    pub async fn gauges(&self) -> Gauges {
        let (idle_connections, busy_connections) = self.store.pool_connections();
        let outbox = match self.store.outbox_summary().await {
            Ok(summary) => Some(OutboxGauges {
                pending: summary.pending,
                failed: summary.failed,
                oldest_pending_secs: summary.oldest_pending.map_or(0.0, |at| {
                    (self.clock.now() - at).num_milliseconds().max(0) as f64 / 1000.0
                }),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "reading the outbox for metrics");
                None
            }
        };
        Gauges {
            idle_connections,
            busy_connections,
            outbox,
        }
    }
}
