//! Which principal a verified client certificate is: its subject's common
//! name (`principals.NAME.cert_subjects`) or a DNS name or URI of its
//! subjectAltName (`cert_sans`). The rule is written once here and both
//! doors ask it: gRPC, where a department system calls with its certificate,
//! and the console, where a person signs in with theirs. Each door words its
//! own refusal.

use std::collections::HashMap;
use std::sync::Arc;

use super::CertNames;
use crate::domain::{Actor, ActorRole};
use crate::settings::{PrincipalRole, PrincipalSettings};

/// Why a certificate rustls has verified still names no one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmapped {
    /// x509-parser cannot read it.
    Unreadable,
    /// Its names belong to two principals: refused rather than guessed at.
    Ambiguous,
}

/// Principals by the names of their client certificates.
#[derive(Debug, Clone, Default)]
pub struct CertPrincipals {
    /// By a subject common name, as configured.
    by_subject: Arc<HashMap<String, Actor>>,
    /// By a DNS name (lowercase) or URI.
    by_san: Arc<HashMap<String, Actor>>,
}

impl CertPrincipals {
    /// Every certificate name of every principal; an empty name, or one
    /// given to two principals, stops start-up.
    pub fn new<'a>(
        principals: impl IntoIterator<Item = (&'a String, &'a PrincipalSettings)>,
    ) -> anyhow::Result<Self> {
        let mut by_subject: HashMap<String, Actor> = HashMap::new();
        let mut by_san: HashMap<String, Actor> = HashMap::new();
        for (name, p) in principals {
            let Some(actor) = principal_actor(name, p) else {
                continue;
            };
            for subject in &p.cert_subjects {
                let subject = subject.trim();
                if subject.is_empty() {
                    anyhow::bail!("principals.{name}.cert_subjects: an empty name matches nothing");
                }
                if let Some(other) = by_subject.insert(subject.to_owned(), actor.clone()) {
                    anyhow::bail!(
                        "principals.{name}.cert_subjects: {subject:?} is also {}'s",
                        other.name
                    );
                }
            }
            for san in &p.cert_sans {
                let san = san_key(san);
                if san.is_empty() {
                    anyhow::bail!("principals.{name}.cert_sans: an empty name matches nothing");
                }
                if let Some(other) = by_san.insert(san.clone(), actor.clone()) {
                    anyhow::bail!(
                        "principals.{name}.cert_sans: {san:?} is also {}'s",
                        other.name
                    );
                }
            }
        }
        Ok(Self {
            by_subject: Arc::new(by_subject),
            by_san: Arc::new(by_san),
        })
    }

    /// Whether any principal can be reached by a client certificate.
    pub fn any(&self) -> bool {
        !self.by_subject.is_empty() || !self.by_san.is_empty()
    }

    /// The principal a verified certificate (DER) names; `None` when it names
    /// none.
    pub fn of(&self, der: &[u8]) -> Result<Option<Actor>, Unmapped> {
        if !self.any() {
            return Ok(None);
        }
        let names = CertNames::of(der).ok_or(Unmapped::Unreadable)?;
        self.named(&names)
    }

    /// The principal these names point at, if any.
    pub fn named(&self, names: &CertNames) -> Result<Option<Actor>, Unmapped> {
        let subjects = names
            .common_names
            .iter()
            .filter_map(|cn| self.by_subject.get(cn.as_str()));
        let sans = names
            .dns_names
            .iter()
            .chain(&names.uris)
            .filter_map(|san| self.by_san.get(&san_key(san)));
        let mut found: Option<&Actor> = None;
        for actor in subjects.chain(sans) {
            match found {
                Some(first) if first.name != actor.name => return Err(Unmapped::Ambiguous),
                _ => found = Some(actor),
            }
        }
        Ok(found.cloned())
    }

    /// The principal named `name`, while some certificate name still leads
    /// to it: a session a certificate began ends when the operator takes the
    /// certificate names off its principal.
    pub fn principal(&self, name: &str) -> Option<&Actor> {
        self.by_subject
            .values()
            .chain(self.by_san.values())
            .find(|actor| actor.name == name)
    }
}

/// The actor a principal is; `None` for a role the configuration check
/// refuses before anything is served.
pub fn principal_actor(name: &str, p: &PrincipalSettings) -> Option<Actor> {
    let role = match &p.role {
        PrincipalRole::Office => ActorRole::Office(p.office.clone().unwrap_or_default()),
        PrincipalRole::Department => {
            ActorRole::Department(p.department.clone().unwrap_or_default())
        }
        PrincipalRole::Supervisor => ActorRole::Supervisor,
        PrincipalRole::Unknown(_) => return None,
    };
    Some(Actor {
        name: name.to_owned(),
        role,
    })
}

/// How a subjectAltName is compared: DNS names without regard to case, as
/// DNS compares them; URIs (any name with a colon) as written.
fn san_key(san: &str) -> String {
    let san = san.trim();
    if san.contains(':') {
        san.to_owned()
    } else {
        san.to_ascii_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(subjects: &[&str], sans: &[&str]) -> PrincipalSettings {
        PrincipalSettings {
            role: PrincipalRole::Office,
            office: Some("cuiping".to_owned()),
            department: None,
            key_sha256: None,
            key_sha256_file: None,
            keys: Vec::new(),
            cert_subjects: subjects.iter().map(|s| s.to_string()).collect(),
            cert_sans: sans.iter().map(|s| s.to_string()).collect(),
            emails: Vec::new(),
        }
    }

    fn certificate(common_name: &str, sans: Vec<rcgen::SanType>) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::default();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        params.subject_alt_names = sans;
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn a_certificate_names_its_principal_and_its_holder() {
        let principals = HashMap::from([
            ("cuiping-desk".to_owned(), principal(&["desk"], &[])),
            ("keyed".to_owned(), principal(&[], &[])),
        ]);
        let map = CertPrincipals::new(&principals).unwrap();
        let email = rcgen::SanType::Rfc822Name("zhang@cuiping.example".try_into().unwrap());
        let der = certificate("desk", vec![email]);
        let actor = map.of(&der).unwrap().expect("mapped");
        assert_eq!(actor.name, "cuiping-desk");
        assert_eq!(actor.role, ActorRole::Office("cuiping".into()));
        assert_eq!(
            CertNames::of(&der).unwrap().holder(),
            "zhang@cuiping.example"
        );
        let plain = certificate("desk", Vec::new());
        assert_eq!(CertNames::of(&plain).unwrap().holder(), "CN=desk");
        assert_eq!(map.of(&certificate("other", Vec::new())).unwrap(), None);
        // Only principals a certificate can reach keep a certificate's session.
        assert!(map.principal("cuiping-desk").is_some());
        assert!(map.principal("keyed").is_none());
    }
}
