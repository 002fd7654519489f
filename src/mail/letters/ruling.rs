//! The letter telling a department how a supervisor ruled on what it asked
//! for (延期, 退单): the ruling, the reason, and the deadlines it has now,
//! or where the request went. It sits in the request's thread; a request
//! given away carries no reply link, as it can no longer be answered.

use chrono::{DateTime, Utc};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{About, LetterError, LetterFacts, Letters, zone};
use crate::domain::effects::{Ruled, RulingNotice};
use crate::domain::outbox::{OutgoingMail, QueuedMail, Rendered};
use crate::domain::wording::{Language, day, deadline};
use crate::domain::{Case, Organisation};
use crate::mail::address_book::{self, department_name, office_name};
use crate::mail::compose::Envelope;

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
    pub language: Language,
    pub to: Vec<String>,
    pub request_id: String,
    pub round: u32,
    pub ruling: RulingOutcome,
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
            case_id: &case.id,
            request_id,
            department,
        };
        self.to_department(about, message_id, linked, *at, |recipient, link| {
            LetterFacts::Ruling(RulingLetter {
                language: recipient.language,
                to: address_book::to_header(&recipient.addresses),
                request_id: request_id.clone(),
                round: *round,
                ruling: outcome,
                extension_id: extension_id.unwrap_or_default().to_owned(),
                reason: reason.clone(),
                department_name: department_name(org, department),
                office_name: office_name(org, &case.office),
                title: case.title.clone(),
                ack_due_at,
                reply_due_at,
                reassigned_to,
                sent_at: *at,
                timezone: org.calendar.tz().name().to_owned(),
                reply_link: link.page,
                reply_address: link.address,
            })
        })
    }

    pub(super) fn render_ruling(
        &self,
        mail: &QueuedMail,
        letter: &RulingLetter,
        reference: &str,
    ) -> Result<Rendered, LetterError> {
        let tz = zone(&letter.timezone);
        let lang = letter.language;
        let outcome = letter.ruling.key();
        let ctx = context! {
            outcome,
            extension => matches!(
                letter.ruling,
                RulingOutcome::ExtensionApproved | RulingOutcome::ExtensionDenied
            ),
            reassigned => letter.ruling == RulingOutcome::ReturnReassigned,
            department_name => &letter.department_name,
            office_name => &letter.office_name,
            reference,
            round => letter.round,
            title => &letter.title,
            reason => &letter.reason,
            ack_due => letter.ack_due_at.map(|d| deadline(d, tz, lang)),
            reply_due => letter.reply_due_at.map(|d| deadline(d, tz, lang)),
            reassigned_to => &letter.reassigned_to,
            sent_on => day(letter.sent_at, tz, lang),
            request_id => &letter.request_id,
            reply_link => &letter.reply_link,
            reply_address => &letter.reply_address,
        };
        let texts = self
            .compose
            .texts("ruling", &format!("ruling.{outcome}"), lang, ctx)?;
        let envelope = Envelope::new(&letter.to, letter.sent_at)
            .answering(self.compose.ids.thread(&letter.request_id, letter.round))
            .reply_to(letter.reply_address.as_deref());
        self.compose.message(mail, envelope, texts)
    }
}
