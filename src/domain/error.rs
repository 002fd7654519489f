//! What the domain refuses, in words a caller can act on. The transport maps each
//! variant to one status code (`grpc::status`); nothing here knows about gRPC.

use std::fmt;

/// One offending input field, named as the caller spelled it in the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The input is malformed; every violation names its field.
    #[error("invalid argument: {}", describe(.0))]
    Invalid(Vec<FieldViolation>),
    /// The thing does not exist, or the caller may not see it: the two are
    /// indistinguishable on purpose, so that no caller learns what others hold.
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    AlreadyExists(String),
    /// The action is illegal in the current state; the message names the state.
    #[error("{0}")]
    WrongState(String),
    /// The caller's role may not perform this kind of action at all.
    #[error("{0}")]
    PermissionDenied(String),
    /// The stored aggregate breaks one of its own invariants (a bug, or a row
    /// edited behind the service's back): nothing the caller can fix.
    #[error("inconsistent case: {0}")]
    Inconsistent(String),
}

/// `field: what is wrong; other: …`, for messages and logs.
pub fn describe(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<FieldViolation> for DomainError {
    fn from(v: FieldViolation) -> Self {
        DomainError::Invalid(vec![v])
    }
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldViolation::new(field, description)])
    }

    pub fn wrong_state(message: impl fmt::Display) -> Self {
        Self::WrongState(message.to_string())
    }
}

/// Collects field violations so a caller hears about every bad field at once,
/// not one per round trip.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the value when it parsed, records the violation when it did not.
    pub fn check<T>(&mut self, result: Result<T, FieldViolation>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(violation) => {
                self.0.push(violation);
                None
            }
        }
    }

    pub fn push(&mut self, violation: FieldViolation) {
        self.0.push(violation);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The violations so far as an error, whether or not there are any.
    pub fn into_error(self) -> DomainError {
        DomainError::Invalid(self.0)
    }

    pub fn into_result(self) -> Result<(), DomainError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Invalid(self.0))
        }
    }
}
