//! The rules of 街乡吹哨、部门报到, free of I/O: parsing petitions, routing them,
//! the request and case state machines, the working-day calendar. The caller
//! passes the clock and the ids in, so every rule can be tested with fixed time.

pub mod calendar;
pub mod case;
pub mod error;
pub mod organisation;
pub mod petition;
pub mod request;

pub use calendar::{
    DayKind, DeadlinePolicy, DeadlineSpans, Deadlines, HolidayArrangement, OfficeHours, Span,
    WorkingCalendar,
};
pub use case::{Case, CaseStatus, Event, EventKind, Feedback, ReviewDecision, Verdict};
pub use error::{DomainError, FieldViolation};
pub use organisation::{
    Category, CategoryDeadlines, DeadlineRules, Department, Office, Organisation, Route,
};
pub use petition::{Petition, PetitionInput, Phone, Resident};
pub use request::{DepartmentRequest, Reference, Reply, RequestStatus, Review, Role};

/// Who is calling, as established by authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The principal's name from configuration; it is what the timeline records.
    pub name: String,
    pub role: ActorRole,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActorRole {
    /// A street-office system, acting for the office with this code.
    Office(String),
    /// A department (its system or its staff), with this code.
    Department(String),
    /// The discipline commission or another supervisor: sees everything.
    Supervisor,
}

impl Actor {
    pub fn office(&self) -> Option<&str> {
        match &self.role {
            ActorRole::Office(code) => Some(code),
            _ => None,
        }
    }

    pub fn department(&self) -> Option<&str> {
        match &self.role {
            ActorRole::Department(code) => Some(code),
            _ => None,
        }
    }
}
