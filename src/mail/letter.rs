//! The formal request letter (函). Writing one happens in two steps, on purpose:
//!
//! - `Letters::plan`, inside the change that causes it, decides what the letter
//!   says: the facts as they stand at that moment (names, deadlines, the
//!   resident as the department may see them), serialised into the outbox row.
//!   It is cheap and touches no template, so nothing is rendered while a case
//!   or an office's reference counter is locked.
//! - `Letters::render`, in the outbox worker before the first attempt, turns
//!   those facts and the reference number drawn with them into a multipart
//!   message (plain text and HTML, in the department's language) with a stable
//!   Message-ID, so a letter sent twice after a crash is recognisably the same
//!   letter, and with In-Reply-To/References that thread every letter of one
//!   request together in the department's mailbox. The rendered bytes are kept
//!   and every later attempt sends exactly them.

use std::collections::BTreeMap;
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use minijinja::{Environment, context};
use serde::{Deserialize, Serialize};

use crate::domain::access::phone_view;
use crate::domain::effects::Ruling;
use crate::domain::reply_link;
pub use crate::domain::wording::Language;
use crate::domain::wording::{day, deadline};
use crate::domain::{
    ActorRole, AlertKind, Case, DepartmentRequest, Due, Effect, Organisation, RaisedAlert, Role,
};
use crate::store::{OutgoingMail, QueuedMail, Rendered};

/// Where and how one department receives letters.
#[derive(Debug, Clone, Default)]
pub struct Recipient {
    pub addresses: Vec<Mailbox>,
    pub language: Language,
}

#[derive(Debug, thiserror::Error)]
pub enum LetterError {
    #[error("rendering template {0}")]
    Template(String, #[source] minijinja::Error),
    #[error("building the message")]
    Build(#[from] lettre::error::Error),
    #[error("reading the letter's facts")]
    Payload(#[from] serde_json::Error),
    #[error("the letter {0} has neither facts nor a rendered message")]
    Empty(String),
    #[error("a recipient of the letter")]
    Address(#[from] lettre::address::AddressError),
    #[error("the letter's attachment: {0}")]
    Attachment(String),
}

/// `3天4小时`, `5小时12分钟`: how late, as a digest says it.
fn late_by(seconds: i64) -> String {
    let minutes = seconds.max(0) / 60;
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{minutes}分钟"),
        (0, h) => format!("{h}小时{minutes}分钟"),
        (d, h) => format!("{d}天{h}小时"),
    }
}

/// The facts of one round of one request letter, as decided when it was issued.
/// Stored as JSON in the outbox: add fields with `#[serde(default)]` only, so
/// letters waiting in an outbox survive an upgrade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestLetter {
    pub language: Language,
    /// The `To:` mailboxes, display names included.
    pub to: Vec<String>,
    pub request_id: String,
    pub round: u32,
    pub department_name: String,
    pub office_name: String,
    pub category_name: String,
    /// The lead department's name, for an assisting department's letter.
    pub lead_name: Option<String>,
    pub reissue_reason: String,
    pub title: String,
    pub community: String,
    pub address: String,
    pub resident_name: String,
    /// As the department may see it.
    pub resident_phone: String,
    pub difficulty: u8,
    pub description: String,
    pub issued_at: DateTime<Utc>,
    pub ack_due_at: DateTime<Utc>,
    pub reply_due_at: DateTime<Utc>,
    /// The calendar's zone, in which deadlines are printed.
    pub timezone: String,
    pub reply_link: Option<String>,
    pub reply_address: Option<String>,
    /// The office's contact person and phone (联系人及电话).
    #[serde(default)]
    pub contact: String,
    #[serde(default)]
    pub contact_phone: String,
}

/// The facts of a supervisor's ruling on what a department asked for
/// (延期, 退单), sent to that department.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulingLetter {
    pub language: Language,
    pub to: Vec<String>,
    pub request_id: String,
    pub round: u32,
    /// `EXTENSION_APPROVED`, `EXTENSION_DENIED`, `RETURN_SENT_BACK` or
    /// `RETURN_REASSIGNED`.
    pub ruling: String,
    /// The extension ruled on; empty for a return.
    pub extension_id: String,
    pub reason: String,
    pub department_name: String,
    pub office_name: String,
    pub title: String,
    /// The deadlines the department now has; none once reassigned away.
    pub ack_due_at: Option<DateTime<Utc>>,
    pub reply_due_at: Option<DateTime<Utc>>,
    /// Where a granted return went.
    pub reassigned_to: Option<String>,
    pub sent_at: DateTime<Utc>,
    pub timezone: String,
    pub reply_link: Option<String>,
    pub reply_address: Option<String>,
}

/// The facts of a reminder (催办) before one deadline of a round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReminderLetter {
    pub language: Language,
    pub to: Vec<String>,
    pub request_id: String,
    pub round: u32,
    pub department_name: String,
    pub office_name: String,
    pub category_name: String,
    pub title: String,
    /// `ACKNOWLEDGE` or `REPLY`.
    pub due: String,
    pub due_at: DateTime<Utc>,
    /// When the round was issued, and when the reminder went out.
    pub issued_at: DateTime<Utc>,
    pub sent_at: DateTime<Utc>,
    pub timezone: String,
    pub reply_link: Option<String>,
    pub reply_address: Option<String>,
}

/// One alert as a supervisor reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertLine {
    pub id: i64,
    pub kind: String,
    pub level: u8,
    pub summary: String,
    pub raised_at: DateTime<Utc>,
}

/// The facts of a letter about one alert, sent as it is raised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertLetter {
    pub to: Vec<String>,
    pub alert: AlertLine,
    pub case_id: String,
    pub office_name: String,
    pub department_name: Option<String>,
    pub reference: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub timezone: String,
}

/// The facts of the daily digest of alerts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestLetter {
    pub to: Vec<String>,
    pub sent_at: DateTime<Utc>,
    pub timezone: String,
    /// Every alert since the last digest (the first `DIGEST_LINES` listed).
    pub total: u32,
    pub level2: u32,
    pub alerts: Vec<AlertLine>,
}

/// A request overdue when a weekly digest was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverdueLine {
    pub reference: String,
    pub department_name: String,
    pub office_name: String,
    pub title: String,
    /// `ACKNOWLEDGE` or `REPLY`: the step not taken.
    pub due: String,
    pub due_at: DateTime<Utc>,
    /// How late, in seconds, when the digest was made.
    pub late_seconds: i64,
}

/// A file a letter carries, as its bytes stood when the letter was planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachedFile {
    pub file_name: String,
    pub content_type: String,
    /// Base64 (standard alphabet): the outbox payload is text.
    pub content: String,
}

/// The facts of the weekly digest (周报) to an office or to the supervisors:
/// the week's figures, what is overdue, and the week's ledger attached. A
/// snapshot: the ledger's bytes are kept here, because the cases move on and
/// a letter sent late after a retry must still attach what the digest says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeeklyDigestLetter {
    pub to: Vec<String>,
    /// The office it is about; none: every office (the supervisors' letter).
    pub office_name: Option<String>,
    /// `2026-W48`, or the days.
    pub label: String,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub made_at: DateTime<Utc>,
    pub timezone: String,
    /// Cases escalated in the week, and their requests.
    pub cases: u32,
    pub requests: u32,
    /// Requests overdue when the digest was made, most overdue first (at
    /// most `OVERDUE_LINES`); `overdue_more` when there were more.
    pub overdue: Vec<OverdueLine>,
    pub overdue_more: bool,
    pub figures: Vec<crate::domain::table::Table>,
    pub attachment: AttachedFile,
}

/// A weekly digest lists this many overdue requests.
pub const OVERDUE_LINES: u32 = 200;

/// The facts of a receipt (回执) to whoever answered a letter by e-mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptLetter {
    pub to: String,
    pub request_id: String,
    pub department_name: String,
    pub office_name: String,
    pub title: String,
    /// `ACKNOWLEDGED`, `PROGRESS_NOTED` or `REPLIED`.
    pub what: String,
    /// The start of what was recorded.
    pub excerpt: String,
    /// The message it answers, with angle brackets; empty when it had none.
    pub answers: String,
    pub received_at: DateTime<Utc>,
    pub timezone: String,
}

/// A digest lists this many alerts; the rest are counted.
pub const DIGEST_LINES: usize = 200;

/// Everything the outbox can be asked to write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "letter", rename_all = "snake_case")]
pub enum LetterFacts {
    RequestIssued(RequestLetter),
    Reminder(ReminderLetter),
    Alert(AlertLetter),
    Digest(DigestLetter),
    Receipt(ReceiptLetter),
    WeeklyDigest(Box<WeeklyDigestLetter>),
    Ruling(RulingLetter),
}

/// Plans and renders letters. Built once at start-up from settings.
#[derive(Debug)]
pub struct Letters {
    templates: Environment<'static>,
    from: Mailbox,
    /// The right-hand side of every Message-ID.
    domain: String,
    recipients: BTreeMap<String, Recipient>,
    /// Supervisors who receive alerts by e-mail.
    supervisors: Vec<Mailbox>,
    /// Offices' mailboxes for their weekly digest, by office code.
    offices: BTreeMap<String, Vec<Mailbox>>,
    /// The reply page's address for links (`…/r/TOKEN`), when it is served.
    reply_page: Option<String>,
    /// The domain of reply addresses (`reply+TOKEN@domain`), when inbound mail
    /// is taken.
    reply_domain: Option<String>,
}

/// Where a department's letter about a request goes and whose thread it joins.
struct Thread<'a> {
    request_id: &'a str,
    round: u32,
    to: &'a [String],
    sent_at: DateTime<Utc>,
    reply_address: Option<&'a str>,
}

/// A letter's reply link: what it prints and what the store keeps.
struct LinkFacts {
    page: Option<String>,
    address: Option<String>,
    digest: Option<String>,
}

const TEMPLATES: &[(&str, &str)] = &[
    (
        "request.zh.txt",
        include_str!("../../templates/letters/request.zh.txt"),
    ),
    (
        "request.zh.html",
        include_str!("../../templates/letters/request.zh.html"),
    ),
    (
        "request.en.txt",
        include_str!("../../templates/letters/request.en.txt"),
    ),
    (
        "request.en.html",
        include_str!("../../templates/letters/request.en.html"),
    ),
    (
        "reminder.zh.txt",
        include_str!("../../templates/letters/reminder.zh.txt"),
    ),
    (
        "reminder.zh.html",
        include_str!("../../templates/letters/reminder.zh.html"),
    ),
    (
        "reminder.en.txt",
        include_str!("../../templates/letters/reminder.en.txt"),
    ),
    (
        "reminder.en.html",
        include_str!("../../templates/letters/reminder.en.html"),
    ),
    (
        "ruling.zh.txt",
        include_str!("../../templates/letters/ruling.zh.txt"),
    ),
    (
        "ruling.zh.html",
        include_str!("../../templates/letters/ruling.zh.html"),
    ),
    (
        "ruling.en.txt",
        include_str!("../../templates/letters/ruling.en.txt"),
    ),
    (
        "ruling.en.html",
        include_str!("../../templates/letters/ruling.en.html"),
    ),
    (
        "alert.zh.txt",
        include_str!("../../templates/letters/alert.zh.txt"),
    ),
    (
        "alert.zh.html",
        include_str!("../../templates/letters/alert.zh.html"),
    ),
    (
        "receipt.zh.txt",
        include_str!("../../templates/letters/receipt.zh.txt"),
    ),
    (
        "receipt.zh.html",
        include_str!("../../templates/letters/receipt.zh.html"),
    ),
    (
        "digest.zh.txt",
        include_str!("../../templates/letters/digest.zh.txt"),
    ),
    (
        "digest.zh.html",
        include_str!("../../templates/letters/digest.zh.html"),
    ),
    (
        "weekly.zh.txt",
        include_str!("../../templates/letters/weekly.zh.txt"),
    ),
    (
        "weekly.zh.html",
        include_str!("../../templates/letters/weekly.zh.html"),
    ),
];

/// A department's name, or its code when the organisation no longer has it.
fn department_name(org: &Organisation, code: &str) -> String {
    org.department(code)
        .map_or_else(|| code.to_owned(), |d| d.name.clone())
}

/// Alert levels as supervisors call them.
fn level_name(level: u8) -> (&'static str, &'static str) {
    if level >= 2 {
        ("二级", "报区督办")
    } else {
        ("一级", "街道跟进")
    }
}

fn alert_line(a: &RaisedAlert) -> AlertLine {
    AlertLine {
        id: a.id,
        kind: a.alert.kind.as_str().to_owned(),
        level: a.alert.level,
        summary: a.alert.summary.clone(),
        raised_at: a.alert.raised_at,
    }
}

impl Letters {
    pub fn new(from: Mailbox, domain: String, recipients: BTreeMap<String, Recipient>) -> Self {
        let mut templates = Environment::new();
        // HTML templates escape every value; plain text ones print it as is.
        templates.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                minijinja::AutoEscape::Html
            } else {
                minijinja::AutoEscape::None
            }
        });
        templates.set_keep_trailing_newline(true);
        for (name, source) in TEMPLATES {
            templates
                .add_template(name, source)
                .expect("embedded templates are checked by the tests");
        }
        Self {
            templates,
            from,
            domain,
            recipients,
            supervisors: Vec::new(),
            offices: BTreeMap::new(),
            reply_page: None,
            reply_domain: None,
        }
    }

    /// Lets every letter to a department carry a fresh reply link: to the
    /// reply page under `page` (its public base URL) and as the Reply-To
    /// address `reply+TOKEN@domain`. Either may be absent.
    pub fn with_reply_channels(mut self, page: Option<String>, domain: Option<String>) -> Self {
        self.reply_page = page.map(|p| p.trim_end_matches('/').to_owned());
        self.reply_domain = domain;
        self
    }

    /// Whether letters carry reply links at all.
    pub fn has_reply_channels(&self) -> bool {
        self.reply_page.is_some() || self.reply_domain.is_some()
    }

    /// Draws a link for one letter, if any reply channel is on.
    fn mint_link(&self) -> LinkFacts {
        if !self.has_reply_channels() {
            return LinkFacts {
                page: None,
                address: None,
                digest: None,
            };
        }
        let minted = reply_link::mint();
        LinkFacts {
            page: self
                .reply_page
                .as_ref()
                .map(|base| format!("{base}/r/{}", minted.token)),
            address: self
                .reply_domain
                .as_ref()
                .map(|domain| format!("reply+{}@{domain}", minted.token)),
            digest: Some(minted.digest),
        }
    }

    /// The Message-ID of the letter issuing round `round` of a request. The first
    /// one is the root every later letter of the request refers to.
    pub fn issue_message_id(&self, request_id: &str, round: u32) -> String {
        format!("<{request_id}.r{round}.issued@{}>", self.domain)
    }

    /// The letters `effects` cause, with their facts taken from `case` as the
    /// change left it. A department with no address gets none; start-up has
    /// already warned about it.
    pub fn plan(
        &self,
        org: &Organisation,
        case: &Case,
        effects: &[Effect],
    ) -> Result<Vec<OutgoingMail>, LetterError> {
        let mut out = Vec::new();
        for effect in effects {
            match effect {
                Effect::RequestIssued { request_id, at, .. } => {
                    let Some(request) = case.requests.iter().find(|r| r.id == *request_id) else {
                        continue;
                    };
                    if let Some(mail) = self.plan_request_letter(org, case, request, *at)? {
                        out.push(mail);
                    }
                }
                Effect::Reminder {
                    request_id,
                    due,
                    due_at,
                    at,
                    ..
                } => {
                    let Some(request) = case.requests.iter().find(|r| r.id == *request_id) else {
                        continue;
                    };
                    if let Some(mail) =
                        self.plan_reminder(org, case, request, *due, *due_at, *at)?
                    {
                        out.push(mail);
                    }
                }
                Effect::Ruled {
                    request_id,
                    ruling,
                    reason,
                    at,
                    ..
                } => {
                    let Some(request) = case.requests.iter().find(|r| r.id == *request_id) else {
                        continue;
                    };
                    out.extend(self.plan_ruling(org, case, request, ruling, reason, *at)?);
                }
                // Alerts go to supervisors, not to departments.
                Effect::Overdue { .. }
                | Effect::ReplyRejected { .. }
                | Effect::CaseReopened { .. }
                | Effect::ExtensionRequested { .. }
                | Effect::ReturnRequested { .. } => {}
            }
        }
        Ok(out)
    }

    /// Supervisors who receive alerts by e-mail; none: no alert letters.
    pub fn with_supervisors(mut self, supervisors: Vec<Mailbox>) -> Self {
        self.supervisors = supervisors;
        self
    }

    pub fn mails_alerts(&self) -> bool {
        !self.supervisors.is_empty()
    }

    /// Offices' mailboxes for the weekly digest; an office with none gets none.
    pub fn with_offices(mut self, offices: BTreeMap<String, Vec<Mailbox>>) -> Self {
        self.offices = offices;
        self
    }

    /// Who receives a weekly digest: the offices with addresses (by code),
    /// and whether the supervisors do.
    pub fn digest_readers(&self) -> (Vec<String>, bool) {
        let offices = self
            .offices
            .iter()
            .filter(|(_, to)| !to.is_empty())
            .map(|(code, _)| code.clone())
            .collect();
        (offices, !self.supervisors.is_empty())
    }

    /// The weekly digest of `office` (none: every office, to the
    /// supervisors); `None` when nobody is to receive it.
    pub fn plan_weekly_digest(
        &self,
        office: Option<&str>,
        mut letter: WeeklyDigestLetter,
        key: &str,
    ) -> Result<Option<OutgoingMail>, LetterError> {
        let to = match office {
            Some(code) => self.offices.get(code).cloned().unwrap_or_default(),
            None => self.supervisors.clone(),
        };
        if to.is_empty() {
            return Ok(None);
        }
        letter.to = to.iter().map(Mailbox::to_string).collect();
        let made_at = letter.made_at;
        let facts = LetterFacts::WeeklyDigest(Box::new(letter));
        Ok(Some(OutgoingMail {
            id: uuid::Uuid::now_v7().to_string(),
            case_id: None,
            request_id: None,
            kind: "weekly_digest".into(),
            message_id: format!("<weekly-{key}.{}@{}>", office.unwrap_or("all"), self.domain),
            sender: self.from.email.to_string(),
            recipients: to.iter().map(|m| m.email.to_string()).collect(),
            payload: serde_json::to_string(&facts)?,
            created_at: made_at,
            reply_link: None,
        }))
    }

    fn render_weekly_digest(
        &self,
        mail: &QueuedMail,
        letter: &WeeklyDigestLetter,
    ) -> Result<Rendered, LetterError> {
        let tz: Tz = letter.timezone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
        let whose = letter.office_name.as_deref().unwrap_or("全部街道");
        let subject = format!(
            "【吹哨报到·周报】{whose}{}：立案{}件，当前超期{}{}份",
            letter.label,
            letter.cases,
            letter.overdue.len(),
            if letter.overdue_more { "余" } else { "" }
        );
        let last_day = (letter.until - chrono::Duration::days(1)).with_timezone(&tz);
        let overdue: Vec<_> = letter
            .overdue
            .iter()
            .map(|o| {
                context! {
                    reference => &o.reference,
                    department_name => &o.department_name,
                    office_name => &o.office_name,
                    title => &o.title,
                    step => if o.due == "ACKNOWLEDGE" { "签收" } else { "答复" },
                    due => o.due_at.with_timezone(&tz).format("%m-%d %H:%M").to_string(),
                    late => late_by(o.late_seconds),
                }
            })
            .collect();
        let figures: Vec<String> = letter.figures.iter().map(|t| t.to_text()).collect();
        let ctx = context! {
            subject => &subject,
            whose,
            all_offices => letter.office_name.is_none(),
            label => &letter.label,
            first_day => day(letter.from, tz, Language::Zh),
            last_day => last_day.format("%Y年%-m月%-d日").to_string(),
            cases => letter.cases,
            requests => letter.requests,
            overdue,
            overdue_more => letter.overdue_more,
            figures,
            file_name => &letter.attachment.file_name,
        };
        let text = self.render_template("weekly.zh.txt", &ctx)?;
        let html = self.render_template("weekly.zh.html", &ctx)?;
        use base64::Engine;
        let content = base64::engine::general_purpose::STANDARD
            .decode(&letter.attachment.content)
            .map_err(|e| LetterError::Attachment(e.to_string()))?;
        let content_type = ContentType::parse(&letter.attachment.content_type)
            .map_err(|e| LetterError::Attachment(e.to_string()))?;
        let attachment =
            Attachment::new(letter.attachment.file_name.clone()).body(content, content_type);
        let body = MultiPart::mixed()
            .multipart(MultiPart::alternative_plain_html(text, html))
            .singlepart(attachment);
        self.message_of(
            mail,
            &letter.to,
            subject,
            letter.made_at,
            Vec::new(),
            None,
            body,
        )
    }

    /// A letter to the supervisors about one alert.
    pub fn plan_alert(
        &self,
        org: &Organisation,
        alert: &RaisedAlert,
    ) -> Result<Option<OutgoingMail>, LetterError> {
        if self.supervisors.is_empty() {
            return Ok(None);
        }
        let a = &alert.alert;
        let facts = LetterFacts::Alert(AlertLetter {
            to: self.supervisors.iter().map(Mailbox::to_string).collect(),
            alert: alert_line(alert),
            case_id: a.case_id.clone(),
            office_name: org
                .office(&a.office)
                .map_or_else(|| a.office.clone(), |o| o.name.clone()),
            department_name: a.department.as_ref().map(|code| department_name(org, code)),
            reference: a.reference.clone(),
            due_at: a.due_at,
            timezone: org.calendar.tz().name().to_owned(),
        });
        Ok(Some(OutgoingMail {
            id: uuid::Uuid::now_v7().to_string(),
            case_id: Some(a.case_id.clone()),
            request_id: None,
            kind: "alert".into(),
            message_id: format!("<alert-{}@{}>", alert.id, self.domain),
            sender: self.from.email.to_string(),
            recipients: self
                .supervisors
                .iter()
                .map(|m| m.email.to_string())
                .collect(),
            payload: serde_json::to_string(&facts)?,
            created_at: a.raised_at,
            reply_link: None,
        }))
    }

    /// The digest of `alerts` to the supervisors, sent at `at`; none when there
    /// is nothing to tell.
    pub fn plan_digest(
        &self,
        org: &Organisation,
        alerts: &[RaisedAlert],
        at: DateTime<Utc>,
    ) -> Result<Option<OutgoingMail>, LetterError> {
        if self.supervisors.is_empty() || alerts.is_empty() {
            return Ok(None);
        }
        let last = alerts.last().map_or(0, |a| a.id);
        let facts = LetterFacts::Digest(DigestLetter {
            to: self.supervisors.iter().map(Mailbox::to_string).collect(),
            sent_at: at,
            timezone: org.calendar.tz().name().to_owned(),
            total: alerts.len() as u32,
            level2: alerts.iter().filter(|a| a.alert.level >= 2).count() as u32,
            alerts: alerts.iter().take(DIGEST_LINES).map(alert_line).collect(),
        });
        Ok(Some(OutgoingMail {
            id: uuid::Uuid::now_v7().to_string(),
            case_id: None,
            request_id: None,
            kind: "alert_digest".into(),
            message_id: format!("<alerts-{last}.digest@{}>", self.domain),
            sender: self.from.email.to_string(),
            recipients: self
                .supervisors
                .iter()
                .map(|m| m.email.to_string())
                .collect(),
            payload: serde_json::to_string(&facts)?,
            created_at: at,
            reply_link: None,
        }))
    }

    fn render_alert(
        &self,
        mail: &QueuedMail,
        letter: &AlertLetter,
    ) -> Result<Rendered, LetterError> {
        let tz: Tz = letter.timezone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
        let a = &letter.alert;
        let (level, meaning) = level_name(a.level);
        let kind = AlertKind::parse(&a.kind).map_or_else(|| a.kind.clone(), |k| k.zh().to_owned());
        let subject = format!("【吹哨报到·{level}{kind}】{}", a.summary);
        let ctx = context! {
            subject => &subject,
            summary => &a.summary,
            kind_name => kind,
            level_name => level,
            level_meaning => meaning,
            reference => &letter.reference,
            department_name => &letter.department_name,
            office_name => &letter.office_name,
            due => letter.due_at.map(|d| deadline(d, tz, Language::Zh)),
            raised => a.raised_at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
            case_id => &letter.case_id,
            id => a.id,
        };
        let text = self.render_template("alert.zh.txt", &ctx)?;
        let html = self.render_template("alert.zh.html", &ctx)?;
        self.message(
            mail,
            &letter.to,
            subject,
            a.raised_at,
            Vec::new(),
            text,
            html,
            None,
        )
    }

    fn render_digest(
        &self,
        mail: &QueuedMail,
        letter: &DigestLetter,
    ) -> Result<Rendered, LetterError> {
        let tz: Tz = letter.timezone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
        let date = day(letter.sent_at, tz, Language::Zh);
        let subject = format!(
            "【吹哨报到·督办日报】{date}：新提醒{}条（二级{}条）",
            letter.total, letter.level2
        );
        let items: Vec<_> = letter
            .alerts
            .iter()
            .map(|a| {
                let kind =
                    AlertKind::parse(&a.kind).map_or_else(|| a.kind.clone(), |k| k.zh().to_owned());
                context! {
                    level_name => level_name(a.level).0,
                    kind_name => kind,
                    summary => &a.summary,
                    raised => a.raised_at.with_timezone(&tz).format("%m-%d %H:%M").to_string(),
                }
            })
            .collect();
        let ctx = context! {
            subject => &subject,
            date,
            total => letter.total,
            level2 => letter.level2,
            items,
            more => letter.total as usize - letter.alerts.len(),
        };
        let text = self.render_template("digest.zh.txt", &ctx)?;
        let html = self.render_template("digest.zh.html", &ctx)?;
        self.message(
            mail,
            &letter.to,
            subject,
            letter.sent_at,
            Vec::new(),
            text,
            html,
            None,
        )
    }

    /// A receipt to whoever answered a letter by e-mail, saying what was
    /// recorded; none when the sender's address cannot be written to.
    #[allow(clippy::too_many_arguments)]
    pub fn plan_receipt(
        &self,
        org: &Organisation,
        case: &Case,
        request_id: &str,
        sender: &str,
        message_id: &str,
        command: &crate::domain::MailCommand,
        at: DateTime<Utc>,
    ) -> Result<Option<OutgoingMail>, LetterError> {
        use crate::domain::MailCommand as C;
        let Some(request) = case.requests.iter().find(|r| r.id == request_id) else {
            return Ok(None);
        };
        if sender.parse::<lettre::Address>().is_err() {
            return Ok(None);
        }
        let (what, text) = match command {
            C::Acknowledge => ("ACKNOWLEDGED", ""),
            C::Progress(text) => ("PROGRESS_NOTED", text.as_str()),
            C::Reply(text) => ("REPLIED", text.as_str()),
        };
        let excerpt: String = text.chars().take(120).collect();
        let facts = LetterFacts::Receipt(ReceiptLetter {
            to: sender.to_owned(),
            request_id: request.id.clone(),
            department_name: department_name(org, &request.department),
            office_name: org
                .office(&case.office)
                .map_or_else(|| case.office.clone(), |o| o.name.clone()),
            title: case.title.clone(),
            what: what.to_owned(),
            excerpt,
            answers: if message_id.is_empty() {
                String::new()
            } else {
                format!("<{message_id}>")
            },
            received_at: at,
            timezone: org.calendar.tz().name().to_owned(),
        });
        Ok(Some(OutgoingMail {
            id: uuid::Uuid::now_v7().to_string(),
            case_id: Some(case.id.clone()),
            request_id: Some(request.id.clone()),
            kind: "receipt".into(),
            message_id: format!("<{}.receipt@{}>", uuid::Uuid::now_v7(), self.domain),
            sender: self.from.email.to_string(),
            recipients: vec![sender.to_owned()],
            payload: serde_json::to_string(&facts)?,
            created_at: at,
            reply_link: None,
        }))
    }

    fn render_receipt(
        &self,
        mail: &QueuedMail,
        letter: &ReceiptLetter,
        reference: &str,
    ) -> Result<Rendered, LetterError> {
        let tz: Tz = letter.timezone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
        let what = match letter.what.as_str() {
            "ACKNOWLEDGED" => "签收",
            "PROGRESS_NOTED" => "阶段性答复",
            _ => "答复",
        };
        let subject = format!("【回执】【{reference}】已收到{what}：{}", letter.title);
        let ctx = context! {
            subject => &subject,
            department_name => &letter.department_name,
            office_name => &letter.office_name,
            reference,
            title => &letter.title,
            what,
            excerpt => &letter.excerpt,
            received => letter.received_at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
        };
        let text = self.render_template("receipt.zh.txt", &ctx)?;
        let html = self.render_template("receipt.zh.html", &ctx)?;
        let earlier = if letter.answers.is_empty() {
            Vec::new()
        } else {
            vec![letter.answers.clone()]
        };
        self.message(
            mail,
            std::slice::from_ref(&letter.to),
            subject,
            letter.received_at,
            earlier,
            text,
            html,
            None,
        )
    }

    /// The Message-ID of the reminder before one deadline of a round.
    fn reminder_message_id(&self, request_id: &str, round: u32, due: Due) -> String {
        let step = match due {
            Due::Acknowledge => "ack",
            Due::Reply => "reply",
        };
        format!("<{request_id}.r{round}.remind-{step}@{}>", self.domain)
    }

    fn plan_reminder(
        &self,
        org: &Organisation,
        case: &Case,
        request: &DepartmentRequest,
        due: Due,
        due_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<Option<OutgoingMail>, LetterError> {
        let Some(recipient) = self.recipient_of(&request.department) else {
            return Ok(None);
        };
        let link = self.mint_link();
        let facts = LetterFacts::Reminder(ReminderLetter {
            language: recipient.language,
            to: recipient.addresses.iter().map(Mailbox::to_string).collect(),
            request_id: request.id.clone(),
            round: request.round,
            department_name: department_name(org, &request.department),
            office_name: org
                .office(&case.office)
                .map_or_else(|| case.office.clone(), |o| o.name.clone()),
            category_name: org
                .categories
                .get(&case.category)
                .map_or_else(|| case.category.clone(), |c| c.name.clone()),
            title: case.title.clone(),
            due: due.as_str().to_owned(),
            due_at,
            issued_at: request.issued_at,
            sent_at: at,
            timezone: org.calendar.tz().name().to_owned(),
            reply_link: link.page,
            reply_address: link.address,
        });
        let message_id = self.reminder_message_id(&request.id, request.round, due);
        self.to_department(
            case,
            request,
            recipient,
            "reminder",
            message_id,
            &facts,
            at,
            link.digest,
        )
    }

    /// The letter telling a department how a supervisor ruled on its ask.
    fn plan_ruling(
        &self,
        org: &Organisation,
        case: &Case,
        request: &DepartmentRequest,
        ruling: &Ruling,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<OutgoingMail>, LetterError> {
        let Some(recipient) = self.recipient_of(&request.department) else {
            return Ok(None);
        };
        let (kind, extension_id, ack_due_at, reply_due_at, reassigned_to) = match ruling {
            Ruling::ExtensionApproved { id, reply_due_at } => (
                "EXTENSION_APPROVED",
                id.clone(),
                None,
                Some(*reply_due_at),
                None,
            ),
            Ruling::ExtensionDenied { id, reply_due_at } => (
                "EXTENSION_DENIED",
                id.clone(),
                None,
                Some(*reply_due_at),
                None,
            ),
            Ruling::ReturnSentBack {
                ack_due_at,
                reply_due_at,
            } => (
                "RETURN_SENT_BACK",
                String::new(),
                *ack_due_at,
                Some(*reply_due_at),
                None,
            ),
            Ruling::ReturnReassigned { department } => (
                "RETURN_REASSIGNED",
                String::new(),
                None,
                None,
                Some(department_name(org, department)),
            ),
        };
        // A request given away can no longer be answered: no link to it.
        let link = if reassigned_to.is_some() {
            LinkFacts {
                page: None,
                address: None,
                digest: None,
            }
        } else {
            self.mint_link()
        };
        let facts = LetterFacts::Ruling(RulingLetter {
            language: recipient.language,
            to: recipient.addresses.iter().map(Mailbox::to_string).collect(),
            request_id: request.id.clone(),
            round: request.round,
            ruling: kind.to_owned(),
            extension_id: extension_id.clone(),
            reason: reason.to_owned(),
            department_name: department_name(org, &request.department),
            office_name: org
                .office(&case.office)
                .map_or_else(|| case.office.clone(), |o| o.name.clone()),
            title: case.title.clone(),
            ack_due_at,
            reply_due_at,
            reassigned_to,
            sent_at: at,
            timezone: org.calendar.tz().name().to_owned(),
            reply_link: link.page,
            reply_address: link.address,
        });
        // One ruling per extension, and a request is returned at most once.
        let message_id = if extension_id.is_empty() {
            format!("<{}.return-ruling@{}>", request.id, self.domain)
        } else {
            format!("<{extension_id}.ruling@{}>", self.domain)
        };
        self.to_department(
            case,
            request,
            recipient,
            "ruling",
            message_id,
            &facts,
            at,
            link.digest,
        )
    }

    /// Where a department's letters go; none when it has no address.
    fn recipient_of(&self, department: &str) -> Option<&Recipient> {
        self.recipients
            .get(department)
            .filter(|r| !r.addresses.is_empty())
    }

    /// The outgoing mail of a letter to `request`'s department.
    #[allow(clippy::too_many_arguments)]
    fn to_department(
        &self,
        case: &Case,
        request: &DepartmentRequest,
        recipient: &Recipient,
        kind: &str,
        message_id: String,
        facts: &LetterFacts,
        at: DateTime<Utc>,
        link_digest: Option<String>,
    ) -> Result<Option<OutgoingMail>, LetterError> {
        Ok(Some(OutgoingMail {
            id: uuid::Uuid::now_v7().to_string(),
            case_id: Some(case.id.clone()),
            request_id: Some(request.id.clone()),
            kind: kind.into(),
            message_id,
            sender: self.from.email.to_string(),
            recipients: recipient
                .addresses
                .iter()
                .map(|a| a.email.to_string())
                .collect(),
            payload: serde_json::to_string(facts)?,
            created_at: at,
            reply_link: link_digest,
        }))
    }

    fn render_ruling(
        &self,
        mail: &QueuedMail,
        letter: &RulingLetter,
        reference: &str,
    ) -> Result<Rendered, LetterError> {
        let tz: Tz = letter.timezone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
        let lang = letter.language;
        let ack_due = letter.ack_due_at.map(|d| deadline(d, tz, lang));
        let reply_due = letter.reply_due_at.map(|d| deadline(d, tz, lang));
        let due = reply_due.clone().unwrap_or_default();
        let to = letter.reassigned_to.clone().unwrap_or_default();
        let title = &letter.title;
        let (headline, subject) = match (lang, letter.ruling.as_str()) {
            (Language::Zh, "EXTENSION_APPROVED") => (
                "延期申请已批准",
                format!("【延期已批准】【{reference}】答复期限延至{due}：{title}"),
            ),
            (Language::Zh, "EXTENSION_DENIED") => (
                "延期申请未获批准",
                format!("【延期未获批准】【{reference}】请于{due}前答复：{title}"),
            ),
            (Language::Zh, "RETURN_SENT_BACK") => (
                "退单申请未获同意",
                format!("【退单未获同意】【{reference}】请继续办理，{due}前答复：{title}"),
            ),
            (Language::Zh, _) => (
                "退单申请已同意",
                format!("【退单已同意】【{reference}】已改派{to}：{title}"),
            ),
            (Language::En, "EXTENSION_APPROVED") => (
                "Extension approved",
                format!("[Extension approved] [{reference}] reply by {due}: {title}"),
            ),
            (Language::En, "EXTENSION_DENIED") => (
                "Extension denied",
                format!("[Extension denied] [{reference}] reply by {due}: {title}"),
            ),
            (Language::En, "RETURN_SENT_BACK") => (
                "Return refused",
                format!("[Return refused] [{reference}] still yours, reply by {due}: {title}"),
            ),
            (Language::En, _) => (
                "Return granted",
                format!("[Return granted] [{reference}] reassigned to {to}: {title}"),
            ),
        };
        let ctx = context! {
            subject => &subject,
            headline,
            ruling => &letter.ruling,
            extension => letter.ruling.starts_with("EXTENSION"),
            department_name => &letter.department_name,
            office_name => &letter.office_name,
            reference,
            round => letter.round,
            title,
            reason => &letter.reason,
            ack_due,
            reply_due,
            reassigned_to => &letter.reassigned_to,
            sent_on => day(letter.sent_at, tz, lang),
            request_id => &letter.request_id,
            reply_link => &letter.reply_link,
            reply_address => &letter.reply_address,
        };
        let thread = Thread {
            request_id: &letter.request_id,
            round: letter.round,
            to: &letter.to,
            sent_at: letter.sent_at,
            reply_address: letter.reply_address.as_deref(),
        };
        self.render_in_thread(mail, "ruling", lang, &ctx, subject, thread)
    }

    fn plan_request_letter(
        &self,
        org: &Organisation,
        case: &Case,
        request: &DepartmentRequest,
        at: DateTime<Utc>,
    ) -> Result<Option<OutgoingMail>, LetterError> {
        let Some(recipient) = self.recipient_of(&request.department) else {
            return Ok(None);
        };
        let lead_name = match request.role {
            Role::Lead => None,
            Role::Assisting => case
                .requests
                .iter()
                .find(|r| r.role == Role::Lead)
                .map(|r| department_name(org, &r.department)),
        };
        let resident = case.resident.as_seen(phone_view(
            &ActorRole::Department(request.department.clone()),
            org,
        ));
        let office = org.office(&case.office);
        let link = self.mint_link();
        let facts = LetterFacts::RequestIssued(RequestLetter {
            contact: office.map_or_else(String::new, |o| o.contact.clone()),
            contact_phone: office.map_or_else(String::new, |o| o.contact_phone.clone()),
            language: recipient.language,
            to: recipient.addresses.iter().map(Mailbox::to_string).collect(),
            request_id: request.id.clone(),
            round: request.round,
            department_name: department_name(org, &request.department),
            office_name: org
                .office(&case.office)
                .map_or_else(|| case.office.clone(), |o| o.name.clone()),
            category_name: org
                .categories
                .get(&case.category)
                .map_or_else(|| case.category.clone(), |c| c.name.clone()),
            lead_name,
            reissue_reason: request.reissue_reason.clone(),
            title: case.title.clone(),
            community: case.community.clone(),
            address: case.address.clone(),
            resident_name: resident.name,
            resident_phone: resident.phone.as_str().to_owned(),
            difficulty: case.difficulty,
            description: case.description.clone(),
            issued_at: at,
            ack_due_at: request.ack_due_at,
            reply_due_at: request.reply_due_at,
            timezone: org.calendar.tz().name().to_owned(),
            reply_link: link.page,
            reply_address: link.address,
        });
        Ok(Some(OutgoingMail {
            id: uuid::Uuid::now_v7().to_string(),
            case_id: Some(case.id.clone()),
            request_id: Some(request.id.clone()),
            kind: "request_issued".into(),
            message_id: self.issue_message_id(&request.id, request.round),
            sender: self.from.email.to_string(),
            recipients: recipient
                .addresses
                .iter()
                .map(|a| a.email.to_string())
                .collect(),
            payload: serde_json::to_string(&facts)?,
            created_at: at,
            reply_link: link.digest,
        }))
    }

    /// The letter as it will be sent, from the facts planned with it and the
    /// reference number its transaction drew.
    pub fn render(&self, mail: &QueuedMail) -> Result<Rendered, LetterError> {
        if mail.mail.payload.is_empty() {
            return Err(LetterError::Empty(mail.mail.id.clone()));
        }
        let facts: LetterFacts = serde_json::from_str(&mail.mail.payload)?;
        let reference = mail.reference.as_deref().unwrap_or("");
        match facts {
            LetterFacts::RequestIssued(letter) => self.render_request(mail, &letter, reference),
            LetterFacts::Reminder(letter) => self.render_reminder(mail, &letter, reference),
            LetterFacts::Alert(letter) => self.render_alert(mail, &letter),
            LetterFacts::Digest(letter) => self.render_digest(mail, &letter),
            LetterFacts::Receipt(letter) => self.render_receipt(mail, &letter, reference),
            LetterFacts::WeeklyDigest(letter) => self.render_weekly_digest(mail, &letter),
            LetterFacts::Ruling(letter) => self.render_ruling(mail, &letter, reference),
        }
    }

    fn render_reminder(
        &self,
        mail: &QueuedMail,
        letter: &ReminderLetter,
        reference: &str,
    ) -> Result<Rendered, LetterError> {
        let tz: Tz = letter.timezone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
        let lang = letter.language;
        let due = deadline(letter.due_at, tz, lang);
        let step = match (lang, letter.due.as_str()) {
            (Language::Zh, "ACKNOWLEDGE") => "签收",
            (Language::Zh, _) => "答复",
            (Language::En, "ACKNOWLEDGE") => "acknowledged",
            (Language::En, _) => "answered",
        };
        let subject = match lang {
            Language::Zh => format!("【催办】【{reference}】请于{due}前{step}：{}", letter.title),
            Language::En => format!(
                "[Reminder] [{reference}] to be {step} by {due}: {}",
                letter.title
            ),
        };
        let ctx = context! {
            subject => &subject,
            department_name => &letter.department_name,
            office_name => &letter.office_name,
            category_name => &letter.category_name,
            reference,
            round => letter.round,
            title => &letter.title,
            step,
            due,
            issued_on => day(letter.issued_at, tz, lang),
            sent_on => day(letter.sent_at, tz, lang),
            request_id => &letter.request_id,
            reply_link => &letter.reply_link,
            reply_address => &letter.reply_address,
        };
        let thread = Thread {
            request_id: &letter.request_id,
            round: letter.round,
            to: &letter.to,
            sent_at: letter.sent_at,
            reply_address: letter.reply_address.as_deref(),
        };
        self.render_in_thread(mail, "reminder", lang, &ctx, subject, thread)
    }

    /// A letter to a department about one of its requests (a reminder, a
    /// ruling): it answers the letter of the request's round, so it sits in
    /// the request's thread, in the department's language.
    fn render_in_thread(
        &self,
        mail: &QueuedMail,
        template: &str,
        lang: Language,
        ctx: &minijinja::Value,
        subject: String,
        thread: Thread<'_>,
    ) -> Result<Rendered, LetterError> {
        let suffix = match lang {
            Language::Zh => "zh",
            Language::En => "en",
        };
        let text = self.render_template(&format!("{template}.{suffix}.txt"), ctx)?;
        let html = self.render_template(&format!("{template}.{suffix}.html"), ctx)?;
        let earlier = (1..=thread.round)
            .map(|n| self.issue_message_id(thread.request_id, n))
            .collect();
        self.message(
            mail,
            thread.to,
            subject,
            thread.sent_at,
            earlier,
            text,
            html,
            thread.reply_address,
        )
    }

    /// A multipart message (plain text and HTML) with the letter's stable
    /// Message-ID, threaded under `earlier` letters of the same request.
    #[allow(clippy::too_many_arguments)]
    fn message(
        &self,
        mail: &QueuedMail,
        to: &[String],
        subject: String,
        date: DateTime<Utc>,
        earlier: Vec<String>,
        text: String,
        html: String,
        reply_to: Option<&str>,
    ) -> Result<Rendered, LetterError> {
        let body = MultiPart::alternative_plain_html(text, html);
        self.message_of(mail, to, subject, date, earlier, reply_to, body)
    }

    /// As `message`, with any body: a letter with files is `multipart/mixed`
    /// around the alternative text and HTML.
    #[allow(clippy::too_many_arguments)]
    fn message_of(
        &self,
        mail: &QueuedMail,
        to: &[String],
        subject: String,
        date: DateTime<Utc>,
        earlier: Vec<String>,
        reply_to: Option<&str>,
        body: MultiPart,
    ) -> Result<Rendered, LetterError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(subject.clone())
            .date(SystemTime::from(date))
            .message_id(Some(mail.mail.message_id.clone()));
        for to in to {
            builder = builder.to(to.parse()?);
        }
        // Answering the letter in any mail client reaches its reply address.
        if let Some(reply_to) = reply_to {
            builder = builder.reply_to(reply_to.parse()?);
        }
        if let Some(last) = earlier.last() {
            builder = builder
                .in_reply_to(last.clone())
                .references(earlier.join(" "));
        }
        let message = builder.multipart(body)?;
        Ok(Rendered {
            subject,
            raw: message.formatted(),
        })
    }

    /// Subject, plain text and HTML of a request letter.
    fn compose(
        &self,
        letter: &RequestLetter,
        reference: &str,
    ) -> Result<(String, String, String), LetterError> {
        let tz: Tz = letter.timezone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
        let lang = letter.language;
        let category_name = &letter.category_name;
        let subject = match (lang, letter.round) {
            (Language::Zh, 1) => format!("【{reference}】{category_name}：{}", letter.title),
            (Language::Zh, n) => {
                format!(
                    "【{reference}】（第{n}轮）{category_name}：{}",
                    letter.title
                )
            }
            (Language::En, 1) => format!("[{reference}] {category_name}: {}", letter.title),
            (Language::En, n) => {
                format!(
                    "[{reference}] {category_name}: {} (round {n})",
                    letter.title
                )
            }
        };
        let assisting = letter.lead_name.is_some();
        let (role_name, reason_label) = match (lang, assisting) {
            (Language::Zh, false) => ("主办", "原因"),
            (Language::Zh, true) => ("协办", "原因"),
            (Language::En, false) => ("the lead department", "Reason"),
            (Language::En, true) => ("an assisting department", "Reason"),
        };
        let ctx = context! {
            subject => &subject,
            department_name => &letter.department_name,
            office_name => &letter.office_name,
            category_name,
            lead_name => letter.lead_name.as_deref().unwrap_or(""),
            assisting,
            role_name,
            reference,
            round => letter.round,
            reissue_reason => &letter.reissue_reason,
            reissue_reason_label => reason_label,
            title => &letter.title,
            community => &letter.community,
            address => &letter.address,
            resident_name => &letter.resident_name,
            resident_phone => &letter.resident_phone,
            difficulty => letter.difficulty,
            description => &letter.description,
            ack_due => deadline(letter.ack_due_at, tz, lang),
            reply_due => deadline(letter.reply_due_at, tz, lang),
            issued_on => day(letter.issued_at, tz, lang),
            request_id => &letter.request_id,
            reply_link => &letter.reply_link,
            reply_address => &letter.reply_address,
            contact => &letter.contact,
            contact_phone => &letter.contact_phone,
        };
        let suffix = match lang {
            Language::Zh => "zh",
            Language::En => "en",
        };
        let text = self.render_template(&format!("request.{suffix}.txt"), &ctx)?;
        let html = self.render_template(&format!("request.{suffix}.html"), &ctx)?;
        Ok((subject, text, html))
    }

    fn render_request(
        &self,
        mail: &QueuedMail,
        letter: &RequestLetter,
        reference: &str,
    ) -> Result<Rendered, LetterError> {
        let (subject, text, html) = self.compose(letter, reference)?;
        let earlier = (1..letter.round)
            .map(|n| self.issue_message_id(&letter.request_id, n))
            .collect();
        self.message(
            mail,
            &letter.to,
            subject,
            letter.issued_at,
            earlier,
            text,
            html,
            letter.reply_address.as_deref(),
        )
    }

    fn render_template(&self, name: &str, ctx: &minijinja::Value) -> Result<String, LetterError> {
        self.templates
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| LetterError::Template(name.to_owned(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ReplyText, ReviewDecision, fixtures};
    use crate::store::MailStatus;
    use chrono::TimeZone;

    /// Land may see residents' numbers; housing may not.
    fn org() -> Organisation {
        let mut org = fixtures::org();
        org.departments.get_mut("land").unwrap().show_resident_phone = true;
        org
    }

    fn letters(land_language: Language) -> Letters {
        let recipient = |addr: &str, language| Recipient {
            addresses: vec![addr.parse().unwrap()],
            language,
        };
        let recipients = [
            (
                "housing".to_owned(),
                recipient("区住建局 <zj@example.cn>", Language::Zh),
            ),
            (
                "land".to_owned(),
                recipient("land@example.cn", land_language),
            ),
        ];
        Letters::new(
            "翠屏街道 <whistle@cuiping.example>".parse().unwrap(),
            "cuiping.example".into(),
            recipients.into_iter().collect(),
        )
    }

    /// A letter as the outbox hands it to the renderer.
    fn queued(mail: OutgoingMail, case: &Case) -> QueuedMail {
        let reference = case
            .requests
            .iter()
            .find(|r| Some(&r.id) == mail.request_id.as_ref())
            .map(|r| r.reference.as_str().to_owned());
        QueuedMail {
            reference,
            subject: String::new(),
            raw: Vec::new(),
            status: MailStatus::Pending,
            attempts: 0,
            next_attempt_at: mail.created_at,
            last_error: String::new(),
            sent_at: None,
            mail,
        }
    }

    fn planned(l: &Letters, before: Option<&Case>, after: &Case) -> Vec<QueuedMail> {
        let effects = crate::domain::effects::of_change(before, after);
        l.plan(&org(), after, &effects)
            .unwrap()
            .into_iter()
            .map(|m| queued(m, after))
            .collect()
    }

    fn text(raw: &[u8]) -> String {
        String::from_utf8_lossy(raw).into_owned()
    }

    /// The decoded plain text and HTML parts of a rendered letter.
    fn parts(l: &Letters, mail: &QueuedMail) -> (String, String) {
        let LetterFacts::RequestIssued(letter) = serde_json::from_str(&mail.mail.payload).unwrap()
        else {
            panic!("a request letter")
        };
        let (_, text, html) = l
            .compose(&letter, mail.reference.as_deref().unwrap())
            .unwrap();
        (text, html)
    }

    #[test]
    fn a_new_case_writes_one_letter_per_department_in_its_language() {
        let case = fixtures::stored_case();
        let l = letters(Language::En);
        let mail = planned(&l, None, &case);
        assert_eq!(mail.len(), 2);
        let (housing, land) = (&mail[0], &mail[1]);
        assert_eq!(housing.mail.recipients, ["zj@example.cn"]);
        assert_eq!(housing.mail.sender, "whistle@cuiping.example");
        assert_eq!(housing.mail.message_id, "<id2.r1.issued@cuiping.example>");
        let rendered = l.render(housing).unwrap();
        assert_eq!(
            rendered.subject,
            "【翠街哨〔2026〕0001号】不动产权证办理：房产证<迟迟>未办"
        );
        assert_eq!(
            l.render(land).unwrap().subject,
            "[翠街哨〔2026〕0002号] 不动产权证办理: 房产证<迟迟>未办"
        );
        let raw = text(&rendered.raw);
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(
            raw.contains("Message-ID: <id2.r1.issued@cuiping.example>"),
            "{raw}"
        );
        assert!(raw.contains("<zj@example.cn>"), "display names kept: {raw}");
        assert!(
            !raw.contains("In-Reply-To"),
            "the first letter starts the thread"
        );
    }

    #[test]
    fn bodies_carry_the_facts_masked_where_the_department_may_not_see_the_phone() {
        let case = fixtures::stored_case();
        let l = letters(Language::Zh);
        let mail = planned(&l, None, &case);
        let (housing, housing_html) = parts(&l, &mail[0]);
        for expected in [
            "反映人：张女士　联系电话：138****5678",
            // The form of a 函 (GB/T 9704): issuer and reference number,
            // title, addressee, body, closing formula, contact, sender, date.
            "翠屏街道\n翠街哨〔2026〕0001号\n\n关于房产证<迟迟>未办的函\n\n区住建局：\n",
            "六、办理时限：请于2026年11月24日（星期二）24:00前签收，2026年11月30日（星期一）24:00前答复。",
            "请予办理并函复。",
            "请求编号 id2",
            "联系人及电话：王主任，0818-2345678",
            "\n翠屏街道\n2026年11月23日\n",
            // Text is printed as is; HTML escapes it.
            "房产证<迟迟>未办",
        ] {
            assert!(housing.contains(expected), "{expected}: {housing}");
        }
        assert!(!housing.contains("13812345678"), "{housing}");
        assert!(
            housing_html.contains("房产证&lt;迟迟&gt;未办"),
            "{housing_html}"
        );
        assert!(housing_html.contains("开发商未完成备案 &amp; 其他"));
        let (land, _) = parts(&l, &mail[1]);
        assert!(land.contains("13812345678"), "land may see the number");
        assert!(
            land.contains("主办单位：区住建局"),
            "assisting departments learn the lead"
        );
    }

    #[test]
    fn a_reissued_request_gets_a_threaded_letter_naming_the_round_and_reason() {
        let before = fixtures::stored_case();
        let mut after = before.clone();
        let housing = fixtures::dept("housing");
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 2, 0, 0).unwrap();
        after.acknowledge(&housing, "id2", at).unwrap();
        let reply = ReplyText::parse("text", "办理中").unwrap();
        after.submit_reply(&housing, "id2", reply, at).unwrap();
        let reject = ReviewDecision::parse(false, "未说明办理时限").unwrap();
        after
            .review_reply(&fixtures::office(), "id2", reject, &org(), at)
            .unwrap();
        let l = letters(Language::Zh);
        let mail = planned(&l, Some(&before), &after);
        assert_eq!(mail.len(), 1);
        let letter = &mail[0];
        assert_eq!(letter.mail.message_id, "<id2.r2.issued@cuiping.example>");
        let rendered = l.render(letter).unwrap();
        assert!(
            rendered.subject.contains("（第2轮）"),
            "{}",
            rendered.subject
        );
        let raw = text(&rendered.raw);
        assert!(
            raw.contains("In-Reply-To: <id2.r1.issued@cuiping.example>"),
            "{raw}"
        );
        assert!(
            raw.contains("References: <id2.r1.issued@cuiping.example>"),
            "{raw}"
        );
        let (body, _) = parts(&l, letter);
        assert!(body.contains("现第2次交办。原因：未说明办理时限"), "{body}");
    }

    fn raised(id: i64, level: u8) -> RaisedAlert {
        let case = fixtures::stored_case();
        let r = &case.requests[0];
        let effect = crate::domain::Effect::Overdue {
            request_id: r.id.clone(),
            round: 1,
            due: Due::Reply,
            due_at: r.reply_due_at,
            slot: crate::domain::AlertSlot { level, repeat: 0 },
            at: r.reply_due_at + chrono::Duration::hours(30),
        };
        let alert = crate::domain::alert::for_effects(&org(), &case, &[effect]).remove(0);
        RaisedAlert { id, alert }
    }

    #[test]
    fn a_weekly_digest_prints_its_figures_and_carries_its_ledger() {
        use crate::domain::table::{Cell, Table};
        use mail_parser::MimeHeaders;
        let mut offices = BTreeMap::new();
        offices.insert(
            "cuiping".to_owned(),
            vec!["翠屏街道 <cp@example.cn>".parse().unwrap()],
        );
        offices.insert("xinnan".to_owned(), Vec::new());
        let l = letters(Language::Zh).with_offices(offices);
        assert_eq!(l.digest_readers(), (vec!["cuiping".to_owned()], false));
        let at = fixtures::now();
        let letter = WeeklyDigestLetter {
            to: Vec::new(),
            office_name: Some("翠屏街道".into()),
            label: "2026-W48".into(),
            from: at - chrono::Duration::days(7),
            until: at,
            made_at: at,
            timezone: "Asia/Shanghai".into(),
            cases: 2,
            requests: 3,
            overdue: Vec::new(),
            overdue_more: false,
            figures: vec![Table {
                name: "三率".into(),
                headers: vec!["部门".into(), "响应率".into()],
                rows: vec![vec![
                    Cell::Text("区住建局".into()),
                    Cell::Percent(Some(0.5)),
                ]],
            }],
            attachment: AttachedFile {
                file_name: "翠屏街道台账2026-W48.xlsx".into(),
                content_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                    .into(),
                content: "UEsDBA==".into(),
            },
        };
        assert!(
            l.plan_weekly_digest(Some("xinnan"), letter.clone(), "2026-W48")
                .unwrap()
                .is_none()
        );
        assert!(
            l.plan_weekly_digest(None, letter.clone(), "2026-W48")
                .unwrap()
                .is_none()
        );
        let mail = l
            .plan_weekly_digest(Some("cuiping"), letter, "2026-W48")
            .unwrap()
            .unwrap();
        assert_eq!(mail.message_id, "<weekly-2026-W48.cuiping@cuiping.example>");
        let mut queued = queued(mail, &fixtures::stored_case());
        queued.reference = None;
        let rendered = l.render(&queued).unwrap();
        assert_eq!(
            rendered.subject,
            "【吹哨报到·周报】翠屏街道2026-W48：立案2件，当前超期0份"
        );
        let message = mail_parser::MessageParser::default()
            .parse(&rendered.raw)
            .unwrap();
        let text = message.body_text(0).unwrap().replace("\r\n", "\n");
        assert!(
            text.contains("三率\n部门      响应率\n区住建局  50.0%\n"),
            "{text}"
        );
        assert!(text.contains("（无）"), "{text}");
        let attachment = message.attachment(0).expect("the ledger attached");
        assert_eq!(
            attachment.attachment_name(),
            Some("翠屏街道台账2026-W48.xlsx")
        );
        assert_eq!(attachment.contents(), b"PK\x03\x04");
    }

    #[test]
    fn supervisors_get_a_letter_per_alert_and_a_daily_digest() {
        let l = letters(Language::Zh)
            .with_supervisors(vec!["区纪委监委 <jiwei@dachuan.example>".parse().unwrap()]);
        let one = l.plan_alert(&org(), &raised(7, 2)).unwrap().unwrap();
        assert_eq!(one.recipients, ["jiwei@dachuan.example"]);
        assert_eq!(one.message_id, "<alert-7@cuiping.example>");
        let rendered = l.render(&queued(one, &fixtures::stored_case())).unwrap();
        assert!(
            rendered.subject.starts_with(
                "【吹哨报到·二级答复逾期】翠街哨〔2026〕0001号 区住建局 答复逾期1天6小时"
            ),
            "{}",
            rendered.subject
        );
        let at = fixtures::now() + chrono::Duration::days(9);
        let digest = l
            .plan_digest(&org(), &[raised(7, 2), raised(8, 1)], at)
            .unwrap()
            .unwrap();
        assert_eq!(digest.case_id, None, "a digest is about many cases");
        let mut queued = queued(digest, &fixtures::stored_case());
        queued.reference = None;
        let rendered = l.render(&queued).unwrap();
        assert_eq!(
            rendered.subject,
            "【吹哨报到·督办日报】2026年12月2日：新提醒2条（二级1条）"
        );
        let LetterFacts::Digest(facts) = serde_json::from_str(&queued.mail.payload).unwrap() else {
            panic!("a digest")
        };
        assert_eq!((facts.total, facts.level2, facts.alerts.len()), (2, 1, 2));
        // Nothing to tell, or no one to tell: no letter.
        assert!(l.plan_digest(&org(), &[], at).unwrap().is_none());
        assert!(
            letters(Language::Zh)
                .plan_alert(&org(), &raised(7, 2))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn departments_without_addresses_get_no_letter() {
        let l = Letters::new(
            "w <w@x.example>".parse().unwrap(),
            "x.example".into(),
            BTreeMap::new(),
        );
        assert!(planned(&l, None, &fixtures::stored_case()).is_empty());
    }

    #[test]
    fn a_letter_without_facts_is_refused_rather_than_sent_empty() {
        let l = letters(Language::Zh);
        let mut mail = planned(&l, None, &fixtures::stored_case()).remove(0);
        mail.mail.payload.clear();
        assert!(matches!(l.render(&mail), Err(LetterError::Empty(_))));
        mail.mail.payload = "{".into();
        assert!(matches!(l.render(&mail), Err(LetterError::Payload(_))));
    }
}
