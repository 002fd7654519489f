//! The letter telling a department how a supervisor ruled on what it asked
//! for (延期, 退单): the ruling, the reason, and the deadlines it has now,
//! or where the request went. It sits in the request's thread; a request
//! given away carries no reply link, as it can no longer be answered.

use chrono::{DateTime, Utc};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{About, LetterError, LetterFacts, Letters, ToDepartment, zone};
use crate::domain::effects::{Ruled, RulingNotice};
use crate::domain::outbox::{OutgoingMail, QueuedMail, Rendered};
use crate::domain::wording::{day, deadline};
use crate::domain::{Case, Organisation};
use crate::mail::address_book::department_name;

/// What was ruled, under the names letters waiting in an outbox hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RulingOutcome {
    ExtensionApproved,
    ExtensionDenied,
    ReturnSentBack,
    ReturnReassigned,
}

impl RulingOutcome {
    /// The key of its subject line and of its headline in the templates.
    fn key(self) -> &'static str {
        match self {
            Self::ExtensionApproved => "extension_approved",
            Self::ExtensionDenied => "extension_denied",
            Self::ReturnSentBack => "return_sent_back",
            Self::ReturnReassigned => "return_reassigned",
        }
    }
}

/// The facts of a supervisor's ruling on what a department asked for,
/// sent to that department.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulingLetter {
    /// Where it goes, about which round of which request, how to answer.
    #[serde(flatten)]
    pub head: ToDepartment,
    pub ruling: RulingOutcome,
    /// The extension ruled on; empty for a return.
    pub extension_id: String,
    pub reason: String,
    /// The deadlines the department now has; none once reassigned away.
    pub ack_due_at: Option<DateTime<Utc>>,
    pub reply_due_at: Option<DateTime<Utc>>,
    /// Where a granted return went.
    pub reassigned_to: Option<String>,
    pub sent_at: DateTime<Utc>,
}

impl Letters {
    /// The letter telling a department how a supervisor ruled on its ask.
    pub(super) fn plan_ruling(
        &self,
        org: &Organisation,
        case: &Case,
        ruled: &Ruled,
    ) -> Result<Option<OutgoingMail>, LetterError> {
        let Ruled {
            request_id,
            department,
            round,
            ruling,
            reason,
            at,
        } = ruled;
        let (outcome, extension_id, ack_due_at, reply_due_at) = match ruling {
            RulingNotice::ExtensionApproved { id, reply_due_at } => (
                RulingOutcome::ExtensionApproved,
                Some(id.as_str()),
                None,
                Some(*reply_due_at),
            ),
            RulingNotice::ExtensionDenied { id, reply_due_at } => (
                RulingOutcome::ExtensionDenied,
                Some(id.as_str()),
                None,
                Some(*reply_due_at),
            ),
            RulingNotice::ReturnSentBack {
                ack_due_at,
                reply_due_at,
            } => (
                RulingOutcome::ReturnSentBack,
                None,
                *ack_due_at,
                Some(*reply_due_at),
            ),
            RulingNotice::ReturnReassigned { .. } => {
                (RulingOutcome::ReturnReassigned, None, None, None)
            }
        };
        let reassigned_to = match ruling {
            RulingNotice::ReturnReassigned { department } => Some(department_name(org, department)),
            _ => None,
        };
        let message_id = self.compose.ids.ruling(request_id, extension_id);
        // A request given away can no longer be answered: no link to it.
        let linked = reassigned_to.is_none();
        let about = About {
            org,
            case,
            request_id,
            department,
            round: *round,
        };
        self.to_department(about, message_id, linked, *at, |head| {
            LetterFacts::Ruling(RulingLetter {
                head,
                ruling: outcome,
                extension_id: extension_id.unwrap_or_default().to_owned(),
                reason: reason.clone(),
                ack_due_at,
                reply_due_at,
                reassigned_to,
                sent_at: *at,
            })
        })
    }

    pub(super) fn render_ruling(
        &self,
        mail: &QueuedMail,
        letter: &RulingLetter,
        reference: &str,
    ) -> Result<Rendered, LetterError> {
        let tz = zone(&letter.head.timezone);
        let lang = letter.head.language;
        let outcome = letter.ruling.key();
        let ctx = context! {
            outcome,
            extension => matches!(
                letter.ruling,
                RulingOutcome::ExtensionApproved | RulingOutcome::ExtensionDenied
            ),
            reassigned => letter.ruling == RulingOutcome::ReturnReassigned,
            department_name => &letter.head.department_name,
            office_name => &letter.head.office_name,
            reference,
            round => letter.head.round,
            title => &letter.head.title,
            reason => &letter.reason,
            ack_due => letter.ack_due_at.map(|d| deadline(d, tz, lang)),
            reply_due => letter.reply_due_at.map(|d| deadline(d, tz, lang)),
            reassigned_to => &letter.reassigned_to,
            sent_on => day(letter.sent_at, tz, lang),
            request_id => &letter.head.request_id,
            reply_link => &letter.head.reply_link,
            reply_address => &letter.head.reply_address,
        };
        let texts = self
            .compose
            .texts("ruling", &format!("ruling.{outcome}"), lang, ctx)?;
        let envelope = self.in_round(&letter.head, letter.sent_at);
        self.compose.message(mail, envelope, texts)
    }
}
