//! The one error every use case returns, and so the one error every door maps
//! (gRPC, the console and the reply page, inbound mail). A refusal carries the
//! domain's words for what the caller can act on; everything else says only
//! whether a retry may help, and keeps its cause for the log.

use crate::domain::{DomainError, access};
use crate::store::StoreError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Invalid input, not found, wrong state, already exists, not permitted.
    #[error(transparent)]
    Refused(DomainError),
    /// The database cannot be reached or has no free connection: retry later.
    #[error("database unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// A concurrent change won a race the database settled: read and retry.
    #[error("concurrent change")]
    Contention(#[source] anyhow::Error),
    /// A bug, a broken database, a letter that cannot be made: nothing the
    /// caller can do but report it.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<DomainError> for Error {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Inconsistent(_) => Error::Internal(e.into()),
            e => Error::Refused(e),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Domain(e) => e.into(),
            StoreError::Unavailable(e) => Error::Unavailable(e.into()),
            StoreError::Contention(e) => Error::Contention(e.into()),
            other => Error::Internal(other.into()),
        }
    }
}

/// Something the caller named does not exist, or is not theirs to see. The
/// id is repeated as given, cut at 64 characters.
pub fn not_found(what: &'static str, id: &str) -> Error {
    Error::Refused(access::hidden(what, id))
}

impl Error {
    /// This error as the caller who named `what` `id` hears it: a case it
    /// reached through what it named is not found as what it named
    /// (`access::hidden_behind`).
    pub fn hidden_behind(self, what: &'static str, id: &str) -> Error {
        match self {
            Error::Refused(refusal) => Error::Refused(access::hidden_behind(refusal, what, id)),
            other => other,
        }
    }
}
