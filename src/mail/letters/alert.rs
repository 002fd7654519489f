//! The letter to the supervisors about one alert, sent as it is raised: what
//! happened, how grave it is, and where to look. Its lines (`AlertLine`) are
//! also what the daily digest lists.

use chrono::{DateTime, Utc};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{LetterError, LetterFacts, Letters, zone};
use crate::domain::outbox::{OutgoingMail, QueuedMail, Rendered};
use crate::domain::wording::{Language, deadline};
use crate::domain::{AlertKind, Organisation, RaisedAlert};
use crate::mail::address_book::{self, department_name, office_name};
use crate::mail::compose::Envelope;

/// One alert as a supervisor reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertLine {
    pub id: i64,
    /// The alert kind's name (`REPLY_OVERDUE`); one this version does not
    /// know is printed as it is.
    pub kind: String,
    pub level: u8,
    pub summary: String,
    pub raised_at: DateTime<Utc>,
}

impl AlertLine {
    pub(super) fn of(a: &RaisedAlert) -> Self {
        Self {
            id: a.id,
            kind: a.alert.kind.as_str().to_owned(),
            level: a.alert.level,
            summary: a.alert.summary.clone(),
            raised_at: a.alert.raised_at,
        }
    }

    /// The kind as supervisors call it.
    pub(super) fn kind_name(&self) -> String {
        AlertKind::parse(&self.kind).map_or_else(|| self.kind.clone(), |k| k.zh().to_owned())
    }
}

/// Alert levels as supervisors call them, and what each means.
pub(super) fn level_name(level: u8) -> (&'static str, &'static str) {
    if level >= 2 {
        ("二级", "报区督办")
    } else {
        ("一级", "街道跟进")
    }
}

/// The facts of a letter about one alert, sent as it is raised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertLetter {
    pub to: Vec<String>,
    pub alert: AlertLine,
    /// None for an alert about whistle itself (a channel failing).
    #[serde(default)]
    pub case_id: Option<String>,
    #[serde(default)]
    pub office_name: Option<String>,
    pub department_name: Option<String>,
    pub reference: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub timezone: String,
}

impl Letters {
    /// A letter to the supervisors about one alert; none when no supervisor
    /// receives alert mail.
    pub fn plan_alert(
        &self,
        org: &Organisation,
        alert: &RaisedAlert,
    ) -> Result<Option<OutgoingMail>, LetterError> {
        let to = self.book.supervisors();
        if to.is_empty() {
            return Ok(None);
        }
        let a = &alert.alert;
        let facts = LetterFacts::Alert(AlertLetter {
            to: address_book::to_header(to),
            alert: AlertLine::of(alert),
            case_id: a.case_id.clone(),
            office_name: a.office.as_deref().map(|code| office_name(org, code)),
            department_name: a.department.as_ref().map(|code| department_name(org, code)),
            reference: a.reference.clone(),
            due_at: a.due_at,
            timezone: org.calendar.tz().name().to_owned(),
        });
        let mail = self.outgoing(&facts, self.compose.ids.alert(alert.id), to, a.raised_at)?;
        Ok(Some(match &a.case_id {
            Some(case_id) => mail.about(case_id, None),
            None => mail,
        }))
    }

    pub(super) fn render_alert(
        &self,
        mail: &QueuedMail,
        letter: &AlertLetter,
    ) -> Result<Rendered, LetterError> {
        let tz = zone(&letter.timezone);
        let a = &letter.alert;
        let (level, meaning) = level_name(a.level);
        let ctx = context! {
            summary => &a.summary,
            kind_name => a.kind_name(),
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
        let texts = self.compose.texts("alert", "alert", Language::Zh, ctx)?;
        let envelope = Envelope::new(&letter.to, a.raised_at);
        self.compose.message(mail, envelope, texts)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::domain::fixtures;
    use crate::domain::wording::Language;

    #[test]
    fn supervisors_get_a_letter_per_alert() {
        let l = letters(Language::Zh);
        assert!(l.plan_alert(&org(), &raised(7, 2)).unwrap().is_none());
        let l = with_supervisors(l);
        let one = l.plan_alert(&org(), &raised(7, 2)).unwrap().unwrap();
        assert_eq!(one.recipients, ["jiwei@dachuan.example"]);
        assert_eq!(one.message_id, "<alert-7@cuiping.example>");
        assert_eq!(one.case_id.as_deref(), Some("id1"));
        let rendered = l.render(&queued(one, &fixtures::stored_case())).unwrap();
        assert!(
            rendered.subject.starts_with(
                "【吹哨报到·二级答复逾期】翠街哨〔2026〕0001号 区住建局 答复逾期1天6小时"
            ),
            "{}",
            rendered.subject
        );
    }

    #[test]
    fn a_channel_failing_is_a_letter_about_no_case() {
        let l = with_supervisors(letters(Language::Zh));
        let at = fixtures::now();
        let alert = crate::domain::RaisedAlert {
            id: 9,
            alert: crate::domain::alert::channel_failing("district", 5, "HTTP 502", at, at),
        };
        let one = l.plan_alert(&org(), &alert).unwrap().unwrap();
        assert_eq!(one.case_id, None);
        let mail = queued(one, &fixtures::stored_case());
        assert!(
            l.render(&mail)
                .unwrap()
                .subject
                .contains("群机器人推送失败")
        );
        let (text, html) = parts(&l, &mail);
        for body in [&text, &html] {
            assert!(body.contains("群机器人 district 连续5次推送失败"), "{body}");
            assert!(!body.contains("案件编号"), "{body}");
            assert!(!body.contains("街道"), "{body}");
        }
    }
}
