//! The short notice a department gets about a case it holds a request of
//! when residents are joined (重复诉求): a further resident raised the same
//! problem (only with `[duplicates] further_letter`), or the office joined
//! the case into another and the request is withdrawn. It names how many
//! residents raised the problem, never who. It sits in the request's thread;
//! a withdrawn request carries no reply link, as nothing more is asked.

use chrono::{DateTime, Utc};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{About, LetterError, LetterFacts, Letters, zone};
use crate::domain::effects::{Notice, NoticeKind};
use crate::domain::outbox::{OutgoingMail, QueuedMail, Rendered};
use crate::domain::wording::{Language, day};
use crate::domain::{Case, Organisation};
use crate::mail::address_book::{self, department_name, office_name};
use crate::mail::compose::Envelope;

/// What the notice says, under the names letters waiting in an outbox hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeOutcome {
    ResidentJoined,
    Withdrawn,
}

impl NoticeOutcome {
    fn key(self) -> &'static str {
        match self {
            Self::ResidentJoined => "resident_joined",
            Self::Withdrawn => "withdrawn",
        }
    }
}

/// The facts of a notice to the department of one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeLetter {
    pub language: Language,
    pub to: Vec<String>,
    pub request_id: String,
    pub round: u32,
    pub notice: NoticeOutcome,
    pub residents: u32,
    /// The case a withdrawn request's case was joined into.
    pub other_case: String,
    pub department_name: String,
    pub office_name: String,
    pub title: String,
    pub sent_at: DateTime<Utc>,
    pub timezone: String,
    pub reply_link: Option<String>,
    pub reply_address: Option<String>,
}

impl Letters {
    pub(super) fn plan_notice(
        &self,
        org: &Organisation,
        case: &Case,
        notice: &Notice,
    ) -> Result<Option<OutgoingMail>, LetterError> {
        let Notice {
            kind,
            request_id,
            department,
            round,
            residents,
            other_case,
            at,
        } = notice;
        let outcome = match kind {
            NoticeKind::ResidentJoined => NoticeOutcome::ResidentJoined,
            NoticeKind::Withdrawn => NoticeOutcome::Withdrawn,
        };
        let message_id = self
            .compose
            .ids
            .notice(request_id, *round, outcome.key(), *residents);
        let about = About {
            case_id: &case.id,
            request_id,
            department,
        };
        let linked = outcome == NoticeOutcome::ResidentJoined;
        self.to_department(about, message_id, linked, *at, |recipient, link| {
            LetterFacts::Notice(NoticeLetter {
                language: recipient.language,
                to: address_book::to_header(&recipient.addresses),
                request_id: request_id.clone(),
                round: *round,
                notice: outcome,
                residents: *residents,
                other_case: other_case.clone(),
                department_name: department_name(org, department),
                office_name: office_name(org, &case.office),
                title: case.title.clone(),
                sent_at: *at,
                timezone: org.calendar.tz().name().to_owned(),
                reply_link: link.page,
                reply_address: link.address,
            })
        })
    }

    pub(super) fn render_notice(
        &self,
        mail: &QueuedMail,
        letter: &NoticeLetter,
        reference: &str,
    ) -> Result<Rendered, LetterError> {
        let tz = zone(&letter.timezone);
        let lang = letter.language;
        let outcome = letter.notice.key();
        let ctx = context! {
            withdrawn => letter.notice == NoticeOutcome::Withdrawn,
            department_name => &letter.department_name,
            office_name => &letter.office_name,
            reference,
            round => letter.round,
            title => &letter.title,
            residents => letter.residents,
            other_case => &letter.other_case,
            sent_on => day(letter.sent_at, tz, lang),
            request_id => &letter.request_id,
            reply_link => &letter.reply_link,
            reply_address => &letter.reply_address,
        };
        let texts = self
            .compose
            .texts("notice", &format!("notice.{outcome}"), lang, ctx)?;
        let envelope = Envelope::new(&letter.to, letter.sent_at)
            .answering(self.compose.ids.thread(&letter.request_id, letter.round))
            .reply_to(letter.reply_address.as_deref());
        self.compose.message(mail, envelope, texts)
    }
}
