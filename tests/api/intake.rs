//! A week's petitions in one call: each petition gets its own outcome, one bad
//! petition refuses no other, a repeated id finds its case, and a retried
//! batch creates nothing twice.

use tonic::Code;
use whistle::proto::petition_outcome::Outcome;
use whistle::proto::{
    EscalatePetitionRequest, EscalatePetitionsRequest, EscalatedCase, ListCasesRequest,
    PetitionOutcome, Resident,
};

use crate::helpers::*;

scenarios!(
    a_batch_with_mixed_outcomes_escalates_the_valid_petitions_only,
    a_retried_batch_creates_nothing_twice,
    more_than_500_petitions_are_refused_naming_the_field,
    a_batch_takes_the_access_rule_of_a_single_petition,
);

scenarios!(
    module = zones;
    settings = two_offices;
    a_petition_carries_its_zone_and_collector_to_the_case_and_the_lists,
);

async fn batch(app: &TestApp, petitions: Vec<EscalatePetitionRequest>) -> Vec<PetitionOutcome> {
    app.office()
        .escalate_petitions(EscalatePetitionsRequest { petitions })
        .await
        .expect("the batch is answered")
        .into_inner()
        .outcomes
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

#[track_caller]
fn created(o: &PetitionOutcome) -> &EscalatedCase {
    match &o.outcome {
        Some(Outcome::Created(c)) => c,
        other => panic!("petition {} not created: {other:?}", o.index),
    }
}

#[track_caller]
fn already(o: &PetitionOutcome) -> &EscalatedCase {
    match &o.outcome {
        Some(Outcome::AlreadyEscalated(c)) => c,
        other => panic!("petition {} not found escalated: {other:?}", o.index),
    }
}

/// An empty title and a phone that is no phone: two violations at once.
fn invalid_petition(petition_id: &str) -> EscalatePetitionRequest {
    EscalatePetitionRequest {
        title: "  ".into(),
        resident: Some(Resident {
            name: "赵先生".into(),
            phone: "call me".into(),
        }),
        ..street_lighting(petition_id)
    }
}

async fn a_batch_with_mixed_outcomes_escalates_the_valid_petitions_only(app: TestApp) {
    let mut reused = property_certificate("B-4");
    reused.title = "另一件事".into();
    let outcomes = batch(
        &app,
        vec![
            property_certificate("B-1"),
            invalid_petition("B-2"),
            street_lighting("B-3"),
            property_certificate("B-1"),
            property_certificate("B-4"),
            reused,
        ],
    )
    .await;
    assert_eq!(outcomes.len(), 6);
    for (i, o) in outcomes.iter().enumerate() {
        assert_eq!(o.index as usize, i, "outcomes in the order sent");
    }
    assert_eq!(outcomes[0].petition_id, "B-1");

    let first = created(&outcomes[0]);
    let case = app.case(&first.case_id).await;
    assert_eq!(case.petition_id, "B-1");
    let mut references: Vec<_> = case
        .requests
        .iter()
        .map(|r| (r.id.clone(), r.department.clone(), r.reference.clone()))
        .collect();
    let mut answered: Vec<_> = first
        .requests
        .iter()
        .map(|r| {
            (
                r.request_id.clone(),
                r.department.clone(),
                r.reference.clone(),
            )
        })
        .collect();
    references.sort();
    answered.sort();
    assert_eq!(answered, references, "the outcome names the case's letters");

    let Some(Outcome::Refused(refusal)) = &outcomes[1].outcome else {
        panic!("the invalid petition is refused: {:?}", outcomes[1]);
    };
    assert_eq!(refusal.code, Code::InvalidArgument as i32);
    let mut fields: Vec<_> = refusal
        .violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        ["resident.phone", "title"],
        "every violation, named as alone"
    );
    assert!(
        refusal
            .violations
            .iter()
            .all(|v| !v.description_zh.is_empty()),
        "{refusal:?}"
    );

    let lighting = created(&outcomes[2]);
    assert_eq!(lighting.requests.len(), 2, "lighting and power");
    assert_eq!(
        already(&outcomes[3]).case_id,
        first.case_id,
        "the repeated id"
    );
    created(&outcomes[4]);
    let Some(Outcome::Refused(conflict)) = &outcomes[5].outcome else {
        panic!(
            "an id reused for different content is refused: {:?}",
            outcomes[5]
        );
    };
    assert_eq!(conflict.code, Code::AlreadyExists as i32);
    assert!(conflict.message.contains("B-4"), "{conflict:?}");

    assert_eq!(ledger_size(&app).await, 3);
    // Each created case drew its own letter numbers: none is shared.
    let mut numbers: Vec<_> = outcomes
        .iter()
        .filter_map(|o| match &o.outcome {
            Some(Outcome::Created(c)) => Some(c.requests.iter().map(|r| r.reference.clone())),
            _ => None,
        })
        .flatten()
        .collect();
    let all = numbers.len();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), all);
    assert_eq!(all, 6, "two requests each");
}

async fn a_retried_batch_creates_nothing_twice(app: TestApp) {
    let petitions = vec![
        property_certificate("R-1"),
        invalid_petition("R-2"),
        street_lighting("R-3"),
    ];
    let first = batch(&app, petitions.clone()).await;
    let events = app.case(&created(&first[0]).case_id).await.events.len();
    let again = batch(&app, petitions).await;
    for i in [0, 2] {
        assert_eq!(
            already(&again[i]),
            created(&first[i]),
            "the same case and the same letters"
        );
    }
    assert!(matches!(again[1].outcome, Some(Outcome::Refused(_))));
    assert_eq!(ledger_size(&app).await, 2);
    assert_eq!(
        app.case(&created(&first[0]).case_id).await.events.len(),
        events,
        "a retry adds nothing to the timeline"
    );
}

async fn more_than_500_petitions_are_refused_naming_the_field(app: TestApp) {
    let petitions: Vec<_> = (0..501)
        .map(|i| property_certificate(&format!("M-{i}")))
        .collect();
    invalid(
        app.office()
            .escalate_petitions(EscalatePetitionsRequest { petitions })
            .await,
        "petitions",
    );
    assert_eq!(ledger_size(&app).await, 0, "nothing of it escalated");
}

async fn a_batch_takes_the_access_rule_of_a_single_petition(app: TestApp) {
    let request = || EscalatePetitionsRequest {
        petitions: vec![property_certificate("P-1")],
    };
    refused(
        app.supervisor().escalate_petitions(request()).await,
        Code::PermissionDenied,
    );
    refused(
        app.anonymous_cases().escalate_petitions(request()).await,
        Code::Unauthenticated,
    );
    assert_eq!(ledger_size(&app).await, 0);
}

async fn a_petition_carries_its_zone_and_collector_to_the_case_and_the_lists(app: TestApp) {
    let in_zone = |mut p: EscalatePetitionRequest, zone: &str, collector: &str| {
        p.zone = zone.into();
        p.collector = collector.into();
        p
    };
    let outcomes = batch(
        &app,
        vec![
            in_zone(property_certificate("Z-1"), "杨柳一片区", "陈服务员"),
            // A zone that lists no collectors takes anyone.
            in_zone(street_lighting("Z-2"), "新南一片区", "孙九"),
            // The zone of another community, and a collector of no zone.
            in_zone(property_certificate("Z-3"), "新南一片区", ""),
            in_zone(property_certificate("Z-4"), "杨柳一片区", "王五"),
            in_zone(property_certificate("Z-5"), "七片区", ""),
        ],
    )
    .await;
    let (yangliu, xinnan) = (created(&outcomes[0]), created(&outcomes[1]));
    for (i, field) in [(2, "zone"), (3, "collector"), (4, "zone")] {
        let Some(Outcome::Refused(r)) = &outcomes[i].outcome else {
            panic!("petition {i} should be refused: {:?}", outcomes[i]);
        };
        let fields: Vec<&str> = r.violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, [field], "petition {i}: {r:?}");
    }

    let case = app.case(&yangliu.case_id).await;
    assert_eq!(
        (case.zone.as_str(), case.collector.as_str()),
        ("杨柳一片区", "陈服务员")
    );
    let listed = |zone: &str, collector: &str| {
        let (zone, collector) = (zone.to_owned(), collector.to_owned());
        let app = &app;
        async move {
            let cases = app
                .office()
                .list_cases(ListCasesRequest {
                    zone,
                    collector,
                    ..Default::default()
                })
                .await
                .expect("listing by zone")
                .into_inner()
                .cases;
            cases.into_iter().map(|c| c.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(listed("杨柳一片区", "").await, [yangliu.case_id.as_str()]);
    assert_eq!(listed("新南一片区", "").await, [xinnan.case_id.as_str()]);
    assert_eq!(listed("", "孙九").await, [xinnan.case_id.as_str()]);
    assert!(listed("杨柳一片区", "孙九").await.is_empty());
}
