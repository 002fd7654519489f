//! Who is calling. Every RPC carries `authorization: Bearer KEY`; the key's SHA-256
//! digest is looked up among the configured principals. Configuration holds only
//! digests, and keys are long random tokens, so a plain digest (no salt, no slow
//! hash) is what fits: a password hash would cost milliseconds on every call.

use std::collections::HashMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tonic::{Request, Status};

use crate::domain::{Actor, ActorRole};
use crate::settings::{PrincipalRole, PrincipalSettings};

#[derive(Debug, Clone)]
pub struct Authenticator {
    by_digest: Arc<HashMap<String, Actor>>,
}

/// The digest configuration stores for a key.
pub fn key_digest(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

impl Authenticator {
    pub fn new<'a>(
        principals: impl IntoIterator<Item = (&'a String, &'a PrincipalSettings)>,
    ) -> Self {
        let by_digest = principals
            .into_iter()
            .map(|(name, p)| {
                let role = match p.role {
                    PrincipalRole::Office => {
                        ActorRole::Office(p.office.clone().unwrap_or_default())
                    }
                    PrincipalRole::Department => {
                        ActorRole::Department(p.department.clone().unwrap_or_default())
                    }
                    PrincipalRole::Supervisor => ActorRole::Supervisor,
                };
                let actor = Actor {
                    name: name.clone(),
                    role,
                };
                (p.key_sha256.to_ascii_lowercase(), actor)
            })
            .collect();
        Self {
            by_digest: Arc::new(by_digest),
        }
    }

    /// Finds the caller of a request from its metadata.
    pub fn authenticate(&self, metadata: &tonic::metadata::MetadataMap) -> Result<Actor, Status> {
        let header = metadata.get("authorization").ok_or_else(|| {
            Status::unauthenticated(
                "missing authorization metadata: send `authorization: Bearer KEY`",
            )
        })?;
        let value = header
            .to_str()
            .map_err(|_| Status::unauthenticated("authorization metadata is not text"))?;
        let key = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| Status::unauthenticated("authorization must be `Bearer KEY`"))?
            .trim();
        self.by_digest
            .get(&key_digest(key))
            .cloned()
            .ok_or_else(|| Status::unauthenticated("unknown key"))
    }

    /// A tonic interceptor that puts the caller into the request's extensions.
    pub fn interceptor(
        &self,
    ) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone + Send + Sync + 'static {
        let this = self.clone();
        move |mut request: Request<()>| {
            let actor = this.authenticate(request.metadata())?;
            request.extensions_mut().insert(actor);
            Ok(request)
        }
    }
}

/// The caller the interceptor established.
pub fn caller<T>(request: &Request<T>) -> Result<Actor, Status> {
    request
        .extensions()
        .get::<Actor>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("no caller"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_key_digest_matches_the_demo_config() {
        assert_eq!(
            key_digest("demo-office-cuiping"),
            "fd2741b444053b5d470314062340926564922a9c1719cb20b0b7eb31ff08e35e"
        );
    }
}
