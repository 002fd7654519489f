//! The reminder (催办) a department gets before a deadline of a round
//! passes: which step is due by when, and how to answer. It sits in the
//! request's thread.

use chrono::{DateTime, Utc};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{About, LetterError, LetterFacts, Letters, ToDepartment, zone};
use crate::domain::effects::Reminded;
use crate::domain::outbox::{OutgoingMail, QueuedMail, Rendered};
use crate::domain::wording::{Language, day, deadline};
use crate::domain::{Case, Due, Organisation};
use crate::mail::address_book::category_name;

/// The facts of a reminder before one deadline of a round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReminderLetter {
    /// Where it goes, about which round of which request, how to answer.
    #[serde(flatten)]
    pub head: ToDepartment,
    pub category_name: String,
    /// The step the deadline is for (stored as `ACKNOWLEDGE` or `REPLY`).
    pub due: Due,
    pub due_at: DateTime<Utc>,
    /// When the round was issued, and when the reminder went out.
    pub issued_at: DateTime<Utc>,
    pub sent_at: DateTime<Utc>,
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
            org,
            case,
            request_id,
            department,
            round,
        };
        self.to_department(about, message_id, true, *at, |head| {
            LetterFacts::Reminder(ReminderLetter {
                head,
                category_name: category_name(org, &case.category),
                due,
                due_at: *due_at,
                issued_at: *issued_at,
                sent_at: *at,
            })
        })
    }

    pub(super) fn render_reminder(
        &self,
        mail: &QueuedMail,
        letter: &ReminderLetter,
        reference: &str,
    ) -> Result<Rendered, LetterError> {
        let tz = zone(&letter.head.timezone);
        let lang = letter.head.language;
        let ctx = context! {
            department_name => &letter.head.department_name,
            office_name => &letter.head.office_name,
            category_name => &letter.category_name,
            reference,
            round => letter.head.round,
            title => &letter.head.title,
            step => step(letter.due, lang),
            due => deadline(letter.due_at, tz, lang),
            issued_on => day(letter.issued_at, tz, lang),
            sent_on => day(letter.sent_at, tz, lang),
            request_id => &letter.head.request_id,
            reply_link => &letter.head.reply_link,
            reply_address => &letter.head.reply_address,
        };
        let texts = self.compose.texts("reminder", "reminder", lang, ctx)?;
        let envelope = self.in_round(&letter.head, letter.sent_at);
        self.compose.message(mail, envelope, texts)
    }
}
