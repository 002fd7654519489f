//! Letters, one file per kind, each with the facts it stores, how it is
//! planned and how it is rendered. Writing a letter happens in two steps, on
//! purpose:
//!
//! - planning, inside the change that causes it, decides what the letter
//!   says: the facts as they stand at that moment (names, deadlines, the
//!   resident as the reader may see them), serialised into the outbox row.
//!   It is cheap and touches no template, so nothing is rendered while a
//!   case or an office's reference counter is locked.
//! - rendering, in the outbox worker before the first attempt, turns those
//!   facts and the reference number drawn with them into a message
//!   (`compose`). The rendered bytes are kept and every later attempt sends
//!   exactly them.
//!
//! The facts are stored as JSON: letters waiting in an outbox must still
//! render after an upgrade, so names stay as they are and new fields come
//! with `#[serde(default)]`.
//!
//! To a department: `request` (函, one per round), `reminder` (催办) and
//! `ruling` (on its extension or return); to whoever answered by mail:
//! `receipt` (回执); to the supervisors: `alert` and its daily `digest`; to
//! an office or the supervisors: `weekly` (周报, the ledger attached); to a
//! person who asked to sign in to the console: `sign_in`.

mod alert;
mod digest;
mod notice;
mod receipt;
mod reminder;
mod request;
mod ruling;
mod sign_in;
mod weekly;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use lettre::message::Mailbox;
use serde::{Deserialize, Serialize};

pub use alert::{AlertLetter, AlertLine};
pub use digest::{DIGEST_LINES, DigestLetter};
pub use notice::{NoticeLetter, NoticeOutcome};
pub use receipt::{MailAnswered, ReceiptLetter};
pub use reminder::ReminderLetter;
pub use request::RequestLetter;
pub use ruling::{RulingLetter, RulingOutcome};
pub use sign_in::SignInLetter;
pub use weekly::{
    AttachedFile, OVERDUE_LINES, OverdueLine, PROGRESS_LINES, ProgressCase, ProgressDepartment,
    ProgressSection, WeeklyDigestLetter,
};

use super::address_book::{self, AddressBook, ReplyLink};
use super::compose::{Composer, Envelope};
use crate::domain::outbox::{LetterKind, OutgoingMail, QueuedMail, Rendered};
use crate::domain::wording::Language;
use crate::domain::{Case, Effect, IdSource, Organisation, OsIds};

#[derive(Debug, thiserror::Error)]
pub enum LetterError {
    #[error("rendering template {0}")]
    Template(String, #[source] minijinja::Error),
    #[error("building the message")]
    Build(#[from] lettre::error::Error),
    #[error("reading the letter's facts")]
    Payload(#[from] serde_json::Error),
    #[error("the letter {0} has neither facts nor a rendered message")]
    Empty(String),
    #[error("a recipient of the letter")]
    Address(#[from] lettre::address::AddressError),
    #[error("the letter's attachment: {0}")]
    Attachment(String),
}

/// Everything the outbox can be asked to write, as it stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "letter", rename_all = "snake_case")]
pub enum LetterFacts {
    RequestIssued(RequestLetter),
    Reminder(ReminderLetter),
    Alert(AlertLetter),
    Digest(DigestLetter),
    Receipt(ReceiptLetter),
    WeeklyDigest(Box<WeeklyDigestLetter>),
    Ruling(RulingLetter),
    SignIn(SignInLetter),
    Notice(NoticeLetter),
}

impl LetterFacts {
    pub fn kind(&self) -> LetterKind {
        match self {
            Self::RequestIssued(_) => LetterKind::RequestIssued,
            Self::Reminder(_) => LetterKind::Reminder,
            Self::Alert(_) => LetterKind::Alert,
            Self::Digest(_) => LetterKind::AlertDigest,
            Self::Receipt(_) => LetterKind::Receipt,
            Self::WeeklyDigest(_) => LetterKind::WeeklyDigest,
            Self::Ruling(_) => LetterKind::Ruling,
            Self::SignIn(_) => LetterKind::SignIn,
            Self::Notice(_) => LetterKind::Notice,
        }
    }
}

/// Plans and renders letters. Built once at start-up from settings.
#[derive(Debug)]
pub struct Letters {
    compose: Composer,
    book: AddressBook,
    /// Where reply links' secrets come from.
    ids: Arc<dyn IdSource>,
}

impl Letters {
    pub fn new(from: Mailbox, message_id_domain: String, book: AddressBook) -> Self {
        Self {
            compose: Composer::new(from, message_id_domain),
            book,
            ids: Arc::new(OsIds),
        }
    }

    /// Draws reply links' secrets from `ids` rather than the operating
    /// system's random source.
    pub fn with_ids(mut self, ids: Arc<dyn IdSource>) -> Self {
        self.ids = ids;
        self
    }

    /// Lets every letter to a department carry a fresh reply link (see
    /// `AddressBook::with_reply_channels`).
    pub fn with_reply_channels(mut self, page: Option<String>, domain: Option<String>) -> Self {
        self.book = self.book.with_reply_channels(page, domain);
        self
    }

    /// Whether letters carry reply links at all.
    pub fn has_reply_channels(&self) -> bool {
        self.book.has_reply_channels()
    }

    /// Whether supervisors receive alerts by e-mail.
    pub fn mails_alerts(&self) -> bool {
        !self.book.supervisors().is_empty()
    }

    /// Who receives a weekly digest: the offices with addresses (by code),
    /// and whether the supervisors do.
    pub fn digest_readers(&self) -> (Vec<String>, bool) {
        (self.book.offices_with_mail(), self.mails_alerts())
    }

    /// The letters `effects` cause: what each effect says of its request,
    /// and the case's facts as the change left them. A department with no
    /// address gets none; start-up has already warned about it.
    pub fn plan(
        &self,
        org: &Organisation,
        case: &Case,
        effects: &[Effect],
    ) -> Result<Vec<OutgoingMail>, LetterError> {
        let mut out = Vec::new();
        for effect in effects {
            let planned = match effect {
                Effect::RequestIssued(issued) => self.plan_request(org, case, issued)?,
                Effect::Reminder(reminded) => self.plan_reminder(org, case, reminded)?,
                Effect::Ruled(ruled) => self.plan_ruling(org, case, ruled)?,
                Effect::Notice(notice) => self.plan_notice(org, case, notice)?,
                // Alerts go to supervisors, not to departments.
                Effect::Overdue { .. }
                | Effect::ReplyRejected { .. }
                | Effect::CaseReopened { .. }
                | Effect::ExtensionRequested { .. }
                | Effect::ReturnRequested { .. } => None,
            };
            out.extend(planned);
        }
        Ok(out)
    }

    /// The letter as it will be sent, from the facts planned with it and the
    /// reference number its transaction drew.
    pub fn render(&self, mail: &QueuedMail) -> Result<Rendered, LetterError> {
        if mail.mail.payload.is_empty() {
            return Err(LetterError::Empty(mail.mail.id.clone()));
        }
        let facts: LetterFacts = serde_json::from_str(&mail.mail.payload)?;
        let reference = mail.reference.as_deref().unwrap_or("");
        match facts {
            LetterFacts::RequestIssued(letter) => self.render_request(mail, &letter, reference),
            LetterFacts::Reminder(letter) => self.render_reminder(mail, &letter, reference),
            LetterFacts::Alert(letter) => self.render_alert(mail, &letter),
            LetterFacts::Digest(letter) => self.render_digest(mail, &letter),
            LetterFacts::Receipt(letter) => self.render_receipt(mail, &letter, reference),
            LetterFacts::WeeklyDigest(letter) => self.render_weekly_digest(mail, &letter),
            LetterFacts::Ruling(letter) => self.render_ruling(mail, &letter, reference),
            LetterFacts::SignIn(letter) => self.render_sign_in(mail, &letter),
            LetterFacts::Notice(letter) => self.render_notice(mail, &letter, reference),
        }
    }

    /// A letter to a department about one of its requests, with the facts
    /// `facts` makes of what every such letter states (`ToDepartment`: where
    /// it goes, and its reply link, drawn when `linked`); none when the
    /// department has no address.
    fn to_department(
        &self,
        about: About<'_>,
        message_id: String,
        linked: bool,
        at: DateTime<Utc>,
        facts: impl FnOnce(ToDepartment) -> LetterFacts,
    ) -> Result<Option<OutgoingMail>, LetterError> {
        let Some(recipient) = self.book.department(about.department) else {
            return Ok(None);
        };
        let link = if linked {
            self.book.mint_link(&*self.ids)
        } else {
            ReplyLink::default()
        };
        let digest = link.digest.clone();
        let (org, case) = (about.org, about.case);
        let facts = facts(ToDepartment {
            language: recipient.language,
            to: address_book::to_header(&recipient.addresses),
            request_id: about.request_id.to_owned(),
            round: about.round,
            department_name: address_book::department_name(org, about.department),
            office_name: address_book::office_name(org, &case.office),
            title: case.title.clone(),
            timezone: org.calendar.tz().name().to_owned(),
            reply_link: link.page,
            reply_address: link.address,
        });
        let mail = self.outgoing(&facts, message_id, &recipient.addresses, at)?;
        Ok(Some(
            mail.about(&case.id, Some(about.request_id))
                .with_reply_link(digest),
        ))
    }

    /// The envelope of a later letter about a round: in the thread of the
    /// round's letter, answered where the round is answered.
    fn in_round<'a>(&self, head: &'a ToDepartment, at: DateTime<Utc>) -> Envelope<'a> {
        Envelope::new(&head.to, at)
            .answering(self.compose.ids.thread(&head.request_id, head.round))
            .reply_to(head.reply_address.as_deref())
    }

    /// The outbox row of a letter with these facts, from the service's
    /// sender to `to`.
    fn outgoing(
        &self,
        facts: &LetterFacts,
        message_id: String,
        to: &[Mailbox],
        at: DateTime<Utc>,
    ) -> Result<OutgoingMail, LetterError> {
        Ok(OutgoingMail::new(
            facts.kind(),
            message_id,
            self.compose.sender(),
            address_book::envelope(to),
            serde_json::to_string(facts)?,
            at,
        ))
    }
}

/// The request (and round) a letter to a department is about, and so
/// where it goes.
#[derive(Debug, Clone, Copy)]
struct About<'a> {
    org: &'a Organisation,
    case: &'a Case,
    request_id: &'a str,
    department: &'a str,
    round: u32,
}

/// What every letter to a department about one of its requests states:
/// where it goes and in which language, which round of which request of
/// which case, and how to answer it. Flattened into each such letter's
/// stored facts, which keep the keys they always had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToDepartment {
    pub language: Language,
    /// The `To:` mailboxes, display names included.
    pub to: Vec<String>,
    pub request_id: String,
    pub round: u32,
    pub department_name: String,
    pub office_name: String,
    pub title: String,
    /// The calendar's zone, in which times are printed.
    pub timezone: String,
    pub reply_link: Option<String>,
    pub reply_address: Option<String>,
}

/// The zone a letter's facts name, in which it prints times; a name this
/// build does not know falls back to the calendar's usual zone.
fn zone(name: &str) -> Tz {
    name.parse().unwrap_or(chrono_tz::Asia::Shanghai)
}

#[cfg(test)]
mod stored;
#[cfg(test)]
mod testkit;

#[cfg(test)]
mod tests {
    use super::testkit::*;
    use super::*;
    use crate::domain::fixtures;
    use crate::domain::wording::Language;

    #[test]
    fn departments_without_addresses_get_no_letter() {
        let l = Letters::new(
            "w <w@x.example>".parse().unwrap(),
            "x.example".into(),
            AddressBook::default(),
        );
        assert!(planned(&l, &fixtures::stored_case()).is_empty());
    }

    #[test]
    fn a_letter_without_facts_is_refused_rather_than_sent_empty() {
        let l = letters(Language::Zh);
        let mut mail = planned(&l, &fixtures::stored_case()).remove(0);
        mail.mail.payload.clear();
        assert!(matches!(l.render(&mail), Err(LetterError::Empty(_))));
        mail.mail.payload = "{".into();
        assert!(matches!(l.render(&mail), Err(LetterError::Payload(_))));
    }

    #[test]
    fn each_letter_is_stored_under_its_kind() {
        let l = with_supervisors(letters(Language::Zh));
        let mail = planned(&l, &fixtures::stored_case());
        assert!(
            mail.iter()
                .all(|m| m.mail.kind == LetterKind::RequestIssued)
        );
        let alert = l.plan_alert(&org(), &raised(7, 2)).unwrap().unwrap();
        assert_eq!(alert.kind, LetterKind::Alert);
        let facts: LetterFacts = serde_json::from_str(&alert.payload).unwrap();
        assert_eq!(facts.kind(), alert.kind);
    }
}
