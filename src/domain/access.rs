//! Who may do what, and what they see. One place decides it: the use cases ask
//! here before they act and before they answer, the letters ask here what a
//! department may read, and a new kind of caller (a holder of a reply link, the
//! sender of a reply e-mail) is one more arm in these matches.
//!
//! Two kinds of refusal, on purpose: a role that may never do a thing hears
//! `PermissionDenied`; a caller of the right role asking about something that is
//! not theirs hears `NotFound`, exactly as if it did not exist, so that nobody
//! can probe for other offices' cases or other departments' requests.

use super::case::Case;
use super::error::DomainError;
use super::organisation::Organisation;
use super::petition::Resident;
use super::{Actor, ActorRole};

/// What a caller asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Escalate,
    /// Read a case whole, or list the ledger.
    ReadCases,
    ReviewReply,
    RecordFeedback,
    /// Read a request with its case's facts, or list requests.
    ReadRequests,
    Acknowledge,
    Reply,
    /// Follow the office's own case events live.
    WatchCaseEvents,
    /// Follow the department's newly issued requests live.
    WatchAssigned,
    /// Read what is overdue and the alerts, live or listed.
    Supervise,
    /// Ask a supervisor for something: an extension, a return (退单).
    Ask,
    /// Rule on an ask, or close a case by override.
    Decide,
    /// Look after whistle itself: the outbox's letters, the timelines' hash
    /// chains. The command line's built-in operator does this with a
    /// supervisor's reach (`service::operator`).
    Operate,
}

fn denied(en: &str, zh: &str) -> DomainError {
    DomainError::denied(en, zh)
}

/// Whether the caller's role may do this kind of thing at all.
pub fn permit(actor: &Actor, action: Action) -> Result<(), DomainError> {
    use Action as A;
    use ActorRole as R;
    match (&actor.role, action) {
        (
            R::Office(_),
            A::Escalate | A::ReadCases | A::ReviewReply | A::RecordFeedback | A::WatchCaseEvents,
        )
        | (
            R::Department(_),
            A::ReadRequests | A::Acknowledge | A::Reply | A::WatchAssigned | A::Ask,
        )
        | (R::Supervisor, A::ReadCases | A::ReadRequests | A::Supervise | A::Decide | A::Operate) => {
            Ok(())
        }
        (_, A::Operate) => Err(denied(
            "the outbox and the timelines' chains are looked after by the operator",
            "函件投递和时间线校验由运维人员负责",
        )),
        (_, A::Decide) => Err(denied(
            "rulings on extensions and returns, and closing a case by override, are for supervisors",
            "延期、退单的审批和强制办结仅限督办人员",
        )),
        (R::Office(_) | R::Supervisor, A::Ask) => Err(denied(
            "only the department a request is addressed to asks for an extension or a return",
            "只有受函部门可以申请延期或退单",
        )),
        (_, A::Supervise) => Err(denied(
            "what is overdue and the alerts are for supervisors; offices follow their case events",
            "逾期情况和提醒仅供督办人员查看；街道请关注本街道的案件事件",
        )),
        (R::Office(_), A::ReadRequests | A::Acknowledge | A::Reply | A::WatchAssigned) => {
            Err(denied(
                "street offices work on their cases; requests are read and answered by the departments they are addressed to",
                "街道办理本街道的案件；请求由受函部门查看和答复",
            ))
        }
        (
            R::Department(_),
            A::Escalate | A::ReadCases | A::ReviewReply | A::RecordFeedback | A::WatchCaseEvents,
        ) => Err(denied(
            "departments read and answer the requests addressed to them; cases are the street offices'",
            "部门查看和答复发给本部门的请求；案件由街道办理",
        )),
        (R::Supervisor, A::Escalate) => Err(denied(
            "only street offices escalate petitions",
            "只有街道可以提交诉求",
        )),
        (R::Supervisor, A::WatchCaseEvents | A::WatchAssigned) => Err(denied(
            "supervisors follow the alerts (SupervisionService.WatchAlerts)",
            "督办人员请关注提醒（SupervisionService.WatchAlerts）",
        )),
        (R::Supervisor, A::ReviewReply | A::RecordFeedback) => Err(denied(
            "only the street office that escalated the case may do this",
            "只有提交该案件的街道可以进行此操作",
        )),
        (R::Supervisor, A::Acknowledge | A::Reply) => Err(denied(
            "only the department the request is addressed to may do this",
            "只有受函部门可以进行此操作",
        )),
        (R::System, _) => Err(denied(
            "whistle acts on its own schedule, not as a caller",
            "系统按自身计划运行，不作为调用方",
        )),
    }
}

/// Whether the caller may see this case at all: an office its own, a department
/// any case holding one of its requests, a supervisor every case.
pub fn sees_case(actor: &Actor, case: &Case) -> bool {
    match &actor.role {
        ActorRole::Office(code) => *code == case.office,
        ActorRole::Department(code) => case.requests.iter().any(|r| r.department == *code),
        ActorRole::Supervisor => true,
        ActorRole::System => false,
    }
}

/// Permits `action` on the whole case: the role must allow it, and the case must
/// be the caller's (`NotFound` otherwise). Departments never act on whole cases.
pub fn authorize_case(actor: &Actor, action: Action, case: &Case) -> Result<(), DomainError> {
    permit(actor, action)?;
    let own = match &actor.role {
        ActorRole::Office(code) => *code == case.office,
        ActorRole::Supervisor => true,
        ActorRole::Department(_) | ActorRole::System => false,
    };
    if own {
        Ok(())
    } else {
        Err(DomainError::NotFound {
            what: "case",
            id: case.id.clone(),
        })
    }
}

/// Permits `action` on one request of the case and says where it sits; a request
/// the caller may not see is `NotFound`, exactly as one that does not exist.
pub fn authorize_request(
    actor: &Actor,
    action: Action,
    case: &Case,
    request_id: &str,
) -> Result<usize, DomainError> {
    permit(actor, action)?;
    let not_found = || DomainError::NotFound {
        what: "request",
        id: request_id.to_owned(),
    };
    let index = case
        .requests
        .iter()
        .position(|r| r.id == request_id)
        .ok_or_else(not_found)?;
    let visible = match &actor.role {
        ActorRole::Department(code) => case.requests[index].department == *code,
        ActorRole::Office(code) => *code == case.office,
        ActorRole::Supervisor => true,
        ActorRole::System => false,
    };
    if visible { Ok(index) } else { Err(not_found()) }
}

/// How much of a resident's phone number a viewer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneView {
    Full,
    /// `138****5678`: enough to recognise a resident, not to call them.
    Masked,
}

/// The office recorded the number and supervisors oversee it; a department sees
/// it only where configuration says it must call residents itself.
/// Whether showing this viewer a resident unmasked is recorded: for anyone
/// but the office that holds the case (and whistle itself), it is a read of
/// personal information another body made.
pub fn records_personal_reads(viewer: &ActorRole, org: &Organisation) -> bool {
    match viewer {
        ActorRole::Office(_) | ActorRole::System => false,
        ActorRole::Supervisor | ActorRole::Department(_) => {
            phone_view(viewer, org) == PhoneView::Full
        }
    }
}

pub fn phone_view(viewer: &ActorRole, org: &Organisation) -> PhoneView {
    match viewer {
        ActorRole::Office(_) | ActorRole::Supervisor | ActorRole::System => PhoneView::Full,
        ActorRole::Department(code) => {
            if org.department(code).is_some_and(|d| d.show_resident_phone) {
                PhoneView::Full
            } else {
                PhoneView::Masked
            }
        }
    }
}

impl Resident {
    /// The resident as a viewer with this view may read them.
    pub fn as_seen(&self, view: PhoneView) -> Resident {
        match view {
            PhoneView::Full => self.clone(),
            PhoneView::Masked => Resident {
                name: self.name.clone(),
                phone: self.phone.masked_phone(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures;

    #[test]
    fn each_role_may_do_its_own_kind_of_thing_only() {
        use Action as A;
        let all = [
            A::Escalate,
            A::ReadCases,
            A::ReviewReply,
            A::RecordFeedback,
            A::ReadRequests,
            A::Acknowledge,
            A::Reply,
            A::WatchCaseEvents,
            A::WatchAssigned,
            A::Supervise,
            A::Ask,
            A::Decide,
            A::Operate,
        ];
        let allowed = |actor: &Actor| -> Vec<Action> {
            all.into_iter()
                .filter(|a| permit(actor, *a).is_ok())
                .collect()
        };
        assert_eq!(
            allowed(&fixtures::office()),
            [
                A::Escalate,
                A::ReadCases,
                A::ReviewReply,
                A::RecordFeedback,
                A::WatchCaseEvents
            ]
        );
        assert_eq!(
            allowed(&fixtures::dept("housing")),
            [
                A::ReadRequests,
                A::Acknowledge,
                A::Reply,
                A::WatchAssigned,
                A::Ask
            ]
        );
        assert_eq!(
            allowed(&fixtures::supervisor()),
            [
                A::ReadCases,
                A::ReadRequests,
                A::Supervise,
                A::Decide,
                A::Operate
            ]
        );
        for a in all {
            if let Err(e) = permit(&fixtures::supervisor(), a) {
                assert!(matches!(e, DomainError::PermissionDenied(_)));
            }
        }
    }

    #[test]
    fn another_office_or_department_hears_not_found() {
        let case = fixtures::open_case();
        let stranger = Actor {
            name: "x".into(),
            role: ActorRole::Office("other".into()),
        };
        assert!(!sees_case(&stranger, &case));
        assert!(matches!(
            authorize_case(&stranger, Action::ReviewReply, &case),
            Err(DomainError::NotFound { what: "case", .. })
        ));
        let housing_request = case.requests[0].id.clone();
        assert!(matches!(
            authorize_request(
                &fixtures::dept("land"),
                Action::Reply,
                &case,
                &housing_request
            ),
            Err(DomainError::NotFound {
                what: "request",
                ..
            })
        ));
        assert_eq!(
            authorize_request(
                &fixtures::dept("housing"),
                Action::Reply,
                &case,
                &housing_request
            ),
            Ok(0)
        );
        assert!(sees_case(&fixtures::dept("land"), &case));
        assert!(!sees_case(&fixtures::dept("education"), &case));
    }

    #[test]
    fn departments_see_phones_masked_unless_configured() {
        let mut org = fixtures::org();
        let housing = ActorRole::Department("housing".into());
        assert_eq!(phone_view(&housing, &org), PhoneView::Masked);
        org.departments
            .get_mut("housing")
            .unwrap()
            .show_resident_phone = true;
        assert_eq!(phone_view(&housing, &org), PhoneView::Full);
        assert_eq!(phone_view(&ActorRole::Supervisor, &org), PhoneView::Full);
        let resident = fixtures::open_case().resident;
        assert_eq!(
            resident.as_seen(PhoneView::Masked).phone.as_str(),
            "138****5678"
        );
    }
}
