//! Escalation is idempotent on (office, petition id): an office system that
//! retries after a timeout gets the case it already opened, never a second one;
//! the same id with different content is a conflict, not a silent answer.

use tonic::Code;
use whistle::proto::{EscalatePetitionRequest, ListCasesRequest, RequestStatus};

use crate::helpers::*;

scenarios!(
    settings = two_offices;
    escalating_the_same_petition_twice_returns_the_same_case,
    a_retry_returns_the_case_as_it_is_now,
    the_same_petition_id_with_different_content_is_a_conflict,
    another_office_may_use_the_same_petition_id,
);

async fn ledger(app: &TestApp, key: &str) -> Vec<String> {
    app.cases_as(key)
        .list_cases(ListCasesRequest::default())
        .await
        .expect("listing the ledger")
        .into_inner()
        .cases
        .into_iter()
        .map(|c| c.id)
        .collect()
}

async fn escalating_the_same_petition_twice_returns_the_same_case(app: TestApp) {
    let first = app.escalate(property_certificate("I-1")).await;
    let again = app.escalate(property_certificate("I-1")).await;
    assert_eq!(again.id, first.id);
    assert_eq!(
        again.requests, first.requests,
        "same requests, same letter numbers"
    );
    assert_eq!(ledger(&app, OFFICE_KEY).await, [first.id.as_str()]);
    assert_eq!(
        app.case(&first.id).await.events.len(),
        3,
        "a retry adds nothing to the timeline"
    );

    // The retry drew no letter numbers: the next petition continues at 0003.
    let next = app.escalate(property_certificate("I-2")).await;
    let mut numbers: Vec<_> = next
        .requests
        .iter()
        .map(|r| parse_reference(&r.reference).2)
        .collect();
    numbers.sort();
    assert_eq!(numbers, [3, 4]);
}

async fn a_retry_returns_the_case_as_it_is_now(app: TestApp) {
    let case = app.escalate(property_certificate("I-3")).await;
    let housing = request_of(&case, "housing").id.clone();
    app.acknowledge("housing", &housing).await;
    let again = app.escalate(property_certificate("I-3")).await;
    assert_eq!(again.id, case.id);
    assert_eq!(
        request_of(&again, "housing").status(),
        RequestStatus::Acknowledged
    );
}

async fn the_same_petition_id_with_different_content_is_a_conflict(app: TestApp) {
    let case = app.escalate(property_certificate("I-4")).await;
    let changes = [
        EscalatePetitionRequest {
            title: "另一件事：楼道堆放杂物".into(),
            ..property_certificate("I-4")
        },
        EscalatePetitionRequest {
            difficulty: 5,
            ..property_certificate("I-4")
        },
        street_lighting("I-4"),
    ];
    for petition in changes {
        let conflict = refused(
            app.office().escalate_petition(petition).await,
            Code::AlreadyExists,
        );
        assert!(
            conflict.message().contains(&case.id),
            "the message names the existing case: {}",
            conflict.message()
        );
    }
    assert_eq!(ledger(&app, OFFICE_KEY).await, [case.id.as_str()]);
    assert_eq!(
        app.case(&case.id).await.title,
        case.title,
        "the case is unchanged"
    );
}

async fn another_office_may_use_the_same_petition_id(app: TestApp) {
    let ours = app.escalate(property_certificate("I-5")).await;
    let petition = EscalatePetitionRequest {
        community: "滨河社区".into(),
        ..property_certificate("I-5")
    };
    let theirs = app
        .cases_as(XINNAN_KEY)
        .escalate_petition(petition.clone())
        .await
        .expect("xinnan escalates its own I-5")
        .into_inner();
    assert_ne!(theirs.id, ours.id);
    assert_eq!(
        (theirs.office.as_str(), ours.office.as_str()),
        ("xinnan", "cuiping")
    );
    let retried = app
        .cases_as(XINNAN_KEY)
        .escalate_petition(petition)
        .await
        .expect("xinnan retries")
        .into_inner();
    assert_eq!(retried.id, theirs.id);
    assert_eq!(ledger(&app, OFFICE_KEY).await, [ours.id.as_str()]);
    assert_eq!(ledger(&app, XINNAN_KEY).await, [theirs.id.as_str()]);
}
