//! Supervision decisions through the real server, on a clock the test moves:
//! a department asks for an extension (延期) or returns a request (退单), a
//! supervisor rules; the department's clock stands still while the ruling
//! waits; a supervisor closes a case by override; racing rulings; who may do
//! what.

use tonic::Code;

use whistle::proto::{
    AlertKind, Case, DeadlineCause, DecideExtensionRequest, DepartmentRequest, EventKind,
    ExtensionStatus, GetCaseRequest, GetStatisticsRequest, ListCasesRequest, ListOverdueRequest,
    OverrideCloseRequest, PostProgressNoteRequest, RequestExtensionRequest,
    RequestExtensionResponse, RequestStatus, ResolveReturnRequest, ReturnRequestRequest,
    ReturnStatus, SubmitReplyRequest,
};

use crate::helpers::*;

/// The demo supervisor principal, as the timeline names it.
const SUPERVISOR: &str = "supervisor";

scenarios!(
    an_approved_extension_moves_the_deadline_and_nothing_is_overdue_meanwhile,
    extensions_late_denied_and_beyond_the_limit,
    a_return_within_the_window_is_reassigned_with_a_new_reference_and_letter,
    a_return_sent_back_resumes_the_clock_and_cannot_be_returned_again,
    an_override_close_needs_a_reason_and_is_marked_and_listed,
    two_racing_rulings_let_exactly_one_win,
    only_supervisors_rule_and_departments_see_their_own,
    a_department_cannot_act_on_a_case_closed_by_override,
);

fn ts(at: chrono::DateTime<chrono::Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    })
}

fn only_request(case: &Case) -> &DepartmentRequest {
    assert_eq!(case.requests.len(), 1, "{case:?}");
    &case.requests[0]
}

fn kinds(case: &Case) -> Vec<EventKind> {
    case.events.iter().map(|e| e.kind()).collect()
}

impl TestApp {
    async fn ask_extension(
        &self,
        department: &str,
        request_id: &str,
        new_due: chrono::DateTime<chrono::Utc>,
        reason: &str,
    ) -> Result<tonic::Response<RequestExtensionResponse>, tonic::Status> {
        self.department(department)
            .request_extension(RequestExtensionRequest {
                request_id: request_id.into(),
                new_reply_due_at: ts(new_due),
                reason: reason.into(),
            })
            .await
    }

    async fn decide(
        &self,
        extension_id: &str,
        approve: bool,
        reason: &str,
    ) -> Result<tonic::Response<DepartmentRequest>, tonic::Status> {
        self.supervision()
            .decide_extension(DecideExtensionRequest {
                extension_id: extension_id.into(),
                approve,
                reason: reason.into(),
            })
            .await
    }

    async fn return_request(
        &self,
        department: &str,
        request_id: &str,
    ) -> Result<tonic::Response<DepartmentRequest>, tonic::Status> {
        self.department(department)
            .return_request(ReturnRequestRequest {
                request_id: request_id.into(),
                reason: "不属于本部门职责".into(),
            })
            .await
    }

    async fn resolve(
        &self,
        request_id: &str,
        to: &str,
        reason: &str,
    ) -> Result<tonic::Response<Case>, tonic::Status> {
        self.supervision()
            .resolve_return(ResolveReturnRequest {
                request_id: request_id.into(),
                reassign_to_department: to.into(),
                reason: reason.into(),
            })
            .await
    }

    async fn overdue_now(&self) -> Vec<DepartmentRequest> {
        self.supervision()
            .list_overdue(ListOverdueRequest::default())
            .await
            .expect("ListOverdue")
            .into_inner()
            .requests
    }
}

async fn an_approved_extension_moves_the_deadline_and_nothing_is_overdue_meanwhile(
    backend: Backend,
) {
    let Some(app) = spawn_app_with_clock(backend, None, &[], monday_morning()).await else {
        return;
    };
    let case = app.escalate(power_cut("D-EXT-1")).await;
    let request = only_request(&case).clone();
    app.acknowledge("power", &request.id).await;
    let old_due = shanghai(2026, 12, 1, 0, 0);
    assert_eq!(instant(&request.reply_due_at), old_due);
    let asked = shanghai(2026, 12, 4, 0, 0);

    app.set_clock(shanghai(2026, 11, 24, 10, 0));
    let answer = app
        .ask_extension("power", &request.id, asked, "需协调供电线路改造")
        .await
        .expect("asking for an extension")
        .into_inner();
    let extension = answer.extension.expect("the extension");
    assert_eq!(extension.status(), ExtensionStatus::Pending);
    assert_eq!(instant(&extension.old_reply_due_at), old_due);
    assert_eq!(instant(&extension.new_reply_due_at), asked);
    let paused = answer.request.expect("the request");
    assert_eq!(instant(&paused.paused_since), shanghai(2026, 11, 24, 10, 0));
    assert_eq!(
        instant(&paused.reply_due_at),
        old_due,
        "not moved before the ruling"
    );
    // Supervisors hear of it.
    let alerts = app.wait_for_alerts(&case.id, 1).await;
    assert_eq!(
        (alerts[0].kind(), alerts[0].level),
        (AlertKind::ExtensionRequested, 2)
    );

    // The old deadline passes while the ruling waits: nothing is overdue.
    app.set_clock(shanghai(2026, 12, 1, 10, 0));
    let now = app.case(&case.id).await;
    assert!(only_request(&now).overdue.is_none(), "{now:?}");
    assert!(app.overdue_now().await.is_empty());

    let ruled = app
        .decide(&extension.id, true, "同意")
        .await
        .expect("approving")
        .into_inner();
    assert_eq!(instant(&ruled.reply_due_at), asked);
    assert!(ruled.paused_since.is_none());
    assert_eq!(ruled.extensions[0].status(), ExtensionStatus::Approved);
    assert_eq!(ruled.extensions[0].decided_by, SUPERVISOR);
    assert!(
        ruled
            .deadline_history
            .iter()
            .any(|d| d.cause() == DeadlineCause::Extended && instant(&d.due_at) == asked),
        "{:?}",
        ruled.deadline_history
    );
    assert_eq!(
        instant(&ruled.deadline_history[1].due_at),
        old_due,
        "the first reply deadline stays visible"
    );
    // The department is told, in the thread of its letter.
    let letter = app
        .wait_for_letter(&format!("<{}.ruling@whistle.localhost>", extension.id))
        .await;
    assert!(
        letter.subject.contains("延期已批准") && letter.subject.contains("2026年12月3日"),
        "{}",
        letter.subject
    );
    assert!(
        letter
            .references
            .contains(&format!("<{}.r1.issued@whistle.localhost>", request.id)),
        "{:?}",
        letter.references
    );
    // Final.
    let again = refused(
        app.decide(&extension.id, false, "不同意").await,
        Code::FailedPrecondition,
    );
    assert!(again.message().contains("APPROVED"), "{}", again.message());

    // The watch follows the new deadline: a reminder before it, the alert at it.
    app.set_clock(shanghai(2026, 12, 3, 13, 30));
    let alerts = app.wait_for_alerts(&case.id, 2).await;
    assert_eq!(alerts[1].kind(), AlertKind::DueSoon);
    app.set_clock(asked);
    let alerts = app.wait_for_alerts(&case.id, 3).await;
    assert_eq!(alerts[2].kind(), AlertKind::ReplyOverdue);
    assert_eq!(instant(&alerts[2].due_at), asked);

    let timeline = kinds(&app.case(&case.id).await);
    for kind in [
        EventKind::ExtensionRequested,
        EventKind::ClockPaused,
        EventKind::ExtensionApproved,
        EventKind::ClockResumed,
    ] {
        assert!(timeline.contains(&kind), "{kind:?} in {timeline:?}");
    }
}

async fn extensions_late_denied_and_beyond_the_limit(backend: Backend) {
    let Some(app) = spawn_app_with_clock(backend, None, &[], monday_morning()).await else {
        return;
    };
    let case = app.escalate(power_cut("D-EXT-2")).await;
    let id = only_request(&case).id.clone();
    let due = shanghai(2026, 12, 1, 0, 0);

    // Not later than the deadline, no reason: the fields are named.
    invalid(
        app.ask_extension("power", &id, due, "理由").await,
        "new_reply_due_at",
    );
    invalid(
        app.ask_extension("power", &id, due + chrono::Duration::days(1), " ")
            .await,
        "reason",
    );

    // Asked Monday 10:00, denied Monday 14:30: three working hours stood still
    // (10:00-12:00, 13:30-14:30), added back from the next opening.
    let x = app
        .ask_extension("power", &id, due + chrono::Duration::days(2), "人手不足")
        .await
        .unwrap()
        .into_inner()
        .extension
        .unwrap();
    let busy = refused(
        app.ask_extension("power", &id, due + chrono::Duration::days(3), "再申请")
            .await,
        Code::FailedPrecondition,
    );
    assert!(
        busy.message().contains("one ask at a time"),
        "{}",
        busy.message()
    );
    app.set_clock(shanghai(2026, 11, 23, 14, 30));
    invalid(app.decide(&x.id, false, "").await, "reason");
    let denied = app
        .decide(&x.id, false, "理由不充分")
        .await
        .expect("denying")
        .into_inner();
    assert_eq!(denied.extensions[0].status(), ExtensionStatus::Denied);
    assert_eq!(denied.extensions[0].decision_reason, "理由不充分");
    let letter = app
        .wait_for_letter(&format!("<{}.ruling@whistle.localhost>", x.id))
        .await;
    assert!(
        letter.subject.contains("延期未获批准"),
        "{}",
        letter.subject
    );
    assert!(letter.text.contains("理由：理由不充分"), "{}", letter.text);
    assert!(
        letter.text.contains("答复期限：2026年12月1日"),
        "{}",
        letter.text
    );
    assert_eq!(
        instant(&denied.reply_due_at),
        shanghai(2026, 12, 1, 12, 0),
        "3 working hours added from the next opening after the old deadline"
    );

    // The second ask, then the limit (2).
    let y = app
        .ask_extension("power", &id, due + chrono::Duration::days(2), "再申请")
        .await
        .unwrap()
        .into_inner()
        .extension
        .unwrap();
    app.decide(&y.id, true, "").await.expect("approving");
    let limit = refused(
        app.ask_extension("power", &id, due + chrono::Duration::days(9), "第三次")
            .await,
        Code::FailedPrecondition,
    );
    assert!(
        limit.message().contains("2 extension"),
        "{}",
        limit.message()
    );

    // Late: the deadline is named in local time.
    let other = app.escalate(power_cut("D-EXT-3")).await;
    let other_id = only_request(&other).id.clone();
    let other_due = instant(&only_request(&other).reply_due_at);
    app.set_clock(other_due + chrono::Duration::hours(1));
    let late = refused(
        app.ask_extension(
            "power",
            &other_id,
            other_due + chrono::Duration::days(2),
            "迟了",
        )
        .await,
        Code::FailedPrecondition,
    );
    assert!(
        late.message().contains("has passed") && late.message().contains("24:00"),
        "{}",
        late.message()
    );
}

async fn a_return_within_the_window_is_reassigned_with_a_new_reference_and_letter(
    backend: Backend,
) {
    let Some(app) = spawn_app_with_clock(backend, None, &[], monday_morning()).await else {
        return;
    };
    let case = app.escalate(property_certificate("D-RET-1")).await;
    let housing = request_of(&case, "housing").id.clone();
    let land = request_of(&case, "land").id.clone();
    let (prefix, year, last) = parse_reference(&request_of(&case, "land").reference);

    // Within two working hours of issue: returned, its clock paused.
    app.set_clock(shanghai(2026, 11, 23, 11, 0));
    let returned = app
        .return_request("land", &land)
        .await
        .expect("returning")
        .into_inner();
    assert_eq!(returned.status(), RequestStatus::ReturnRequested);
    assert!(returned.paused_since.is_some());
    let alerts = app.wait_for_alerts(&case.id, 1).await;
    assert_eq!(
        (alerts[0].kind(), alerts[0].level),
        (AlertKind::ReturnRequested, 2)
    );
    // While it waits the department cannot act on it.
    let blocked = refused(
        app.department("land")
            .acknowledge_request(whistle::proto::AcknowledgeRequestRequest {
                request_id: land.clone(),
            })
            .await,
        Code::FailedPrecondition,
    );
    assert!(blocked.message().contains("RETURN_REQUESTED"));

    // After the window: refused, naming when it closed.
    app.set_clock(shanghai(2026, 11, 23, 13, 45));
    let late = refused(
        app.return_request("housing", &housing).await,
        Code::FailedPrecondition,
    );
    assert!(late.message().contains("within 2h"), "{}", late.message());

    // Reassigned to lighting: a new request, reference and letter; land RETURNED.
    invalid(
        app.resolve(&land, "land", "x").await,
        "reassign_to_department",
    );
    invalid(
        app.resolve(&land, "nowhere", "x").await,
        "reassign_to_department",
    );
    invalid(app.resolve(&land, "lighting", "").await, "reason");
    let after = app
        .resolve(&land, "lighting", "属路灯所职责")
        .await
        .expect("reassigning")
        .into_inner();
    assert_eq!(after.requests.len(), 3);
    let old = after.requests.iter().find(|r| r.id == land).unwrap();
    assert_eq!(old.status(), RequestStatus::Returned);
    let ret = old.return_ask.as_ref().unwrap();
    assert_eq!(ret.status(), ReturnStatus::Reassigned);
    let new = request_of(&after, "lighting").clone();
    assert_eq!(ret.reassigned_to_request_id, new.id);
    assert_eq!(new.status(), RequestStatus::Issued);
    assert_eq!(new.round, 1);
    assert_eq!(
        parse_reference(&new.reference),
        (prefix, year, last + 1),
        "the next number of the office"
    );
    assert_eq!(instant(&new.issued_at), shanghai(2026, 11, 23, 13, 45));
    let letter = app
        .wait_for_letter(&format!("<{}.r1.issued@whistle.localhost>", new.id))
        .await;
    assert!(
        letter.subject.contains(&new.reference),
        "{}",
        letter.subject
    );
    // Land is told where it went, and that it owes no answer.
    let told = app
        .wait_for_letter(&format!("<{land}.return-ruling@whistle.localhost>"))
        .await;
    assert!(
        told.subject.contains("退单已同意") && told.subject.contains("已改派"),
        "{}",
        told.subject
    );
    assert!(told.text.contains("无需再答复"), "{}", told.text);
    assert!(
        !told.text.contains("网页答复"),
        "no link to a request given away"
    );
    // Final.
    refused(
        app.resolve(&land, "", "再议").await,
        Code::FailedPrecondition,
    );
    let timeline = kinds(&app.case(&case.id).await);
    assert!(
        timeline.contains(&EventKind::RequestReassigned),
        "{timeline:?}"
    );

    // RETURNED counts as done: the case waits for feedback once the others are accepted.
    for (department, id) in [("housing", housing.as_str()), ("lighting", new.id.as_str())] {
        app.answer(department, id, "已办结").await;
        app.accept(id).await;
    }
    let done = app.case(&case.id).await;
    assert_eq!(done.status(), whistle::proto::CaseStatus::AwaitingFeedback);
}

async fn a_return_sent_back_resumes_the_clock_and_cannot_be_returned_again(backend: Backend) {
    let Some(app) = spawn_app_with_clock(backend, None, &[], monday_morning()).await else {
        return;
    };
    let case = app.escalate(power_cut("D-RET-2")).await;
    let id = only_request(&case).id.clone();
    let ack_due = instant(&only_request(&case).ack_due_at);
    let reply_due = instant(&only_request(&case).reply_due_at);
    app.set_clock(shanghai(2026, 11, 23, 10, 30));
    app.return_request("power", &id).await.expect("returning");
    // Sent back at 14:30: 10:30-12:00 and 13:30-14:30 stood still, 2.5 hours.
    app.set_clock(shanghai(2026, 11, 23, 14, 30));
    let after = app
        .resolve(&id, "", "经核实属供电公司职责")
        .await
        .expect("sending back")
        .into_inner();
    let r = only_request(&after);
    assert_eq!(r.status(), RequestStatus::Issued);
    assert!(r.paused_since.is_none());
    assert_eq!(
        r.return_ask.as_ref().unwrap().status(),
        ReturnStatus::SentBack
    );
    assert_eq!(ack_due, shanghai(2026, 11, 25, 0, 0));
    assert_eq!(instant(&r.ack_due_at), shanghai(2026, 11, 25, 11, 30));
    assert_eq!(reply_due, shanghai(2026, 12, 1, 0, 0));
    assert_eq!(instant(&r.reply_due_at), shanghai(2026, 12, 1, 11, 30));
    assert!(
        r.deadline_history
            .iter()
            .any(|d| d.cause() == DeadlineCause::Resumed)
    );
    let timeline = kinds(&after);
    assert!(
        timeline.contains(&EventKind::RequestSentBack),
        "{timeline:?}"
    );
    assert!(timeline.contains(&EventKind::ClockResumed), "{timeline:?}");

    let told = app
        .wait_for_letter(&format!("<{id}.return-ruling@whistle.localhost>"))
        .await;
    assert!(told.subject.contains("退单未获同意"), "{}", told.subject);
    for line in [
        "理由：经核实属供电公司职责",
        "签收期限：2026年11月25日（星期三）11:30前",
        "答复期限：2026年12月1日（星期二）11:30前",
    ] {
        assert!(told.text.contains(line), "{line} in {}", told.text);
    }

    let again = refused(
        app.return_request("power", &id).await,
        Code::FailedPrecondition,
    );
    assert!(again.message().contains("sent back"), "{}", again.message());
}

async fn an_override_close_needs_a_reason_and_is_marked_and_listed(backend: Backend) {
    let Some(app) = spawn_app_with_clock(backend, None, &[], monday_morning()).await else {
        return;
    };
    let case = app.escalate(power_cut("D-OVR-1")).await;
    let open = app.escalate(power_cut("D-OVR-2")).await;
    invalid(
        app.supervision()
            .override_close(OverrideCloseRequest {
                case_id: case.id.clone(),
                reason: "  ".into(),
            })
            .await,
        "reason",
    );
    let closed = app
        .supervision()
        .override_close(OverrideCloseRequest {
            case_id: case.id.clone(),
            reason: "诉求超出政策范围，已当面解释".into(),
        })
        .await
        .expect("closing by override")
        .into_inner();
    assert_eq!(closed.status(), whistle::proto::CaseStatus::Closed);
    assert!(closed.closed_by_override);
    let o = closed.override_close.as_ref().unwrap();
    assert_eq!(
        (o.closed_by.as_str(), o.reason.as_str()),
        (SUPERVISOR, "诉求超出政策范围，已当面解释")
    );
    let seen = app.case(&case.id).await;
    let last = seen.events.last().unwrap();
    assert_eq!(
        (last.kind(), last.actor.as_str()),
        (EventKind::ClosedByOverride, SUPERVISOR)
    );
    assert!(seen.closed_by_override);
    let listed = app
        .office()
        .list_cases(ListCasesRequest {
            closed_by_override: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .cases;
    assert_eq!(
        listed.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        [case.id.as_str()]
    );
    assert!(listed[0].closed_by_override);
    let all = app
        .office()
        .list_cases(ListCasesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .cases;
    assert!(all.iter().any(|c| c.id == open.id && !c.closed_by_override));
    let again = refused(
        app.supervision()
            .override_close(OverrideCloseRequest {
                case_id: case.id.clone(),
                reason: "再次".into(),
            })
            .await,
        Code::FailedPrecondition,
    );
    assert!(again.message().contains("CLOSED"), "{}", again.message());
}

async fn two_racing_rulings_let_exactly_one_win(backend: Backend) {
    let Some(app) = spawn_app_with_clock(backend, None, &[], monday_morning()).await else {
        return;
    };
    let case = app.escalate(power_cut("D-RACE-1")).await;
    let id = only_request(&case).id.clone();
    let x = app
        .ask_extension("power", &id, shanghai(2026, 12, 8, 0, 0), "需更换变压器")
        .await
        .unwrap()
        .into_inner()
        .extension
        .unwrap();
    let (a, b) = tokio::join!(
        app.decide(&x.id, true, "同意"),
        app.decide(&x.id, false, "不同意")
    );
    let results = [a, b];
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    let loser = results.iter().find_map(|r| r.as_ref().err()).unwrap();
    assert_eq!(loser.code(), Code::FailedPrecondition, "{loser:?}");
    let seen = app.case(&case.id).await;
    let rulings = seen
        .events
        .iter()
        .filter(|e| {
            matches!(
                e.kind(),
                EventKind::ExtensionApproved | EventKind::ExtensionDenied
            )
        })
        .count();
    assert_eq!(rulings, 1);

    // Two racing returns decisions as well.
    let case = app.escalate(power_cut("D-RACE-2")).await;
    let id = only_request(&case).id.clone();
    app.return_request("power", &id).await.unwrap();
    let (a, b) = tokio::join!(
        app.resolve(&id, "lighting", "改派"),
        app.resolve(&id, "", "退回")
    );
    assert_eq!(
        [&a, &b].iter().filter(|r| r.is_ok()).count(),
        1,
        "{a:?} {b:?}"
    );
}

async fn only_supervisors_rule_and_departments_see_their_own(backend: Backend) {
    let Some(app) = spawn_app_with_clock(backend, None, &[], monday_morning()).await else {
        return;
    };
    let case = app.escalate(property_certificate("D-ACC-1")).await;
    let housing = request_of(&case, "housing").id.clone();
    let due = instant(&request_of(&case, "housing").reply_due_at);
    // Another department: not found, as if it did not exist.
    refused(
        app.ask_extension("land", &housing, due + chrono::Duration::days(1), "x")
            .await,
        Code::NotFound,
    );
    refused(app.return_request("land", &housing).await, Code::NotFound);
    // Offices and supervisors do not ask.
    refused(
        app.supervisor_departments()
            .request_extension(RequestExtensionRequest {
                request_id: housing.clone(),
                new_reply_due_at: ts(due + chrono::Duration::days(1)),
                reason: "x".into(),
            })
            .await,
        Code::PermissionDenied,
    );
    let x = app
        .ask_extension("housing", &housing, due + chrono::Duration::days(1), "x")
        .await
        .unwrap()
        .into_inner()
        .extension
        .unwrap();
    // Only supervisors rule or override.
    let mut office_supervision = app.supervision_as(OFFICE_KEY);
    refused(
        office_supervision
            .decide_extension(DecideExtensionRequest {
                extension_id: x.id.clone(),
                approve: true,
                reason: String::new(),
            })
            .await,
        Code::PermissionDenied,
    );
    let mut housing_supervision = app.supervision_as(&department_key("housing"));
    refused(
        housing_supervision
            .override_close(OverrideCloseRequest {
                case_id: case.id.clone(),
                reason: "x".into(),
            })
            .await,
        Code::PermissionDenied,
    );
    refused(
        housing_supervision
            .resolve_return(ResolveReturnRequest {
                request_id: housing.clone(),
                reassign_to_department: String::new(),
                reason: "x".into(),
            })
            .await,
        Code::PermissionDenied,
    );
    // Unknown ids: not found.
    refused(app.decide("nope", true, "").await, Code::NotFound);
    refused(
        app.decide(&format!("{housing}.x9"), true, "").await,
        Code::NotFound,
    );
    refused(
        app.supervision()
            .override_close(OverrideCloseRequest {
                case_id: "no-such-case".into(),
                reason: "x".into(),
            })
            .await,
        Code::NotFound,
    );
    // The office still reads its case, with the pending extension on the request.
    let seen = app
        .office()
        .get_case(GetCaseRequest {
            case_id: case.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        request_of(&seen, "housing").extensions[0].status(),
        ExtensionStatus::Pending
    );
}

/// A supervisor's override ends the department's part too: whatever it sends
/// afterwards is refused naming the case's state, the case stays closed, its
/// timeline is as the override left it, and the department's figures (a
/// late reply would count as one on time) do not move.
async fn a_department_cannot_act_on_a_case_closed_by_override(backend: Backend) {
    let Some(app) = spawn_app_with_clock(backend, None, &[], monday_morning()).await else {
        return;
    };
    let issued = app.escalate(power_cut("D-OVR-ACT-1")).await;
    let acknowledged = app.escalate(power_cut("D-OVR-ACT-2")).await;
    let (issued_id, acknowledged_id) = (
        only_request(&issued).id.clone(),
        only_request(&acknowledged).id.clone(),
    );
    app.acknowledge("power", &acknowledged_id).await;
    for case in [&issued, &acknowledged] {
        app.supervision()
            .override_close(OverrideCloseRequest {
                case_id: case.id.clone(),
                reason: "诉求已由区政府统一处理".into(),
            })
            .await
            .expect("closing by override");
    }
    let figures = || async {
        app.supervision()
            .get_statistics(GetStatisticsRequest {
                from: ts(monday_morning() - chrono::Duration::days(1)),
                to: ts(monday_morning() + chrono::Duration::days(30)),
                office: String::new(),
                department: "power".into(),
            })
            .await
            .expect("GetStatistics")
            .into_inner()
    };
    // Past the deadlines, where a late answer would count against power.
    app.set_clock(monday_morning() + chrono::Duration::days(20));
    let before = (
        app.case(&issued.id).await,
        app.case(&acknowledged.id).await,
        figures().await,
    );

    let closed = |status: tonic::Status| {
        assert!(status.message().contains("CLOSED"), "{}", status.message());
    };
    for id in [&issued_id, &acknowledged_id] {
        let mut power = app.department("power");
        closed(refused(
            power
                .acknowledge_request(whistle::proto::AcknowledgeRequestRequest {
                    request_id: id.clone(),
                })
                .await,
            Code::FailedPrecondition,
        ));
        closed(refused(
            power
                .post_progress_note(PostProgressNoteRequest {
                    request_id: id.clone(),
                    text: "正在协调施工队".into(),
                })
                .await,
            Code::FailedPrecondition,
        ));
        closed(refused(
            power
                .submit_reply(SubmitReplyRequest {
                    request_id: id.clone(),
                    text: "已恢复供电。".into(),
                    ..Default::default()
                })
                .await,
            Code::FailedPrecondition,
        ));
        closed(refused(
            app.ask_extension(
                "power",
                id,
                monday_morning() + chrono::Duration::days(40),
                "需更换变压器",
            )
            .await,
            Code::FailedPrecondition,
        ));
        closed(refused(
            app.return_request("power", id).await,
            Code::FailedPrecondition,
        ));
    }
    // Another department still hears nothing of a request that is not its own.
    refused(
        app.department("housing")
            .acknowledge_request(whistle::proto::AcknowledgeRequestRequest {
                request_id: issued_id.clone(),
            })
            .await,
        Code::NotFound,
    );

    let after_issued = app.case(&issued.id).await;
    let after_acknowledged = app.case(&acknowledged.id).await;
    assert_eq!(after_issued, before.0);
    assert_eq!(after_acknowledged, before.1);
    assert_eq!(after_issued.status(), whistle::proto::CaseStatus::Closed);
    assert_eq!(only_request(&after_issued).status(), RequestStatus::Issued);
    assert_eq!(
        only_request(&after_acknowledged).status(),
        RequestStatus::Acknowledged
    );
    assert_eq!(figures().await, before.2);
}
