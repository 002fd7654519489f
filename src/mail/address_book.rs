//! The address book: where each department's letters go and in which
//! language, the supervisors' and the offices' mailboxes, the names a letter
//! prints for the codes it is about, and the reply link a letter to a
//! department carries (drawn here because it says where the answer comes
//! back). Every mailbox is parsed once, at start-up, so a malformed address
//! stops the service rather than the first letter.

use std::collections::BTreeMap;

use anyhow::Context;
use lettre::message::Mailbox;

use crate::domain::reply_link;
use crate::domain::wording::Language;
use crate::domain::{IdSource, Organisation};
use crate::settings::Settings;

/// Where and how one department receives letters.
#[derive(Debug, Clone, Default)]
pub struct Recipient {
    pub addresses: Vec<Mailbox>,
    pub language: Language,
}

/// Everyone letters go to, and where answers to them come back.
#[derive(Debug, Clone, Default)]
pub struct AddressBook {
    departments: BTreeMap<String, Recipient>,
    /// Supervisors who receive alerts and their digests by e-mail.
    supervisors: Vec<Mailbox>,
    /// Offices' mailboxes for their weekly digest, by office code.
    offices: BTreeMap<String, Vec<Mailbox>>,
    /// The reply page's address for links (`…/r/TOKEN`), when it is served.
    reply_page: Option<String>,
    /// The domain of reply addresses (`reply+TOKEN@domain`), when inbound
    /// mail is taken.
    reply_domain: Option<String>,
}

/// A letter's reply link: what it prints and what the store keeps.
#[derive(Debug, Clone, Default)]
pub struct ReplyLink {
    pub page: Option<String>,
    pub address: Option<String>,
    /// The token's digest, stored beside the letter; the token itself is
    /// only ever printed in it.
    pub digest: Option<String>,
}

fn parse_all(what: &str, addresses: &[String]) -> anyhow::Result<Vec<Mailbox>> {
    addresses
        .iter()
        .map(|e| {
            e.parse::<Mailbox>()
                .with_context(|| format!("{what}: {e:?} is not a mailbox"))
        })
        .collect()
}

impl AddressBook {
    pub fn new(departments: BTreeMap<String, Recipient>) -> Self {
        Self {
            departments,
            ..Self::default()
        }
    }

    /// The book the settings describe.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let mut departments = BTreeMap::new();
        for (code, d) in &settings.departments {
            let addresses = parse_all(&format!("departments.{code}.emails"), &d.emails)?;
            if addresses.is_empty() {
                tracing::warn!(department = %code, "department has no e-mail address: it will receive no letters");
            }
            let recipient = Recipient {
                addresses,
                language: d.language,
            };
            departments.insert(code.clone(), recipient);
        }
        let mut offices = BTreeMap::new();
        for (code, o) in &settings.offices {
            offices.insert(
                code.clone(),
                parse_all(&format!("offices.{code}.emails"), &o.emails)?,
            );
        }
        Ok(Self::new(departments)
            .with_supervisors(parse_all("alert_mail.to", &settings.alert_mail.to)?)
            .with_offices(offices))
    }

    /// Supervisors who receive alerts by e-mail; none: no alert letters.
    pub fn with_supervisors(mut self, supervisors: Vec<Mailbox>) -> Self {
        self.supervisors = supervisors;
        self
    }

    /// Offices' mailboxes for the weekly digest; an office with none gets none.
    pub fn with_offices(mut self, offices: BTreeMap<String, Vec<Mailbox>>) -> Self {
        self.offices = offices;
        self
    }

    /// Lets every letter to a department carry a fresh reply link: to the
    /// reply page under `page` (its public base URL) and as the Reply-To
    /// address `reply+TOKEN@domain`. Either may be absent.
    pub fn with_reply_channels(mut self, page: Option<String>, domain: Option<String>) -> Self {
        self.reply_page = page.map(|p| p.trim_end_matches('/').to_owned());
        self.reply_domain = domain;
        self
    }

    /// Where a department's letters go; none when it has no address.
    pub fn department(&self, code: &str) -> Option<&Recipient> {
        self.departments
            .get(code)
            .filter(|r| !r.addresses.is_empty())
    }

    pub fn supervisors(&self) -> &[Mailbox] {
        &self.supervisors
    }

    /// An office's mailboxes; none when it has no address.
    pub fn office(&self, code: &str) -> &[Mailbox] {
        self.offices.get(code).map_or(&[], Vec::as_slice)
    }

    /// The offices with an address, by code.
    pub fn offices_with_mail(&self) -> Vec<String> {
        self.offices
            .iter()
            .filter(|(_, to)| !to.is_empty())
            .map(|(code, _)| code.clone())
            .collect()
    }

    /// Whether letters carry reply links at all.
    pub fn has_reply_channels(&self) -> bool {
        self.reply_page.is_some() || self.reply_domain.is_some()
    }

    /// Draws a link for one letter from `ids`, if any reply channel is on.
    pub fn mint_link(&self, ids: &dyn IdSource) -> ReplyLink {
        if !self.has_reply_channels() {
            return ReplyLink::default();
        }
        let minted = reply_link::mint(ids);
        ReplyLink {
            page: self
                .reply_page
                .as_ref()
                .map(|base| format!("{base}/r/{}", minted.token)),
            address: self
                .reply_domain
                .as_ref()
                .map(|domain| format!("reply+{}@{domain}", minted.token)),
            digest: Some(minted.digest),
        }
    }
}

/// The `To:` of a letter, display names kept, as its facts store it.
pub fn to_header(mailboxes: &[Mailbox]) -> Vec<String> {
    mailboxes.iter().map(Mailbox::to_string).collect()
}

/// The envelope's recipients: the bare addresses.
pub fn envelope(mailboxes: &[Mailbox]) -> Vec<String> {
    mailboxes.iter().map(|m| m.email.to_string()).collect()
}

/// A department's name, or its code when the organisation no longer has it.
pub fn department_name(org: &Organisation, code: &str) -> String {
    org.department(code)
        .map_or_else(|| code.to_owned(), |d| d.name.clone())
}

/// An office's name, or its code when the organisation no longer has it.
pub fn office_name(org: &Organisation, code: &str) -> String {
    org.office(code)
        .map_or_else(|| code.to_owned(), |o| o.name.clone())
}

/// A category's name, or its code when the organisation no longer has it.
pub fn category_name(org: &Organisation, code: &str) -> String {
    org.categories
        .get(code)
        .map_or_else(|| code.to_owned(), |c| c.name.clone())
}
