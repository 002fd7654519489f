//! The life of a case through the real server: escalation, 签收 and 答复,
//! review, the resident's verdict, the ledger and the departments' lists.

use tonic::Code;
use whistle::proto::{
    AcknowledgeRequestRequest, Case, CaseStatus, DepartmentRole, EscalatePetitionRequest,
    EventKind, GetAssignedRequestRequest, ListAssignedRequestsRequest, ListCasesRequest,
    RequestStatus, ReviewReplyRequest, SubmitReplyRequest, Verdict,
};

use crate::helpers::*;

scenarios!(
    the_whole_story_from_escalation_to_a_satisfied_resident,
    a_broken_street_light_goes_to_lighting_and_power_and_basically_satisfied_closes_it,
    feedback_waits_until_every_reply_is_accepted_and_ends_with_closing,
    an_unsatisfied_resident_naming_no_request_reopens_them_all,
    a_department_acknowledges_before_it_replies,
    only_a_submitted_reply_can_be_reviewed,
    the_ledger_filters_by_status_category_community_and_awaiting_review,
    the_ledger_pages_newest_first,
    departments_list_their_requests_by_status_page_by_page,
    departments_see_the_residents_phone_masked_and_the_office_sees_it_in_full,
);

const HOUSING_REPLY_1: &str = "已约谈开发商，督促其补缴土地出让金。";
const REJECTION: &str = "答复未明确办证时间表，请给出具体完成时间。";
const HOUSING_REPLY_2: &str = "开发商已于本月补缴全部土地出让金，预计30个工作日内分批办证。";
const LAND_REPLY: &str = "已完成地籍调查和权籍审核，配合住建局办理。";
const UNSATISFIED: &str = "居民回访：三栋仍有十二户未拿到证。";
const HOUSING_REPLY_3: &str = "剩余十二户已全部办结，证书已送达社区。";
const SATISFIED: &str = "证已拿到，非常感谢。";

async fn the_whole_story_from_escalation_to_a_satisfied_resident(app: TestApp) {
    // The street office escalates: housing leads, land assists.
    let petition = property_certificate("CP-2026-0001");
    let case = app.escalate(petition.clone()).await;
    assert_eq!(case.status(), CaseStatus::Open);
    assert_eq!(case.petition_id, "CP-2026-0001");
    assert_eq!(case.office, "cuiping");
    assert_eq!(case.category, "property-certificate");
    assert_eq!(case.title, petition.title);
    assert_eq!(case.description, petition.description);
    assert_eq!(case.resident, petition.resident);
    assert_eq!(case.address, petition.address);
    assert_eq!(case.community, "杨柳社区");
    assert_eq!(case.difficulty, 3);
    assert!(case.feedback.is_none());
    assert_eq!(case.requests.len(), 2);
    let housing = request_of(&case, "housing").clone();
    let land = request_of(&case, "land").clone();
    assert_eq!(housing.role(), DepartmentRole::Lead);
    assert_eq!(land.role(), DepartmentRole::Assisting);
    assert_ne!(housing.reference, land.reference);
    let mut numbers = Vec::new();
    for request in [&housing, &land] {
        let (prefix, year, number) = parse_reference(&request.reference);
        assert_eq!((prefix.as_str(), year), ("翠街哨", this_year()));
        numbers.push(number);
        assert_eq!(request.case_id, case.id);
        assert_eq!(request.status(), RequestStatus::Issued);
        assert_eq!(request.round, 1);
        assert_eq!(request.reissue_reason, "");
        assert!(request.reply.is_none() && request.history.is_empty());
        assert!(request.acknowledged_at.is_none());
        let issued = instant(&request.issued_at);
        let (ack_due, reply_due) = (instant(&request.ack_due_at), instant(&request.reply_due_at));
        assert!(issued < ack_due && ack_due < reply_due, "{request:?}");
        let expected = app.deadlines(&request.department, issued);
        assert_eq!(
            (ack_due, reply_due),
            (expected.ack_due_at, expected.reply_due_at)
        );
    }
    numbers.sort();
    assert_eq!(
        numbers,
        [1, 2],
        "a fresh ledger numbers its first letters 0001 and 0002"
    );

    // Housing acknowledges and replies; the office finds the reply unsatisfactory.
    let acknowledged = app.acknowledge("housing", &housing.id).await;
    assert_eq!(acknowledged.status(), RequestStatus::Acknowledged);
    assert!(instant(&acknowledged.acknowledged_at) >= instant(&housing.issued_at));
    let replied = app.reply("housing", &housing.id, HOUSING_REPLY_1).await;
    assert_eq!(replied.status(), RequestStatus::Replied);
    let reply = replied.reply.as_ref().expect("the current reply");
    assert_eq!((reply.text.as_str(), reply.round), (HOUSING_REPLY_1, 1));
    assert_eq!(reply.replied_by, "housing-dept");
    assert!(reply.review.is_none());

    let case = app.reject(&housing.id, REJECTION).await;
    assert_eq!(case.status(), CaseStatus::Open);
    let round2 = request_of(&case, "housing");
    assert_eq!(round2.status(), RequestStatus::Issued);
    assert_eq!(round2.round, 2);
    assert_eq!(
        round2.reference, housing.reference,
        "a new round keeps its letter number"
    );
    assert_eq!(round2.reissue_reason, REJECTION);
    assert!(round2.reply.is_none(), "round 2 has no reply yet");
    assert!(
        round2.acknowledged_at.is_none(),
        "round 2 must be acknowledged again"
    );
    assert_eq!(round2.history.len(), 1);
    let first = &round2.history[0];
    assert_eq!((first.text.as_str(), first.round), (HOUSING_REPLY_1, 1));
    let review = first.review.as_ref().expect("the first reply was reviewed");
    assert!(!review.accepted);
    assert_eq!(review.reason, REJECTION);
    assert_eq!(review.reviewed_by, "cuiping-office");
    let issued2 = instant(&round2.issued_at);
    assert!(issued2 >= instant(&first.replied_at));
    let expected = app.deadlines("housing", issued2);
    assert_eq!(instant(&round2.ack_due_at), expected.ack_due_at);
    assert_eq!(instant(&round2.reply_due_at), expected.reply_due_at);
    assert_eq!(request_of(&case, "land").status(), RequestStatus::Issued);

    // Round 2 is accepted; the case stays open while land has not answered.
    app.answer("housing", &housing.id, HOUSING_REPLY_2).await;
    let case = app.accept(&housing.id).await;
    assert_eq!(case.status(), CaseStatus::Open);
    let accepted = request_of(&case, "housing");
    assert_eq!(accepted.status(), RequestStatus::Accepted);
    assert_eq!(accepted.round, 2);
    let reply = accepted.reply.as_ref().expect("round 2's reply");
    assert_eq!(reply.text, HOUSING_REPLY_2);
    assert!(reply.review.as_ref().expect("reviewed").accepted);

    app.answer("land", &land.id, LAND_REPLY).await;
    let case = app.accept(&land.id).await;
    assert_eq!(case.status(), CaseStatus::AwaitingFeedback);

    // The resident is not satisfied with housing's work only.
    let case = app
        .feedback(&case.id, Verdict::Unsatisfied, UNSATISFIED, &[&housing.id])
        .await
        .expect("unsatisfied feedback")
        .into_inner();
    assert_eq!(case.status(), CaseStatus::Open);
    let feedback = case.feedback.as_ref().expect("the verdict");
    assert_eq!(feedback.verdict(), Verdict::Unsatisfied);
    assert_eq!(feedback.comment, UNSATISFIED);
    assert_eq!(feedback.recorded_by, "cuiping-office");
    let round3 = request_of(&case, "housing");
    assert_eq!(round3.status(), RequestStatus::Issued);
    assert_eq!(round3.round, 3);
    assert!(round3.reissue_reason.contains(UNSATISFIED), "{round3:?}");
    let history: Vec<_> = round3.history.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(history, [HOUSING_REPLY_1, HOUSING_REPLY_2]);
    let land_now = request_of(&case, "land");
    assert_eq!(land_now.status(), RequestStatus::Accepted);
    assert_eq!(land_now.round, 1);

    app.answer("housing", &housing.id, HOUSING_REPLY_3).await;
    let case = app.accept(&housing.id).await;
    assert_eq!(case.status(), CaseStatus::AwaitingFeedback);
    let closed = app
        .feedback(&case.id, Verdict::Satisfied, SATISFIED, &[])
        .await
        .expect("satisfied feedback")
        .into_inner();
    assert_eq!(closed.status(), CaseStatus::Closed);
    assert_eq!(
        closed.feedback.as_ref().unwrap().verdict(),
        Verdict::Satisfied
    );

    // The timeline tells the whole story, in order, with who did what.
    let case = app.case(&case.id).await;
    assert_eq!(case.status(), CaseStatus::Closed);
    assert_eq!(
        case.title, petition.title,
        "Chinese text comes back unchanged"
    );
    assert_eq!(case.description, petition.description);
    let (h, l) = (housing.id.as_str(), land.id.as_str());
    use EventKind as K;
    let expected = [
        (K::Escalated, "cuiping-office", ""),
        (K::RequestIssued, "cuiping-office", h),
        (K::RequestIssued, "cuiping-office", l),
        (K::RequestAcknowledged, "housing-dept", h),
        (K::ReplySubmitted, "housing-dept", h),
        (K::ReplyRejected, "cuiping-office", h),
        (K::RequestIssued, "cuiping-office", h),
        (K::RequestAcknowledged, "housing-dept", h),
        (K::ReplySubmitted, "housing-dept", h),
        (K::ReplyAccepted, "cuiping-office", h),
        (K::RequestAcknowledged, "land-dept", l),
        (K::ReplySubmitted, "land-dept", l),
        (K::ReplyAccepted, "cuiping-office", l),
        (K::AwaitingFeedback, "cuiping-office", ""),
        (K::FeedbackRecorded, "cuiping-office", ""),
        (K::CaseReopened, "cuiping-office", ""),
        (K::RequestIssued, "cuiping-office", h),
        (K::RequestAcknowledged, "housing-dept", h),
        (K::ReplySubmitted, "housing-dept", h),
        (K::ReplyAccepted, "cuiping-office", h),
        (K::AwaitingFeedback, "cuiping-office", ""),
        (K::FeedbackRecorded, "cuiping-office", ""),
        (K::CaseClosed, "cuiping-office", ""),
    ];
    let actual: Vec<_> = case
        .events
        .iter()
        .map(|e| (e.kind(), e.actor.as_str(), e.request_id.as_str()))
        .collect();
    assert_eq!(actual, expected);
    let seqs: Vec<i32> = case.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=expected.len() as i32).collect::<Vec<_>>());
    assert_eq!(
        instant(&case.updated_at),
        instant(&case.events.last().unwrap().at),
        "the case was last updated when it closed"
    );
    assert!(
        case.events
            .windows(2)
            .all(|w| instant(&w[0].at) <= instant(&w[1].at)),
        "the timeline is in time order"
    );
    let detail = |seq: usize| case.events[seq - 1].detail.as_str();
    assert_eq!(detail(1), petition.title);
    assert_eq!(detail(5), HOUSING_REPLY_1);
    assert_eq!(detail(6), REJECTION);
    assert!(detail(7).contains(REJECTION), "{}", detail(7));
    assert_eq!(detail(9), HOUSING_REPLY_2);
    assert_eq!(detail(12), LAND_REPLY);
    assert!(detail(15).contains(UNSATISFIED), "{}", detail(15));
    assert!(detail(22).contains(SATISFIED), "{}", detail(22));
}

async fn a_broken_street_light_goes_to_lighting_and_power_and_basically_satisfied_closes_it(
    app: TestApp,
) {
    let petition = street_lighting("CP-2026-0002");
    let case = app.escalate(petition.clone()).await;
    let departments: Vec<_> = case
        .requests
        .iter()
        .map(|r| (r.department.as_str(), r.role()))
        .collect();
    assert_eq!(
        departments,
        [
            ("lighting", DepartmentRole::Lead),
            ("power", DepartmentRole::Assisting)
        ]
    );
    assert_eq!(
        case.resident, petition.resident,
        "a landline is kept as written"
    );

    let lighting = request_of(&case, "lighting").id.clone();
    let power = request_of(&case, "power").id.clone();
    let seen = app.acknowledge("lighting", &lighting).await;
    let phone = seen.case.unwrap().resident.unwrap().phone;
    assert_eq!(phone, "081****5678", "a landline is masked too");
    app.reply("lighting", &lighting, "已更换灯具。").await;
    app.answer("power", &power, "已恢复线路供电。").await;
    assert_eq!(app.accept(&power).await.status(), CaseStatus::Open);
    assert_eq!(
        app.accept(&lighting).await.status(),
        CaseStatus::AwaitingFeedback
    );
    let case = app
        .feedback(&case.id, Verdict::BasicallySatisfied, "基本满意", &[])
        .await
        .expect("basically satisfied")
        .into_inner();
    assert_eq!(case.status(), CaseStatus::Closed);
    assert_eq!(
        case.feedback.as_ref().unwrap().verdict(),
        Verdict::BasicallySatisfied
    );
    let kinds: Vec<_> = app
        .case(&case.id)
        .await
        .events
        .iter()
        .map(|e| e.kind())
        .collect();
    assert_eq!(
        kinds[kinds.len() - 3..],
        [
            EventKind::AwaitingFeedback,
            EventKind::FeedbackRecorded,
            EventKind::CaseClosed
        ]
    );
}

async fn feedback_waits_until_every_reply_is_accepted_and_ends_with_closing(app: TestApp) {
    let case = app.escalate(property_certificate("CP-2026-0003")).await;
    let early = app.feedback(&case.id, Verdict::Satisfied, "", &[]).await;
    let status = refused(early, Code::FailedPrecondition);
    assert!(status.message().contains("OPEN"), "{}", status.message());

    app.settle(&case).await;
    app.feedback(&case.id, Verdict::Satisfied, "", &[])
        .await
        .expect("satisfied");
    for verdict in [Verdict::Satisfied, Verdict::Unsatisfied] {
        let late = app.feedback(&case.id, verdict, "", &[]).await;
        let status = refused(late, Code::FailedPrecondition);
        assert!(status.message().contains("CLOSED"), "{}", status.message());
    }
    let case = app.case(&case.id).await;
    assert_eq!(case.status(), CaseStatus::Closed);
    assert_eq!(case.feedback.unwrap().verdict(), Verdict::Satisfied);
}

async fn an_unsatisfied_resident_naming_no_request_reopens_them_all(app: TestApp) {
    let case = app.escalate(property_certificate("CP-2026-0006")).await;
    app.settle(&case).await;
    let case = app
        .feedback(&case.id, Verdict::Unsatisfied, "", &[])
        .await
        .expect("unsatisfied feedback")
        .into_inner();
    assert_eq!(case.status(), CaseStatus::Open);
    for request in &case.requests {
        assert_eq!(
            (request.status(), request.round),
            (RequestStatus::Issued, 2),
            "{}",
            request.department
        );
        assert!(!request.reissue_reason.is_empty());
        assert_eq!(request.history.len(), 1);
    }
}

async fn a_department_acknowledges_before_it_replies(app: TestApp) {
    let case = app.escalate(property_certificate("CP-2026-0004")).await;
    let id = request_of(&case, "housing").id.clone();
    let mut housing = app.department("housing");
    let early = housing
        .submit_reply(SubmitReplyRequest {
            request_id: id.clone(),
            text: "已处理".into(),
            ..Default::default()
        })
        .await;
    let status = refused(early, Code::FailedPrecondition);
    assert!(status.message().contains("ISSUED"), "{}", status.message());

    let request = housing
        .get_assigned_request(GetAssignedRequestRequest {
            request_id: id.clone(),
        })
        .await
        .expect("housing reads its request")
        .into_inner();
    assert_eq!(request.status(), RequestStatus::Issued);
    assert!(request.reply.is_none());

    app.acknowledge("housing", &id).await;
    let twice = housing
        .acknowledge_request(AcknowledgeRequestRequest {
            request_id: id.clone(),
        })
        .await;
    let status = refused(twice, Code::FailedPrecondition);
    assert!(
        status.message().contains("ACKNOWLEDGED"),
        "{}",
        status.message()
    );

    app.reply("housing", &id, "已处理").await;
    let again = housing
        .submit_reply(SubmitReplyRequest {
            request_id: id.clone(),
            text: "再答复一次".into(),
            ..Default::default()
        })
        .await;
    let status = refused(again, Code::FailedPrecondition);
    assert!(status.message().contains("REPLIED"), "{}", status.message());
    let reply = app.case(&case.id).await;
    let reply = request_of(&reply, "housing")
        .reply
        .clone()
        .expect("a reply");
    assert_eq!(
        reply.text, "已处理",
        "the second reply must not replace the first"
    );
}

async fn only_a_submitted_reply_can_be_reviewed(app: TestApp) {
    let case = app.escalate(property_certificate("CP-2026-0005")).await;
    let id = request_of(&case, "housing").id.clone();
    let review = |accept: bool| ReviewReplyRequest {
        request_id: id.clone(),
        accept,
        reason: if accept {
            String::new()
        } else {
            "不满意".into()
        },
    };
    let mut office = app.office();
    for state in ["ISSUED", "ACKNOWLEDGED"] {
        if state == "ACKNOWLEDGED" {
            app.acknowledge("housing", &id).await;
        }
        for accept in [true, false] {
            let status = refused(
                office.review_reply(review(accept)).await,
                Code::FailedPrecondition,
            );
            assert!(status.message().contains(state), "{}", status.message());
        }
    }
    app.reply("housing", &id, "已处理").await;
    app.accept(&id).await;
    for accept in [true, false] {
        let status = refused(
            office.review_reply(review(accept)).await,
            Code::FailedPrecondition,
        );
        assert!(
            status.message().contains("ACCEPTED"),
            "{}",
            status.message()
        );
    }
    let case = app.case(&case.id).await;
    let housing = request_of(&case, "housing");
    assert_eq!(
        (housing.status(), housing.round),
        (RequestStatus::Accepted, 1)
    );
}

fn ids(cases: &[Case]) -> Vec<&str> {
    cases.iter().map(|c| c.id.as_str()).collect()
}

async fn the_ledger_filters_by_status_category_community_and_awaiting_review(app: TestApp) {
    let untouched = app.escalate(property_certificate("L-1")).await;
    let replied = app.escalate(property_certificate("L-2")).await;
    app.answer("housing", &request_of(&replied, "housing").id, "已处理")
        .await;
    let light = app.escalate(street_lighting("L-3")).await;
    app.settle(&light).await;
    let power = app.escalate(power_cut("L-4")).await;
    app.settle(&power).await;
    app.feedback(&power.id, Verdict::Satisfied, "", &[])
        .await
        .expect("satisfied");

    let list = |filter: ListCasesRequest| {
        let mut office = app.office();
        async move {
            office
                .list_cases(filter)
                .await
                .expect("listing the ledger")
                .into_inner()
                .cases
        }
    };
    let all = list(ListCasesRequest::default()).await;
    assert_eq!(
        ids(&all),
        [&power.id, &light.id, &replied.id, &untouched.id]
    );
    assert!(
        all.iter().all(|c| c.events.is_empty()),
        "ListCases leaves the timeline out"
    );
    assert!(
        all.iter().all(|c| !c.requests.is_empty()),
        "but keeps the requests"
    );

    let by_status = |status: CaseStatus| ListCasesRequest {
        status: status as i32,
        ..Default::default()
    };
    let open = list(by_status(CaseStatus::Open)).await;
    assert_eq!(ids(&open), [&replied.id, &untouched.id]);
    let waiting = list(by_status(CaseStatus::AwaitingFeedback)).await;
    assert_eq!(ids(&waiting), [&light.id]);
    let closed = list(by_status(CaseStatus::Closed)).await;
    assert_eq!(ids(&closed), [&power.id]);

    let lighting = list(ListCasesRequest {
        category: "street-lighting".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&lighting), [&light.id]);
    let certificates = list(ListCasesRequest {
        category: "property-certificate".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&certificates), [&replied.id, &untouched.id]);
    let xinnan = list(ListCasesRequest {
        community: "新南社区".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&xinnan), [&light.id]);

    let to_review = list(ListCasesRequest {
        awaiting_review: true,
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&to_review), [&replied.id]);
    let open_certificates_to_review = list(ListCasesRequest {
        status: CaseStatus::Open as i32,
        category: "property-certificate".into(),
        awaiting_review: true,
        ..Default::default()
    })
    .await;
    assert_eq!(ids(&open_certificates_to_review), [&replied.id]);
}

async fn the_ledger_pages_newest_first(app: TestApp) {
    let mut escalated = Vec::new();
    for n in 1..=5 {
        escalated.push(
            app.escalate(property_certificate(&format!("PG-{n}")))
                .await
                .id,
        );
    }
    let mut office = app.office();
    let (mut seen, mut sizes, mut token) = (Vec::new(), Vec::new(), String::new());
    loop {
        let page = office
            .list_cases(ListCasesRequest {
                page_size: 2,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .expect("a page of the ledger")
            .into_inner();
        sizes.push(page.cases.len());
        seen.extend(page.cases.into_iter().map(|c| c.id));
        token = page.next_page_token;
        if token.is_empty() || sizes.len() > 5 {
            break;
        }
    }
    assert_eq!(sizes, [2, 2, 1]);
    escalated.reverse();
    assert_eq!(seen, escalated, "every case once, newest first");
}

async fn departments_list_their_requests_by_status_page_by_page(app: TestApp) {
    let mut mine = Vec::new();
    for n in 1..=3 {
        let case = app.escalate(property_certificate(&format!("D-{n}"))).await;
        mine.push(request_of(&case, "housing").id.clone());
    }
    let hardship = app
        .escalate(EscalatePetitionRequest {
            category: "hardship-appeal".into(),
            title: "低保户房屋漏雨".into(),
            ..property_certificate("D-4")
        })
        .await;
    mine.push(request_of(&hardship, "housing").id.clone());
    app.escalate(street_lighting("D-5")).await;
    app.acknowledge("housing", &mine[0]).await;

    let list = |request: ListAssignedRequestsRequest| {
        let mut housing = app.department("housing");
        async move {
            housing
                .list_assigned_requests(request)
                .await
                .expect("listing housing's requests")
                .into_inner()
        }
    };
    let by_status = |status: RequestStatus| ListAssignedRequestsRequest {
        status: status as i32,
        ..Default::default()
    };
    let acknowledged = list(by_status(RequestStatus::Acknowledged)).await.requests;
    assert_eq!(
        acknowledged.iter().map(|r| &r.id).collect::<Vec<_>>(),
        [&mine[0]]
    );
    let issued = list(by_status(RequestStatus::Issued)).await.requests;
    let mut issued: Vec<_> = issued.iter().map(|r| r.id.clone()).collect();
    issued.sort();
    let mut expected = mine[1..].to_vec();
    expected.sort();
    assert_eq!(issued, expected);
    assert!(
        list(by_status(RequestStatus::Replied))
            .await
            .requests
            .is_empty()
    );

    let hardship_only = list(ListAssignedRequestsRequest {
        category: "hardship-appeal".into(),
        ..Default::default()
    })
    .await
    .requests;
    assert_eq!(
        hardship_only.iter().map(|r| &r.id).collect::<Vec<_>>(),
        [&mine[3]]
    );

    let (mut seen, mut sizes, mut token) = (Vec::new(), Vec::new(), String::new());
    loop {
        let page = list(ListAssignedRequestsRequest {
            page_size: 3,
            page_token: token.clone(),
            ..Default::default()
        })
        .await;
        sizes.push(page.requests.len());
        for request in &page.requests {
            assert_eq!(request.department, "housing");
            let summary = request.case.as_ref().expect("the case's facts");
            assert_eq!(summary.office, "cuiping");
            assert_eq!(summary.case_id, request.case_id);
        }
        seen.extend(page.requests.into_iter().map(|r| r.id));
        token = page.next_page_token;
        if token.is_empty() || sizes.len() > 4 {
            break;
        }
    }
    assert_eq!(sizes, [3, 1]);
    seen.sort();
    let mut all = mine.clone();
    all.sort();
    assert_eq!(seen, all, "every request once, nobody else's");

    let education = app
        .department("education")
        .list_assigned_requests(ListAssignedRequestsRequest::default())
        .await
        .expect("education lists")
        .into_inner();
    assert!(education.requests.is_empty() && education.next_page_token.is_empty());
}

async fn departments_see_the_residents_phone_masked_and_the_office_sees_it_in_full(app: TestApp) {
    let petition = property_certificate("PH-1");
    let case = app.escalate(petition.clone()).await;
    let id = request_of(&case, "housing").id.clone();
    let phone = |r: &whistle::proto::DepartmentRequest| {
        let summary = r.case.as_ref().expect("the case's facts");
        let resident = summary.resident.as_ref().expect("the resident");
        assert_eq!(resident.name, RESIDENT_NAME);
        assert_eq!(summary.title, petition.title);
        assert_eq!(summary.description, petition.description);
        assert_eq!(summary.address, petition.address);
        assert_eq!(summary.community, petition.community);
        assert_eq!(summary.difficulty, 3);
        assert_eq!(summary.category, "property-certificate");
        resident.phone.clone()
    };
    let mut housing = app.department("housing");
    let listed = housing
        .list_assigned_requests(ListAssignedRequestsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .requests;
    assert_eq!(listed.len(), 1);
    assert_eq!(phone(&listed[0]), RESIDENT_PHONE_MASKED);
    let got = housing
        .get_assigned_request(GetAssignedRequestRequest {
            request_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(phone(&got), RESIDENT_PHONE_MASKED);
    assert_eq!(
        phone(&app.acknowledge("housing", &id).await),
        RESIDENT_PHONE_MASKED
    );
    assert_eq!(
        phone(&app.reply("housing", &id, "已处理").await),
        RESIDENT_PHONE_MASKED
    );

    let office_view = app.case(&case.id).await;
    assert_eq!(office_view.resident.unwrap().phone, RESIDENT_PHONE);
    let ledger = app
        .office()
        .list_cases(ListCasesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .cases;
    assert_eq!(ledger[0].resident.as_ref().unwrap().phone, RESIDENT_PHONE);
    let supervised = app
        .supervisor_departments()
        .get_assigned_request(GetAssignedRequestRequest { request_id: id })
        .await
        .expect("the supervisor reads any request")
        .into_inner();
    assert_eq!(phone(&supervised), RESIDENT_PHONE);
}
