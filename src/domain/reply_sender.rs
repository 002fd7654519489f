//! Whether a department takes an e-mail as its own answer. `reply_domains`
//! names the mail domains its staff write from; a message's `From:` header
//! is whatever its sender typed, and so is the envelope sender (`MAIL FROM`),
//! so neither alone proves anything. What is checked:
//!
//! - the `From:` header names exactly one address (two, the allowed one
//!   first, would have passed a check of the first);
//! - with `reply_domains` set, that address and the envelope sender are both
//!   of the department's domains (a forger must now set both, which an
//!   organisation's mail server checking SPF makes hard);
//! - when the organisation's own mail server is trusted to say so
//!   (`inbound_mail.trusted_authserv_ids`), one of the domains its
//!   `Authentication-Results` vouch for (SPF pass: the envelope sender's;
//!   DKIM pass: the signer's) is of the department's domains: the message
//!   really came from the department's mail system. That is the only check
//!   a forger with an ordinary mail server cannot pass.

use super::organisation::Department;

/// What a message says about who sent it, as the mail door read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SenderEvidence {
    /// Every address of the `From:` header, lowercase.
    pub from: Vec<String>,
    /// The envelope sender (`MAIL FROM`), lowercase; empty for the null
    /// sender of a bounce.
    pub envelope: String,
    /// When the organisation's mail server is trusted: the domains its
    /// `Authentication-Results` vouch for, lowercase. `None` when no server
    /// is trusted, so that none is asked for.
    pub vouched: Option<Vec<String>>,
}

/// Why a message is not taken as the department's, for the SMTP answer and
/// the record: (English, Chinese).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotTheDepartment(pub String);

impl SenderEvidence {
    /// The one `From:` address, when there is exactly one.
    pub fn from_address(&self) -> Option<&str> {
        match self.from.as_slice() {
            [one] => Some(one.as_str()),
            _ => None,
        }
    }

    /// Where a receipt goes: the envelope sender, which is where the sending
    /// server takes answers, else the `From:` address.
    pub fn reply_to(&self) -> Option<&str> {
        if self.envelope.is_empty() {
            self.from_address()
        } else {
            Some(&self.envelope)
        }
    }
}

/// Whether `department` takes a message with this evidence as its answer.
pub fn check(department: &Department, e: &SenderEvidence) -> Result<(), NotTheDepartment> {
    let Some(from) = e.from_address() else {
        return Err(NotTheDepartment(format!(
            "the From header names {} addresses; an answer comes from exactly one",
            e.from.len()
        )));
    };
    if department.reply_domains.is_empty() {
        return Ok(());
    }
    if !department.takes_mail_from(from) {
        return Err(NotTheDepartment(format!(
            "{from} may not answer for this department; reply from an address of its mail domain"
        )));
    }
    if !department.takes_mail_from(&e.envelope) {
        return Err(NotTheDepartment(format!(
            "the envelope sender {:?} may not answer for this department; \
             send from the department's own mail system",
            e.envelope
        )));
    }
    if let Some(vouched) = &e.vouched
        && !vouched
            .iter()
            .any(|domain| department.takes_mail_from(&format!("@{domain}")))
    {
        return Err(NotTheDepartment(format!(
            "{from} may not answer for this department: the organisation's mail server did not \
             authenticate the message as sent by the department's mail domain (SPF or DKIM)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures;

    fn housing(domains: &[&str]) -> Department {
        let mut d = fixtures::org().department("housing").unwrap().clone();
        d.reply_domains = domains.iter().map(|d| d.to_string()).collect();
        d
    }

    fn evidence(from: &[&str], envelope: &str) -> SenderEvidence {
        SenderEvidence {
            from: from.iter().map(|f| f.to_string()).collect(),
            envelope: envelope.into(),
            vouched: None,
        }
    }

    #[test]
    fn one_from_address_and_the_envelope_must_be_the_departments() {
        let d = housing(&["zjj.example.gov.cn"]);
        let liu = "liu@zjj.example.gov.cn";
        assert!(check(&d, &evidence(&[liu], liu)).is_ok());
        assert!(check(&d, &evidence(&[liu], "bounce@mail.zjj.example.gov.cn")).is_ok());
        let forged = check(&d, &evidence(&[liu], "x@evil.example")).unwrap_err();
        assert!(forged.0.contains("envelope sender"), "{forged:?}");
        let two = check(&d, &evidence(&[liu, "x@evil.example"], liu)).unwrap_err();
        assert!(two.0.contains("names 2 addresses"), "{two:?}");
        assert!(check(&d, &evidence(&[], liu)).is_err());
        assert!(check(&d, &evidence(&["x@evil.example"], liu)).is_err());
        // Without reply_domains anyone may answer, from one address.
        let open = housing(&[]);
        assert!(check(&open, &evidence(&["x@evil.example"], "y@other.example")).is_ok());
        assert!(check(&open, &evidence(&["a@b.example", "c@d.example"], "")).is_err());
    }

    #[test]
    fn a_trusted_server_must_vouch_for_a_department_domain() {
        let d = housing(&["zjj.example.gov.cn"]);
        let liu = "liu@zjj.example.gov.cn";
        let with = |vouched: &[&str]| SenderEvidence {
            vouched: Some(vouched.iter().map(|v| v.to_string()).collect()),
            ..evidence(&[liu], liu)
        };
        assert!(check(&d, &with(&["zjj.example.gov.cn"])).is_ok());
        assert!(check(&d, &with(&["mail.zjj.example.gov.cn"])).is_ok());
        assert!(check(&d, &with(&["evil.example"])).is_err());
        let none = check(&d, &with(&[])).unwrap_err();
        assert!(none.0.contains("did not authenticate"), "{none:?}");
    }

    #[test]
    fn a_receipt_goes_to_the_envelope_sender() {
        let e = evidence(&["liu@zjj.example.gov.cn"], "bounces+7@zjj.example.gov.cn");
        assert_eq!(e.reply_to(), Some("bounces+7@zjj.example.gov.cn"));
        assert_eq!(
            evidence(&["liu@zjj.example.gov.cn"], "").reply_to(),
            Some("liu@zjj.example.gov.cn")
        );
    }
}
