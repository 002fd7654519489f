//! 强制办结: a supervisor closes a case without the resident's satisfied
//! verdict, with a reason; the departments' clocks stop for good.

use chrono::{DateTime, Utc};

use crate::domain::access::Action;
use crate::domain::case::{Case, CaseAction, EventKind, case_transition};
use crate::domain::context::Ctx;
use crate::domain::effects::Effect;
use crate::domain::error::DomainError;
use crate::domain::request::RequestStatus;
use crate::domain::text::ReasonText;

/// A supervisor's override of the resident's verdict: who, when, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideClose {
    pub by: String,
    pub at: DateTime<Utc>,
    pub reason: String,
}

impl Case {
    /// A supervisor closes the case without the resident's satisfied
    /// verdict, with a reason; the timeline names the supervisor.
    pub fn override_close(
        &mut self,
        ctx: &Ctx<'_>,
        reason: ReasonText,
    ) -> Result<Vec<Effect>, DomainError> {
        let now = ctx.now;
        let permit = ctx.who.permit(Action::Decide)?;
        let actor = permit.actor();
        permit.case(self)?;
        self.status = case_transition(self.status, CaseAction::Override)?;
        // Nothing more is asked of the departments: their clocks stop for
        // good, so no deadline of a closed case is overdue or watched.
        for r in &mut self.requests {
            if matches!(
                r.status,
                RequestStatus::Issued
                    | RequestStatus::Acknowledged
                    | RequestStatus::ReturnRequested
            ) && r.paused_since.is_none()
            {
                r.paused_since = Some(now);
            }
        }
        let reason = reason.into_string();
        self.closed_by_override = Some(OverrideClose {
            by: actor.name.clone(),
            at: now,
            reason: reason.clone(),
        });
        self.record(EventKind::ClosedByOverride, actor, now, None, reason);
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CaseStatus;
    use crate::domain::fixtures::ctx;
    use crate::domain::fixtures::{now, office, open_case, reason, supervisor, wrong_state_naming};
    use chrono::Duration;

    #[test]
    fn an_override_closes_with_who_and_why_once() {
        let mut case = open_case();
        let err = case
            .override_close(&ctx(&office(), now()), reason("x"))
            .unwrap_err();
        assert!(matches!(err, DomainError::PermissionDenied(_)));
        case.override_close(
            &ctx(&supervisor(), now()),
            reason("群众诉求超出政策范围，已解释"),
        )
        .unwrap();
        assert_eq!(case.status, CaseStatus::Closed);
        let o = case.closed_by_override.as_ref().unwrap();
        assert_eq!(
            (o.by.as_str(), o.reason.as_str()),
            (supervisor().name.as_str(), "群众诉求超出政策范围，已解释")
        );
        let last = case.events.last().unwrap();
        assert_eq!(
            (last.kind, last.actor.as_str()),
            (EventKind::ClosedByOverride, supervisor().name.as_str())
        );
        wrong_state_naming(
            case.override_close(&ctx(&supervisor(), now()), reason("x"))
                .unwrap_err(),
            "CLOSED",
        );
        // Its departments' clocks stop: nothing is overdue any more.
        let late = now() + Duration::days(30);
        assert!(case.requests.iter().all(|r| r.overdue(late).is_none()));
    }
}
