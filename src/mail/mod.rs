//! Letters to departments: rendering (`letter`), the transports that carry them
//! (`transport`: SMTP in production, a folder of .eml files by default) and the
//! outbox worker that delivers what the transactions wrote (`worker`).

pub mod letter;
pub mod transport;
pub mod worker;

use std::collections::BTreeMap;

use anyhow::Context;
use lettre::message::Mailbox;

use crate::settings::Settings;
use letter::{Letters, Recipient};

/// The letter renderer for these settings; refuses malformed addresses at
/// start-up rather than at the first letter.
pub fn letters(settings: &Settings) -> anyhow::Result<Letters> {
    let from: Mailbox = settings
        .mail
        .from
        .parse()
        .with_context(|| format!("mail.from: {:?} is not a mailbox", settings.mail.from))?;
    let mut recipients = BTreeMap::new();
    for (code, d) in &settings.departments {
        let addresses = d
            .emails
            .iter()
            .map(|e| {
                e.parse::<Mailbox>()
                    .with_context(|| format!("departments.{code}.emails: {e:?} is not an address"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        if addresses.is_empty() {
            tracing::warn!(department = %code, "department has no e-mail address: it will receive no letters");
        }
        let recipient = Recipient {
            addresses,
            language: d.language,
        };
        recipients.insert(code.clone(), recipient);
    }
    let supervisors = settings
        .alert_mail
        .to
        .iter()
        .map(|e| {
            e.parse::<Mailbox>()
                .with_context(|| format!("alert_mail.to: {e:?} is not a mailbox"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut offices = BTreeMap::new();
    for (code, o) in &settings.offices {
        let addresses = o
            .emails
            .iter()
            .map(|e| {
                e.parse::<Mailbox>()
                    .with_context(|| format!("offices.{code}.emails: {e:?} is not an address"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        offices.insert(code.clone(), addresses);
    }
    Ok(
        Letters::new(from, settings.mail.message_id_domain.clone(), recipients)
            .with_supervisors(supervisors)
            .with_offices(offices),
    )
}
