//! The formal request letter (函): rendered from the case as committed, in the
//! department's language, as a multipart message (plain text and HTML) with a
//! stable Message-ID, so that a letter sent twice after a crash is recognisably
//! the same letter, and with In-Reply-To/References that thread every letter of
//! one request together in the department's mailbox.
//!
//! Letters are rendered inside the transaction that causes them and stored whole
//! in the outbox, so what is delivered is exactly what was decided, byte for byte.

use std::collections::BTreeMap;
use std::time::SystemTime;

use chrono::{DateTime, Datelike, Days, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use lettre::Message;
use lettre::message::{Mailbox, MultiPart};
use minijinja::{Environment, context};

use crate::domain::{Case, DepartmentRequest, EventKind, Organisation, Role};
use crate::store::OutgoingMail;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Zh,
    En,
}

/// Where and how one department receives letters.
#[derive(Debug, Clone, Default)]
pub struct Recipient {
    pub addresses: Vec<Mailbox>,
    pub language: Language,
    pub show_resident_phone: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LetterError {
    #[error("rendering template {0}")]
    Template(String, #[source] minijinja::Error),
    #[error("building the message")]
    Build(#[from] lettre::error::Error),
}

/// Renders letters. Built once at start-up from settings.
#[derive(Debug)]
pub struct Letters {
    templates: Environment<'static>,
    from: Mailbox,
    /// The right-hand side of every Message-ID.
    domain: String,
    recipients: BTreeMap<String, Recipient>,
    /// Where reply links will point, once the reply page exists.
    reply_link_base: Option<String>,
    reply_address: Option<String>,
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
];

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
            reply_link_base: None,
            reply_address: None,
        }
    }

    pub fn recipient(&self, department: &str) -> Option<&Recipient> {
        self.recipients.get(department)
    }

    /// The Message-ID of the letter issuing round `round` of a request. The first
    /// one is the root every later letter of the request refers to.
    pub fn issue_message_id(&self, request_id: &str, round: u32) -> String {
        format!("<{request_id}.r{round}.issued@{}>", self.domain)
    }

    /// The letters a change to a case causes: one for every request issued or
    /// re-issued since `before` (all of them for a new case). A department with no
    /// address gets none; start-up has already warned about it.
    pub fn for_change(
        &self,
        org: &Organisation,
        before: Option<&Case>,
        after: &Case,
    ) -> Result<Vec<OutgoingMail>, LetterError> {
        let seen = before.map_or(0, |b| b.events.len());
        let mut out = Vec::new();
        for event in after.events.iter().skip(seen) {
            if event.kind != EventKind::RequestIssued {
                continue;
            }
            let Some(request) = event
                .request_id
                .as_deref()
                .and_then(|id| after.requests.iter().find(|r| r.id == id))
            else {
                continue;
            };
            if let Some(mail) = self.request_letter(org, after, request, event.at)? {
                out.push(mail);
            }
        }
        Ok(out)
    }

    fn request_letter(
        &self,
        org: &Organisation,
        case: &Case,
        request: &DepartmentRequest,
        at: DateTime<Utc>,
    ) -> Result<Option<OutgoingMail>, LetterError> {
        let Some(recipient) = self.recipients.get(&request.department) else {
            return Ok(None);
        };
        if recipient.addresses.is_empty() {
            return Ok(None);
        }
        let tz = org.calendar.tz();
        let lang = recipient.language;
        let office_name = org
            .office(&case.office)
            .map_or(case.office.as_str(), |o| o.name.as_str());
        let department_name = org
            .department(&request.department)
            .map_or(request.department.as_str(), |d| d.name.as_str());
        let category_name = org
            .categories
            .get(&case.category)
            .map_or(case.category.as_str(), |c| c.name.as_str());
        let lead = case.requests.iter().find(|r| r.role == Role::Lead);
        let lead_name = lead
            .and_then(|r| org.department(&r.department))
            .map_or("", |d| d.name.as_str());
        let reference = request.reference.as_str();
        let subject = match (lang, request.round) {
            (Language::Zh, 1) => format!("【{reference}】{category_name}：{}", case.title),
            (Language::Zh, n) => {
                format!("【{reference}】（第{n}轮）{category_name}：{}", case.title)
            }
            (Language::En, 1) => format!("[{reference}] {category_name}: {}", case.title),
            (Language::En, n) => {
                format!("[{reference}] {category_name}: {} (round {n})", case.title)
            }
        };
        let phone = if recipient.show_resident_phone {
            case.resident.phone.as_str().to_owned()
        } else {
            case.resident.phone.masked()
        };
        let (role_name, reason_label) = match (lang, request.role) {
            (Language::Zh, Role::Lead) => ("主办", "原因"),
            (Language::Zh, Role::Assisting) => ("协办", "原因"),
            (Language::En, Role::Lead) => ("the lead department", "Reason"),
            (Language::En, Role::Assisting) => ("an assisting department", "Reason"),
        };
        let ctx = context! {
            subject => &subject,
            department_name,
            office_name,
            category_name,
            lead_name,
            assisting => request.role == Role::Assisting,
            role_name,
            reference,
            round => request.round,
            reissue_reason => &request.reissue_reason,
            reissue_reason_label => reason_label,
            title => &case.title,
            community => &case.community,
            address => &case.address,
            resident_name => &case.resident.name,
            resident_phone => phone,
            difficulty => case.difficulty,
            description => &case.description,
            ack_due => deadline(request.ack_due_at, tz, lang),
            reply_due => deadline(request.reply_due_at, tz, lang),
            issued_on => day(at, tz, lang),
            request_id => &request.id,
            reply_link => self.reply_link_base.as_ref().map(|base| format!("{base}/{}", request.id)),
            reply_address => &self.reply_address,
        };
        let suffix = match lang {
            Language::Zh => "zh",
            Language::En => "en",
        };
        let text = self.render(&format!("request.{suffix}.txt"), &ctx)?;
        let html = self.render(&format!("request.{suffix}.html"), &ctx)?;

        let message_id = self.issue_message_id(&request.id, request.round);
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(subject.clone())
            .date(SystemTime::from(at))
            .message_id(Some(message_id.clone()));
        for to in &recipient.addresses {
            builder = builder.to(to.clone());
        }
        if request.round > 1 {
            let earlier: Vec<String> = (1..request.round)
                .map(|n| self.issue_message_id(&request.id, n))
                .collect();
            builder = builder
                .in_reply_to(earlier.last().cloned().unwrap_or_default())
                .references(earlier.join(" "));
        }
        let message = builder.multipart(MultiPart::alternative_plain_html(text, html))?;
        let envelope = message.envelope();
        Ok(Some(OutgoingMail {
            id: uuid::Uuid::now_v7().to_string(),
            case_id: case.id.clone(),
            request_id: Some(request.id.clone()),
            kind: "request_issued".into(),
            message_id,
            sender: envelope.from().map(|a| a.to_string()).unwrap_or_default(),
            recipients: envelope.to().iter().map(|a| a.to_string()).collect(),
            subject,
            raw: message.formatted(),
            created_at: at,
        }))
    }

    fn render(&self, name: &str, ctx: &minijinja::Value) -> Result<String, LetterError> {
        self.templates
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| LetterError::Template(name.to_owned(), e))
    }
}

/// A deadline as people say it. Deadlines fall at local midnight, which reads as
/// "24:00 of the last day", never "00:00 of the next".
fn deadline(due: DateTime<Utc>, tz: Tz, lang: Language) -> String {
    let local = due.with_timezone(&tz);
    let (date, time) = if local.hour() == 0 && local.minute() == 0 {
        (local.date_naive() - Days::new(1), "24:00".to_owned())
    } else {
        (local.date_naive(), local.format("%H:%M").to_string())
    };
    match lang {
        Language::Zh => format!(
            "{}年{}月{}日（{}）{time}",
            date.year(),
            date.month(),
            date.day(),
            weekday_zh(date.weekday())
        ),
        Language::En => format!("{} {time} ({tz})", date.format("%a %-d %b %Y")),
    }
}

fn day(at: DateTime<Utc>, tz: Tz, lang: Language) -> String {
    let date = at.with_timezone(&tz).date_naive();
    match lang {
        Language::Zh => format!("{}年{}月{}日", date.year(), date.month(), date.day()),
        Language::En => date.format("%-d %B %Y").to_string(),
    }
}

fn weekday_zh(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "星期一",
        Weekday::Tue => "星期二",
        Weekday::Wed => "星期三",
        Weekday::Thu => "星期四",
        Weekday::Fri => "星期五",
        Weekday::Sat => "星期六",
        Weekday::Sun => "星期日",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_midnight_deadline_reads_as_24_00_of_the_day_before() {
        let tz = chrono_tz::Asia::Shanghai;
        let due = tz
            .with_ymd_and_hms(2026, 11, 25, 0, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            deadline(due, tz, Language::Zh),
            "2026年11月24日（星期二）24:00"
        );
        assert_eq!(
            deadline(due, tz, Language::En),
            "Tue 24 Nov 2026 24:00 (Asia/Shanghai)"
        );
    }
}
