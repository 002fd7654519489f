//! The organisation as configured: `[offices.*]`, `[departments.*]`,
//! `[categories.*]` (who answers what), `[principals.*]` (who may call, with
//! which keys or client certificates) and the deadline keys at every level
//! (`[deadlines]`, a department's own, `categories.X.deadlines`). Plain data:
//! the application builds the domain's `Organisation` from it
//! (`crate::assemble`), checking every code and span.

use anyhow::{Context, bail};
use serde::Deserialize;

pub use crate::domain::wording::Language;

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

/// `[offices.CODE]`: a street office that escalates petitions.
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
    /// The zones (片区) of its communities; none: petitions may name any.
    #[serde(default)]
    pub zones: Vec<ZoneSettings>,
}

/// `[[offices.CODE.zones]]`: a zone (片区) of one of the office's communities.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneSettings {
    /// Unique within the office, as petitions and the visit sheet name it.
    pub name: String,
    /// One of the office's `communities`.
    pub community: String,
    /// 片长.
    #[serde(default)]
    pub leader: String,
    /// 民情服务员; none: any collector may be named with the zone.
    #[serde(default)]
    pub collectors: Vec<String>,
}

/// `[departments.CODE]`: a department that answers requests. Unknown keys
/// are refused here so that a misspelt deadline key cannot quietly leave a
/// department on the defaults.
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

/// `[categories.CODE]`: a kind of petition and who answers it: the lead
/// department and the assisting ones.
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

/// What a principal may do, by the role the access policy knows it as.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub enum PrincipalRole {
    Office,
    Department,
    Supervisor,
    /// A role no principal can have, such as `new-key`'s placeholder `ROLE`,
    /// kept as written: refusing it while reading would hide every other
    /// placeholder behind it, so the configuration check names them together.
    Unknown(String),
}

impl From<String> for PrincipalRole {
    fn from(role: String) -> Self {
        match role.as_str() {
            "office" => Self::Office,
            "department" => Self::Department,
            "supervisor" => Self::Supervisor,
            _ => Self::Unknown(role),
        }
    }
}

/// `[principals.NAME]`: who may call, as which role, with which keys or
/// client certificates. The name is what the timeline records.
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
    /// The people who act for this principal in the console: each address
    /// may ask for a sign-in letter at `/console/login`.
    #[serde(default)]
    pub emails: Vec<String>,
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
