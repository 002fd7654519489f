//! Bad input is refused once, at the edge: INVALID_ARGUMENT with a
//! google.rpc.BadRequest detail that names the offending field, and nothing
//! written.

use whistle::proto::{
    CaseStatus, EscalatePetitionRequest, GetCaseRequest, ListAssignedRequestsRequest,
    ListCasesRequest, RecordFeedbackRequest, RequestStatus, ReviewReplyRequest, SubmitReplyRequest,
    Verdict,
};

use crate::helpers::*;

scenarios!(
    a_petition_needs_a_title_of_at_most_200_characters,
    a_description_is_at_most_10000_characters,
    difficulty_runs_from_1_to_5,
    a_residents_phone_must_be_a_chinese_number,
    a_petition_needs_its_own_id,
    an_unknown_category_needs_a_lead_department,
    departments_named_by_the_office_must_exist,
    the_community_must_be_one_of_the_offices,
    every_bad_field_is_named_at_once,
    fields_routing_and_community_are_all_reported_in_one_answer,
    a_rejection_needs_a_reason,
    feedback_needs_a_verdict,
    feedback_reissues_only_requests_of_its_own_case,
    pages_refuse_negative_sizes_and_unknown_tokens,
    lists_refuse_unknown_statuses,
    a_reply_needs_text,
    control_characters_are_refused_not_stored,
    every_refusal_is_also_said_in_chinese,
    one_line_fields_refuse_line_breaks_and_bidi_controls,
    texts_of_many_lines_refuse_bidi_controls_too,
    phones_are_bounded_normalised_and_masked_by_their_national_number,
    a_nul_byte_in_an_id_or_a_filter_finds_nothing_on_either_backend,
    huge_lists_of_bad_values_get_a_short_invalid_argument,
);

/// Escalates and expects INVALID_ARGUMENT naming `field`.
async fn refuse_petition(app: &TestApp, petition: EscalatePetitionRequest, field: &str) {
    invalid(app.office().escalate_petition(petition).await, field);
}

async fn ledger_size(app: &TestApp) -> usize {
    app.office()
        .list_cases(ListCasesRequest::default())
        .await
        .expect("listing the ledger")
        .into_inner()
        .cases
        .len()
}

async fn a_petition_needs_a_title_of_at_most_200_characters(app: TestApp) {
    for title in ["", "   ", &"字".repeat(201), &"a".repeat(201)] {
        let petition = EscalatePetitionRequest {
            title: title.to_owned(),
            ..property_certificate("T-1")
        };
        refuse_petition(&app, petition, "title").await;
    }
    assert_eq!(
        ledger_size(&app).await,
        0,
        "refused petitions leave no case"
    );

    let long = "字".repeat(200);
    let case = app
        .escalate(EscalatePetitionRequest {
            title: long.clone(),
            ..property_certificate("T-1")
        })
        .await;
    assert_eq!(
        case.title, long,
        "200 Chinese characters are within the limit"
    );
}

async fn a_description_is_at_most_10000_characters(app: TestApp) {
    let petition = EscalatePetitionRequest {
        description: "述".repeat(10_001),
        ..property_certificate("DS-1")
    };
    refuse_petition(&app, petition, "description").await;
    let case = app
        .escalate(EscalatePetitionRequest {
            description: "述".repeat(10_000),
            ..property_certificate("DS-1")
        })
        .await;
    assert_eq!(case.description.chars().count(), 10_000);
}

async fn difficulty_runs_from_1_to_5(app: TestApp) {
    for difficulty in [0, 6, -1] {
        let petition = EscalatePetitionRequest {
            difficulty,
            ..property_certificate("DF-0")
        };
        refuse_petition(&app, petition, "difficulty").await;
    }
    for difficulty in [1, 5] {
        let petition = EscalatePetitionRequest {
            difficulty,
            ..property_certificate(&format!("DF-{difficulty}"))
        };
        assert_eq!(app.escalate(petition).await.difficulty, difficulty);
    }
}

async fn a_residents_phone_must_be_a_chinese_number(app: TestApp) {
    for phone in ["12345", "12812345678", "138123456789", "电话13812345678"] {
        let mut petition = property_certificate("PH-1");
        petition.resident.as_mut().unwrap().phone = phone.into();
        refuse_petition(&app, petition, "resident.phone").await;
    }
    let mut petition = property_certificate("PH-2");
    petition.resident.as_mut().unwrap().phone = "+86 138-1234-5678".into();
    let case = app.escalate(petition).await;
    assert_eq!(
        case.resident.unwrap().phone,
        "13812345678",
        "kept as the national number"
    );
}

async fn a_petition_needs_its_own_id(app: TestApp) {
    refuse_petition(&app, property_certificate(""), "petition_id").await;
    refuse_petition(&app, property_certificate(&"9".repeat(101)), "petition_id").await;
    assert_eq!(ledger_size(&app).await, 0);
}

async fn an_unknown_category_needs_a_lead_department(app: TestApp) {
    let noise = || EscalatePetitionRequest {
        category: "noise-at-night".into(),
        title: "夜间施工噪音扰民".into(),
        ..property_certificate("C-1")
    };
    let status = invalid(app.office().escalate_petition(noise()).await, "category");
    assert!(
        status.message().contains("noise-at-night"),
        "{}",
        status.message()
    );

    let case = app
        .escalate(EscalatePetitionRequest {
            lead_department: "housing".into(),
            ..noise()
        })
        .await;
    assert_eq!(case.category, "noise-at-night");
    let departments: Vec<_> = case
        .requests
        .iter()
        .map(|r| r.department.as_str())
        .collect();
    assert_eq!(
        departments,
        ["housing"],
        "an explicit lead replaces the whole route"
    );
}

async fn departments_named_by_the_office_must_exist(app: TestApp) {
    let petition = EscalatePetitionRequest {
        lead_department: "police".into(),
        ..property_certificate("R-1")
    };
    refuse_petition(&app, petition, "lead_department").await;
    let petition = EscalatePetitionRequest {
        assisting_departments: vec!["army".into()],
        ..property_certificate("R-1")
    };
    refuse_petition(&app, petition, "assisting_departments[0]").await;
    let petition = EscalatePetitionRequest {
        lead_department: "housing".into(),
        assisting_departments: vec!["land".into(), "army".into()],
        ..property_certificate("R-1")
    };
    refuse_petition(&app, petition, "assisting_departments[1]").await;
    assert_eq!(ledger_size(&app).await, 0);
}

async fn the_community_must_be_one_of_the_offices(app: TestApp) {
    let petition = EscalatePetitionRequest {
        community: "不存在社区".into(),
        ..property_certificate("CM-1")
    };
    refuse_petition(&app, petition, "community").await;
    assert_eq!(ledger_size(&app).await, 0);
}

async fn every_bad_field_is_named_at_once(app: TestApp) {
    let mut petition = EscalatePetitionRequest {
        title: String::new(),
        difficulty: 9,
        ..property_certificate("M-1")
    };
    petition.resident.as_mut().unwrap().phone = "123".into();
    let status = refused(
        app.office().escalate_petition(petition).await,
        tonic::Code::InvalidArgument,
    );
    let mut fields = violated_fields(&status);
    fields.sort();
    assert_eq!(fields, ["difficulty", "resident.phone", "title"]);
}

/// A bad field, an unknown category with no lead, an unknown assisting
/// department and a community the office does not have: one answer names all of
/// them, so the caller fixes everything in one round trip.
async fn fields_routing_and_community_are_all_reported_in_one_answer(app: TestApp) {
    let petition = EscalatePetitionRequest {
        title: String::new(),
        category: "no-such-category".into(),
        assisting_departments: vec!["land".into(), "no-such-department".into()],
        community: "别的社区".into(),
        ..property_certificate("M-2")
    };
    let status = refused(
        app.office().escalate_petition(petition).await,
        tonic::Code::InvalidArgument,
    );
    let mut fields = violated_fields(&status);
    fields.sort();
    assert_eq!(
        fields,
        ["assisting_departments[1]", "category", "community", "title"]
    );
    assert_eq!(ledger_size(&app).await, 0);
}

async fn a_rejection_needs_a_reason(app: TestApp) {
    let case = app.escalate(property_certificate("RV-1")).await;
    let id = request_of(&case, "housing").id.clone();
    app.answer("housing", &id, "已处理").await;
    for reason in ["", "  \n "] {
        let result = app
            .office()
            .review_reply(ReviewReplyRequest {
                request_id: id.clone(),
                accept: false,
                reason: reason.into(),
            })
            .await;
        invalid(result, "reason");
    }
    let case = app.case(&case.id).await;
    assert_eq!(
        request_of(&case, "housing").status(),
        RequestStatus::Replied
    );
}

async fn feedback_needs_a_verdict(app: TestApp) {
    let case = app.escalate(power_cut("FB-1")).await;
    app.settle(&case).await;
    for verdict in [Verdict::Unspecified as i32, 99] {
        let result = app
            .office()
            .record_feedback(RecordFeedbackRequest {
                case_id: case.id.clone(),
                verdict,
                comment: "回访".into(),
                reissue_request_ids: Vec::new(),
                ..Default::default()
            })
            .await;
        invalid(result, "verdict");
    }
    assert_eq!(
        app.case(&case.id).await.status(),
        CaseStatus::AwaitingFeedback
    );
}

async fn feedback_reissues_only_requests_of_its_own_case(app: TestApp) {
    let case = app.escalate(property_certificate("FB-2")).await;
    let other = app.escalate(property_certificate("FB-3")).await;
    app.settle(&case).await;
    let foreign = request_of(&other, "housing").id.clone();
    let result = app
        .feedback(&case.id, Verdict::Unsatisfied, "不满意", &[&foreign])
        .await;
    invalid(result, "reissue_request_ids[0]");
    let case = app.case(&case.id).await;
    assert_eq!(
        case.status(),
        CaseStatus::AwaitingFeedback,
        "nothing changed"
    );
    assert!(case.feedback.is_none());
    assert!(
        case.requests
            .iter()
            .all(|r| r.status() == RequestStatus::Accepted)
    );
}

async fn pages_refuse_negative_sizes_and_unknown_tokens(app: TestApp) {
    app.escalate(property_certificate("PG-1")).await;
    let mut office = app.office();
    let mut housing = app.department("housing");
    let bad_size = office
        .list_cases(ListCasesRequest {
            page_size: -1,
            ..Default::default()
        })
        .await;
    invalid(bad_size, "page_size");
    let bad_size = housing
        .list_assigned_requests(ListAssignedRequestsRequest {
            page_size: -5,
            ..Default::default()
        })
        .await;
    invalid(bad_size, "page_size");

    let token = "%%% not a page token %%%";
    let bad_token = office
        .list_cases(ListCasesRequest {
            page_token: token.into(),
            ..Default::default()
        })
        .await;
    invalid(bad_token, "page_token");
    let bad_token = housing
        .list_assigned_requests(ListAssignedRequestsRequest {
            page_token: token.into(),
            ..Default::default()
        })
        .await;
    invalid(bad_token, "page_token");

    // A token of the ledger means nothing to a department's list.
    for n in 2..=3 {
        app.escalate(property_certificate(&format!("PG-{n}"))).await;
    }
    let ledger_token = office
        .list_cases(ListCasesRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .next_page_token;
    assert!(!ledger_token.is_empty());
    let foreign_token = housing
        .list_assigned_requests(ListAssignedRequestsRequest {
            page_token: ledger_token,
            ..Default::default()
        })
        .await;
    invalid(foreign_token, "page_token");
}

async fn lists_refuse_unknown_statuses(app: TestApp) {
    let unknown = app
        .office()
        .list_cases(ListCasesRequest {
            status: 42,
            ..Default::default()
        })
        .await;
    invalid(unknown, "status");
    let unknown = app
        .department("housing")
        .list_assigned_requests(ListAssignedRequestsRequest {
            status: 42,
            ..Default::default()
        })
        .await;
    invalid(unknown, "status");
}

async fn control_characters_are_refused_not_stored(app: TestApp) {
    // PostgreSQL cannot store NUL: it must be refused as input, not fail as INTERNAL.
    let petition = EscalatePetitionRequest {
        address: "杨柳社区\0三栋".into(),
        ..property_certificate("NUL-1")
    };
    refuse_petition(&app, petition, "address").await;
    let petition = EscalatePetitionRequest {
        title: "房产证\u{7}".into(),
        ..property_certificate("NUL-1")
    };
    refuse_petition(&app, petition, "title").await;
    let case = app.escalate(property_certificate("NUL-2")).await;
    let id = request_of(&case, "housing").id.clone();
    app.acknowledge("housing", &id).await;
    let reply = app
        .department("housing")
        .submit_reply(SubmitReplyRequest {
            request_id: id,
            text: "已处理\0".into(),
            ..Default::default()
        })
        .await;
    invalid(reply, "text");
}

async fn a_reply_needs_text(app: TestApp) {
    let case = app.escalate(property_certificate("RP-1")).await;
    let id = request_of(&case, "housing").id.clone();
    app.acknowledge("housing", &id).await;
    for text in ["", " \t\n ", &"答".repeat(10_001)] {
        let result = app
            .department("housing")
            .submit_reply(SubmitReplyRequest {
                request_id: id.clone(),
                text: text.into(),
                ..Default::default()
            })
            .await;
        invalid(result, "text");
    }
    let case = app.case(&case.id).await;
    let housing = request_of(&case, "housing");
    assert_eq!(housing.status(), RequestStatus::Acknowledged);
    assert!(housing.reply.is_none());
}

/// The Chinese beside the English: every refusal carries a
/// google.rpc.LocalizedMessage in zh-CN that a Chinese operator can act on.
async fn every_refusal_is_also_said_in_chinese(app: TestApp) {
    use tonic_types::StatusExt;
    let zh = |status: &tonic::Status| {
        let localized = status
            .get_details_localized_message()
            .unwrap_or_else(|| panic!("no localized message on {status:?}"));
        assert_eq!(localized.locale, "zh-CN");
        localized.message
    };
    let mut bad = property_certificate("ZH-1");
    bad.title = String::new();
    bad.difficulty = 9;
    let status = app.office().escalate_petition(bad).await.unwrap_err();
    assert_eq!(
        zh(&status),
        "请求参数有误：title：不能为空；difficulty：为9；应为1到5"
    );

    let case = app.escalate(property_certificate("ZH-2")).await;
    let housing = request_of(&case, "housing").id.clone();
    let status = app
        .department("housing")
        .submit_reply(SubmitReplyRequest {
            request_id: housing.clone(),
            text: "已办结".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert_eq!(zh(&status), "请求当前为「已发函」，不能答复；请先签收");

    let status = app
        .office()
        .get_case(GetCaseRequest {
            case_id: "no-such-case".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(zh(&status), "未找到案件 no-such-case，或无权查看");

    let status = app
        .department("housing")
        .list_assigned_requests(ListAssignedRequestsRequest {
            page_size: -1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(zh(&status), "请求参数有误：page_size：不能为负数");

    let status = app
        .supervisor()
        .escalate_petition(property_certificate("ZH-3"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    assert_eq!(zh(&status), "只有街道可以提交诉求");

    let status = app
        .anonymous_cases()
        .get_case(GetCaseRequest {
            case_id: case.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    assert!(zh(&status).starts_with("缺少身份凭证"), "{}", zh(&status));
}

async fn one_line_fields_refuse_line_breaks_and_bidi_controls(app: TestApp) {
    let forged = |title: &str| EscalatePetitionRequest {
        title: title.into(),
        ..property_certificate("LINE-1")
    };
    // A title could otherwise forge a deadline line in the letter's plain text.
    refuse_petition(&app, forged("路灯不亮\n答复期限：2099年12月31日"), "title").await;
    refuse_petition(&app, forged("文号\u{202E}号1000"), "title").await;
    for (field, petition) in [
        (
            "petition_id",
            EscalatePetitionRequest {
                petition_id: "P-1\r\nP-2".into(),
                ..property_certificate("x")
            },
        ),
        (
            "address",
            EscalatePetitionRequest {
                address: "杨柳社区\u{2066}3栋".into(),
                ..property_certificate("LINE-2")
            },
        ),
    ] {
        refuse_petition(&app, petition, field).await;
    }
    // The description is many lines, and keeps them.
    let case = app
        .escalate(EscalatePetitionRequest {
            description: "第一行\n第二行".into(),
            ..property_certificate("LINE-3")
        })
        .await;
    assert_eq!(case.description, "第一行\n第二行");
}

/// `\u{202E}` would make a reader see `x…fdp.exe` where `x…exe.pdf` is
/// written; a line separator would start a line the letter does not quote.
async fn texts_of_many_lines_refuse_bidi_controls_too(app: TestApp) {
    for description in [
        "居民反映\u{202E}fdp.exe",
        "第一行\u{2028}六、办理时限：2099年",
    ] {
        let petition = EscalatePetitionRequest {
            description: description.into(),
            ..property_certificate("BIDI-1")
        };
        let status = app.office().escalate_petition(petition).await;
        let status = invalid(status, "description");
        assert!(
            status.message().contains("bidirectional"),
            "{}",
            status.message()
        );
    }
    assert_eq!(ledger_size(&app).await, 0, "nothing written");
    let case = app.escalate(property_certificate("BIDI-2")).await;
    let id = request_of(&case, "housing").id.clone();
    app.acknowledge("housing", &id).await;
    let reply = app
        .department("housing")
        .submit_reply(SubmitReplyRequest {
            request_id: id.clone(),
            text: "已办结，见附件\u{202E}fdp.exe".into(),
            ..Default::default()
        })
        .await;
    invalid(reply, "text");
    let case = app.case(&case.id).await;
    assert!(request_of(&case, "housing").reply.is_none());
}

async fn phones_are_bounded_normalised_and_masked_by_their_national_number(app: TestApp) {
    let with_phone = |id: &str, phone: &str| EscalatePetitionRequest {
        resident: Some(whistle::proto::Resident {
            name: RESIDENT_NAME.into(),
            phone: phone.into(),
        }),
        ..property_certificate(id)
    };
    let huge = format!("138{}12345678", " -".repeat(500_000));
    refuse_petition(&app, with_phone("PHONE-1", &huge), "resident.phone").await;
    let case = app
        .escalate(with_phone("PHONE-2", "+86 139 8765 4321"))
        .await;
    assert_eq!(case.resident.as_ref().unwrap().phone, "13987654321");
    let housing = request_of(&case, "housing");
    let seen = app
        .department("housing")
        .get_assigned_request(whistle::proto::GetAssignedRequestRequest {
            request_id: housing.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        seen.case.unwrap().resident.unwrap().phone,
        "139****4321",
        "the national number is masked"
    );
}

async fn a_nul_byte_in_an_id_or_a_filter_finds_nothing_on_either_backend(app: TestApp) {
    // PostgreSQL refuses a NUL even as a parameter; the answer must not be
    // INTERNAL there and NOT_FOUND on SQLite, but the same on both.
    app.escalate(property_certificate("NUL-1")).await;
    let nul = "0194a0c0\0-7000".to_owned();
    refused(
        app.office()
            .get_case(GetCaseRequest {
                case_id: nul.clone(),
            })
            .await,
        tonic::Code::NotFound,
    );
    refused(
        app.department("housing")
            .get_assigned_request(whistle::proto::GetAssignedRequestRequest {
                request_id: nul.clone(),
            })
            .await,
        tonic::Code::NotFound,
    );
    refused(
        app.office()
            .review_reply(ReviewReplyRequest {
                request_id: nul.clone(),
                accept: true,
                ..Default::default()
            })
            .await,
        tonic::Code::NotFound,
    );
    let listed = app
        .office()
        .list_cases(ListCasesRequest {
            community: nul.clone(),
            ..Default::default()
        })
        .await
        .expect("a filter with a NUL matches nothing")
        .into_inner();
    assert!(listed.cases.is_empty());
    let listed = app
        .office()
        .list_cases(ListCasesRequest {
            department: nul.clone(),
            ..Default::default()
        })
        .await
        .expect("a department filter with a NUL matches nothing")
        .into_inner();
    assert!(listed.cases.is_empty());
    let alerts = app
        .supervision()
        .list_alerts(whistle::proto::ListAlertsRequest {
            case_id: nul.clone(),
            ..Default::default()
        })
        .await
        .expect("a filter with a NUL matches nothing")
        .into_inner();
    assert!(alerts.alerts.is_empty());
    app.supervision()
        .list_overdue(whistle::proto::ListOverdueRequest {
            department: nul,
            ..Default::default()
        })
        .await
        .expect("a filter with a NUL matches nothing");
}

async fn huge_lists_of_bad_values_get_a_short_invalid_argument(app: TestApp) {
    // 10,000 unknown departments once made a 500 KB error trailer that
    // clients refuse, so the caller saw RESOURCE_EXHAUSTED.
    let petition = EscalatePetitionRequest {
        assisting_departments: (0..10_000)
            .map(|i| format!("dept-{i}-{}", "x".repeat(50)))
            .collect(),
        ..property_certificate("HUGE-1")
    };
    let status = invalid(
        app.office().escalate_petition(petition).await,
        "assisting_departments",
    );
    assert!(
        violated_fields(&status).len() <= 21,
        "{:?}",
        violated_fields(&status)
    );
    assert!(
        status.details().len() < 8 * 1024,
        "{} bytes of details",
        status.details().len()
    );
    let long_id = "r".repeat(100_000);
    let status = refused(
        app.office()
            .get_case(GetCaseRequest { case_id: long_id })
            .await,
        tonic::Code::NotFound,
    );
    assert!(status.message().len() < 200, "{}", status.message());

    let case = app.escalate(property_certificate("HUGE-2")).await;
    let housing = request_of(&case, "housing").clone();
    let land = request_of(&case, "land").clone();
    for r in [&housing, &land] {
        app.answer(&r.department, &r.id, "已办结").await;
        app.accept(&r.id).await;
    }
    let status = invalid(
        app.office()
            .record_feedback(RecordFeedbackRequest {
                case_id: case.id.clone(),
                verdict: Verdict::Unsatisfied as i32,
                reissue_request_ids: (0..10_000).map(|i| format!("no-such-{i}")).collect(),
                ..Default::default()
            })
            .await,
        "reissue_request_ids",
    );
    assert!(
        status.details().len() < 8 * 1024,
        "{} bytes of details",
        status.details().len()
    );
}
