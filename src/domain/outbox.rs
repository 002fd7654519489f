//! The outbox's letters as plain data: a letter as the transaction that
//! caused it wrote it (`OutgoingMail`), as it waits in the outbox with its
//! delivery record (`QueuedMail`), a claim's lease on a batch, and what became
//! of one attempt. The store persists these and the delivery worker
//! (`workers::outbox`) works them; neither the store nor the rules render or
//! send.

use chrono::{DateTime, Utc};

use crate::domain::Alert;

/// A letter the outbox will render and deliver, written in the same transaction
/// as the change that caused it. What it says is decided then (`payload`); how
/// it reads is the outbox's business when it sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    pub id: String,
    /// The case the letter is about; none for a digest of many.
    pub case_id: Option<String>,
    pub request_id: Option<String>,
    /// Which letter it is; the outbox lists it by this before it is rendered.
    pub kind: LetterKind,
    /// With angle brackets, as in the header: resending keeps it.
    pub message_id: String,
    /// Envelope sender and recipients.
    pub sender: String,
    pub recipients: Vec<String>,
    /// The letter's facts as its writer serialised them; opaque to the store.
    pub payload: String,
    pub created_at: DateTime<Utc>,
    /// The digest of the reply link the letter carries, kept beside it so that
    /// the link opens once the letter is committed.
    pub reply_link: Option<String>,
}

impl OutgoingMail {
    /// A letter of `kind` from `sender` to `recipients`, about nothing in
    /// particular until `about` says which case; its id orders the outbox
    /// (UUIDv7: by time of writing).
    pub fn new(
        kind: LetterKind,
        message_id: String,
        sender: String,
        recipients: Vec<String>,
        payload: String,
        created_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id: uuid::Uuid::now_v7().to_string(),
            case_id: None,
            request_id: None,
            kind,
            message_id,
            sender,
            recipients,
            payload,
            created_at,
            reply_link: None,
        }
    }

    /// The case, and the request if one, the letter is about.
    pub fn about(mut self, case_id: &str, request_id: Option<&str>) -> Self {
        self.case_id = Some(case_id.to_owned());
        self.request_id = request_id.map(str::to_owned);
        self
    }

    /// The digest of the reply link the letter prints, if it prints one.
    pub fn with_reply_link(mut self, digest: Option<String>) -> Self {
        self.reply_link = digest;
        self
    }
}

/// The kinds of letter, by the names the outbox's `kind` column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LetterKind {
    /// A request letter (函), one per round.
    RequestIssued,
    /// A reminder (催办) before a deadline.
    Reminder,
    /// A supervisor's ruling on an extension or a return.
    Ruling,
    /// A receipt (回执) to whoever answered by mail.
    Receipt,
    /// One alert to the supervisors.
    Alert,
    /// The day's alerts to the supervisors.
    AlertDigest,
    /// The weekly digest (周报) to an office or the supervisors.
    WeeklyDigest,
    /// A one-time link to sign in to the console.
    SignIn,
    /// A notice about a request's case: a further resident joined, or the
    /// request was withdrawn when its case joined another.
    Notice,
}

impl LetterKind {
    pub const ALL: [LetterKind; 9] = [
        Self::RequestIssued,
        Self::Reminder,
        Self::Ruling,
        Self::Receipt,
        Self::Alert,
        Self::AlertDigest,
        Self::WeeklyDigest,
        Self::SignIn,
        Self::Notice,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequestIssued => "request_issued",
            Self::Reminder => "reminder",
            Self::Ruling => "ruling",
            Self::Receipt => "receipt",
            Self::Alert => "alert",
            Self::AlertDigest => "alert_digest",
            Self::WeeklyDigest => "weekly_digest",
            Self::SignIn => "sign_in",
            Self::Notice => "notice",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for LetterKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailStatus {
    /// Waiting for its first attempt or for its next retry.
    Pending,
    Sent,
    /// Refused for good, or out of attempts: an operator decides.
    Failed,
}

impl MailStatus {
    pub const ALL: [MailStatus; 3] = [Self::Pending, Self::Sent, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Sent => "SENT",
            Self::Failed => "FAILED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
    }
}

/// A letter in the outbox, with its delivery record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMail {
    pub mail: OutgoingMail,
    /// The reference number (文号) of its request, drawn by the transaction that
    /// wrote the letter.
    pub reference: Option<String>,
    /// Empty until the outbox first rendered the letter; then what it sends.
    pub subject: String,
    /// The whole RFC 5322 message as rendered, sent byte for byte on every
    /// attempt; empty until the first attempt.
    pub raw: Vec<u8>,
    pub status: MailStatus,
    /// Attempts made so far.
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    /// The last failure as the transport described it; empty when none.
    pub last_error: String,
    pub sent_at: Option<DateTime<Utc>>,
    /// The W3C traceparent of the span that wrote the letter, when traces
    /// were exported: the delivery continues that trace.
    pub traceparent: Option<String>,
}

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    Retry { at: DateTime<Utc>, error: String },
    Failed { error: String },
}

/// One delivery attempt as the outbox worker reports it: the outcome, the
/// letter as it rendered it when it had not been rendered before, and the alert
/// a letter given up raises, written with the outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub outcome: Delivery,
    pub rendered: Option<Rendered>,
    pub alert: Option<Alert>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub raw: Vec<u8>,
}

/// A claim's lease on letters, in real time (not the service's clock, which
/// tests move): from `at`, when leases that ended before are over, to
/// `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub at: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// The outbox at a glance, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboxSummary {
    pub pending: u64,
    pub failed: u64,
    /// When the oldest pending letter was written; none pending: `None`.
    pub oldest_pending: Option<DateTime<Utc>>,
}
