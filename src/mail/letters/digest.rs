//! The daily digest of alerts to the supervisors: how many were raised since
//! the last one, how many of them grave, and the first `DIGEST_LINES` listed.

use chrono::{DateTime, Utc};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::alert::{AlertLine, level_name};
use super::{LetterError, LetterFacts, Letters, zone};
use crate::domain::outbox::{OutgoingMail, QueuedMail, Rendered};
use crate::domain::wording::{Language, day};
use crate::domain::{Organisation, RaisedAlert};
use crate::mail::address_book;
use crate::mail::compose::Envelope;

/// A digest lists this many alerts; the rest are counted.
pub const DIGEST_LINES: usize = 200;

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

impl Letters {
    /// The digest of `alerts` to the supervisors, sent at `at`; none when there
    /// is nothing to tell or nobody to tell it.
    pub fn plan_digest(
        &self,
        org: &Organisation,
        alerts: &[RaisedAlert],
        at: DateTime<Utc>,
    ) -> Result<Option<OutgoingMail>, LetterError> {
        let to = self.book.supervisors();
        if to.is_empty() || alerts.is_empty() {
            return Ok(None);
        }
        let last = alerts.last().map_or(0, |a| a.id);
        let facts = LetterFacts::Digest(DigestLetter {
            to: address_book::to_header(to),
            sent_at: at,
            timezone: org.calendar.tz().name().to_owned(),
            total: alerts.len() as u32,
            level2: alerts.iter().filter(|a| a.alert.level >= 2).count() as u32,
            alerts: alerts
                .iter()
                .take(DIGEST_LINES)
                .map(AlertLine::of)
                .collect(),
        });
        let message_id = self.compose.ids.alert_digest(last);
        self.outgoing(&facts, message_id, to, at).map(Some)
    }

    pub(super) fn render_digest(
        &self,
        mail: &QueuedMail,
        letter: &DigestLetter,
    ) -> Result<Rendered, LetterError> {
        let tz = zone(&letter.timezone);
        let items: Vec<_> = letter
            .alerts
            .iter()
            .map(|a| {
                context! {
                    level_name => level_name(a.level).0,
                    kind_name => a.kind_name(),
                    summary => &a.summary,
                    raised => a.raised_at.with_timezone(&tz).format("%m-%d %H:%M").to_string(),
                }
            })
            .collect();
        let ctx = context! {
            date => day(letter.sent_at, tz, Language::Zh),
            total => letter.total,
            level2 => letter.level2,
            items,
            more => (letter.total as usize).saturating_sub(letter.alerts.len()),
        };
        let texts = self.compose.texts("digest", "digest", Language::Zh, ctx)?;
        let envelope = Envelope::new(&letter.to, letter.sent_at);
        self.compose.message(mail, envelope, texts)
    }
}

#[cfg(test)]
mod tests {
    use super::super::LetterFacts;
    use super::super::testkit::*;
    use crate::domain::fixtures;
    use crate::domain::wording::Language;

    #[test]
    fn supervisors_get_a_daily_digest_when_there_is_something_to_tell() {
        let l = with_supervisors(letters(Language::Zh));
        let at = fixtures::now() + chrono::Duration::days(9);
        let digest = l
            .plan_digest(&org(), &[raised(7, 2), raised(8, 1)], at)
            .unwrap()
            .unwrap();
        assert_eq!(digest.case_id, None, "a digest is about many cases");
        assert_eq!(digest.message_id, "<alerts-8.digest@cuiping.example>");
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
                .plan_digest(&org(), &[raised(7, 2)], at)
                .unwrap()
                .is_none()
        );
    }
}
