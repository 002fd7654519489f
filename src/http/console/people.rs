//! Who may sign in to the console: the addresses listed under each principal
//! (`principals.NAME.emails`), and the actor each acts as. Console actions
//! are recorded under the principal and the person together,
//! `NAME <address>`, so that the timeline says which office acted and who in
//! it did.

use std::collections::HashMap;

use crate::domain::{Actor, ActorRole};
use crate::settings::{PrincipalRole, PrincipalSettings};

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
            let role = match p.role {
                PrincipalRole::Office => ActorRole::Office(p.office.clone().unwrap_or_default()),
                PrincipalRole::Department => {
                    ActorRole::Department(p.department.clone().unwrap_or_default())
                }
                PrincipalRole::Supervisor => ActorRole::Supervisor,
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
