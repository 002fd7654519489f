//! The receipt (回执) to whoever answered a letter by e-mail: what was
//! recorded, with the start of what they wrote. It answers their message, so
//! it sits in their thread; it goes only to an address that can be written to.

use chrono::{DateTime, Utc};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{LetterError, LetterFacts, Letters, zone};
use crate::domain::mail_command::{MailCommand, Recorded};
use crate::domain::outbox::{OutgoingMail, QueuedMail, Rendered};
use crate::domain::wording::Language;
use crate::domain::{Case, Organisation};
use crate::mail::address_book::{department_name, office_name};
use crate::mail::compose::Envelope;

/// A receipt quotes this many characters of what was recorded.
const EXCERPT_CHARS: usize = 120;

/// The facts of a receipt to whoever answered a letter by e-mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptLetter {
    pub to: String,
    pub request_id: String,
    pub department_name: String,
    pub office_name: String,
    pub title: String,
    pub what: Recorded,
    /// The start of what was recorded.
    pub excerpt: String,
    /// The message it answers, with angle brackets; empty when it had none.
    pub answers: String,
    pub received_at: DateTime<Utc>,
    pub timezone: String,
}

/// An answer by e-mail to a letter about a request, as a receipt
/// acknowledges it.
#[derive(Debug, Clone, Copy)]
pub struct MailAnswered<'a> {
    pub request_id: &'a str,
    /// Who wrote, as the envelope said.
    pub sender: &'a str,
    /// The message's id, without angle brackets; empty when it had none.
    pub message_id: &'a str,
    pub command: &'a MailCommand,
}

impl Letters {
    /// A receipt to whoever sent `answered`, saying what was recorded at
    /// `at`; none when the sender's address cannot be written to.
    pub fn plan_receipt(
        &self,
        org: &Organisation,
        case: &Case,
        answered: MailAnswered<'_>,
        at: DateTime<Utc>,
    ) -> Result<Option<OutgoingMail>, LetterError> {
        let MailAnswered {
            request_id,
            sender,
            message_id,
            command,
        } = answered;
        let Some(request) = case.requests.iter().find(|r| r.id == request_id) else {
            return Ok(None);
        };
        let Ok(address) = sender.parse::<lettre::Address>() else {
            return Ok(None);
        };
        let facts = LetterFacts::Receipt(ReceiptLetter {
            to: sender.to_owned(),
            request_id: request.id.clone(),
            department_name: department_name(org, &request.department),
            office_name: office_name(org, &case.office),
            title: case.title.clone(),
            what: command.recorded(),
            excerpt: command.text().chars().take(EXCERPT_CHARS).collect(),
            answers: if message_id.is_empty() {
                String::new()
            } else {
                format!("<{message_id}>")
            },
            received_at: at,
            timezone: org.calendar.tz().name().to_owned(),
        });
        let mail = self.outgoing(&facts, self.compose.ids.receipt(), &[address.into()], at)?;
        Ok(Some(mail.about(&case.id, Some(&request.id))))
    }

    pub(super) fn render_receipt(
        &self,
        mail: &QueuedMail,
        letter: &ReceiptLetter,
        reference: &str,
    ) -> Result<Rendered, LetterError> {
        let tz = zone(&letter.timezone);
        let ctx = context! {
            department_name => &letter.department_name,
            office_name => &letter.office_name,
            reference,
            title => &letter.title,
            what => letter.what.zh(),
            excerpt => &letter.excerpt,
            received => letter.received_at.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
        };
        let texts = self
            .compose
            .texts("receipt", "receipt", Language::Zh, ctx)?;
        let earlier = if letter.answers.is_empty() {
            Vec::new()
        } else {
            vec![letter.answers.clone()]
        };
        let to = std::slice::from_ref(&letter.to);
        let envelope = Envelope::new(to, letter.received_at).answering(earlier);
        self.compose.message(mail, envelope, texts)
    }
}
