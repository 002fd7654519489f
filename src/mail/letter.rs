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

    /// Subject, plain text and HTML of the letter for one round of a request, or
    /// `None` when its department has no address.
    fn compose(
        &self,
        org: &Organisation,
        case: &Case,
        request: &DepartmentRequest,
        at: DateTime<Utc>,
    ) -> Result<Option<(String, String, String)>, LetterError> {
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
        Ok(Some((subject, text, html)))
    }

    fn request_letter(
        &self,
        org: &Organisation,
        case: &Case,
        request: &DepartmentRequest,
        at: DateTime<Utc>,
    ) -> Result<Option<OutgoingMail>, LetterError> {
        let Some((subject, text, html)) = self.compose(org, case, request, at)? else {
            return Ok(None);
        };
        let recipient = &self.recipients[&request.department];
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

    /// The plain text and HTML bodies, for tests that read what a department reads.
    #[cfg(test)]
    fn render_parts(
        &self,
        org: &Organisation,
        case: &Case,
        request: &DepartmentRequest,
    ) -> Result<(String, String), LetterError> {
        let (_, text, html) = self
            .compose(org, case, request, request.issued_at)?
            .expect("an address");
        Ok((text, html))
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
    use crate::domain::{
        Actor, ActorRole, Category, DeadlinePolicy, Department, Office, Petition, PetitionInput,
        ReviewDecision,
    };
    use chrono::TimeZone;

    fn org() -> Organisation {
        let dept = |code: &str, name: &str| {
            let d = Department {
                code: code.into(),
                name: name.into(),
                policy: DeadlinePolicy::default(),
                show_resident_phone: false,
            };
            (code.to_owned(), d)
        };
        let office = Office {
            code: "cuiping".into(),
            name: "翠屏街道".into(),
            reference_prefix: "翠街哨".into(),
            communities: vec![],
        };
        let category = Category {
            code: "property-certificate".into(),
            name: "不动产权证办理".into(),
            lead: "housing".into(),
            assisting: vec!["land".into()],
        };
        Organisation {
            offices: [("cuiping".to_owned(), office)].into_iter().collect(),
            departments: [dept("housing", "区住建局"), dept("land", "区自然资源局")]
                .into_iter()
                .collect(),
            categories: [("property-certificate".to_owned(), category)]
                .into_iter()
                .collect(),
            ..Default::default()
        }
    }

    fn letters(land_language: Language) -> Letters {
        let recipient = |addr: &str, language, show_resident_phone| Recipient {
            addresses: vec![addr.parse().unwrap()],
            language,
            show_resident_phone,
        };
        let recipients = [
            (
                "housing".to_owned(),
                recipient("zj@example.cn", Language::Zh, false),
            ),
            (
                "land".to_owned(),
                recipient("land@example.cn", land_language, true),
            ),
        ];
        Letters::new(
            "翠屏街道 <whistle@cuiping.example>".parse().unwrap(),
            "cuiping.example".into(),
            recipients.into_iter().collect(),
        )
    }

    /// A case whose references the store would have drawn.
    fn case() -> Case {
        let org = org();
        let petition = Petition::parse(&PetitionInput {
            petition_id: "P1".into(),
            category: "property-certificate".into(),
            title: "房产证<迟迟>未办".into(),
            description: "开发商未完成备案 & 其他".into(),
            resident_name: "张女士".into(),
            resident_phone: "13812345678".into(),
            difficulty: 3,
            ..Default::default()
        })
        .unwrap();
        let route = org.route("property-certificate", None, &[]).unwrap();
        let actor = Actor {
            name: "cuiping-office".into(),
            role: ActorRole::Office("cuiping".into()),
        };
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap();
        let mut n = 0;
        let mut case = Case::open(
            petition,
            &org.offices["cuiping"],
            route,
            &org,
            &actor,
            at,
            &mut || {
                n += 1;
                format!("id{n}")
            },
        )
        .unwrap();
        for (i, r) in case.requests.iter_mut().enumerate() {
            r.reference = crate::domain::Reference::Assigned(crate::domain::Reference::format(
                "翠街哨",
                2026,
                i as i64 + 1,
            ));
        }
        case
    }

    fn text(raw: &[u8]) -> String {
        String::from_utf8_lossy(raw).into_owned()
    }

    #[test]
    fn a_new_case_writes_one_letter_per_department_in_its_language() {
        let case = case();
        let mail = letters(Language::En)
            .for_change(&org(), None, &case)
            .unwrap();
        assert_eq!(mail.len(), 2);
        let (housing, land) = (&mail[0], &mail[1]);
        assert_eq!(housing.recipients, ["zj@example.cn"]);
        assert_eq!(
            housing.subject,
            "【翠街哨〔2026〕0001号】不动产权证办理：房产证<迟迟>未办"
        );
        assert_eq!(housing.message_id, "<id2.r1.issued@cuiping.example>");
        assert_eq!(
            land.subject,
            "[翠街哨〔2026〕0002号] 不动产权证办理: 房产证<迟迟>未办"
        );
        let raw = text(&housing.raw);
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(
            raw.contains("Message-ID: <id2.r1.issued@cuiping.example>"),
            "{raw}"
        );
        assert!(
            !raw.contains("In-Reply-To"),
            "the first letter starts the thread"
        );
    }

    #[test]
    fn bodies_carry_the_facts_masked_where_the_department_may_not_see_the_phone() {
        let case = case();
        let l = letters(Language::Zh);
        let ctx_housing = l.render_parts(&org(), &case, &case.requests[0]).unwrap();
        assert!(
            ctx_housing
                .0
                .contains("反映人：张女士　联系电话：138****5678"),
            "{}",
            ctx_housing.0
        );
        assert!(
            ctx_housing
                .0
                .contains("签收期限：2026年11月24日（星期二）24:00前"),
            "{}",
            ctx_housing.0
        );
        assert!(
            ctx_housing
                .0
                .contains("答复期限：2026年11月30日（星期一）24:00前"),
            "{}",
            ctx_housing.0
        );
        assert!(ctx_housing.0.contains("请求编号 id2"));
        // Text is printed as is; HTML escapes it.
        assert!(ctx_housing.0.contains("房产证<迟迟>未办"));
        assert!(
            ctx_housing.1.contains("房产证&lt;迟迟&gt;未办"),
            "{}",
            ctx_housing.1
        );
        assert!(ctx_housing.1.contains("开发商未完成备案 &amp; 其他"));
        let land = l.render_parts(&org(), &case, &case.requests[1]).unwrap();
        assert!(land.0.contains("13812345678"), "land may see the number");
        assert!(
            land.0.contains("主办单位：区住建局"),
            "assisting departments learn the lead"
        );
    }

    #[test]
    fn a_reissued_request_gets_a_threaded_letter_naming_the_round_and_reason() {
        let org = org();
        let before = case();
        let mut after = before.clone();
        let id = after.requests[0].id.clone();
        let housing = Actor {
            name: "housing-dept".into(),
            role: ActorRole::Department("housing".into()),
        };
        let office = Actor {
            name: "cuiping-office".into(),
            role: ActorRole::Office("cuiping".into()),
        };
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 2, 0, 0).unwrap();
        after.acknowledge(&housing, &id, at).unwrap();
        after
            .submit_reply(&housing, &id, "办理中".into(), at)
            .unwrap();
        let reject = ReviewDecision::parse(false, "未说明办理时限").unwrap();
        after.review_reply(&office, &id, reject, &org, at).unwrap();
        let mail = letters(Language::Zh)
            .for_change(&org, Some(&before), &after)
            .unwrap();
        assert_eq!(mail.len(), 1);
        let letter = &mail[0];
        assert_eq!(letter.message_id, "<id2.r2.issued@cuiping.example>");
        assert!(letter.subject.contains("（第2轮）"), "{}", letter.subject);
        let raw = text(&letter.raw);
        assert!(
            raw.contains("In-Reply-To: <id2.r1.issued@cuiping.example>"),
            "{raw}"
        );
        assert!(
            raw.contains("References: <id2.r1.issued@cuiping.example>"),
            "{raw}"
        );
        let (body, _) = letters(Language::Zh)
            .render_parts(&org, &after, &after.requests[0])
            .unwrap();
        assert!(
            body.contains("第2次向贵单位交办。原因：未说明办理时限"),
            "{body}"
        );
    }

    #[test]
    fn departments_without_addresses_get_no_letter() {
        let l = Letters::new(
            "w <w@x.example>".parse().unwrap(),
            "x.example".into(),
            BTreeMap::new(),
        );
        assert!(l.for_change(&org(), None, &case()).unwrap().is_empty());
    }

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
