//! The rules of 街乡吹哨、部门报到, free of I/O: parsing petitions and texts,
//! routing, the request and case state machines, who may do and see what, the
//! working-day calendar, and the effects each command answers. The caller
//! passes the time and the id source in (`context`), so every rule can be
//! tested with fixed time and seeded ids.

pub mod access;
pub mod alert;
pub mod attachment;
pub mod audit_chain;
pub mod calendar;
pub mod case;
pub mod context;
pub mod decision;
pub mod disclosure;
pub mod effects;
pub mod error;
pub mod ledger;
pub mod listing;
pub mod mail_command;
pub mod organisation;
pub mod outbox;
pub mod petition;
pub mod progress;
pub mod reply_link;
pub mod reply_sender;
pub mod request;
pub mod residents;
pub mod similarity;
pub mod statistics;
pub mod table;
pub mod text;
pub mod timestamp;
pub mod watch;
pub mod wording;

#[cfg(test)]
pub mod fixtures;

pub use access::{Action, PhoneView};
pub use alert::{Alert, AlertKind, RaisedAlert};
pub use calendar::{
    DayKind, DeadlinePolicy, DeadlineSpans, Deadlines, HolidayArrangement, OfficeHours, Span,
    WorkingCalendar,
};
pub use case::{
    Case, CaseStatus, Event, EventKind, Feedback, ReviewDecision, Verdict, VisitMethod,
};
pub use context::{Ctx, IdSource, OsIds, SeededIds};
pub use decision::{
    DecisionPolicy, Extension, ExtensionDecision, ExtensionStatus, OverrideClose, Resolution,
    ReturnAsk, ReturnStatus,
};
pub use effects::Effect;
pub use error::{DomainError, FieldViolation, Violations};
pub use listing::{
    AlertFilter, AskFilter, Assigned, CaseFilter, CaseOrder, CaseText, OverdueFilter, Page,
    PageRequest, PersonalRead, PersonalReadFilter, RequestFilter,
};
pub use mail_command::{MailCommand, Recorded};
pub use organisation::{
    Category, CategoryDeadlines, DeadlineRules, Department, Office, Organisation, Route, Zone,
};
pub use petition::{Petition, PetitionInput, Phone, Resident};
pub use request::{
    Attachment, Channel, DeadlineCause, DeadlineEntry, DepartmentRequest, DepartmentRole, NewReply,
    Reference, Reply, ReplyDetails, RequestStatus, Review,
};
pub use residents::{Candidate, CaseResident};
pub use text::{
    Comment, DocumentNumber, ProgressText, ReasonText, ReplierName, ReplierPhone, ReplyText,
};
pub use watch::{AlertSlot, Due, Overdue, Watch, WatchPolicy};

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
    /// Whoever holds the reply link of one request (from its letter, on the
    /// reply page or by mail): that department, for that request only.
    LinkHolder {
        department: String,
        request_id: String,
    },
    /// The discipline commission or another supervisor: sees everything.
    Supervisor,
    /// whistle itself (the deadline watch), acting for no caller.
    System,
}
