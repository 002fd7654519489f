use super::*;
use crate::domain::fixtures::{ctx, ctx_in};
use crate::domain::{ActorRole, Ctx, ReplyText, RequestStatus, SeededIds};

use crate::domain::fixtures::{self, dept, now, office, open_case, org};

fn reply(text: &str) -> ReplyText {
    ReplyText::parse("text", text).unwrap()
}

fn comment(text: &str) -> Comment {
    Comment::parse("comment", text).unwrap()
}

fn reply_and_accept(case: &mut Case, i: usize) {
    let id = case.requests[i].id.clone();
    let d = dept(&case.requests[i].department.clone());
    case.acknowledge(&ctx(&d, now()), &id).unwrap();
    case.submit_reply(&ctx(&d, now()), &id, reply("已办结"))
        .unwrap();
    case.review_reply(
        &ctx_in(&org(), &office(), now()),
        &id,
        ReviewDecision::Accept,
    )
    .unwrap();
}

#[test]
fn opening_issues_one_request_per_routed_department() {
    let case = open_case();
    assert_eq!(case.status, CaseStatus::Open);
    let depts: Vec<_> = case
        .requests
        .iter()
        .map(|r| (r.department.as_str(), r.role))
        .collect();
    assert_eq!(
        depts,
        [
            ("housing", DepartmentRole::Lead),
            ("land", DepartmentRole::Assisting)
        ]
    );
    assert!(
        case.requests
            .iter()
            .all(|r| r.round == 1 && r.status == RequestStatus::Issued)
    );
    let kinds: Vec<_> = case.events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Escalated,
            EventKind::RequestIssued,
            EventKind::RequestIssued
        ]
    );
    assert_eq!(
        case.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3]
    );
}

#[test]
fn all_accepted_waits_for_feedback_and_satisfied_closes() {
    let mut case = open_case();
    reply_and_accept(&mut case, 0);
    assert_eq!(case.status, CaseStatus::Open);
    reply_and_accept(&mut case, 1);
    assert_eq!(case.status, CaseStatus::AwaitingFeedback);
    case.record_feedback(
        &Ctx::new(&office(), &org(), now(), &SeededIds::default()),
        None,
        Verdict::Satisfied,
        None,
        comment("很满意"),
        &[],
    )
    .unwrap();
    assert_eq!(case.status, CaseStatus::Closed);
    assert_eq!(case.events.last().unwrap().kind, EventKind::CaseClosed);
}

#[test]
fn a_rejected_reply_starts_a_new_round() {
    let mut case = open_case();
    let id = case.requests[0].id.clone();
    case.acknowledge(&ctx(&dept("housing"), now()), &id)
        .unwrap();
    case.submit_reply(&ctx(&dept("housing"), now()), &id, reply("正在协调"))
        .unwrap();
    let later = now() + chrono::Duration::days(3);
    let decision = ReviewDecision::parse(false, "未说明办理时限").unwrap();
    case.review_reply(&ctx_in(&org(), &office(), later), &id, decision)
        .unwrap();
    let r = &case.requests[0];
    assert_eq!((r.status, r.round), (RequestStatus::Issued, 2));
    assert_eq!(r.reissue_reason, "未说明办理时限");
    assert!(r.current_reply().is_none());
    assert_eq!(r.history().len(), 1);
    assert_eq!(r.issued_at, later);
    assert!(r.ack_due_at > later);
    assert_eq!(r.acknowledged_at, None);
}

#[test]
fn rejecting_needs_a_reason() {
    let err = ReviewDecision::parse(false, "  ").unwrap_err();
    assert_eq!(err.field, "reason");
}

#[test]
fn unsatisfied_feedback_reopens_and_reissues_the_named_requests() {
    let mut case = open_case();
    reply_and_accept(&mut case, 0);
    reply_and_accept(&mut case, 1);
    let housing = case.requests[0].id.clone();
    case.record_feedback(
        &Ctx::new(&office(), &org(), now(), &SeededIds::default()),
        None,
        Verdict::Unsatisfied,
        None,
        comment("证还没拿到"),
        &[housing],
    )
    .unwrap();
    assert_eq!(case.status, CaseStatus::Open);
    assert_eq!(
        (case.requests[0].status, case.requests[0].round),
        (RequestStatus::Issued, 2)
    );
    assert_eq!(
        (case.requests[1].status, case.requests[1].round),
        (RequestStatus::Accepted, 1)
    );
    // The re-issued request comes back accepted: the case waits for feedback again.
    reply_and_accept(&mut case, 0);
    assert_eq!(case.status, CaseStatus::AwaitingFeedback);
}

#[test]
fn unsatisfied_without_names_reissues_everything() {
    let mut case = open_case();
    reply_and_accept(&mut case, 0);
    reply_and_accept(&mut case, 1);
    case.record_feedback(
        &Ctx::new(&office(), &org(), now(), &SeededIds::default()),
        None,
        Verdict::Unsatisfied,
        None,
        Comment::default(),
        &[],
    )
    .unwrap();
    assert!(
        case.requests
            .iter()
            .all(|r| r.status == RequestStatus::Issued && r.round == 2)
    );
}

#[test]
fn feedback_on_an_open_case_names_the_state() {
    let mut case = open_case();
    let err = case
        .record_feedback(
            &Ctx::new(&office(), &org(), now(), &SeededIds::default()),
            None,
            Verdict::Satisfied,
            None,
            Comment::default(),
            &[],
        )
        .unwrap_err();
    assert!(matches!(err, DomainError::WrongState(m) if m.contains("OPEN")));
}

#[test]
fn unknown_reissue_ids_are_named() {
    let mut case = open_case();
    reply_and_accept(&mut case, 0);
    reply_and_accept(&mut case, 1);
    let err = case
        .record_feedback(
            &Ctx::new(&office(), &org(), now(), &SeededIds::default()),
            None,
            Verdict::Unsatisfied,
            None,
            Comment::default(),
            &["nope".into()],
        )
        .unwrap_err();
    assert!(matches!(err, DomainError::Invalid(v) if v[0].field == "reissue_request_ids[0]"));
    assert_eq!(case.status, CaseStatus::AwaitingFeedback);
}

#[test]
fn other_departments_and_offices_see_nothing() {
    let mut case = open_case();
    let housing = case.requests[0].id.clone();
    let err = case
        .acknowledge(&ctx(&dept("land"), now()), &housing)
        .unwrap_err();
    assert!(matches!(
        err,
        DomainError::NotFound {
            what: "request",
            ..
        }
    ));
    let stranger = Actor {
        name: "x".into(),
        role: ActorRole::Office("other".into()),
    };
    assert!(
        !crate::domain::access::permit(&stranger, Action::ReviewReply)
            .unwrap()
            .sees(&case)
    );
    let err = case
        .review_reply(
            &ctx_in(&org(), &stranger, now()),
            &housing,
            ReviewDecision::Accept,
        )
        .unwrap_err();
    assert!(matches!(err, DomainError::NotFound { what: "case", .. }));
}

#[test]
fn a_case_closed_by_override_takes_nothing_more_from_its_departments() {
    let mut case = open_case();
    let housing = case.requests[0].id.clone();
    let land = case.requests[1].id.clone();
    case.acknowledge(&ctx(&dept("land"), now()), &land).unwrap();
    case.override_close(
        &ctx(&fixtures::supervisor(), now()),
        ReasonText::parse("reason", "已由区政府统一处理").unwrap(),
    )
    .unwrap();
    let closed = case.clone();
    let refusals = [
        case.acknowledge(&ctx(&dept("housing"), now()), &housing),
        case.note_progress(
            &ctx(&dept("land"), now()),
            &land,
            ProgressText::parse("text", "正在办理").unwrap(),
        ),
        case.submit_reply(&ctx(&dept("land"), now()), &land, reply("已办结。")),
    ];
    for refused in refusals {
        match refused {
            Err(DomainError::WrongState(m)) => assert!(m.en.contains("CLOSED"), "{m:?}"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(case, closed);
    // Whose the request is still comes first: a stranger hears not found.
    assert!(matches!(
        case.acknowledge(&ctx(&dept("education"), now()), &housing),
        Err(DomainError::NotFound { .. })
    ));
}

#[test]
fn offices_cannot_acknowledge_for_departments() {
    let mut case = open_case();
    let id = case.requests[0].id.clone();
    assert!(matches!(
        case.acknowledge(&ctx(&office(), now()), &id),
        Err(DomainError::PermissionDenied(_))
    ));
}

#[test]
fn the_case_state_machine() {
    use CaseAction as A;
    use CaseStatus as S;
    assert_eq!(
        case_transition(S::Open, A::AllAccepted),
        Ok(S::AwaitingFeedback)
    );
    assert_eq!(
        case_transition(S::AwaitingFeedback, A::Satisfied),
        Ok(S::Closed)
    );
    assert_eq!(
        case_transition(S::AwaitingFeedback, A::Unsatisfied),
        Ok(S::Open)
    );
    assert_eq!(case_transition(S::Open, A::Override), Ok(S::Closed));
    assert_eq!(
        case_transition(S::AwaitingFeedback, A::Override),
        Ok(S::Closed)
    );
    for (s, a) in [
        (S::Open, A::Satisfied),
        (S::Open, A::Unsatisfied),
        (S::AwaitingFeedback, A::AllAccepted),
        (S::Closed, A::AllAccepted),
        (S::Closed, A::Satisfied),
        (S::Closed, A::Unsatisfied),
        (S::Closed, A::Override),
    ] {
        assert!(
            matches!(case_transition(s, a), Err(DomainError::WrongState(m)) if m.contains(s.as_str()))
        );
    }
}
