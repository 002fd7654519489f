//! The reminder (催办) a department gets before a deadline of a round
//! passes: which step is due by when, and how to answer. It sits in the
//! request's thread.

use chrono::{DateTime, Utc};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{About, LetterError, LetterFacts, Letters, zone};
use crate::domain::effects::Reminded;
use crate::domain::outbox::{OutgoingMail, QueuedMail, Rendered};
use crate::domain::wording::{Language, day, deadline};
use crate::domain::{Case, Due, Organisation};
use crate::mail::address_book::{self, category_name, department_name, office_name};
use crate::mail::compose::Envelope;

/// The facts of a reminder before one deadline of a round.
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
    /// The step the deadline is for (stored as `ACKNOWLEDGE` or `REPLY`).
    pub due: Due,
    pub due_at: DateTime<Utc>,
    /// When the round was issued, and when the reminder went out.
    pub issued_at: DateTime<Utc>,
    pub sent_at: DateTime<Utc>,
    pub timezone: String,
    pub reply_link: Option<String>,
    pub reply_address: Option<String>,
}

/// The step as the reminder's sentence needs it.
fn step(due: Due, lang: Language) -> &'static str {
    match (lang, due) {
        (Language::Zh, due) => due.zh(),
        (Language::En, Due::Acknowledge) => "acknowledged",
        (Language::En, Due::Reply) => "answered",
    }
}

impl Letters {
    pub(super) fn plan_reminder(
        &self,
        org: &Organisation,
        case: &Case,
        reminded: &Reminded,
    ) -> Result<Option<OutgoingMail>, LetterError> {
        let Reminded {
            request_id,
            department,
            round,
            issued_at,
            due,
            due_at,
            at,
        } = reminded;
        let (round, due) = (*round, *due);
        let message_id = self.compose.ids.reminder(request_id, round, due);
        let about = About {
            case_id: &case.id,
            request_id,
            department,
        };
        self.to_department(about, message_id, true, *at, |recipient, link| {
            LetterFacts::Reminder(ReminderLetter {
                language: recipient.language,
                to: address_book::to_header(&recipient.addresses),
                request_id: request_id.clone(),
                round,
                department_name: department_name(org, department),
                office_name: office_name(org, &case.office),
                category_name: category_name(org, &case.category),
                title: case.title.clone(),
                due,
                due_at: *due_at,
                issued_at: *issued_at,
                sent_at: *at,
                timezone: org.calendar.tz().name().to_owned(),
                reply_link: link.page,
                reply_address: link.address,
            })
        })
    }

    pub(super) fn render_reminder(
        &self,
        mail: &QueuedMail,
        letter: &ReminderLetter,
        reference: &str,
    ) -> Result<Rendered, LetterError> {
        let tz = zone(&letter.timezone);
        let lang = letter.language;
        let ctx = context! {
            department_name => &letter.department_name,
            office_name => &letter.office_name,
            category_name => &letter.category_name,
            reference,
            round => letter.round,
            title => &letter.title,
            step => step(letter.due, lang),
            due => deadline(letter.due_at, tz, lang),
            issued_on => day(letter.issued_at, tz, lang),
            sent_on => day(letter.sent_at, tz, lang),
            request_id => &letter.request_id,
            reply_link => &letter.reply_link,
            reply_address => &letter.reply_address,
        };
        let texts = self.compose.texts("reminder", "reminder", lang, ctx)?;
        let envelope = Envelope::new(&letter.to, letter.sent_at)
            .answering(self.compose.ids.thread(&letter.request_id, letter.round))
            .reply_to(letter.reply_address.as_deref());
        self.compose.message(mail, envelope, texts)
    }
}
