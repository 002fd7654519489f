//! Who may do what, and what they see. One place decides it: a use case asks
//! [`permit`] once per command and gets a [`Permit`] that says whom the caller
//! acts for ([`Grant`]); the domain's commands take it and ask it where a
//! request sits, the lists are narrowed by it, and the letters ask here what a
//! department may read. A holder of a reply link is its own arm
//! (`ActorRole::LinkHolder`): its department, for its one request.
//!
//! Two kinds of refusal, on purpose: a role that may never do a thing hears
//! `PermissionDenied`; a caller of the right role asking about something that is
//! not theirs hears `NotFound`, exactly as if it did not exist, so that nobody
//! can probe for other offices' cases or other departments' requests.

use std::borrow::Cow;

use super::case::Case;
use super::error::DomainError;
use super::listing::{CaseFilter, RequestFilter};
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
    /// Split a resident off a case or join two cases of one problem: the
    /// case's own office.
    LinkResidents,
    /// Look after whistle itself: the outbox's letters, the timelines' hash
    /// chains. The command line's built-in operator does this with a
    /// supervisor's reach (`service::operator`).
    Operate,
}

fn denied(en: &str, zh: &str) -> DomainError {
    DomainError::denied(en, zh)
}

/// What the policy answers when it lets a caller in: who the caller acts for.
/// Everything the caller may then see or touch follows from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// A street office, for its own cases.
    Office(String),
    /// A department, for the requests addressed to it.
    Department(String),
    /// Whoever holds a reply link: that one request of that department.
    LinkHolder {
        department: String,
        request_id: String,
    },
    /// A supervisor, for everything.
    Supervisor,
}

/// A caller let in for one action, with what it was granted. Only
/// [`permit`] makes one, so holding it is proof the policy was asked; the
/// use cases ask once per command and hand it to the domain, which does not
/// ask again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permit {
    actor: Actor,
    action: Action,
    grant: Grant,
}

/// Who a domain command acts as: a caller the policy has yet to ask about
/// (an [`Actor`]), or one it already let in (a [`Permit`]).
pub trait Acting: Sync {
    /// The permit for `action`: the one held when it was for that action,
    /// else the policy's answer now.
    fn permit(&self, action: Action) -> Result<Cow<'_, Permit>, DomainError>;

    /// Who it is, as the timeline names it.
    fn actor(&self) -> &Actor;
}

impl Acting for Actor {
    fn permit(&self, action: Action) -> Result<Cow<'_, Permit>, DomainError> {
        permit(self, action).map(Cow::Owned)
    }

    fn actor(&self) -> &Actor {
        self
    }
}

impl Acting for Permit {
    fn actor(&self) -> &Actor {
        &self.actor
    }

    fn permit(&self, action: Action) -> Result<Cow<'_, Permit>, DomainError> {
        if self.action == action {
            Ok(Cow::Borrowed(self))
        } else {
            permit(&self.actor, action).map(Cow::Owned)
        }
    }
}

/// Something the caller may not see, answered exactly as something that does
/// not exist: the one place a refusal becomes "not found", for every door.
pub fn hidden(what: &'static str, id: &str) -> DomainError {
    DomainError::NotFound {
        what,
        id: super::error::cut(id, 64),
    }
}

/// A refusal met on the way to what the caller named, said about what it
/// named: a caller that named a request or an extension hears that this is
/// not found, not that a case it never asked for is. Other refusals pass as
/// they are.
pub fn hidden_behind(refusal: DomainError, what: &'static str, id: &str) -> DomainError {
    match refusal {
        DomainError::NotFound { what: "case", .. } => hidden(what, id),
        other => other,
    }
}

/// Whether the caller's role may do this kind of thing at all, and if so,
/// for whom it acts.
pub fn permit(actor: &Actor, action: Action) -> Result<Permit, DomainError> {
    use Action as A;
    use ActorRole as R;
    let grant = match (&actor.role, action) {
        (
            R::Office(code),
            A::Escalate
            | A::ReadCases
            | A::ReviewReply
            | A::RecordFeedback
            | A::WatchCaseEvents
            | A::LinkResidents,
        ) => Grant::Office(code.clone()),
        (
            R::Department(code),
            A::ReadRequests | A::Acknowledge | A::Reply | A::WatchAssigned | A::Ask,
        ) => Grant::Department(code.clone()),
        (
            R::LinkHolder {
                department,
                request_id,
            },
            A::ReadRequests | A::Acknowledge | A::Reply | A::Ask,
        ) => Grant::LinkHolder {
            department: department.clone(),
            request_id: request_id.clone(),
        },
        (R::Supervisor, A::ReadCases | A::ReadRequests | A::Supervise | A::Decide | A::Operate) => {
            Grant::Supervisor
        }
        (role, action) => return Err(refusal(role, action)),
    };
    Ok(Permit {
        actor: actor.clone(),
        action,
        grant,
    })
}

/// Why a role may not do a kind of thing, in words that point it to what it
/// may do instead.
fn refusal(role: &ActorRole, action: Action) -> DomainError {
    use Action as A;
    use ActorRole as R;
    match (role, action) {
        (R::LinkHolder { .. }, _) => denied(
            "a reply link answers the one request its letter is about",
            "答复链接仅用于答复其函件所涉请求",
        ),
        (_, A::Operate) => denied(
            "the outbox and the timelines' chains are looked after by the operator",
            "函件投递和时间线校验由运维人员负责",
        ),
        (_, A::Decide) => denied(
            "rulings on extensions and returns, and closing a case by override, are for supervisors",
            "延期、退单的审批和强制办结仅限督办人员",
        ),
        (R::Office(_) | R::Supervisor, A::Ask) => denied(
            "only the department a request is addressed to asks for an extension or a return",
            "只有受函部门可以申请延期或退单",
        ),
        (_, A::Supervise) => denied(
            "what is overdue and the alerts are for supervisors; offices follow their case events",
            "逾期情况和提醒仅供督办人员查看；街道请关注本街道的案件事件",
        ),
        (R::Office(_), A::ReadRequests | A::Acknowledge | A::Reply | A::WatchAssigned) => denied(
            "street offices work on their cases; requests are read and answered by the departments they are addressed to",
            "街道办理本街道的案件；请求由受函部门查看和答复",
        ),
        (
            R::Department(_),
            A::Escalate
            | A::ReadCases
            | A::ReviewReply
            | A::RecordFeedback
            | A::WatchCaseEvents
            | A::LinkResidents,
        ) => denied(
            "departments read and answer the requests addressed to them; cases are the street offices'",
            "部门查看和答复发给本部门的请求；案件由街道办理",
        ),
        (R::Supervisor, A::Escalate) => denied(
            "only street offices escalate petitions",
            "只有街道可以提交诉求",
        ),
        (R::Supervisor, A::WatchCaseEvents | A::WatchAssigned) => denied(
            "supervisors follow the alerts (SupervisionService.WatchAlerts)",
            "督办人员请关注提醒（SupervisionService.WatchAlerts）",
        ),
        (R::Supervisor, A::ReviewReply | A::RecordFeedback | A::LinkResidents) => denied(
            "only the street office that escalated the case may do this",
            "只有提交该案件的街道可以进行此操作",
        ),
        (R::Supervisor, A::Acknowledge | A::Reply) => denied(
            "only the department the request is addressed to may do this",
            "只有受函部门可以进行此操作",
        ),
        (R::System, _) => denied(
            "whistle acts on its own schedule, not as a caller",
            "系统按自身计划运行，不作为调用方",
        ),
        // What `permit` lets through never comes here; said plainly if it did.
        (R::Office(_) | R::Department(_) | R::Supervisor, _) => {
            denied("this caller may not do this", "无权进行此操作")
        }
    }
}

impl Permit {
    /// Who was let in: what the timeline names.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    pub fn grant(&self) -> &Grant {
        &self.grant
    }

    /// The office the caller acts for, for what only street offices do.
    pub fn office(&self) -> Result<&str, DomainError> {
        match &self.grant {
            Grant::Office(code) => Ok(code),
            _ => Err(refusal(&self.actor.role, self.action)),
        }
    }

    /// The department the caller acts for, for what only departments'
    /// systems do.
    pub fn department(&self) -> Result<&str, DomainError> {
        match &self.grant {
            Grant::Department(code) => Ok(code),
            _ => Err(refusal(&self.actor.role, self.action)),
        }
    }

    /// Whether the caller may see this case at all: an office its own, a
    /// department any case holding one of its requests, a link holder the case
    /// of its request, a supervisor every case.
    pub fn sees(&self, case: &Case) -> bool {
        match &self.grant {
            Grant::Office(code) => *code == case.office,
            Grant::Department(code) => case.requests.iter().any(|r| r.department == *code),
            Grant::LinkHolder { request_id, .. } => {
                case.requests.iter().any(|r| r.id == *request_id)
            }
            Grant::Supervisor => true,
        }
    }

    /// The whole case, to act on it: the caller's own, or not found.
    /// Departments and link holders never act on whole cases.
    pub fn case(&self, case: &Case) -> Result<(), DomainError> {
        let own = match &self.grant {
            Grant::Office(code) => *code == case.office,
            Grant::Supervisor => true,
            Grant::Department(_) | Grant::LinkHolder { .. } => false,
        };
        if own {
            Ok(())
        } else {
            Err(hidden("case", &case.id))
        }
    }

    /// Where one request of the case sits, if the caller may see it; one it
    /// may not is not found, exactly as one that does not exist.
    pub fn request(&self, case: &Case, request_id: &str) -> Result<usize, DomainError> {
        let index = case
            .requests
            .iter()
            .position(|r| r.id == request_id)
            .ok_or_else(|| hidden("request", request_id))?;
        let request = &case.requests[index];
        let visible = match &self.grant {
            Grant::Department(code) => request.department == *code,
            Grant::LinkHolder {
                department,
                request_id: held,
            } => request.department == *department && *held == request.id,
            Grant::Office(code) => *code == case.office,
            Grant::Supervisor => true,
        };
        if visible {
            Ok(index)
        } else {
            Err(hidden("request", request_id))
        }
    }

    /// The office whose cases the caller may list: its own for an office,
    /// the one asked for (or all) for a supervisor.
    pub fn office_scope(&self, asked: Option<String>) -> Result<Option<String>, DomainError> {
        match &self.grant {
            Grant::Office(code) => Ok(Some(code.clone())),
            Grant::Supervisor => Ok(asked),
            Grant::Department(_) | Grant::LinkHolder { .. } => {
                Err(refusal(&self.actor.role, Action::ReadCases))
            }
        }
    }

    /// The ledger narrowed to what the caller may see.
    pub fn narrow_cases(&self, filter: &mut CaseFilter) -> Result<(), DomainError> {
        filter.office = self.office_scope(filter.office.take())?;
        Ok(())
    }

    /// A list of requests narrowed to what the caller may see: a
    /// department's own, any department's for a supervisor.
    pub fn narrow_requests(&self, filter: &mut RequestFilter) -> Result<(), DomainError> {
        match &self.grant {
            Grant::Department(code) => filter.department = Some(code.clone()),
            Grant::Supervisor => {}
            Grant::Office(_) | Grant::LinkHolder { .. } => {
                return Err(refusal(&self.actor.role, Action::WatchAssigned));
            }
        }
        Ok(())
    }
}

/// How much of a resident's phone number a viewer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneView {
    Full,
    /// `138****5678`: enough to recognise a resident, not to call them.
    Masked,
}

/// Whether showing this viewer a resident unmasked is recorded: for anyone
/// but the office that holds the case (and whistle itself), it is a read of
/// personal information another body made.
pub fn records_personal_reads(viewer: &ActorRole, org: &Organisation) -> bool {
    match viewer {
        ActorRole::Office(_) | ActorRole::System => false,
        ActorRole::Supervisor | ActorRole::Department(_) | ActorRole::LinkHolder { .. } => {
            phone_view(viewer, org) == PhoneView::Full
        }
    }
}

/// The office recorded the number and supervisors oversee it; a department
/// (and whoever holds its reply link) sees it only where configuration says it
/// must call residents itself.
pub fn phone_view(viewer: &ActorRole, org: &Organisation) -> PhoneView {
    match viewer {
        ActorRole::Office(_) | ActorRole::Supervisor | ActorRole::System => PhoneView::Full,
        ActorRole::Department(code)
        | ActorRole::LinkHolder {
            department: code, ..
        } => {
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
            A::LinkResidents,
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
                A::WatchCaseEvents,
                A::LinkResidents
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
        let review = permit(&stranger, Action::ReviewReply).unwrap();
        assert!(!review.sees(&case));
        assert!(matches!(
            review.case(&case),
            Err(DomainError::NotFound { what: "case", .. })
        ));
        // Named through a request, the case is that request not found.
        let refused = review.case(&case).unwrap_err();
        assert_eq!(
            hidden_behind(refused, "request", "id2"),
            DomainError::NotFound {
                what: "request",
                id: "id2".into()
            }
        );
        let wrong = DomainError::wrong_state("case is CLOSED", "已办结");
        assert_eq!(hidden_behind(wrong.clone(), "request", "id2"), wrong);
        let housing_request = case.requests[0].id.clone();
        let reply = |code: &str| permit(&fixtures::dept(code), Action::Reply).unwrap();
        assert!(matches!(
            reply("land").request(&case, &housing_request),
            Err(DomainError::NotFound {
                what: "request",
                ..
            })
        ));
        assert_eq!(reply("housing").request(&case, &housing_request), Ok(0));
        assert!(reply("land").sees(&case));
        assert!(!reply("education").sees(&case));
    }

    #[test]
    fn a_link_holder_acts_for_its_department_on_its_one_request_only() {
        let case = fixtures::open_case();
        let (housing, land) = (case.requests[0].id.clone(), case.requests[1].id.clone());
        let holder = Actor {
            name: "housing (reply page)".into(),
            role: ActorRole::LinkHolder {
                department: "housing".into(),
                request_id: housing.clone(),
            },
        };
        let answer = permit(&holder, Action::Reply).unwrap();
        assert_eq!(answer.request(&case, &housing), Ok(0));
        // Its department's other requests are not its to see.
        let mut two = case.clone();
        two.requests[1].department = "housing".into();
        assert!(matches!(
            answer.request(&two, &land),
            Err(DomainError::NotFound { .. })
        ));
        assert!(matches!(
            answer.narrow_requests(&mut RequestFilter::default()),
            Err(DomainError::PermissionDenied(_))
        ));
        for action in [Action::WatchAssigned, Action::ReadCases, Action::Decide] {
            assert!(matches!(
                permit(&holder, action),
                Err(DomainError::PermissionDenied(_))
            ));
        }
    }

    #[test]
    fn lists_are_narrowed_to_what_the_caller_may_see() {
        let mut cases = CaseFilter {
            office: Some("elsewhere".into()),
            ..CaseFilter::default()
        };
        permit(&fixtures::office(), Action::ReadCases)
            .unwrap()
            .narrow_cases(&mut cases)
            .unwrap();
        assert_eq!(cases.office.as_deref(), Some("cuiping"));
        let mut any = CaseFilter::default();
        permit(&fixtures::supervisor(), Action::ReadCases)
            .unwrap()
            .narrow_cases(&mut any)
            .unwrap();
        assert_eq!(any.office, None);
        let mut requests = RequestFilter::default();
        permit(&fixtures::dept("land"), Action::ReadRequests)
            .unwrap()
            .narrow_requests(&mut requests)
            .unwrap();
        assert_eq!(requests.department.as_deref(), Some("land"));
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
