//! The one place errors become gRPC statuses. A refusal says what the caller
//! can act on; trouble below is logged here with its cause chain and answered
//! without internals. Every status carries, beside its English message, a
//! `google.rpc.LocalizedMessage` in zh-CN for the Chinese operators of the
//! calling systems, and a refused field a `google.rpc.BadRequest`.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::domain::DomainError;
use crate::service::Error;

/// The locale of every localized message.
pub const LOCALE: &str = "zh-CN";

/// A status with its Chinese message (and any other details).
pub fn localized(
    code: Code,
    en: impl Into<String>,
    zh: impl Into<String>,
    mut details: ErrorDetails,
) -> Status {
    details.set_localized_message(LOCALE, zh);
    Status::with_error_details(code, en, details)
}

pub fn to_status(error: Error) -> Status {
    match error {
        Error::Refused(e) => domain_status(e),
        Error::Unavailable(e) => {
            tracing::warn!(error = %chain(&e), "database unavailable");
            localized(
                Code::Unavailable,
                "the database is unavailable; try again",
                "数据库暂时无法访问，请稍后重试",
                ErrorDetails::new(),
            )
        }
        Error::Contention(e) => {
            tracing::info!(error = %chain(&e), "contention");
            localized(
                Code::Aborted,
                "a concurrent change got there first; read the current state and try again",
                "另一项同时进行的修改先完成了；请读取最新状态后重试",
                ErrorDetails::new(),
            )
        }
        Error::Internal(e) => {
            tracing::error!(error = %chain(&e), "internal error");
            localized(
                Code::Internal,
                "internal error",
                "服务内部错误",
                ErrorDetails::new(),
            )
        }
    }
}

/// `outer: inner: innermost`.
fn chain(e: &anyhow::Error) -> String {
    format!("{e:#}")
}

pub fn domain_status(error: DomainError) -> Status {
    let zh = error.zh();
    match error {
        DomainError::Invalid(violations) => {
            let message = crate::domain::error::describe(&violations);
            let mut details = ErrorDetails::new();
            for v in &violations {
                details.add_bad_request_violation(v.field.clone(), v.description.clone());
            }
            localized(Code::InvalidArgument, message, zh, details)
        }
        e @ DomainError::NotFound { .. } => {
            localized(Code::NotFound, e.to_string(), zh, ErrorDetails::new())
        }
        DomainError::AlreadyExists(m) => {
            localized(Code::AlreadyExists, m.en, zh, ErrorDetails::new())
        }
        DomainError::WrongState(m) => {
            localized(Code::FailedPrecondition, m.en, zh, ErrorDetails::new())
        }
        DomainError::PermissionDenied(m) => {
            localized(Code::PermissionDenied, m.en, zh, ErrorDetails::new())
        }
        e @ DomainError::Inconsistent(_) => to_status(e.into()),
    }
}
