//! How letters go out: `[mail]` (the transport, SMTP, retries), and the
//! letters whistle writes on its own schedule: `[alert_mail]` (alerts to
//! supervisors) and `[digest]` (the weekly digest). Plain data: the
//! application checks the times and days when it builds the policies.

use serde::Deserialize;

use super::Secret;

/// `mail.transport`: how letters leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    File,
    Smtp,
}

/// `mail.smtp.tls`: how the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    Starttls,
    Implicit,
    None,
}

/// `[mail]`: the outbox's delivery.
#[derive(Debug, Clone, Deserialize)]
pub struct MailSettings {
    pub transport: TransportKind,
    pub file_dir: String,
    pub from: String,
    pub message_id_domain: String,
    pub poll_interval_ms: u64,
    /// Delivery workers of this instance, each claiming a batch at a time;
    /// 0 leaves delivery to other instances.
    pub workers: u32,
    /// Letters a worker claims at once.
    pub batch: u32,
    /// How long a claim holds; a worker that is still delivering renews it,
    /// one that died lets its letters go when it runs out.
    pub lease_secs: u64,
    /// Letters this instance hands over at once: the SMTP connections it
    /// keeps open (or .eml files it writes at once).
    pub connections: u32,
    pub smtp: SmtpSettings,
    pub retry: RetrySettings,
}

/// `[mail.smtp]`: the server letters are handed to.
#[derive(Debug, Clone, Deserialize)]
pub struct SmtpSettings {
    pub host: String,
    pub port: Option<u16>,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub timeout_secs: u64,
    pub accept_invalid_certs: bool,
}

/// `[mail.retry]`: how often, and how far apart, a letter is tried again.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct RetrySettings {
    pub max_attempts: u32,
    pub initial_backoff_secs: u64,
    pub max_backoff_secs: u64,
    /// While the mail server does not answer, delivery pauses and the server
    /// is tried again after a second, doubling up to this many seconds; when
    /// it answers, every letter put off is due at once.
    pub reconnect_max_secs: u64,
}

/// `[alert_mail]`: alerts to supervisors by e-mail.
#[derive(Debug, Clone, Deserialize)]
pub struct AlertMailSettings {
    /// Supervisors' mailboxes; none: no alert mail.
    pub to: Vec<String>,
    pub mode: AlertMailMode,
    /// Local time of the daily digest, `HH:MM`.
    pub digest_time: String,
    /// Only alerts of at least this level.
    pub min_level: u8,
}

/// `alert_mail.mode`: how alerts reach supervisors by e-mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertMailMode {
    /// A letter for every alert as it is raised.
    Each,
    /// One letter a day with every alert since the last.
    Digest,
}

/// supervisors, with the week's ledger attached.
#[derive(Debug, Clone, Deserialize)]
pub struct DigestSettings {
    pub enabled: bool,
    /// `MON` … `SUN`.
    pub weekday: String,
    /// Local time, `HH:MM`.
    pub time: String,
    /// The offices' visit day, `MON` … `SUN`: the progress list in each
    /// office's digest is for the next one.
    pub visit_day: String,
}
