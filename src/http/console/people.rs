//! Who may sign in to the console: the addresses listed under each principal
//! (`principals.NAME.emails`), and the actor each acts as. Console actions
//! are recorded under the principal and the person together,
//! `NAME <address>`, so that the timeline says which office acted and who in
//! it did.

use std::collections::HashMap;

use crate::domain::{Actor, ActorRole};
use crate::settings::PrincipalSettings;
use crate::tls::principals::principal_actor;

/// A person who acts for a principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// As configured.
    pub email: String,
    pub principal: String,
    pub role: ActorRole,
}

impl Person {
    /// The actor the use cases see: the principal's role, the principal's
    /// name and the person's address on the timeline.
    pub fn actor(&self) -> Actor {
        Actor {
            name: format!("{} <{}>", self.principal, self.email),
            role: self.role.clone(),
        }
    }
}

/// Everyone listed, by address (lowercase: mail systems do not keep case).
#[derive(Debug, Clone, Default)]
pub struct People {
    by_email: HashMap<String, Person>,
}

impl People {
    /// Every address of every principal; an address that is not one, or one
    /// listed under two principals, stops start-up.
    pub fn of<'a>(
        principals: impl IntoIterator<Item = (&'a String, &'a PrincipalSettings)>,
    ) -> anyhow::Result<Self> {
        let mut by_email: HashMap<String, Person> = HashMap::new();
        for (name, p) in principals {
            // The configuration check refuses an unknown role before the
            // console is built; such a principal signs no one in.
            let Some(Actor { role, .. }) = principal_actor(name, p) else {
                continue;
            };
            for email in &p.emails {
                let email = email.trim();
                if email.parse::<lettre::Address>().is_err() || email.contains(['<', '>']) {
                    anyhow::bail!("principals.{name}.emails: {email:?} is not an e-mail address");
                }
                let person = Person {
                    email: email.to_owned(),
                    principal: name.clone(),
                    role: role.clone(),
                };
                if let Some(other) = by_email.insert(email.to_lowercase(), person) {
                    anyhow::bail!(
                        "principals.{name}.emails: {email:?} is also {}'s",
                        other.principal
                    );
                }
            }
        }
        Ok(Self { by_email })
    }

    pub fn by_email(&self, email: &str) -> Option<&Person> {
        self.by_email.get(&email.trim().to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::PrincipalRole;

    fn principal(role: PrincipalRole, office: Option<&str>, emails: &[&str]) -> PrincipalSettings {
        PrincipalSettings {
            role,
            office: office.map(str::to_owned),
            department: None,
            key_sha256: None,
            key_sha256_file: None,
            keys: Vec::new(),
            cert_subjects: Vec::new(),
            cert_sans: Vec::new(),
            emails: emails.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn a_person_acts_as_the_principal_and_is_named_beside_it() {
        let principals = HashMap::from([(
            "cuiping-office".to_owned(),
            principal(
                PrincipalRole::Office,
                Some("cuiping"),
                &["Zhang@Cuiping.example"],
            ),
        )]);
        let people = People::of(&principals).unwrap();
        let person = people
            .by_email(" zhang@cuiping.EXAMPLE ")
            .expect("case and spaces aside");
        let actor = person.actor();
        assert_eq!(actor.role, ActorRole::Office("cuiping".into()));
        assert_eq!(actor.name, "cuiping-office <Zhang@Cuiping.example>");
        assert!(people.by_email("li@cuiping.example").is_none());
    }

    #[test]
    fn an_address_of_two_principals_or_no_address_stops_start_up() {
        let twice = HashMap::from([
            (
                "a".to_owned(),
                principal(PrincipalRole::Supervisor, None, &["x@y.example"]),
            ),
            (
                "b".to_owned(),
                principal(PrincipalRole::Supervisor, None, &["X@y.example"]),
            ),
        ]);
        let refused = People::of(&twice).unwrap_err().to_string();
        assert!(refused.contains("is also"), "{refused}");
        for wrong in ["not an address", "a <b@c.example>", ""] {
            let one = HashMap::from([(
                "a".to_owned(),
                principal(PrincipalRole::Supervisor, None, &[wrong]),
            )]);
            let refused = People::of(&one).unwrap_err().to_string();
            assert!(
                refused.contains("principals.a.emails"),
                "{wrong}: {refused}"
            );
        }
    }
}
