//! The one place errors become gRPC statuses. Domain errors say what the caller
//! can act on; database trouble is logged here with its cause chain and answered
//! without internals.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::domain::DomainError;
use crate::store::StoreError;

pub fn to_status(error: StoreError) -> Status {
    match error {
        StoreError::Domain(e) => domain_status(e),
        StoreError::Unavailable(e) => {
            tracing::warn!(error = %crate::telemetry::error_chain(&e), "database unavailable");
            Status::unavailable("the database is unavailable; try again")
        }
        StoreError::Contention(e) => {
            tracing::info!(error = %crate::telemetry::error_chain(&e), "contention");
            Status::aborted(
                "a concurrent change got there first; read the current state and try again",
            )
        }
        other => {
            tracing::error!(error = %crate::telemetry::error_chain(&other), "internal error");
            Status::internal("internal error")
        }
    }
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
    }
}
