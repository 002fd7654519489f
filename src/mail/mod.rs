//! Mail out: the letters whistle writes and how they travel.
//!
//! - `letters`: one file per kind of letter, each with the facts it stores,
//!   its planning and its rendering: to departments (the request letter,
//!   reminders, rulings on their asks), to whoever answered by mail (a
//!   receipt), to the supervisors (alerts, the daily digest) and to offices
//!   and the supervisors (the weekly digest).
//! - `address_book`: who receives what (departments, supervisors, offices),
//!   the names letters print, and the reply links they carry.
//! - `compose`: templates and subject lines, the Message-ID scheme and
//!   threading, MIME assembly.
//! - `transport`: SMTP through a pool of connections in production, a folder
//!   of .eml files by default.
//!
//! The letters as they wait in the outbox, and the record of their delivery,
//! are plain data in `domain::outbox`, so the store can persist them without
//! naming mail. The worker that delivers what the transactions wrote is
//! `workers::outbox`.

pub mod address_book;
pub mod compose;
pub mod letters;
pub mod transport;

use anyhow::Context;
use lettre::message::Mailbox;

pub use address_book::{AddressBook, Recipient};
pub use letters::{LetterError, LetterFacts, Letters};

use crate::settings::Settings;

/// The letters for these settings; refuses malformed addresses at start-up
/// rather than at the first letter.
pub fn letters(settings: &Settings) -> anyhow::Result<Letters> {
    let from: Mailbox = settings
        .mail
        .from
        .parse()
        .with_context(|| format!("mail.from: {:?} is not a mailbox", settings.mail.from))?;
    Ok(Letters::new(
        from,
        settings.mail.message_id_domain.clone(),
        AddressBook::from_settings(settings)?,
    ))
}
