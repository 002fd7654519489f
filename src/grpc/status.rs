//! The one place errors become gRPC statuses. A refusal says what the caller
//! can act on; trouble below is logged here with its cause chain and answered
//! without internals.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::domain::DomainError;
use crate::service::Error;

pub fn to_status(error: Error) -> Status {
    match error {
        Error::Refused(e) => domain_status(e),
        Error::Unavailable(e) => {
            tracing::warn!(error = %chain(&e), "database unavailable");
            Status::unavailable("the database is unavailable; try again")
        }
        Error::Contention(e) => {
            tracing::info!(error = %chain(&e), "contention");
            Status::aborted(
                "a concurrent change got there first; read the current state and try again",
            )
        }
        Error::Internal(e) => {
            tracing::error!(error = %chain(&e), "internal error");
            Status::internal("internal error")
        }
    }
}

/// `outer: inner: innermost`.
fn chain(e: &anyhow::Error) -> String {
    format!("{e:#}")
}

pub fn domain_status(error: DomainError) -> Status {
    match error {
        DomainError::Invalid(violations) => {
            let message = crate::domain::error::describe(&violations);
            let mut details = ErrorDetails::new();
            for v in &violations {
                details.add_bad_request_violation(v.field.clone(), v.description.clone());
            }
            Status::with_error_details(Code::InvalidArgument, message, details)
        }
        e @ DomainError::NotFound { .. } => Status::not_found(e.to_string()),
        DomainError::AlreadyExists(m) => Status::already_exists(m),
        DomainError::WrongState(m) => Status::failed_precondition(m),
        DomainError::PermissionDenied(m) => Status::permission_denied(m),
        e @ DomainError::Inconsistent(_) => to_status(e.into()),
    }
}
