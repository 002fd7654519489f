//! Duplicate petitions (重复诉求): a petition that is the problem of an open
//! case of the same office, category and community joins it as a further
//! resident, with no new request and no new letter; the office splits a
//! resident off or joins two cases by hand; and the case is struck from the
//! ledger only when every resident is satisfied.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use tonic::Code;
use whistle::domain::PageRequest;
use whistle::proto::petition_outcome::Outcome;
use whistle::proto::{
    Case, CaseStatus, EscalatePetitionRequest, EscalatePetitionsRequest, EventKind,
    GetStatisticsRequest, LinkCasesRequest, PetitionOutcome, Rate, RecordFeedbackRequest, Resident,
    Statistics, UnlinkResidentRequest, Verdict,
};

use crate::faults::whole_ledger;
use crate::helpers::*;

scenarios!(
    a_batch_joins_a_duplicate_worded_differently_and_writes_one_set_of_letters,
    a_batch_retried_after_the_server_was_killed_mid_batch_loses_and_doubles_nothing,
    a_resident_split_off_gets_a_case_with_its_own_letters_and_cases_join_by_hand,
    a_case_with_two_residents_closes_only_when_both_are_satisfied,
    duplicates_escalated_at_the_same_moment_join_one_case,
    the_console_shows_the_residents_and_the_reply_page_only_their_number,
    with_further_letters_each_department_hears_of_the_further_resident,
);

/// Joining duplicates is off in the other scenarios (see `start_app`).
const DUPLICATES_ON: (&str, &str) = ("WHISTLE__DUPLICATES__ENABLED", "true");

async fn app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, None, &[DUPLICATES_ON]).await
}

/// Two offices, the lighting and power departments receiving letters.
fn two_offices_mailing() -> String {
    let mut settings = two_offices();
    for (name, code) in [("区路灯管理所", "lighting"), ("国网达州供电公司", "power")]
    {
        let head = format!("name = \"{name}\"");
        settings = settings.replace(
            &head,
            &format!("{head}\nemails = [\"{code}@departments.example\"]"),
        );
    }
    assert!(settings.contains("lighting@departments.example"));
    settings
}

/// A street light that is out, in 新南社区, in the resident's own words.
fn lamp(petition_id: &str, title: &str, name: &str, phone: &str) -> EscalatePetitionRequest {
    EscalatePetitionRequest {
        title: title.into(),
        description: String::new(),
        address: String::new(),
        resident: Some(Resident {
            name: name.into(),
            phone: phone.into(),
        }),
        ..street_lighting(petition_id)
    }
}

fn first_lamp(petition_id: &str) -> EscalatePetitionRequest {
    lamp(petition_id, "路灯不亮", "李先生", "13900001111")
}

fn second_lamp(petition_id: &str) -> EscalatePetitionRequest {
    lamp(
        petition_id,
        "晚上巷子里灯坏了没人修",
        "周阿姨",
        "13700002222",
    )
}

/// The request letters in the outbox, by request id.
async fn request_letters(app: &TestApp) -> BTreeMap<String, usize> {
    letters_by(app, "request_issued").await
}

async fn letters_by(app: &TestApp, kind: &str) -> BTreeMap<String, usize> {
    let store = app.store().await;
    let page = store
        .list_mail(
            None,
            &PageRequest {
                size: 500,
                after: None,
            },
        )
        .await
        .expect("listing the outbox");
    store.close().await;
    let mut by_request = BTreeMap::new();
    for m in page.items.iter().filter(|m| m.mail.kind.as_str() == kind) {
        *by_request
            .entry(m.mail.request_id.clone().unwrap_or_default())
            .or_insert(0) += 1;
    }
    by_request
}

fn residents(case: &Case) -> Vec<&str> {
    case.residents
        .iter()
        .map(|r| r.petition_id.as_str())
        .collect()
}

/// The figures over the cases escalated in the last day.
async fn figures(app: &TestApp) -> Statistics {
    let now = chrono::Utc::now();
    let ts = |at: chrono::DateTime<chrono::Utc>| {
        Some(prost_types::Timestamp {
            seconds: at.timestamp(),
            nanos: 0,
        })
    };
    app.supervision()
        .get_statistics(GetStatisticsRequest {
            from: ts(now - chrono::Duration::days(1)),
            to: ts(now + chrono::Duration::hours(1)),
            ..Default::default()
        })
        .await
        .expect("GetStatistics")
        .into_inner()
}

fn rate(hits: u32, of: u32) -> Option<Rate> {
    Some(Rate {
        hits,
        of,
        value: Some(f64::from(hits) / f64::from(of)),
    })
}

#[track_caller]
fn linked_to(o: &PetitionOutcome) -> &str {
    match &o.outcome {
        Some(Outcome::Linked(l)) => &l.case_id,
        other => panic!("petition {} not joined: {other:?}", o.index),
    }
}

async fn a_batch_joins_a_duplicate_worded_differently_and_writes_one_set_of_letters(
    backend: Backend,
) {
    let Some(app) = app(backend).await else {
        return;
    };
    let mut invalid = first_lamp("D-2");
    invalid.title = " ".into();
    let outcomes = app
        .office()
        .escalate_petitions(EscalatePetitionsRequest {
            petitions: vec![
                first_lamp("D-1"),
                invalid,
                first_lamp("D-1"),
                second_lamp("D-3"),
            ],
        })
        .await
        .expect("the batch is answered")
        .into_inner()
        .outcomes;
    let Some(Outcome::Created(created)) = &outcomes[0].outcome else {
        panic!("the first petition opens a case: {:?}", outcomes[0]);
    };
    assert!(
        matches!(&outcomes[1].outcome, Some(Outcome::Refused(r)) if r.code == Code::InvalidArgument as i32),
        "{:?}",
        outcomes[1]
    );
    assert!(
        matches!(&outcomes[2].outcome, Some(Outcome::AlreadyEscalated(c)) if c.case_id == created.case_id),
        "{:?}",
        outcomes[2]
    );
    assert_eq!(linked_to(&outcomes[3]), created.case_id);
    let Some(Outcome::Linked(linked)) = &outcomes[3].outcome else {
        unreachable!()
    };
    assert_eq!(linked.residents_count, 2);

    let case = app.case(&created.case_id).await;
    assert_eq!(residents(&case), ["D-1", "D-3"]);
    assert_eq!(case.residents_count, 2);
    assert_eq!(case.residents[1].resident.as_ref().unwrap().name, "周阿姨");
    assert_eq!(case.requests.len(), 2, "no request for the duplicate");
    let joined = case
        .events
        .iter()
        .find(|e| e.kind == EventKind::ResidentLinked as i32)
        .expect("the timeline records the duplicate");
    assert!(joined.detail.contains("D-3"), "{}", joined.detail);
    assert!(
        !joined.detail.contains("周阿姨") && !joined.detail.contains("13700002222"),
        "the timeline names the petition, not the resident: {}",
        joined.detail
    );

    // Exactly one set of letters: one per request of the one case.
    let letters = request_letters(&app).await;
    let requests: BTreeSet<String> = case.requests.iter().map(|r| r.id.clone()).collect();
    assert_eq!(letters.keys().cloned().collect::<BTreeSet<_>>(), requests);
    assert!(letters.values().all(|n| *n == 1), "{letters:?}");
    assert!(letters_by(&app, "notice").await.is_empty());

    // The single call says it joined, and a retry of it answers the same case.
    let again = app
        .office()
        .escalate_petition(second_lamp("D-3"))
        .await
        .expect("a retry is answered")
        .into_inner();
    assert_eq!(again.id, created.case_id);
    assert!(again.linked, "the answer says the petition joined the case");
    assert_eq!(again.residents_count, 2, "nothing joined twice");
    let mut reworded = second_lamp("D-3");
    reworded.title = "灯还是不亮".into();
    refused(
        app.office().escalate_petition(reworded).await,
        Code::AlreadyExists,
    );
    let own = app.escalate(first_lamp("D-1")).await;
    assert!(!own.linked, "the petitioner's own case");
    assert_eq!(
        request_letters(&app).await,
        letters,
        "retries write nothing"
    );
}

async fn a_batch_retried_after_the_server_was_killed_mid_batch_loses_and_doubles_nothing(
    backend: Backend,
) {
    let dir = tempfile::tempdir().unwrap();
    let Some(database_url) = fresh_database(backend, dir.path()).await else {
        return;
    };
    let env = vec![
        ("WHISTLE__DUPLICATES__ENABLED", "true".to_owned()),
        ("WHISTLE__GRPC__RATE_LIMIT_PER_SECOND", "0".into()),
        // What is checked is what the retry finds, not how fast a busy test
        // machine answers a whole batch.
        ("WHISTLE__GRPC__REQUEST_TIMEOUT_SECS", "300".into()),
    ];
    // One light out, then every other resident reporting it, and a second
    // problem (property certificates) every tenth petition.
    let petitions: Vec<EscalatePetitionRequest> = (0..240)
        .map(|n| {
            let id = format!("K-{n:03}");
            if n % 10 == 5 {
                property_certificate(&id)
            } else if n % 2 == 0 {
                first_lamp(&id)
            } else {
                second_lamp(&id)
            }
        })
        .collect();
    let (mut first, addr) = start_binary(&database_url, dir.path(), &env).await;
    let mut office = cases_at(&addr, OFFICE_KEY);
    let request = EscalatePetitionsRequest {
        petitions: petitions.clone(),
    };
    let call = tokio::spawn(async move { office.escalate_petitions(request).await });
    // Kill the server once the first case holds some residents, while the
    // batch is still going.
    let mut watcher = cases_at(&addr, OFFICE_KEY);
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < until, "the batch did not get going");
        let ledger = whole_ledger(&mut watcher).await;
        if ledger.iter().map(|c| c.residents_count).sum::<u32>() >= 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.start_kill().unwrap();
    first.wait().await.unwrap();
    let cut = call.await.expect("the call task");
    assert!(cut.is_err(), "the batch was answered before the kill");

    let (_second, addr) = start_binary(&database_url, dir.path(), &env).await;
    let mut office = cases_at(&addr, OFFICE_KEY);
    let outcomes = office
        .escalate_petitions(EscalatePetitionsRequest {
            petitions: petitions.clone(),
        })
        .await
        .expect("the retried batch is answered")
        .into_inner()
        .outcomes;
    let mut case_of: BTreeMap<String, String> = BTreeMap::new();
    for o in &outcomes {
        let case_id = match &o.outcome {
            Some(Outcome::Created(c) | Outcome::AlreadyEscalated(c)) => c.case_id.clone(),
            Some(Outcome::Linked(l)) => l.case_id.clone(),
            other => panic!("{}: {other:?}", o.petition_id),
        };
        case_of.insert(o.petition_id.clone(), case_id);
    }
    assert_eq!(case_of.len(), petitions.len());

    // Two cases, every petition a resident of exactly one of them, once.
    let ledger = whole_ledger(&mut office).await;
    assert_eq!(ledger.len(), 2, "one light, one certificate");
    let mut seen = BTreeSet::new();
    for listed in &ledger {
        let case = office
            .get_case(whistle::proto::GetCaseRequest {
                case_id: listed.id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        for r in &case.residents {
            assert!(
                seen.insert(r.petition_id.clone()),
                "{} twice",
                r.petition_id
            );
            assert_eq!(case_of[&r.petition_id], case.id);
        }
    }
    assert_eq!(seen.len(), petitions.len(), "nobody lost");
    // One letter per request of the two cases, none for a resident.
    let store = whistle::store::connect(&database_url, &Default::default())
        .await
        .unwrap();
    let page = store
        .list_mail(
            None,
            &PageRequest {
                size: 500,
                after: None,
            },
        )
        .await
        .unwrap();
    let letters: Vec<_> = page
        .items
        .iter()
        .filter(|m| m.mail.kind.as_str() == "request_issued")
        .collect();
    let requests: usize = ledger.iter().map(|c| c.requests.len()).sum();
    assert_eq!(letters.len(), requests);
    store.close().await;
}

async fn a_resident_split_off_gets_a_case_with_its_own_letters_and_cases_join_by_hand(
    backend: Backend,
) {
    let settings = two_offices_mailing();
    let Some(app) = spawn_app_with(backend, Some(&settings), &[DUPLICATES_ON]).await else {
        return;
    };
    let case = app.escalate(first_lamp("U-1")).await;
    let joined = app.escalate(second_lamp("U-2")).await;
    assert!(joined.linked);
    assert_eq!(joined.id, case.id);

    // Nobody else's office sees the case.
    let other = app.cases_as(XINNAN_KEY);
    refused(
        other
            .clone()
            .unlink_resident(UnlinkResidentRequest {
                case_id: case.id.clone(),
                petition_id: "U-2".into(),
            })
            .await,
        Code::NotFound,
    );
    refused(
        app.office()
            .unlink_resident(UnlinkResidentRequest {
                case_id: case.id.clone(),
                petition_id: "U-1".into(),
            })
            .await,
        Code::FailedPrecondition,
    );
    invalid(
        app.office()
            .unlink_resident(UnlinkResidentRequest {
                case_id: case.id.clone(),
                petition_id: "U-9".into(),
            })
            .await,
        "petition_id",
    );

    let split = app
        .office()
        .unlink_resident(UnlinkResidentRequest {
            case_id: case.id.clone(),
            petition_id: "U-2".into(),
        })
        .await
        .expect("splitting the resident off")
        .into_inner();
    assert_ne!(split.id, case.id);
    assert_eq!(split.petition_id, "U-2");
    assert_eq!(split.title, "晚上巷子里灯坏了没人修");
    assert_eq!(residents(&split), ["U-2"]);
    assert_eq!(split.requests.len(), 2, "routed as its own petition");
    let letters = request_letters(&app).await;
    for r in &split.requests {
        assert_eq!(
            letters.get(&r.id),
            Some(&1),
            "a letter for {}",
            r.department
        );
    }
    let left = app.case(&case.id).await;
    assert_eq!(residents(&left), ["U-1"]);
    let on = |c: &Case, kind: EventKind, id: &str| {
        c.events
            .iter()
            .any(|e| e.kind == kind as i32 && e.detail.contains(id))
    };
    assert!(on(&left, EventKind::ResidentUnlinked, &split.id));
    assert!(on(&split, EventKind::ResidentUnlinked, &case.id));
    // A retry of the split petition answers its own case now.
    let again = app.escalate(second_lamp("U-2")).await;
    assert_eq!(
        (again.id.as_str(), again.linked),
        (split.id.as_str(), false)
    );

    // Joined back by hand: its requests are withdrawn with a notice.
    refused(
        other
            .clone()
            .link_cases(LinkCasesRequest {
                case_id: case.id.clone(),
                duplicate_case_id: split.id.clone(),
            })
            .await,
        Code::NotFound,
    );
    let kept = app
        .office()
        .link_cases(LinkCasesRequest {
            case_id: case.id.clone(),
            duplicate_case_id: split.id.clone(),
        })
        .await
        .expect("joining the cases")
        .into_inner();
    assert_eq!(residents(&kept), ["U-1", "U-2"]);
    assert!(on(&kept, EventKind::CasesLinked, &split.id));
    let merged = app.case(&split.id).await;
    assert_eq!(merged.status, CaseStatus::Closed as i32);
    assert_eq!(merged.merged_into, case.id);
    assert!(merged.residents.is_empty());
    assert!(on(&merged, EventKind::CaseMerged, &case.id));
    let notices = letters_by(&app, "notice").await;
    let withdrawn: BTreeSet<&String> = notices.keys().collect();
    assert_eq!(
        withdrawn,
        split
            .requests
            .iter()
            .map(|r| &r.id)
            .collect::<BTreeSet<_>>()
    );
    // The petition now belongs to the case it joined.
    let again = app.escalate(second_lamp("U-2")).await;
    assert_eq!((again.id.as_str(), again.linked), (case.id.as_str(), true));
    // It came with a case of its own, which keeps its id: not split again.
    refused(
        app.office()
            .unlink_resident(UnlinkResidentRequest {
                case_id: case.id.clone(),
                petition_id: "U-2".into(),
            })
            .await,
        Code::FailedPrecondition,
    );

    // A case a department has answered is not joined.
    let answered = app.escalate(property_certificate("U-3")).await;
    let other_certificate = app
        .escalate(EscalatePetitionRequest {
            title: "房产证办不下来".into(),
            ..property_certificate("U-4")
        })
        .await;
    assert_eq!(
        other_certificate.id, answered.id,
        "the same problem joins the open case"
    );
    let lone = app
        .escalate(EscalatePetitionRequest {
            community: "新南社区".into(),
            ..property_certificate("U-5")
        })
        .await;
    app.answer("housing", &lone.requests[0].id, "正在办理")
        .await;
    // Worded so differently that it opened a case of its own: the office
    // knows better, but the other case was answered already.
    let lone_again = app
        .escalate(EscalatePetitionRequest {
            community: "新南社区".into(),
            title: "开发商不给办证".into(),
            description: String::new(),
            address: String::new(),
            ..property_certificate("U-6")
        })
        .await;
    assert_ne!(lone_again.id, lone.id);
    let status = refused(
        app.office()
            .link_cases(LinkCasesRequest {
                case_id: lone_again.id.clone(),
                duplicate_case_id: lone.id.clone(),
            })
            .await,
        Code::FailedPrecondition,
    );
    assert!(status.message().contains("reply"), "{status:?}");
    invalid(
        app.office()
            .link_cases(LinkCasesRequest {
                case_id: case.id.clone(),
                duplicate_case_id: answered.id.clone(),
            })
            .await,
        "duplicate_case_id",
    );

    // The figures count the residents beside the cases; the case joined
    // into another counts nowhere, its withdrawn requests for no department.
    let f = figures(&app).await;
    let total = f.total.as_ref().unwrap();
    assert_eq!((total.cases, total.residents), (4, 6), "{total:?}");
    let lighting = f.departments.iter().find(|d| d.code == "lighting").unwrap();
    assert_eq!((lighting.cases, lighting.residents), (1, 2));
    assert_eq!(lighting.requests.as_ref().unwrap().requests, 1);
    let community = f
        .communities
        .iter()
        .find(|c| c.community == case.community && c.zone.is_empty())
        .unwrap();
    assert_eq!(
        (community.cases, community.residents),
        (3, 4),
        "{community:?}"
    );
}

/// Residents reporting one broken lamp through several connections at once
/// (several clerks, or several instances on one PostgreSQL): one case, not
/// one for each petition that did not see the others' yet.
async fn duplicates_escalated_at_the_same_moment_join_one_case(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    const AT_ONCE: usize = 8;
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(AT_ONCE));
    let tasks: Vec<_> = (0..AT_ONCE)
        .map(|n| {
            let (mut office, start) = (app.office(), start.clone());
            let petition = if n % 2 == 0 {
                first_lamp(&format!("R-{n}"))
            } else {
                second_lamp(&format!("R-{n}"))
            };
            tokio::spawn(async move {
                start.wait().await;
                office
                    .escalate_petition(petition)
                    .await
                    .expect("escalated")
                    .into_inner()
            })
        })
        .collect();
    let mut cases = BTreeSet::new();
    for task in tasks {
        cases.insert(task.await.expect("the task").id);
    }
    assert_eq!(cases.len(), 1, "one case for one lamp: {cases:?}");
    let case = app.case(cases.first().unwrap()).await;
    assert_eq!(case.residents.len(), AT_ONCE);
    assert_eq!(
        request_letters(&app).await.len(),
        case.requests.len(),
        "one letter a department"
    );
}

async fn a_case_with_two_residents_closes_only_when_both_are_satisfied(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let case = app.escalate(first_lamp("F-1")).await;
    app.escalate(second_lamp("F-2")).await;
    let case = app.settle(&app.case(&case.id).await).await;
    assert_eq!(case.status, CaseStatus::AwaitingFeedback as i32);
    invalid(
        app.feedback(&case.id, Verdict::Satisfied, "", &[]).await,
        "petition_id",
    );
    let verdict = |petition_id: &str, verdict: Verdict| RecordFeedbackRequest {
        case_id: case.id.clone(),
        petition_id: petition_id.into(),
        verdict: verdict as i32,
        ..Default::default()
    };
    let after = app
        .office()
        .record_feedback(verdict("F-1", Verdict::Satisfied))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.status, CaseStatus::AwaitingFeedback as i32, "不销账");
    // The second resident is not satisfied: the requests go out again.
    let after = app
        .office()
        .record_feedback(verdict("F-2", Verdict::Unsatisfied))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.status, CaseStatus::Open as i32);
    assert!(after.requests.iter().all(|r| r.round == 2));
    // 满意率 per case reads the latest verdict; per resident, each their own.
    let total = figures(&app).await.total.unwrap();
    assert_eq!((total.cases, total.residents), (1, 2));
    assert_eq!(total.satisfaction, rate(0, 1));
    assert_eq!(total.resident_satisfaction, rate(1, 2));
    let after = app.settle(&after).await;
    assert_eq!(after.status, CaseStatus::AwaitingFeedback as i32);
    let after = app
        .office()
        .record_feedback(verdict("F-2", Verdict::BasicallySatisfied))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.status, CaseStatus::Closed as i32);
    let verdicts: Vec<i32> = after.residents.iter().map(|r| r.verdict).collect();
    assert_eq!(
        verdicts,
        [
            Verdict::Satisfied as i32,
            Verdict::BasicallySatisfied as i32
        ]
    );
}

async fn the_console_shows_the_residents_and_the_reply_page_only_their_number(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let case = app.escalate(first_lamp("C-1")).await;
    app.escalate(second_lamp("C-2")).await;
    let mut console = crate::console::Console::sign_in(&app, crate::console::PERSON).await;
    let page = console
        .get(&format!("/console/cases/{}", case.id))
        .await
        .body;
    assert!(page.contains("2 位群众反映"), "{page}");
    assert!(page.contains("C-2") && page.contains("周阿姨"), "{page}");
    assert!(page.contains("/unlink"), "an unlink button per resident");
    assert!(page.contains("/link"), "the link form");
    let lead = &case.requests[0];
    let letter = app
        .wait_for_letter(&format!("<{}.r1.issued@whistle.localhost>", lead.id))
        .await;
    let link = crate::page::link_in(&letter.text);
    let reply_page = reqwest::get(&link).await.unwrap().text().await.unwrap();
    assert!(reply_page.contains("2 位群众反映"), "{reply_page}");
    assert!(
        !reply_page.contains("周阿姨") && !reply_page.contains("13700002222"),
        "no other resident's details on the department's page"
    );
}

async fn with_further_letters_each_department_hears_of_the_further_resident(backend: Backend) {
    let Some(app) = spawn_app_with(
        backend,
        None,
        &[
            DUPLICATES_ON,
            ("WHISTLE__DUPLICATES__FURTHER_LETTER", "true"),
        ],
    )
    .await
    else {
        return;
    };
    let case = app.escalate(first_lamp("N-1")).await;
    let joined = app.escalate(second_lamp("N-2")).await;
    assert_eq!(joined.id, case.id);
    let notices = letters_by(&app, "notice").await;
    assert_eq!(
        notices.keys().collect::<BTreeSet<_>>(),
        case.requests.iter().map(|r| &r.id).collect::<BTreeSet<_>>(),
        "one notice to each department with an open request"
    );
    assert!(notices.values().all(|n| *n == 1), "{notices:?}");
    assert_eq!(
        request_letters(&app).await.len(),
        case.requests.len(),
        "no request letter for the further resident"
    );
    let lead = &case.requests[0];
    let letter = app
        .wait_for_letter(&format!(
            "<{}.r1.notice-resident_joined-2@whistle.localhost>",
            lead.id
        ))
        .await;
    assert!(letter.text.contains("现共有2位群众反映"), "{}", letter.text);
    assert!(
        letter
            .in_reply_to
            .contains(&format!("<{}.r1.issued@whistle.localhost>", lead.id)),
        "in the request's thread: {letter:?}"
    );
    assert!(!letter.text.contains("周阿姨") && !letter.text.contains("13700002222"));
}
