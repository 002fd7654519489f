//! Who may see and do what. Every call needs a known key; an office works on its
//! own cases, a department on its own requests, and the supervisor reads all but
//! changes nothing. What a caller may not see is NOT_FOUND, exactly like what does
//! not exist, so nobody can probe for other offices' cases.

use tonic::Code;
use whistle::proto::{
    AcknowledgeRequestRequest, Case, CaseStatus, EscalatePetitionRequest,
    GetAssignedRequestRequest, GetCaseRequest, ListAssignedRequestsRequest, ListCasesRequest,
    RecordFeedbackRequest, RequestStatus, ReviewReplyRequest, SubmitReplyRequest, Verdict,
};

use crate::helpers::*;

scenarios!(
    settings = two_offices;
    callers_without_a_known_key_are_unauthenticated,
    an_office_never_sees_another_offices_cases,
    each_office_numbers_its_own_letters,
    a_department_sees_only_its_own_requests,
    each_service_answers_only_its_own_callers,
    the_supervisor_reads_everything_and_changes_nothing,
    the_supervisor_sees_every_request_with_the_nearest_deadline_first,
    a_department_configured_to_see_phones_sees_them_in_full,
    unmasked_reads_by_supervisors_and_departments_are_recorded,
);

/// A petition of the second office (西外街道), whose community is 滨河社区.
fn xinnan_petition(petition_id: &str) -> EscalatePetitionRequest {
    EscalatePetitionRequest {
        community: "滨河社区".into(),
        address: "西外街道滨河社区8栋".into(),
        ..property_certificate(petition_id)
    }
}

async fn escalate_as_xinnan(app: &TestApp, petition_id: &str) -> Case {
    app.cases_as(XINNAN_KEY)
        .escalate_petition(xinnan_petition(petition_id))
        .await
        .expect("xinnan escalates")
        .into_inner()
}

fn get(case_id: &str) -> GetCaseRequest {
    GetCaseRequest {
        case_id: case_id.into(),
    }
}

async fn callers_without_a_known_key_are_unauthenticated(app: TestApp) {
    let case = app.escalate(property_certificate("A-1")).await;
    let request_id = request_of(&case, "housing").id.clone();
    let strangers = [
        app.anonymous_cases(),
        app.cases_as("not-a-key"),
        app.cases_as("demo-office-xinnan"),
        app.cases_with_authorization(OFFICE_KEY),
        app.cases_with_authorization(&format!("Basic {OFFICE_KEY}")),
    ];
    for mut client in strangers {
        refused(client.get_case(get(&case.id)).await, Code::Unauthenticated);
        refused(
            client.list_cases(ListCasesRequest::default()).await,
            Code::Unauthenticated,
        );
        refused(
            client.escalate_petition(property_certificate("A-2")).await,
            Code::Unauthenticated,
        );
    }
    for mut client in [
        app.anonymous_departments(),
        app.departments_as("demo-dept-police"),
    ] {
        refused(
            client
                .acknowledge_request(AcknowledgeRequestRequest {
                    request_id: request_id.clone(),
                })
                .await,
            Code::Unauthenticated,
        );
        refused(
            client
                .list_assigned_requests(ListAssignedRequestsRequest::default())
                .await,
            Code::Unauthenticated,
        );
    }
    let ledger = app
        .office()
        .list_cases(ListCasesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .cases;
    assert_eq!(ledger.len(), 1, "no stranger escalated anything");
    let housing = request_of(&app.case(&case.id).await, "housing").clone();
    assert_eq!(housing.status(), RequestStatus::Issued);
}

async fn an_office_never_sees_another_offices_cases(app: TestApp) {
    let ours = app.escalate(property_certificate("X-1")).await;
    let theirs = escalate_as_xinnan(&app, "X-2").await;
    assert_eq!(theirs.office, "xinnan");
    let their_request = request_of(&theirs, "housing").id.clone();
    app.answer("housing", &their_request, "已处理").await;

    let mut cuiping = app.office();
    let hidden = refused(cuiping.get_case(get(&theirs.id)).await, Code::NotFound);
    let absent = refused(
        cuiping
            .get_case(get("0190a0a0-0000-7000-8000-000000000000"))
            .await,
        Code::NotFound,
    );
    assert_eq!(
        hidden.message().replace(&theirs.id, "ID"),
        absent
            .message()
            .replace("0190a0a0-0000-7000-8000-000000000000", "ID"),
        "another office's case looks exactly like a missing one"
    );
    for accept in [true, false] {
        let review = cuiping
            .review_reply(ReviewReplyRequest {
                request_id: their_request.clone(),
                accept,
                reason: "不满意".into(),
            })
            .await;
        refused(review, Code::NotFound);
    }
    let feedback = cuiping
        .record_feedback(RecordFeedbackRequest {
            case_id: theirs.id.clone(),
            verdict: Verdict::Satisfied as i32,
            comment: String::new(),
            reissue_request_ids: Vec::new(),
            ..Default::default()
        })
        .await;
    refused(feedback, Code::NotFound);

    for office in ["", "xinnan", "cuiping"] {
        let ledger = cuiping
            .list_cases(ListCasesRequest {
                office: office.into(),
                ..Default::default()
            })
            .await
            .expect("cuiping lists its ledger")
            .into_inner()
            .cases;
        let ids: Vec<_> = ledger.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, [ours.id.as_str()], "office filter {office:?}");
    }

    let theirs_now = app
        .cases_as(XINNAN_KEY)
        .get_case(get(&theirs.id))
        .await
        .expect("xinnan reads its own case")
        .into_inner();
    let request = request_of(&theirs_now, "housing");
    assert_eq!(
        request.status(),
        RequestStatus::Replied,
        "cuiping changed nothing"
    );
    assert!(request.reply.as_ref().unwrap().review.is_none());
    assert_eq!(theirs_now.status(), CaseStatus::Open);
}

async fn each_office_numbers_its_own_letters(app: TestApp) {
    let ours = app.escalate(property_certificate("N-1")).await;
    let theirs = escalate_as_xinnan(&app, "N-1").await;
    let numbers = |case: &Case| {
        let mut refs: Vec<_> = case
            .requests
            .iter()
            .map(|r| parse_reference(&r.reference))
            .collect();
        refs.sort_by_key(|r| r.2);
        refs
    };
    let year = this_year();
    assert_eq!(
        numbers(&ours),
        [("翠街哨".into(), year, 1), ("翠街哨".into(), year, 2)]
    );
    assert_eq!(
        numbers(&theirs),
        [("西街哨".into(), year, 1), ("西街哨".into(), year, 2)]
    );
}

async fn a_department_sees_only_its_own_requests(app: TestApp) {
    let case = app.escalate(property_certificate("D-1")).await;
    let housing_request = request_of(&case, "housing").id.clone();
    let land_request = request_of(&case, "land").id.clone();

    for outsider in ["land", "education"] {
        let mut client = app.department(outsider);
        let get = client
            .get_assigned_request(GetAssignedRequestRequest {
                request_id: housing_request.clone(),
            })
            .await;
        refused(get, Code::NotFound);
        let ack = client
            .acknowledge_request(AcknowledgeRequestRequest {
                request_id: housing_request.clone(),
            })
            .await;
        refused(ack, Code::NotFound);
        let reply = client
            .submit_reply(SubmitReplyRequest {
                request_id: housing_request.clone(),
                text: "越权答复".into(),
                ..Default::default()
            })
            .await;
        refused(reply, Code::NotFound);
    }
    // Even once housing has acknowledged, land cannot reply in its place.
    app.acknowledge("housing", &housing_request).await;
    let reply = app
        .department("land")
        .submit_reply(SubmitReplyRequest {
            request_id: housing_request.clone(),
            text: "越权答复".into(),
            ..Default::default()
        })
        .await;
    refused(reply, Code::NotFound);

    let education = app
        .department("education")
        .list_assigned_requests(ListAssignedRequestsRequest {
            department: "housing".into(),
            ..Default::default()
        })
        .await
        .expect("education lists its (empty) requests")
        .into_inner();
    assert!(
        education.requests.is_empty(),
        "a department key always lists its own requests"
    );
    let land = app
        .department("land")
        .list_assigned_requests(ListAssignedRequestsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = land.requests.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, [land_request.as_str()]);

    let case = app.case(&case.id).await;
    let housing = request_of(&case, "housing");
    assert_eq!(housing.status(), RequestStatus::Acknowledged);
    assert!(housing.reply.is_none());
    assert_eq!(request_of(&case, "land").status(), RequestStatus::Issued);
}

async fn each_service_answers_only_its_own_callers(app: TestApp) {
    let case = app.escalate(property_certificate("S-1")).await;
    let request_id = request_of(&case, "housing").id.clone();

    let mut housing_on_cases = app.cases_as(&department_key("housing"));
    refused(
        housing_on_cases.get_case(get(&case.id)).await,
        Code::PermissionDenied,
    );
    refused(
        housing_on_cases
            .list_cases(ListCasesRequest::default())
            .await,
        Code::PermissionDenied,
    );
    refused(
        housing_on_cases
            .escalate_petition(property_certificate("S-2"))
            .await,
        Code::PermissionDenied,
    );
    refused(
        housing_on_cases
            .review_reply(ReviewReplyRequest {
                request_id: request_id.clone(),
                accept: true,
                reason: String::new(),
            })
            .await,
        Code::PermissionDenied,
    );

    let mut office_on_departments = app.departments_as(OFFICE_KEY);
    refused(
        office_on_departments
            .list_assigned_requests(ListAssignedRequestsRequest::default())
            .await,
        Code::PermissionDenied,
    );
    refused(
        office_on_departments
            .get_assigned_request(GetAssignedRequestRequest {
                request_id: request_id.clone(),
            })
            .await,
        Code::PermissionDenied,
    );
    refused(
        office_on_departments
            .acknowledge_request(AcknowledgeRequestRequest {
                request_id: request_id.clone(),
            })
            .await,
        Code::PermissionDenied,
    );
    let case = app.case(&case.id).await;
    assert_eq!(
        case.events.len(),
        3,
        "nothing happened beyond the escalation"
    );
}

async fn the_supervisor_reads_everything_and_changes_nothing(app: TestApp) {
    let ours = app.escalate(property_certificate("SV-1")).await;
    let theirs = escalate_as_xinnan(&app, "SV-2").await;
    let request_id = request_of(&ours, "housing").id.clone();
    app.answer("housing", &request_id, "已处理").await;

    let mut supervisor = app.supervisor();
    for case in [&ours, &theirs] {
        let seen = supervisor
            .get_case(get(&case.id))
            .await
            .expect("the supervisor reads any office's case")
            .into_inner();
        assert_eq!(seen.office, case.office);
        assert!(!seen.events.is_empty());
        assert_eq!(seen.resident.unwrap().phone, RESIDENT_PHONE);
    }
    let listed = |office: &str| {
        let mut supervisor = app.supervisor();
        let office = office.to_owned();
        async move {
            let cases = supervisor
                .list_cases(ListCasesRequest {
                    office,
                    ..Default::default()
                })
                .await
                .expect("the supervisor lists")
                .into_inner()
                .cases;
            cases.into_iter().map(|c| c.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(listed("").await, [theirs.id.clone(), ours.id.clone()]);
    assert_eq!(listed("xinnan").await, [theirs.id.as_str()]);
    assert_eq!(listed("cuiping").await, [ours.id.as_str()]);

    let housing_requests = app
        .supervisor_departments()
        .list_assigned_requests(ListAssignedRequestsRequest {
            department: "housing".into(),
            ..Default::default()
        })
        .await
        .expect("the supervisor lists a department's requests")
        .into_inner()
        .requests;
    assert_eq!(housing_requests.len(), 2);
    assert!(housing_requests.iter().all(|r| r.department == "housing"));

    let review = supervisor
        .review_reply(ReviewReplyRequest {
            request_id: request_id.clone(),
            accept: true,
            reason: String::new(),
        })
        .await;
    refused(review, Code::PermissionDenied);
    let feedback = supervisor
        .record_feedback(RecordFeedbackRequest {
            case_id: ours.id.clone(),
            verdict: Verdict::Satisfied as i32,
            comment: String::new(),
            reissue_request_ids: Vec::new(),
            ..Default::default()
        })
        .await;
    refused(feedback, Code::PermissionDenied);
    refused(
        supervisor
            .escalate_petition(property_certificate("SV-3"))
            .await,
        Code::PermissionDenied,
    );
    let land_request = request_of(&ours, "land").id.clone();
    refused(
        app.supervisor_departments()
            .acknowledge_request(AcknowledgeRequestRequest {
                request_id: land_request,
            })
            .await,
        Code::PermissionDenied,
    );

    let ours = app.case(&ours.id).await;
    assert_eq!(
        request_of(&ours, "housing").status(),
        RequestStatus::Replied
    );
    assert_eq!(request_of(&ours, "land").status(), RequestStatus::Issued);
}

async fn the_supervisor_sees_every_request_with_the_nearest_deadline_first(app: TestApp) {
    app.escalate(property_certificate("DL-1")).await;
    let power = app.escalate(power_cut("DL-2")).await;
    escalate_as_xinnan(&app, "DL-3").await;
    let requests = app
        .supervisor_departments()
        .list_assigned_requests(ListAssignedRequestsRequest::default())
        .await
        .expect("the supervisor lists every request")
        .into_inner()
        .requests;
    assert_eq!(requests.len(), 5, "both offices, every department");
    assert_eq!(
        requests[0].id, power.requests[0].id,
        "power's two working days come due first"
    );
    assert!(
        requests
            .windows(2)
            .all(|w| instant(&w[0].reply_due_at) <= instant(&w[1].reply_due_at)),
        "nearest reply deadline first"
    );
    let offices: std::collections::BTreeSet<_> = requests
        .iter()
        .map(|r| r.case.as_ref().unwrap().office.as_str())
        .collect();
    assert_eq!(
        offices.into_iter().collect::<Vec<_>>(),
        ["cuiping", "xinnan"]
    );
}

async fn a_department_configured_to_see_phones_sees_them_in_full(app: TestApp) {
    let case = app.escalate(property_certificate("PH-1")).await;
    let phone_seen_by = |department: &'static str| {
        let mut client = app.department(department);
        let request_id = request_of(&case, department).id.clone();
        async move {
            client
                .get_assigned_request(GetAssignedRequestRequest { request_id })
                .await
                .unwrap_or_else(|s| panic!("{department} reads its request: {s:?}"))
                .into_inner()
                .case
                .and_then(|c| c.resident)
                .map(|r| r.phone)
                .unwrap_or_default()
        }
    };
    assert_eq!(phone_seen_by("land").await, RESIDENT_PHONE);
    assert_eq!(phone_seen_by("housing").await, RESIDENT_PHONE_MASKED);
}

async fn unmasked_reads_by_supervisors_and_departments_are_recorded(app: TestApp) {
    let case = app.escalate(property_certificate("A-PII-1")).await;
    let land = request_of(&case, "land").id.clone();
    let housing = request_of(&case, "housing").id.clone();
    // The office reads its own data, and housing sees the phone masked:
    // neither is a recorded read.
    app.case(&case.id).await;
    app.department("housing")
        .get_assigned_request(GetAssignedRequestRequest {
            request_id: housing,
        })
        .await
        .unwrap();
    let store = app.store().await;
    assert!(
        store
            .personal_reads_of_case(&case.id)
            .await
            .unwrap()
            .is_empty()
    );
    // A supervisor, and land (which may see phones), are recorded.
    app.supervisor().get_case(get(&case.id)).await.unwrap();
    app.supervisor()
        .list_cases(ListCasesRequest::default())
        .await
        .unwrap();
    app.department("land")
        .get_assigned_request(GetAssignedRequestRequest { request_id: land })
        .await
        .unwrap();
    let reads: Vec<(String, String)> = store
        .personal_reads_of_case(&case.id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.actor, r.via))
        .collect();
    store.close().await;
    assert_eq!(
        reads,
        [
            ("supervisor".to_owned(), "GetCase".to_owned()),
            ("supervisor".to_owned(), "ListCases".to_owned()),
            ("land-dept".to_owned(), "GetAssignedRequest".to_owned()),
        ]
    );
}

scenarios!(
    module = authentication;
    the_bearer_scheme_is_matched_without_regard_to_case,
    a_client_that_keeps_failing_to_authenticate_is_held_off,
);

async fn the_bearer_scheme_is_matched_without_regard_to_case(backend: Backend) {
    let Some(app) = spawn_app(backend, None).await else {
        return;
    };
    let case = app.escalate(property_certificate("A-SCHEME-1")).await;
    for value in [
        format!("BEARER {OFFICE_KEY}"),
        format!("bearer {OFFICE_KEY}"),
        format!("Bearer  {OFFICE_KEY}"),
    ] {
        app.cases_with_authorization(&value)
            .get_case(get(&case.id))
            .await
            .unwrap_or_else(|e| panic!("{value:?}: {e:?}"));
    }
}

async fn a_client_that_keeps_failing_to_authenticate_is_held_off(backend: Backend) {
    let Some(app) = spawn_app_with(
        backend,
        None,
        &[("WHISTLE__GRPC__AUTH_FAILURES_PER_MINUTE", "5")],
    )
    .await
    else {
        return;
    };
    let case = app.escalate(property_certificate("A-HELD-1")).await;
    for _ in 0..5 {
        refused(
            app.cases_as("a-guess").get_case(get(&case.id)).await,
            Code::Unauthenticated,
        );
    }
    let held = refused(
        app.cases_as("another-guess").get_case(get(&case.id)).await,
        Code::ResourceExhausted,
    );
    assert!(
        tonic_types::StatusExt::get_details_retry_info(&held).is_some(),
        "{held:?}"
    );
    // A valid key from the same address is not held off: behind a NAT
    // it is another client's.
    app.office()
        .get_case(get(&case.id))
        .await
        .expect("a valid key is answered while guesses are held off");
    refused(
        app.cases_as("a-third-guess").get_case(get(&case.id)).await,
        Code::ResourceExhausted,
    );
}
