//! Typed settings, layered: the embedded defaults (config/default.toml), then an
//! optional file (`--config FILE`), then `WHISTLE__SECTION__KEY` environment
//! variables. The service starts with no file at all. When the layers name no
//! organisation of their own, the demo organisation (config/demo.toml) is used.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use chrono::NaiveDate;
use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;

pub use crate::domain::wording::Language;
use crate::domain::{
    self, CategoryDeadlines, DeadlinePolicy, DeadlineRules, DeadlineSpans, Organisation, Span,
};

mod keys;

const DEFAULTS: &str = include_str!("../config/default.toml");
const DEMO: &str = include_str!("../config/demo.toml");
/// Environment variables `WHISTLE__SECTION__KEY` override the files.
const ENV_PREFIX: &str = "WHISTLE";

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub grpc: GrpcSettings,
    pub database: DatabaseSettings,
    pub log: LogSettings,
    pub calendar: CalendarSettings,
    /// Unset keys take the defaults in `DeadlineSpans`, not values from
    /// config/default.toml: a deployed file's `ack_working_days` would otherwise
    /// clash with an embedded `ack`.
    #[serde(default)]
    pub deadlines: PolicySettings,
    pub watch: WatchSettings,
    pub supervision: SupervisionSettings,
    pub statistics: StatisticsSettings,
    pub alert_mail: AlertMailSettings,
    pub digest: DigestSettings,
    pub mail: MailSettings,
    pub http: HttpSettings,
    pub inbound_mail: InboundMailSettings,
    pub metrics: MetricsSettings,
    pub replies: ReplySettings,
    #[serde(default)]
    pub offices: BTreeMap<String, OfficeSettings>,
    #[serde(default)]
    pub departments: BTreeMap<String, DepartmentSettings>,
    #[serde(default)]
    pub categories: BTreeMap<String, CategorySettings>,
    #[serde(default)]
    pub principals: BTreeMap<String, PrincipalSettings>,
    /// Set when the demo organisation filled in for a missing one.
    #[serde(skip)]
    pub demo: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GrpcSettings {
    pub listen: String,
    pub max_message_bytes: usize,
    /// Calls per second per principal (0: no limit), and the burst above it.
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
    /// Failed authentications a minute one peer address may make (0: no
    /// limit); beyond, its calls are refused until the allowance refills.
    pub auth_failures_per_minute: u32,
    /// A call still unanswered after this long is cancelled (DEADLINE_EXCEEDED
    /// for the client), which also frees what a stalled client holds.
    pub request_timeout_secs: u64,
    /// A new connection that has not sent its HTTP/2 preface by then is closed.
    pub handshake_timeout_secs: u64,
    /// Streams one connection may have open at once.
    pub max_concurrent_streams: u32,
    /// Pings idle connections; one that does not answer within the timeout is closed.
    pub keepalive_interval_secs: u64,
    pub keepalive_timeout_secs: u64,
    /// Items at most waiting for a slow reader of a live stream.
    pub stream_buffer: usize,
    /// How long a stream reader may take nothing before it is cut off.
    pub stream_stall_secs: u64,
    /// The longest a live stream waits before looking for what other instances
    /// committed.
    pub stream_poll_ms: u64,
    /// On shutdown, how long calls may take to finish before their connections
    /// are closed.
    pub drain_secs: u64,
    /// On shutdown, how long the service keeps serving with its health
    /// NOT_SERVING before it stops taking calls.
    pub shutdown_notice_secs: u64,
    /// How often the health status asks whether the database answers.
    pub health_check_secs: u64,
    /// TLS and client certificates; off while `cert_file` is empty.
    pub tls: GrpcTlsSettings,
}

/// `[grpc.tls]`: TLS on the gRPC listener, and client certificates.
#[derive(Debug, Clone, Deserialize)]
pub struct GrpcTlsSettings {
    /// PEM: the server's certificate, then its intermediates. Empty: plain text.
    pub cert_file: String,
    /// PEM: the certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: String,
    /// PEM: the CA(s) that sign client certificates. Empty: none asked for.
    pub client_ca_file: String,
    /// Whether a client must show a certificate signed by `client_ca_file`.
    pub client_auth: crate::tls::ClientAuth,
    /// How often the certificate and key files are read again (0: only on SIGHUP).
    pub reload_secs: u64,
}

impl GrpcTlsSettings {
    pub fn enabled(&self) -> bool {
        !self.cert_file.trim().is_empty()
    }
}

/// `[http.tls]`: TLS on the reply page's listener.
#[derive(Debug, Clone, Deserialize)]
pub struct HttpTlsSettings {
    /// As `grpc.tls.cert_file` and `key_file`; empty: plain HTTP.
    pub cert_file: String,
    pub key_file: String,
    pub reload_secs: u64,
}

impl HttpTlsSettings {
    pub fn enabled(&self) -> bool {
        !self.cert_file.trim().is_empty()
    }
}

/// `[http]`: the reply page departments open from their letters.
#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    /// Where the page is served; empty: no page, and letters carry no link to it.
    pub listen: String,
    /// The address letters link to (`https://whistle.example.gov.cn`); empty:
    /// `http://` and the address it listens on.
    pub public_url: String,
    /// Requests per minute one client address may make, and one reply link.
    pub rate_limit_per_ip_per_minute: u32,
    pub rate_limit_per_link_per_minute: u32,
    /// A request unanswered after this long is cut off.
    pub request_timeout_secs: u64,
    /// HTTPS; off while `cert_file` is empty.
    pub tls: HttpTlsSettings,
}

impl HttpSettings {
    /// The base of the links in letters, given where the page is bound.
    pub fn public_base(&self, bound: std::net::SocketAddr) -> String {
        if self.public_url.trim().is_empty() {
            let scheme = if self.tls.enabled() { "https" } else { "http" };
            format!("{scheme}://{bound}")
        } else {
            self.public_url.trim().trim_end_matches('/').to_owned()
        }
    }
}

/// `[metrics]`: Prometheus metrics and the liveness and readiness probes.
#[derive(Debug, Clone, Deserialize)]
pub struct MetricsSettings {
    /// Where `/metrics`, `/livez` and `/readyz` are served; empty: nowhere.
    /// Kept apart from the reply page, which faces departments: metrics are
    /// for the operator's network only.
    pub listen: String,
}

/// `[inbound_mail]`: replies by e-mail to `reply+TOKEN@domain`.
#[derive(Debug, Clone, Deserialize)]
pub struct InboundMailSettings {
    /// Where the SMTP listener takes mail; empty: none, and letters carry no
    /// reply address.
    pub listen: String,
    /// The domain of reply addresses; the organisation's mail server forwards
    /// it to `listen`. Required when `listen` is set.
    pub domain: String,
    /// The name the listener greets with.
    pub hostname: String,
    pub max_message_bytes: usize,
    pub max_connections: usize,
    pub command_timeout_secs: u64,
    pub data_timeout_secs: u64,
}

/// `[replies]`: what replies from the page and by mail may carry.
#[derive(Debug, Clone, Deserialize)]
pub struct ReplySettings {
    /// All files of one reply together, in bytes.
    pub max_attachment_bytes: usize,
    pub max_attachments: usize,
    /// File name extensions taken, without the dot.
    pub attachment_types: Vec<String>,
}

impl ReplySettings {
    pub fn policy(&self) -> crate::service::ReplyPolicy {
        crate::service::ReplyPolicy {
            max_attachment_bytes: self.max_attachment_bytes,
            max_attachments: self.max_attachments,
            attachment_types: self
                .attachment_types
                .iter()
                .map(|t| t.trim().trim_start_matches('.').to_lowercase())
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: String,
    pub max_connections: u32,
    pub acquire_timeout_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

/// `[alert_mail]`: alerts to supervisors by e-mail.
#[derive(Debug, Clone, Deserialize)]
pub struct AlertMailSettings {
    /// Supervisors' mailboxes; none: no alert mail.
    pub to: Vec<String>,
    pub mode: crate::service::AlertMailMode,
    /// Local time of the daily digest, `HH:MM`.
    pub digest_time: String,
    /// Only alerts of at least this level.
    pub min_level: u8,
}

impl AlertMailSettings {
    pub fn policy(&self) -> anyhow::Result<crate::service::AlertMailPolicy> {
        let digest_at =
            chrono::NaiveTime::parse_from_str(&self.digest_time, "%H:%M").map_err(|_| {
                anyhow::anyhow!(
                    "alert_mail.digest_time: {:?} is not a time of day such as \"08:30\"",
                    self.digest_time
                )
            })?;
        if self.min_level > 2 {
            bail!(
                "alert_mail.min_level: {} is not a level; levels are 1 and 2",
                self.min_level
            );
        }
        Ok(crate::service::AlertMailPolicy {
            mode: self.mode,
            digest_at,
            min_level: self.min_level,
        })
    }
}

/// `[digest]`: the weekly digest letter (周报) to the offices and the
/// supervisors, with the week's ledger attached.
#[derive(Debug, Clone, Deserialize)]
pub struct DigestSettings {
    pub enabled: bool,
    /// `MON` … `SUN`.
    pub weekday: String,
    /// Local time, `HH:MM`.
    pub time: String,
}

impl DigestSettings {
    pub fn policy(&self) -> anyhow::Result<crate::service::DigestPolicy> {
        let weekday = match self.weekday.trim().to_ascii_uppercase().as_str() {
            "MON" => chrono::Weekday::Mon,
            "TUE" => chrono::Weekday::Tue,
            "WED" => chrono::Weekday::Wed,
            "THU" => chrono::Weekday::Thu,
            "FRI" => chrono::Weekday::Fri,
            "SAT" => chrono::Weekday::Sat,
            "SUN" => chrono::Weekday::Sun,
            _ => bail!(
                "digest.weekday: {:?} is not a day of the week; write MON, TUE, WED, THU, FRI, SAT or SUN",
                self.weekday
            ),
        };
        let at = chrono::NaiveTime::parse_from_str(self.time.trim(), "%H:%M").map_err(|_| {
            anyhow::anyhow!(
                "digest.time: {:?} is not a time of day such as \"08:30\"",
                self.time
            )
        })?;
        Ok(crate::service::DigestPolicy { weekday, at })
    }
}

/// `[supervision]`: what departments may ask of supervisors.
#[derive(Debug, Clone, Deserialize)]
pub struct SupervisionSettings {
    /// Extensions (延期) one request may ask for.
    pub max_extensions: u32,
    /// Working time after issue within which a department may return a
    /// request (退单), as a deadline span ("2h", "1d").
    pub return_window: String,
}

impl SupervisionSettings {
    pub fn policy(&self) -> anyhow::Result<crate::domain::DecisionPolicy> {
        let return_window = self.return_window.parse().map_err(|e| {
            anyhow::anyhow!(
                "supervision.return_window: {:?} is not a span of working time ({e}); write e.g. \"2h\" or \"1d\"",
                self.return_window
            )
        })?;
        Ok(crate::domain::DecisionPolicy {
            max_extensions: self.max_extensions,
            return_window,
        })
    }
}

/// `[statistics]`: the weighted score (分值权重 and 加减分) and rankings.
#[derive(Debug, Clone, Deserialize)]
pub struct StatisticsSettings {
    pub review_within_hours: u32,
    pub min_sample: u32,
    pub points: PointsSettings,
}

/// `[statistics.points]`: what each request (case) starts with, what is
/// added and what is taken; see `domain::statistics::ScoringPolicy`.
#[derive(Debug, Clone, Deserialize)]
pub struct PointsSettings {
    pub base: f64,
    pub on_time_reply: f64,
    pub late_acknowledgement: f64,
    pub late_reply: f64,
    pub rejected_reply: f64,
    pub unsatisfied: f64,
    pub timely_review: f64,
    pub late_review: f64,
    pub override_close: f64,
}

impl StatisticsSettings {
    pub fn policy(&self) -> anyhow::Result<crate::domain::statistics::ScoringPolicy> {
        let p = &self.points;
        for (name, value) in [
            ("base", p.base),
            ("on_time_reply", p.on_time_reply),
            ("late_acknowledgement", p.late_acknowledgement),
            ("late_reply", p.late_reply),
            ("rejected_reply", p.rejected_reply),
            ("unsatisfied", p.unsatisfied),
            ("timely_review", p.timely_review),
            ("late_review", p.late_review),
            ("override_close", p.override_close),
        ] {
            if !value.is_finite() || value < 0.0 {
                bail!(
                    "statistics.points.{name}: {value} must be a number of points, 0 or more (deductions are written as positive numbers)"
                );
            }
        }
        Ok(crate::domain::statistics::ScoringPolicy {
            base: p.base,
            on_time_reply: p.on_time_reply,
            late_acknowledgement: p.late_acknowledgement,
            late_reply: p.late_reply,
            rejected_reply: p.rejected_reply,
            unsatisfied: p.unsatisfied,
            timely_review: p.timely_review,
            late_review: p.late_review,
            override_close: p.override_close,
            review_within_hours: self.review_within_hours,
            min_sample: self.min_sample,
        })
    }
}

/// `[watch]`: the deadline watch (reminders, overdue alerts, escalation).
#[derive(Debug, Clone, Deserialize)]
pub struct WatchSettings {
    /// Working time before a deadline that its reminder (催办) goes out.
    pub reminder_lead: String,
    /// Working time between repeated alerts while a deadline stays overdue.
    pub repeat_every: String,
    /// Working time after a deadline that its alerts go to level 2.
    pub escalate_after: String,
    /// Watchers in this instance: 0 leaves the watch to other instances.
    pub workers: u32,
    /// Cases looked at per scan.
    pub batch: u32,
    /// The longest the watch sleeps when nothing is due: how soon it notices
    /// deadlines set by other instances.
    pub idle_secs: u64,
}

impl WatchSettings {
    pub fn policy(&self) -> anyhow::Result<crate::domain::WatchPolicy> {
        let span = |key: &str, value: &str| -> anyhow::Result<domain::Span> {
            value
                .parse()
                .map_err(|e| anyhow::anyhow!("watch.{key}: {value:?} is not a span of working time ({e}); write e.g. \"4h\" or \"1d\""))
        };
        Ok(crate::domain::WatchPolicy {
            reminder_lead: span("reminder_lead", &self.reminder_lead)?,
            repeat_every: span("repeat_every", &self.repeat_every)?,
            escalate_after: span("escalate_after", &self.escalate_after)?,
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct CalendarSettings {
    pub timezone: String,
    /// A folder of `YYYY.toml` year files that replace the shipped years of the
    /// same number or add new ones; empty for none.
    #[serde(default)]
    pub dir: String,
    /// Local days off and worked, over whatever the year files say.
    pub holidays: Vec<NaiveDate>,
    pub workdays: Vec<NaiveDate>,
    /// The periods of a working day that count for deadlines in working hours.
    pub office_hours: Vec<String>,
    /// How often the calendar is read again (0: only on SIGHUP).
    pub reload_secs: u64,
}

/// `[deadlines]` and `categories.X.deadlines`: a policy, and the one for urgent
/// petitions beneath it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySettings {
    /// Spans such as "1d" (working days) or "2h" (working hours).
    pub ack: Option<String>,
    pub reply: Option<String>,
    /// The older spelling of `ack = "Nd"`, kept because deployed files use it.
    pub ack_working_days: Option<u32>,
    pub reply_working_days: Option<u32>,
    pub urgent: Option<SpanSettings>,
}

/// `[deadlines.urgent]` and `categories.X.deadlines.urgent`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpanSettings {
    pub ack: Option<String>,
    pub reply: Option<String>,
    pub ack_working_days: Option<u32>,
    pub reply_working_days: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OfficeSettings {
    pub name: String,
    /// Printed on letters before the year; defaults to the office's name.
    pub reference_prefix: Option<String>,
    #[serde(default)]
    pub communities: Vec<String>,
    /// The person departments may call about the office's letters (联系人),
    /// printed on every letter with `contact_phone`.
    #[serde(default)]
    pub contact: String,
    #[serde(default)]
    pub contact_phone: String,
    /// Where its weekly digest goes (mailboxes); none: no digest for it.
    #[serde(default)]
    pub emails: Vec<String>,
}

// Unknown keys are refused here so that a misspelt deadline key cannot quietly
// leave a department or category on the defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepartmentSettings {
    pub name: String,
    /// The department's own deadlines, spelt as in `[deadlines]`.
    pub ack: Option<String>,
    pub reply: Option<String>,
    pub ack_working_days: Option<u32>,
    pub reply_working_days: Option<u32>,
    /// Whether this department may see residents' phone numbers unmasked.
    #[serde(default)]
    pub show_resident_phone: bool,
    /// Where its letters go; none means it gets no letters (start-up warns).
    #[serde(default)]
    pub emails: Vec<String>,
    /// The language of its letters.
    #[serde(default)]
    pub language: Language,
    /// The mail domains replies by e-mail must come from (`zjw.example.gov.cn`);
    /// empty: any sender holding the letter's reply address.
    #[serde(default)]
    pub reply_domains: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    File,
    Smtp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    Starttls,
    Implicit,
    None,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MailSettings {
    pub transport: TransportKind,
    pub file_dir: String,
    pub from: String,
    pub message_id_domain: String,
    pub poll_interval_ms: u64,
    /// Letters delivered at once by this instance (PostgreSQL; SQLite takes
    /// turns); 0 leaves delivery to other instances.
    pub workers: u32,
    pub smtp: SmtpSettings,
    pub retry: RetrySettings,
}

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

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct RetrySettings {
    pub max_attempts: u32,
    pub initial_backoff_secs: u64,
    pub max_backoff_secs: u64,
}

/// A secret from configuration: never printed, not even by `{:?}`.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategorySettings {
    pub name: String,
    pub lead: String,
    #[serde(default)]
    pub assisting: Vec<String>,
    /// The category's own deadlines, over the department's.
    pub deadlines: Option<PolicySettings>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrincipalRole {
    Office,
    Department,
    Supervisor,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PrincipalSettings {
    pub role: PrincipalRole,
    pub office: Option<String>,
    pub department: Option<String>,
    /// SHA-256 of the bearer key, hex. Config never holds the key itself.
    pub key_sha256: Option<String>,
    /// A file of such digests, one per line (`#` starts a comment): a secret
    /// mounted into the container, rotated by whoever writes it.
    pub key_sha256_file: Option<String>,
    /// Keys with the time they are good from and until, so that a new key can
    /// be handed out before the old one stops working.
    #[serde(default)]
    pub keys: Vec<KeySettings>,
    /// Client certificates that are this principal: the subject's common name
    /// (CN) equals one of these. Needs `grpc.tls.client_ca_file`.
    #[serde(default)]
    pub cert_subjects: Vec<String>,
    /// Client certificates that are this principal: a DNS name or URI of the
    /// certificate's subjectAltName equals one of these.
    #[serde(default)]
    pub cert_sans: Vec<String>,
}

/// One key of a principal and when it is good.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySettings {
    pub sha256: String,
    /// RFC 3339, e.g. "2026-12-01T00:00:00+08:00"; unset: from now on.
    pub not_before: Option<chrono::DateTime<chrono::FixedOffset>>,
    /// Unset: until it is removed.
    pub not_after: Option<chrono::DateTime<chrono::FixedOffset>>,
}

/// A key digest and when it is good, as authentication uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyWindow {
    /// Lowercase hex.
    pub digest: String,
    pub not_before: Option<chrono::DateTime<chrono::Utc>>,
    pub not_after: Option<chrono::DateTime<chrono::Utc>>,
}

impl PrincipalSettings {
    /// Whether a client certificate can be this principal.
    pub fn has_cert_names(&self) -> bool {
        !self.cert_subjects.is_empty() || !self.cert_sans.is_empty()
    }

    /// Every key of the principal: `key_sha256`, the lines of
    /// `key_sha256_file` and `keys`, each checked. `name` is for the messages.
    pub fn key_windows(&self, name: &str) -> anyhow::Result<Vec<KeyWindow>> {
        let digest = |field: &str, value: &str| -> anyhow::Result<String> {
            let value = value.trim();
            if value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok(value.to_ascii_lowercase())
            } else {
                bail!("principals.{name}.{field} must be 64 hex digits (see `whistle hash-key`)")
            }
        };
        let open = |digest: String| KeyWindow {
            digest,
            not_before: None,
            not_after: None,
        };
        let mut windows = Vec::new();
        if let Some(value) = &self.key_sha256 {
            windows.push(open(digest("key_sha256", value)?));
        }
        if let Some(path) = &self.key_sha256_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("principals.{name}.key_sha256_file: reading {path}"))?;
            for line in text.lines() {
                let line = line.split('#').next().unwrap_or_default().trim();
                if !line.is_empty() {
                    windows.push(open(digest("key_sha256_file", line)?));
                }
            }
        }
        for (i, key) in self.keys.iter().enumerate() {
            let window = KeyWindow {
                digest: digest(&format!("keys[{i}].sha256"), &key.sha256)?,
                not_before: key.not_before.map(|t| t.to_utc()),
                not_after: key.not_after.map(|t| t.to_utc()),
            };
            if let (Some(from), Some(until)) = (window.not_before, window.not_after)
                && from >= until
            {
                bail!("principals.{name}.keys[{i}]: not_before must come before not_after");
            }
            windows.push(window);
        }
        if windows.is_empty() && !self.has_cert_names() {
            bail!(
                "principals.{name}: no key; set key_sha256, key_sha256_file or keys (see `whistle new-key`), \
                 or cert_subjects or cert_sans for a client certificate"
            );
        }
        Ok(windows)
    }
}

impl Settings {
    /// Reads the layers. `file` is the `--config` argument, if any.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Settings> {
        Self::load_with(
            file,
            Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("__")
                .separator("__"),
        )
    }

    /// As `load`, with the environment source given: tests pass their own.
    pub fn load_with(file: Option<&Path>, env: Environment) -> anyhow::Result<Settings> {
        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        if let Some(path) = file {
            if !path.exists() {
                bail!("configuration file {} does not exist", path.display());
            }
            builder = builder.add_source(File::from(path).required(true));
        }
        let layered = builder.add_source(env.try_parsing(true)).build()?;
        keys::refuse_unknown::<Settings>(&layered.cache, ENV_PREFIX, file)?;
        let mut settings: Settings = layered.try_deserialize().context("reading configuration")?;
        if settings.offices.is_empty()
            && settings.departments.is_empty()
            && settings.categories.is_empty()
            && settings.principals.is_empty()
        {
            let demo = Config::builder()
                .add_source(File::from_str(DEMO, FileFormat::Toml))
                .build()?;
            keys::refuse_unknown::<DemoOrganisation>(&demo.cache, ENV_PREFIX, None)?;
            let demo: DemoOrganisation = demo
                .try_deserialize()
                .context("reading the demo organisation")?;
            settings.offices = demo.offices;
            settings.departments = demo.departments;
            settings.categories = demo.categories;
            settings.principals = demo.principals;
            settings.demo = true;
        }
        settings
            .organisation()
            .context("checking the organisation")?;
        Ok(settings)
    }

    /// The organisation the domain works with, checked for consistency.
    pub fn organisation(&self) -> anyhow::Result<Organisation> {
        let calendar = crate::year_files::build(&self.calendar)?.calendar;
        let org = Organisation {
            offices: self
                .offices
                .iter()
                .map(|(code, o)| {
                    let office = domain::Office {
                        code: code.clone(),
                        name: o.name.clone(),
                        reference_prefix: o
                            .reference_prefix
                            .clone()
                            .unwrap_or_else(|| o.name.clone()),
                        communities: o.communities.clone(),
                        contact: o.contact.clone(),
                        contact_phone: o.contact_phone.clone(),
                    };
                    (code.clone(), office)
                })
                .collect(),
            departments: self
                .departments
                .iter()
                .map(|(code, d)| {
                    let department = domain::Department {
                        code: code.clone(),
                        name: d.name.clone(),
                        policy: policy(
                            &format!("departments.{code}"),
                            (&d.ack, d.ack_working_days),
                            (&d.reply, d.reply_working_days),
                        )?,
                        show_resident_phone: d.show_resident_phone,
                        reply_domains: d
                            .reply_domains
                            .iter()
                            .map(|domain| domain.trim().to_lowercase())
                            .collect(),
                    };
                    Ok((code.clone(), department))
                })
                .collect::<anyhow::Result<_>>()?,
            categories: self
                .categories
                .iter()
                .map(|(code, c)| {
                    let category = domain::Category {
                        code: code.clone(),
                        name: c.name.clone(),
                        lead: c.lead.clone(),
                        assisting: c.assisting.clone(),
                    };
                    (code.clone(), category)
                })
                .collect(),
            calendar,
            deadline_rules: self.deadline_rules()?,
            watch: self.watch.policy()?,
            decisions: self.supervision.policy()?,
            scoring: self.statistics.policy()?,
        };
        self.alert_mail.policy()?;
        self.digest.policy()?;
        org.validate().map_err(anyhow::Error::msg)?;
        for (name, p) in &self.principals {
            p.key_windows(name)?;
            match p.role {
                PrincipalRole::Office => match &p.office {
                    Some(code) if org.offices.contains_key(code) => {}
                    other => bail!("principals.{name}.office: unknown office {other:?}"),
                },
                PrincipalRole::Department => match &p.department {
                    Some(code) if org.departments.contains_key(code) => {}
                    other => bail!("principals.{name}.department: unknown department {other:?}"),
                },
                PrincipalRole::Supervisor => {}
            }
        }
        Ok(org)
    }
}

impl Settings {
    /// The organisation-wide and the categories' deadline policies, with every
    /// span parsed and every key that is wrong named.
    fn deadline_rules(&self) -> anyhow::Result<DeadlineRules> {
        let d = &self.deadlines;
        let ordinary = policy(
            "deadlines",
            (&d.ack, d.ack_working_days),
            (&d.reply, d.reply_working_days),
        )?;
        let urgent = urgent_policy("deadlines", &d.urgent)?;
        let mut categories = BTreeMap::new();
        for (code, c) in &self.categories {
            let Some(d) = &c.deadlines else { continue };
            let key = format!("categories.{code}.deadlines");
            let deadlines = CategoryDeadlines {
                ordinary: policy(
                    &key,
                    (&d.ack, d.ack_working_days),
                    (&d.reply, d.reply_working_days),
                )?,
                urgent: urgent_policy(&key, &d.urgent)?,
            };
            categories.insert(code.clone(), deadlines);
        }
        Ok(DeadlineRules {
            ordinary: filled(ordinary, DeadlineSpans::default()),
            urgent: filled(urgent, DeadlineSpans::urgent()),
            categories,
        })
    }
}

fn urgent_policy(parent: &str, urgent: &Option<SpanSettings>) -> anyhow::Result<DeadlinePolicy> {
    let Some(u) = urgent else {
        return Ok(DeadlinePolicy::default());
    };
    policy(
        &format!("{parent}.urgent"),
        (&u.ack, u.ack_working_days),
        (&u.reply, u.reply_working_days),
    )
}

/// One level's policy from its keys: `ack`/`reply` spans, or the older whole-day
/// `ack_working_days`/`reply_working_days`, but not both for one step, since
/// which should win would be a guess.
fn policy(
    key: &str,
    (ack, ack_days): (&Option<String>, Option<u32>),
    (reply, reply_days): (&Option<String>, Option<u32>),
) -> anyhow::Result<DeadlinePolicy> {
    let step = |name: &str, span: &Option<String>, days: Option<u32>| match (span, days) {
        (Some(_), Some(_)) => {
            bail!("{key}: both {name} and {name}_working_days are set; keep one")
        }
        (Some(text), None) => text
            .parse::<Span>()
            .map(Some)
            .map_err(|e| anyhow::anyhow!("{key}.{name}: {e}")),
        (None, Some(n)) => Ok(Some(Span::WorkingDays(n))),
        (None, None) => Ok(None),
    };
    Ok(DeadlinePolicy {
        ack: step("ack", ack, ack_days)?,
        reply: step("reply", reply, reply_days)?,
    })
}

fn filled(policy: DeadlinePolicy, defaults: DeadlineSpans) -> DeadlineSpans {
    DeadlineSpans {
        ack: policy.ack.unwrap_or(defaults.ack),
        reply: policy.reply.unwrap_or(defaults.reply),
    }
}

#[derive(Debug, Deserialize)]
struct DemoOrganisation {
    offices: BTreeMap<String, OfficeSettings>,
    departments: BTreeMap<String, DepartmentSettings>,
    categories: BTreeMap<String, CategorySettings>,
    principals: BTreeMap<String, PrincipalSettings>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> Environment {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Environment::with_prefix("WHISTLE")
            .prefix_separator("__")
            .separator("__")
            .source(Some(map))
    }

    #[test]
    fn embedded_defaults_start_the_demo_organisation() {
        let s = Settings::load_with(None, env(&[])).unwrap();
        assert!(s.demo);
        assert_eq!(s.grpc.listen, "127.0.0.1:50051");
        assert!(s.database.url.starts_with("sqlite:"));
        let org = s.organisation().unwrap();
        assert_eq!(org.offices["cuiping"].name, "翠屏街道");
        for d in ["housing", "land", "education", "lighting", "power"] {
            assert!(org.departments.contains_key(d), "{d}");
        }
        let route = org.route("street-lighting", None, &[]).unwrap();
        assert_eq!(
            (route.lead.as_str(), route.assisting.as_slice()),
            ("lighting", &["power".to_string()][..])
        );
        assert_eq!(s.principals.len(), 7);
        assert_eq!(s.mail.transport, TransportKind::File);
        assert_eq!(
            s.departments["housing"].emails,
            ["housing@departments.example"]
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Settings::load_with(None, env(&[("WHISTLE__MAIL__SMTP__PASSWORD", "hunter2")]))
            .unwrap();
        assert_eq!(s.mail.smtp.password.as_ref().unwrap().expose(), "hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn environment_overrides_defaults() {
        let s = Settings::load_with(
            None,
            env(&[
                ("WHISTLE__GRPC__LISTEN", "0.0.0.0:6000"),
                ("WHISTLE__DATABASE__URL", "postgres://x@y/z"),
                ("WHISTLE__DEADLINES__REPLY_WORKING_DAYS", "7"),
            ]),
        )
        .unwrap();
        assert_eq!(s.grpc.listen, "0.0.0.0:6000");
        assert_eq!(s.database.url, "postgres://x@y/z");
        assert_eq!(
            s.organisation()
                .unwrap()
                .deadline_spans("housing", None, false)
                .reply,
            Span::WorkingDays(7)
        );
    }

    #[test]
    fn an_own_organisation_replaces_the_demo_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("whistle.toml");
        std::fs::write(
            &path,
            r#"
[offices.east]
name = "东城街道"
[departments.roads]
name = "道路所"
reply_working_days = 10
[categories.pothole]
name = "坑洼"
lead = "roads"
[principals.east]
role = "office"
office = "east"
key_sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
"#,
        )
        .unwrap();
        let s = Settings::load_with(Some(&path), env(&[])).unwrap();
        assert!(!s.demo);
        let org = s.organisation().unwrap();
        assert_eq!(org.offices.keys().collect::<Vec<_>>(), ["east"]);
        assert_eq!(org.offices["east"].reference_prefix, "东城街道");
        assert_eq!(
            org.deadline_spans("roads", None, false),
            DeadlineSpans {
                ack: Span::WorkingDays(1),
                reply: Span::WorkingDays(10)
            }
        );
    }

    #[test]
    fn a_principal_may_be_known_by_its_client_certificate_alone() {
        let extra = r#"
[principals.roads-system]
role = "department"
department = "roads"
cert_subjects = ["roads-system"]
cert_sans = ["spiffe://gov.example/roads"]
"#;
        let s = load_with_file(extra, &[]).unwrap();
        s.organisation().unwrap();
        let p = &s.principals["roads-system"];
        assert!(p.key_windows("roads-system").unwrap().is_empty());
        assert!(p.has_cert_names());
        assert!(
            !s.grpc.tls.enabled() && !s.http.tls.enabled(),
            "TLS is off by default"
        );
    }

    #[test]
    fn a_principal_may_hold_several_keys_with_their_times_and_a_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("roads.sha256");
        let a = "a".repeat(64);
        let b = "B".repeat(64);
        std::fs::write(&file, format!("# rotated monthly\n{a}\n\n{b}  # next\n")).unwrap();
        let c = "c".repeat(64);
        let extra = format!(
            r#"
[principals.roads-dept]
role = "department"
department = "roads"
key_sha256_file = "{}"
[[principals.roads-dept.keys]]
sha256 = "{c}"
not_before = "2026-12-01T00:00:00+08:00"
not_after = "2027-01-01T00:00:00+08:00"
"#,
            file.display()
        );
        let s = load_with_file(&extra, &[]).unwrap();
        s.organisation().unwrap();
        let windows = s.principals["roads-dept"]
            .key_windows("roads-dept")
            .unwrap();
        let digests: Vec<_> = windows.iter().map(|w| w.digest.as_str()).collect();
        assert_eq!(digests, [a.as_str(), &"b".repeat(64), c.as_str()]);
        assert_eq!(
            windows[2].not_before.unwrap().to_rfc3339(),
            "2026-11-30T16:00:00+00:00"
        );

        for (bad, says) in [
            (
                "[principals.p]\nrole = \"supervisor\"\n",
                "principals.p: no key",
            ),
            (
                "[principals.p]\nrole = \"supervisor\"\n[[principals.p.keys]]\nsha256 = \"abc\"\n",
                "principals.p.keys[0].sha256 must be 64 hex digits",
            ),
            (
                "[principals.p]\nrole = \"supervisor\"\nkey_sha256_file = \"/nonexistent\"\n",
                "principals.p.key_sha256_file: reading /nonexistent",
            ),
        ] {
            let err = load_with_file(bad, &[])
                .and_then(|s| s.organisation().map(|_| ()))
                .unwrap_err();
            assert!(format!("{err:#}").contains(says), "{err:#}");
        }
        let misspelt = "[principals.p]\nrole = \"supervisor\"\n[[principals.p.keys]]\nsha256 = \"{}\"\nnot_afte = \"2027-01-01T00:00:00Z\"\n";
        let err = load_with_file(&misspelt.replace("{}", &a), &[])
            .and_then(|s| s.organisation().map(|_| ()))
            .unwrap_err();
        assert!(format!("{err:#}").contains("not_afte"), "{err:#}");
    }

    #[test]
    fn a_route_to_an_unknown_department_stops_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(
            &path,
            "[departments.roads]\nname='r'\n[categories.x]\nname='x'\nlead='nobody'\n",
        )
        .unwrap();
        let err = Settings::load_with(Some(&path), env(&[])).unwrap_err();
        assert!(format!("{err:#}").contains("nobody"), "{err:#}");
    }

    #[test]
    fn the_weekly_digest_day_and_time_are_checked_at_start_up() {
        let s = load_with_file("", &[]).unwrap();
        assert!(!s.digest.enabled);
        let p = s.digest.policy().unwrap();
        assert_eq!(
            (p.weekday, p.at),
            (
                chrono::Weekday::Mon,
                chrono::NaiveTime::from_hms_opt(8, 30, 0).unwrap()
            )
        );
        let s = load_with_file("", &[("WHISTLE__DIGEST__WEEKDAY", "fri")]).unwrap();
        assert_eq!(s.digest.policy().unwrap().weekday, chrono::Weekday::Fri);
        let err = load_with_file("", &[("WHISTLE__DIGEST__WEEKDAY", "Monday")]).unwrap_err();
        assert!(format!("{err:#}").contains("digest.weekday"), "{err:#}");
        let err = load_with_file("", &[("WHISTLE__DIGEST__TIME", "8.30")]).unwrap_err();
        assert!(format!("{err:#}").contains("digest.time"), "{err:#}");
        let err = load_with_file("[offices.a]\nname = 'A'\nemial = 'x'\n", &[]).unwrap_err();
        assert!(format!("{err:#}").contains("offices.a.emails"), "{err:#}");
    }

    /// An own organisation (so the demo one stays out) with the given extra TOML.
    fn load_with_file(extra: &str, vars: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("whistle.toml");
        let text = format!(
            r#"
[departments.power]
name = "供电"
[departments.roads]
name = "道路所"
[categories.pothole]
name = "坑洼"
lead = "roads"
{extra}
"#
        );
        std::fs::write(&path, text).unwrap();
        Settings::load_with(Some(&path), env(vars))
    }

    fn spans(ack: &str, reply: &str) -> DeadlineSpans {
        DeadlineSpans {
            ack: ack.parse().unwrap(),
            reply: reply.parse().unwrap(),
        }
    }

    #[test]
    fn the_defaults_give_the_state_council_calendar_and_both_default_policies() {
        let org = Settings::load_with(None, env(&[]))
            .unwrap()
            .organisation()
            .unwrap();
        assert_eq!(org.deadline_rules.ordinary, spans("1d", "5d"));
        assert_eq!(org.deadline_rules.urgent, spans("2h", "1d"));
        assert!(org.calendar.covers(2025) && org.calendar.covers(2026));
        assert!(
            !org.calendar
                .is_working_day(chrono::NaiveDate::from_ymd_opt(2026, 10, 5).unwrap())
        );
        assert_eq!(
            org.calendar.office_hours().to_string(),
            "09:00-12:00, 13:30-17:30"
        );
    }

    #[test]
    fn deadline_keys_at_every_level() {
        let s = load_with_file(
            r#"
[deadlines]
ack = "4h"
reply_working_days = 4
[deadlines.urgent]
reply = "6h"
[departments.lighting]
name = "路灯所"
ack_working_days = 0
reply = "3d"
[categories.power-supply]
name = "供电故障"
lead = "power"
deadlines = { reply = "2d", urgent = { ack = "1h", reply = "4h" } }
"#,
            &[],
        )
        .unwrap();
        let org = s.organisation().unwrap();
        assert_eq!(org.deadline_rules.ordinary, spans("4h", "4d"));
        assert_eq!(org.deadline_rules.urgent, spans("2h", "6h"));
        assert_eq!(
            org.deadline_spans("lighting", None, false),
            spans("0d", "3d")
        );
        assert_eq!(
            org.deadline_spans("roads", Some("pothole"), true),
            spans("2h", "6h")
        );
        assert_eq!(
            org.deadline_spans("power", Some("power-supply"), false),
            spans("4h", "2d")
        );
        assert_eq!(
            org.deadline_spans("power", Some("power-supply"), true),
            spans("1h", "4h")
        );
    }

    #[test]
    fn deadline_keys_from_the_environment() {
        let org = load_with_file(
            "",
            &[
                ("WHISTLE__DEADLINES__URGENT__ACK", "1h"),
                ("WHISTLE__DEADLINES__ACK_WORKING_DAYS", "2"),
            ],
        )
        .unwrap()
        .organisation()
        .unwrap();
        assert_eq!(org.deadline_rules.urgent, spans("1h", "1d"));
        assert_eq!(org.deadline_rules.ordinary, spans("2d", "5d"));
    }

    #[test]
    fn wrong_deadline_keys_are_named() {
        let dent = "[categories.dent]\nname = \"d\"\nlead = \"roads\"\n";
        for (extra, expected) in [
            (
                "[deadlines]\nack = \"1d\"\nack_working_days = 1".to_owned(),
                "deadlines: both ack and ack_working_days are set",
            ),
            (
                format!("{dent}[categories.dent.deadlines.urgent]\nreply = \"soon\""),
                "categories.dent.deadlines.urgent.reply: \"soon\" is not a deadline span",
            ),
            (
                format!("{dent}[categories.dent.deadlines]\nurgent_ack = \"1h\""),
                "unknown configuration key `categories.dent.deadlines.urgent_ack`",
            ),
            (
                "[departments.bridges]\nname = \"b\"\nreplay = \"3d\"".to_owned(),
                "unknown configuration key `departments.bridges.replay`",
            ),
            (
                "[departments.bridges]\nname = \"b\"\nreply = \"2\"".to_owned(),
                "departments.bridges.reply: \"2\" is not a deadline span",
            ),
        ] {
            let err = load_with_file(&extra, &[]).unwrap_err();
            assert!(format!("{err:#}").contains(expected), "{extra}: {err:#}");
        }
    }

    #[test]
    fn a_calendar_folder_adds_years() {
        let dir = tempfile::tempdir().unwrap();
        let year = "year = 2027\nnotice = \"n\"\n\
                    [[holiday]]\nname = \"元旦\"\nfrom = 2027-01-01\nto = 2027-01-03\n\
                    [[holiday]]\nname = \"劳动节\"\nfrom = 2027-05-01\nto = 2027-05-05\n\
                    [[holiday]]\nname = \"国庆节\"\nfrom = 2027-10-01\nto = 2027-10-07\n";
        std::fs::write(dir.path().join("2027.toml"), year).unwrap();
        let dir_var = ("WHISTLE__CALENDAR__DIR", dir.path().to_str().unwrap());
        let org = Settings::load_with(None, env(&[dir_var]))
            .unwrap()
            .organisation()
            .unwrap();
        assert!(org.calendar.covers(2027));
        assert!(!org.calendar.covers(2028));

        std::fs::write(
            dir.path().join("2027.toml"),
            year.replace("2027-10-07", "2027-10-70"),
        )
        .unwrap();
        let err = Settings::load_with(None, env(&[dir_var])).unwrap_err();
        assert!(
            format!("{err:#}").contains("2027.toml: line 14: invalid date"),
            "{err:#}"
        );
        let err = Settings::load_with(None, env(&[("WHISTLE__CALENDAR__DIR", "/nonexistent")]));
        assert!(
            format!("{:#}", err.unwrap_err()).contains("calendar.dir: cannot read /nonexistent")
        );
    }

    #[test]
    fn a_missing_config_file_is_an_error() {
        assert!(Settings::load_with(Some(Path::new("/nonexistent.toml")), env(&[])).is_err());
    }

    #[test]
    fn an_unknown_key_in_a_file_stops_start_up_with_the_nearest_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("whistle.toml");
        std::fs::write(&path, "[mail]\ntransprot = \"smtp\"\n").unwrap();
        let err = format!(
            "{:#}",
            Settings::load_with(Some(&path), env(&[])).unwrap_err()
        );
        assert!(err.contains("`mail.transprot`"), "{err}");
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("did you mean `mail.transport`?"), "{err}");
    }

    #[test]
    fn an_unknown_environment_variable_stops_start_up_with_the_nearest_one() {
        let err =
            Settings::load_with(None, env(&[("WHISTLE__MAIL__TRANSPROT", "smtp")])).unwrap_err();
        let err = format!("{err:#}");
        assert!(err.contains("WHISTLE__MAIL__TRANSPROT"), "{err}");
        assert!(
            err.contains("did you mean WHISTLE__MAIL__TRANSPORT?"),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_field_of_a_department_stops_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("whistle.toml");
        std::fs::write(
            &path,
            "[departments.housing]\nname = \"住建\"\nemials = [\"a@b.example\"]\n",
        )
        .unwrap();
        let err = format!(
            "{:#}",
            Settings::load_with(Some(&path), env(&[])).unwrap_err()
        );
        assert!(err.contains("`departments.housing.emials`"), "{err}");
        assert!(
            err.contains("did you mean `departments.housing.emails`?"),
            "{err}"
        );
        let err = Settings::load_with(
            None,
            env(&[("WHISTLE__PRINCIPALS__AUDIT__KEY", "not-a-digest")]),
        )
        .unwrap_err();
        let err = format!("{err:#}");
        assert!(err.contains("WHISTLE__PRINCIPALS__AUDIT__KEY"), "{err}");
        assert!(err.contains("WHISTLE__PRINCIPALS__AUDIT__KEYS?"), "{err}");
    }

    #[test]
    fn every_unknown_key_is_named_at_once_and_far_ones_list_the_valid_keys() {
        let err = Settings::load_with(
            None,
            env(&[("WHISTLE__GRPC__ZZZZZZ", "1"), ("WHISTLE__MIAL__FROM", "x")]),
        )
        .unwrap_err();
        let err = format!("{err:#}");
        assert!(err.contains("WHISTLE__GRPC__ZZZZZZ"), "{err}");
        assert!(err.contains("valid keys under `grpc`: "), "{err}");
        assert!(err.contains("listen"), "{err}");
        assert!(err.contains("WHISTLE__MIAL"), "{err}");
        assert!(err.contains("did you mean WHISTLE__MAIL?"), "{err}");
    }
}
