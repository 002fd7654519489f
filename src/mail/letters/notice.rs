//! The short notice a department gets about a case it holds a request of
//! when residents are joined (重复诉求): a further resident raised the same
//! problem (only with `[duplicates] further_letter`), or the office joined
//! the case into another and the request is withdrawn. It names how many
//! residents raised the problem, never who. It sits in the request's thread;
//! a withdrawn request carries no reply link, as nothing more is asked.

use chrono::{DateTime, Utc};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{About, LetterError, LetterFacts, Letters, ToDepartment, zone};
use crate::domain::effects::{Notice, NoticeKind};
use crate::domain::outbox::{OutgoingMail, QueuedMail, Rendered};
use crate::domain::wording::day;
use crate::domain::{Case, Organisation};

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
    /// Where it goes, about which round of which request, how to answer.
    #[serde(flatten)]
    pub head: ToDepartment,
    pub notice: NoticeOutcome,
    pub residents: u32,
    /// The case a withdrawn request's case was joined into.
    pub other_case: String,
    pub sent_at: DateTime<Utc>,
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
            org,
            case,
            request_id,
            department,
            round: *round,
        };
        let linked = outcome == NoticeOutcome::ResidentJoined;
        self.to_department(about, message_id, linked, *at, |head| {
            LetterFacts::Notice(NoticeLetter {
                head,
                notice: outcome,
                residents: *residents,
                other_case: other_case.clone(),
                sent_at: *at,
            })
        })
    }

    pub(super) fn render_notice(
        &self,
        mail: &QueuedMail,
        letter: &NoticeLetter,
        reference: &str,
    ) -> Result<Rendered, LetterError> {
        let tz = zone(&letter.head.timezone);
        let lang = letter.head.language;
        let outcome = letter.notice.key();
        let ctx = context! {
            withdrawn => letter.notice == NoticeOutcome::Withdrawn,
            department_name => &letter.head.department_name,
            office_name => &letter.head.office_name,
            reference,
            round => letter.head.round,
            title => &letter.head.title,
            residents => letter.residents,
            other_case => &letter.other_case,
            sent_on => day(letter.sent_at, tz, lang),
            request_id => &letter.head.request_id,
            reply_link => &letter.head.reply_link,
            reply_address => &letter.head.reply_address,
        };
        let texts = self
            .compose
            .texts("notice", &format!("notice.{outcome}"), lang, ctx)?;
        let envelope = self.in_round(&letter.head, letter.sent_at);
        self.compose.message(mail, envelope, texts)
    }
}
