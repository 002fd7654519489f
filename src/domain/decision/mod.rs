//! Supervision decisions: a department asks for more time (延期) or says a
//! request is not its remit (退单), a supervisor rules on it, and a supervisor
//! may close a case without the resident's satisfied verdict (override), with a
//! reason. While an ask waits for its ruling the department's clock stands
//! still (`DepartmentRequest::paused_since`): no deadline of the request runs,
//! and the working time it stood still is added back to its deadlines when the
//! ruling comes, except that an approved extension sets the deadline asked for.
//! Each ruling is final; the asks and rulings are state machines as data, like
//! the request's.
//!
//! One file per decision: [`extension`], [`return_ask`] and
//! [`override_close`]; what they share (the policy, the pause) is here.

mod extension;
mod override_close;
mod return_ask;

pub use extension::{
    Extension, ExtensionDecision, ExtensionRuling, ExtensionStatus, extension_transition,
};
pub use override_close::OverrideClose;
pub use return_ask::{Resolution, ReturnAsk, ReturnStatus, return_transition};

use chrono::{DateTime, Duration, Utc};

use super::calendar::{Span, WorkingCalendar};
use super::error::DomainError;
use super::request::{DeadlineCause, DepartmentRequest};
use super::watch::{Due, StepWatch};

/// `[supervision]`: how many extensions a request may ask for and how long
/// after issue a department may still return it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecisionPolicy {
    pub max_extensions: u32,
    pub return_window: Span,
}

impl Default for DecisionPolicy {
    /// Two asks for more time; a misrouted request is returned within two
    /// working hours, before anyone has started on it.
    fn default() -> Self {
        Self {
            max_extensions: 2,
            return_window: Span::WorkingHours(2),
        }
    }
}

impl DepartmentRequest {
    /// Ends a pause at `now`: the working time it lasted is added to every
    /// deadline still open, and a moved deadline is watched afresh. Answers
    /// the time added.
    pub(super) fn resume(
        &mut self,
        calendar: &WorkingCalendar,
        now: DateTime<Utc>,
        skip_reply: bool,
    ) -> Duration {
        let Some(since) = self.paused_since.take() else {
            return Duration::zero();
        };
        let paused = calendar.working_time_between(since, now);
        let mut moved = Vec::new();
        if self.acknowledged_at.is_none() && !paused.is_zero() {
            self.ack_due_at = calendar.after_working_time(self.ack_due_at, paused);
            self.watch.ack = StepWatch::default();
            moved.push(Due::Acknowledge);
        }
        if !skip_reply && !paused.is_zero() {
            self.reply_due_at = calendar.after_working_time(self.reply_due_at, paused);
            self.watch.reply = StepWatch::default();
            moved.push(Due::Reply);
        }
        if !moved.is_empty() {
            self.note_deadlines(now, DeadlineCause::Resumed, &moved);
        }
        paused
    }
}

pub(super) fn wrong_state(en: impl Into<String>, zh: impl Into<String>) -> DomainError {
    DomainError::wrong_state(en, zh)
}

pub(super) fn refuse_paused(r: &DepartmentRequest) -> Result<(), DomainError> {
    if r.paused_since.is_some() {
        return Err(wrong_state(
            format!(
                "request is {} with an ask waiting for a supervisor's ruling; one ask at a time",
                r.status
            ),
            format!(
                "请求当前为「{}」，已有申请等待督办人员决定，请等待决定后再申请",
                r.status.zh()
            ),
        ));
    }
    Ok(())
}
