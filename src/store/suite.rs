//! The one test suite both backends answer to. Each test is an `async fn(Store)`
//! written once; `suite!` runs it as `sqlite::<name>` on a fresh file and as
//! `postgres::<name>` on a fresh schema (skipped without WHISTLE_TEST_POSTGRES_URL).
//! Cases are built with the real domain, so what is stored is what commands make.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::testing::{TestDatabase, sqlite_url};
use super::*;
use crate::domain::fixtures::{ctx, ctx_in};
use crate::domain::{
    Actor, ActorRole, CaseStatus, Comment, Ctx, DepartmentRole, EventKind, Organisation, OsIds,
    Petition, PetitionInput, Reference, ReplyText, RequestStatus, ReviewDecision, SeededIds,
    Verdict,
};
use crate::domain::{Alert, CaseOrder, CaseText, DomainError};

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let store = super::open(&super::sqlite_url(dir.path())).await;
                    super::$name(store.clone()).await;
                    store.close().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(url) = super::TestDatabase::postgres().await else { return };
                    let store = super::open(&url).await;
                    super::$name(store.clone()).await;
                    store.close().await;
                }
            )*
        }
    };
}

suite!(
    residents_join_leave_and_find_their_case_by_petition,
    insert_then_get_round_trips_every_field,
    reinserting_a_petition_returns_the_existing_case,
    references_are_sequential_per_issuer_and_year,
    concurrent_inserts_draw_distinct_gapless_references,
    concurrent_inserts_of_one_petition_create_it_once,
    a_whole_lifecycle_is_persisted_step_by_step,
    a_refused_change_writes_nothing,
    racing_acknowledgements_let_exactly_one_through,
    racing_reviews_let_exactly_one_through,
    list_cases_filters_and_pages_newest_first,
    list_requests_filters_and_pages_by_deadline,
    unknown_ids_and_bad_cursors,
    letters_commit_with_the_change_that_causes_them,
    a_letter_that_cannot_be_written_aborts_the_change,
    delivery_outcomes_are_recorded_and_failed_letters_retried,
    concurrent_workers_deliver_each_letter_once,
    a_claimed_letter_waits_out_its_lease_and_goes_again_unchanged,
    the_outbox_lists_by_status_and_pages,
    reply_links_open_once_their_letter_commits,
    form_keys_are_used_once_whatever_the_race,
    replies_keep_their_details_and_attachments,
    inbound_mail_is_recorded_once_per_message,
    supervision_decisions_round_trip_and_a_paused_request_is_not_overdue,
    cases_escalated_in_a_range_are_read_whole_oldest_first,
    a_reader_starting_at_the_feeds_end_misses_no_alert_an_older_transaction_commits,
    concurrent_writes_to_different_cases_keep_valid_chains,
    a_batch_of_chains_is_checked_as_each_case_alone,
    events_from_before_the_chain_are_chained_once_and_never_again,
);

async fn open(url: &str) -> Store {
    let options = PoolOptions {
        max_connections: 5,
        // The concurrency tests queue twenty commands on SQLite's single writer.
        acquire_timeout: std::time::Duration::from_secs(30),
    };
    let store = connect(url, &options).await.expect("connect");
    store.migrate().await.expect("migrate");
    store
}

// ---- the organisation and the actors -------------------------------------------

fn org() -> Organisation {
    crate::domain::fixtures::org()
}

fn office(code: &str) -> Actor {
    Actor {
        name: format!("{code}-system"),
        role: ActorRole::Office(code.into()),
    }
}

fn dept(code: &str) -> Actor {
    Actor {
        name: format!("{code}-staff"),
        role: ActorRole::Department(code.into()),
    }
}

/// A Monday morning in Beijing, with sub-millisecond digits the store must cut.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap() + Duration::nanoseconds(123_456_789)
}

fn cut_to_millis(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap()
}

struct Spec<'a> {
    office: &'a str,
    petition_id: &'a str,
    category: &'a str,
    community: &'a str,
    zone: &'a str,
    collector: &'a str,
    at: DateTime<Utc>,
}

impl Default for Spec<'_> {
    fn default() -> Self {
        Spec {
            office: "cuiping",
            petition_id: "CP-2026-0001",
            category: "property-certificate",
            community: "杨柳社区",
            zone: "杨柳一片区",
            collector: "陈服务员",
            at: t0(),
        }
    }
}

fn open_case(spec: &Spec<'_>) -> Case {
    let org = org();
    let petition = Petition::parse(&PetitionInput {
        petition_id: spec.petition_id.into(),
        category: spec.category.into(),
        title: "房产证办理受阻".into(),
        description:
            "居民反映小区房产证迟迟未能办理，已多次到社区反映。\n第二行：“引号”与 emoji 🏠".into(),
        resident_name: "张女士".into(),
        resident_phone: "138 1234 5678".into(),
        address: "翠屏街道杨柳社区3栋2单元".into(),
        community: spec.community.into(),
        zone: spec.zone.into(),
        collector: spec.collector.into(),
        difficulty: 3,
        ..Default::default()
    })
    .unwrap();
    let route = org.route(&petition.category, None, &[]).unwrap();
    Case::open(
        &Ctx::new(&office(spec.office), &org, spec.at, &OsIds),
        petition,
        &org.offices[spec.office],
        route,
    )
    .0
}

/// What an insert did, with the case as stored.
#[derive(Debug)]
enum Outcome {
    Created(Case),
    Existing(Case),
}

type Letters = fn(Option<&Case>, &Case) -> Vec<OutgoingMail>;

fn no_mail(_: Option<&Case>, _: &Case) -> Vec<OutgoingMail> {
    Vec::new()
}

/// Inserts a new case with the letters `mail` makes of it, in one transaction,
/// as the escalation use case does.
async fn insert(store: &Store, mut case: Case, mail: Letters) -> Result<Outcome, StoreError> {
    let letters = mail(None, &case);
    let mut tx = store.begin().await?;
    match tx.insert_case(&mut case, &letters).await? {
        Inserted::Created => {
            tx.commit().await?;
            Ok(Outcome::Created(case))
        }
        Inserted::Existing(existing) => {
            tx.rollback().await?;
            Ok(Outcome::Existing(*existing))
        }
    }
}

async fn create(store: &Store, spec: &Spec<'_>) -> Case {
    match insert(store, open_case(spec), no_mail).await.unwrap() {
        Outcome::Created(case) => case,
        Outcome::Existing(case) => panic!("{} already existed", case.petition_id),
    }
}

/// Loads the case under its lock, applies `change`, and commits the difference
/// with the letters `mail` makes of it, as the command use cases do.
async fn update_with<T>(
    store: &Store,
    case_id: &str,
    change: impl FnOnce(&mut Case) -> Result<T, DomainError>,
    mail: Letters,
) -> Result<Case, StoreError> {
    let mut tx = store.begin().await?;
    let Some(before) = tx.lock_case(case_id).await? else {
        return Err(DomainError::NotFound {
            what: "case",
            id: case_id.to_owned(),
        }
        .into());
    };
    let mut after = before.clone();
    change(&mut after)?;
    let letters = mail(Some(&before), &after);
    tx.update_case(&before, &mut after, &letters, &[]).await?;
    tx.commit().await?;
    Ok(after)
}

async fn update<T>(
    store: &Store,
    case_id: &str,
    change: impl FnOnce(&mut Case) -> Result<T, DomainError>,
) -> Result<Case, StoreError> {
    update_with(store, case_id, change, no_mail).await
}

/// Applies a step and checks that what the store returned is what it now holds.
async fn step<T>(
    store: &Store,
    case_id: &str,
    change: impl FnOnce(&mut Case) -> Result<T, DomainError>,
) -> Case {
    let returned = update(store, case_id, change).await.unwrap();
    let stored = store.get_case(case_id).await.unwrap().unwrap();
    assert_eq!(stored, returned);
    returned
}

fn reply(text: &str) -> ReplyText {
    ReplyText::parse("text", text).unwrap()
}

fn comment(text: &str) -> Comment {
    Comment::parse("comment", text).unwrap()
}

fn reference(n: i64) -> String {
    Reference::format("翠街哨", 2026, n)
}

/// `翠街哨〔2026〕0007号` → 7
fn number(reference: &str) -> i64 {
    let digits = reference
        .rsplit('〕')
        .next()
        .unwrap()
        .trim_end_matches('号');
    digits.parse().unwrap()
}

fn references(cases: &[Case]) -> Vec<String> {
    cases
        .iter()
        .flat_map(|c| c.requests.iter().map(|r| r.reference.as_str().to_owned()))
        .collect()
}

fn page(size: u32, after: Option<String>) -> PageRequest {
    PageRequest { size, after }
}

async fn all_cases(store: &Store, filter: &CaseFilter, size: u32) -> Vec<Case> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let p = store
            .list_cases(filter, &page(size, after), t0())
            .await
            .unwrap();
        assert!(p.items.len() <= size as usize);
        out.extend(p.items);
        match p.next {
            Some(next) => after = Some(next),
            None => return out,
        }
    }
}

async fn all_requests(store: &Store, filter: &RequestFilter, size: u32) -> Vec<Assigned> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let p = store
            .list_requests(filter, &page(size, after), t0())
            .await
            .unwrap();
        assert!(p.items.len() <= size as usize);
        out.extend(p.items);
        match p.next {
            Some(next) => after = Some(next),
            None => return out,
        }
    }
}

fn is_wrong_state(result: &Result<Case, StoreError>) -> bool {
    matches!(result, Err(StoreError::Domain(DomainError::WrongState(_))))
}

// ---- the tests -------------------------------------------------------------------

async fn residents_join_leave_and_find_their_case_by_petition(store: Store) {
    let org = org();
    let first = create(&store, &Spec::default()).await;
    let second = create(
        &store,
        &Spec {
            petition_id: "CP-2026-0002",
            ..Spec::default()
        },
    )
    .await;
    create(
        &store,
        &Spec {
            petition_id: "CP-2026-0003",
            community: "新南社区",
            ..Spec::default()
        },
    )
    .await;
    // The open candidates: of the office, category and community only.
    let mut tx = store.begin().await.unwrap();
    let (earlier, open) = tx
        .petition_and_open_ids(
            "cuiping",
            "CP-2026-0009",
            "property-certificate",
            "杨柳社区",
        )
        .await
        .unwrap();
    assert!(earlier.is_none());
    assert_eq!(open, [first.id.clone(), second.id.clone()]);
    let candidates = tx
        .candidates(&[second.id.clone(), first.id.clone()])
        .await
        .unwrap();
    assert_eq!(
        candidates
            .iter()
            .map(|c| c.case_id.as_str())
            .collect::<Vec<_>>(),
        [first.id.as_str(), second.id.as_str()]
    );
    assert_eq!(candidates[0].title, first.title);
    // More ids than one read takes, most of them unknown.
    let mut many: Vec<String> = (0..2_500).map(|n| format!("no-such-case-{n}")).collect();
    many.insert(1_700, first.id.clone());
    many.push(second.id.clone());
    assert_eq!(tx.candidates(&many).await.unwrap(), candidates);
    assert!(
        tx.case_of_petition("cuiping", "CP-2026-0009")
            .await
            .unwrap()
            .is_none()
    );
    tx.rollback().await.unwrap();

    // A further resident joins the first case; their petition finds it.
    let joining = open_case(&Spec {
        petition_id: "CP-2026-0009",
        ..Spec::default()
    });
    let petition_of = |case: &Case| {
        let r = &case.residents[0];
        Petition::parse(&r.petition_input(case)).unwrap()
    };
    let petition = petition_of(&joining);
    let o = office("cuiping");
    let joined = step(&store, &first.id, |c| {
        c.link_resident(&Ctx::new(&o, &org, t0(), &OsIds), &petition, false)
    })
    .await;
    assert_eq!(joined.residents.len(), 2);
    let mut tx = store.begin().await.unwrap();
    let (found, fingerprint) = tx
        .case_of_petition("cuiping", "CP-2026-0009")
        .await
        .unwrap()
        .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(found.id, first.id);
    assert_eq!(fingerprint, petition.fingerprint());
    // The same petition id cannot open a case of its own now.
    match insert(&store, joining, no_mail).await.unwrap() {
        Outcome::Existing(existing) => assert_eq!(existing.id, first.id),
        Outcome::Created(_) => panic!("a joined petition opened a case"),
    }

    // Joined by hand: the other case's resident moves, in one transaction.
    let mut tx = store.begin().await.unwrap();
    let keep = tx.lock_case(&first.id).await.unwrap().unwrap();
    let other = tx.lock_case(&second.id).await.unwrap().unwrap();
    let (mut kept, mut merged) = (keep.clone(), other.clone());
    kept.absorb(&Ctx::new(&o, &org, t0(), &OsIds), &mut merged)
        .unwrap();
    tx.update_case(&other, &mut merged, &[], &[]).await.unwrap();
    tx.update_case(&keep, &mut kept, &[], &[]).await.unwrap();
    tx.commit().await.unwrap();
    let stored = store.get_case(&first.id).await.unwrap().unwrap();
    assert_eq!(stored.residents, kept.residents);
    assert_eq!(
        stored
            .residents
            .iter()
            .map(|r| r.petition_id.as_str())
            .collect::<Vec<_>>(),
        ["CP-2026-0001", "CP-2026-0009", "CP-2026-0002"]
    );
    let gone = store.get_case(&second.id).await.unwrap().unwrap();
    assert!(gone.residents.is_empty());
    assert_eq!(gone.merged_into.as_deref(), Some(first.id.as_str()));
    // Lists carry the residents too, for the figures to count them.
    let listed = all_cases(&store, &CaseFilter::default(), 10).await;
    let listed = listed.iter().find(|c| c.id == first.id).unwrap();
    assert_eq!(listed.residents.len(), 3);
}

async fn insert_then_get_round_trips_every_field(store: Store) {
    let opened = open_case(&Spec::default());
    let Outcome::Created(created) = insert(&store, opened.clone(), no_mail).await.unwrap() else {
        panic!("a new petition is created");
    };

    // What was stored is what was opened, with references drawn and time in millis.
    let mut expected = opened;
    expected.created_at = cut_to_millis(expected.created_at);
    expected.updated_at = cut_to_millis(expected.updated_at);
    for (i, r) in expected.requests.iter_mut().enumerate() {
        r.reference = Reference::Assigned(reference(i as i64 + 1));
        r.issued_at = cut_to_millis(r.issued_at);
        for d in &mut r.deadline_history {
            d.set_at = cut_to_millis(d.set_at);
        }
    }
    for r in &mut expected.residents {
        r.linked_at = cut_to_millis(r.linked_at);
    }
    // Each event got its stream position, in order.
    let ids: Vec<i64> = created.events.iter().map(|e| e.id.unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    for (e, stored) in expected.events.iter_mut().zip(&created.events) {
        e.at = cut_to_millis(e.at);
        e.id = stored.id;
    }
    assert_eq!(created, expected);
    assert_eq!(
        references(std::slice::from_ref(&created)),
        ["翠街哨〔2026〕0001号", "翠街哨〔2026〕0002号"]
    );
    assert_eq!(created.created_at.timestamp_subsec_millis(), 123);

    let got = store.get_case(&created.id).await.unwrap().unwrap();
    assert_eq!(got, created);
    assert_eq!(
        got.description,
        "居民反映小区房产证迟迟未能办理，已多次到社区反映。\n第二行：“引号”与 emoji 🏠"
    );
    assert_eq!(got.resident.name, "张女士");
    assert_eq!(
        got.resident.phone.as_str(),
        "13812345678",
        "kept normalised"
    );
    let roles: Vec<_> = got
        .requests
        .iter()
        .map(|r| (r.department.as_str(), r.role))
        .collect();
    assert_eq!(
        roles,
        [
            ("housing", DepartmentRole::Lead),
            ("land", DepartmentRole::Assisting)
        ]
    );
    assert_eq!(
        got.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(
        got.events.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [
            EventKind::Escalated,
            EventKind::RequestIssued,
            EventKind::RequestIssued
        ]
    );
    assert_eq!(got.feedback, None);

    for r in &got.requests {
        let holder = store.case_of_request(&r.id).await.unwrap().unwrap();
        assert_eq!(holder, got);
    }
}

async fn reinserting_a_petition_returns_the_existing_case(store: Store) {
    let first = create(&store, &Spec::default()).await;

    // A retry opens the case again with fresh ids (and here a later clock).
    let retry = open_case(&Spec {
        at: t0() + Duration::hours(1),
        ..Spec::default()
    });
    match insert(&store, retry, no_mail).await.unwrap() {
        Outcome::Existing(existing) => assert_eq!(existing, first),
        Outcome::Created(_) => panic!("the same office and petition id must not create twice"),
    }
    let all = all_cases(&store, &CaseFilter::default(), 10).await;
    assert_eq!(all.len(), 1);

    // The retry drew no numbers: the next case continues the sequence.
    let next = create(
        &store,
        &Spec {
            petition_id: "CP-2026-0002",
            ..Spec::default()
        },
    )
    .await;
    assert_eq!(references(&[next]), [reference(3), reference(4)]);

    // Another office may use the same petition id, with its own numbering.
    let other = create(
        &store,
        &Spec {
            office: "dongcheng",
            community: "任意社区",
            ..Spec::default()
        },
    )
    .await;
    assert_eq!(
        references(&[other]),
        [
            Reference::format("东街哨", 2026, 1),
            Reference::format("东街哨", 2026, 2)
        ]
    );
}

async fn references_are_sequential_per_issuer_and_year(store: Store) {
    let mut cases = Vec::new();
    for n in 0..10 {
        let petition_id = format!("CP-{n}");
        cases.push(
            create(
                &store,
                &Spec {
                    petition_id: &petition_id,
                    ..Spec::default()
                },
            )
            .await,
        );
    }
    let expected: Vec<_> = (1..=20).map(reference).collect();
    assert_eq!(references(&cases), expected);

    // A new year starts again at 1 (local time: 2027-01-01 in Beijing).
    let new_year = Utc.with_ymd_and_hms(2026, 12, 31, 16, 30, 0).unwrap();
    let case = create(
        &store,
        &Spec {
            petition_id: "CP-2027-1",
            at: new_year,
            ..Spec::default()
        },
    )
    .await;
    assert_eq!(
        references(&[case]),
        [
            Reference::format("翠街哨", 2027, 1),
            Reference::format("翠街哨", 2027, 2)
        ]
    );
}

async fn concurrent_inserts_draw_distinct_gapless_references(store: Store) {
    let tasks: Vec<_> = (0..20)
        .map(|n| {
            let store = store.clone();
            tokio::spawn(async move {
                let petition_id = format!("CP-{n}");
                let spec = Spec {
                    petition_id: &petition_id,
                    ..Spec::default()
                };
                create(&store, &spec).await
            })
        })
        .collect();
    let mut cases = Vec::new();
    for t in tasks {
        cases.push(t.await.unwrap());
    }
    let drawn = references(&cases);
    let distinct: BTreeSet<_> = drawn.iter().cloned().collect();
    let expected: BTreeSet<_> = (1..=40).map(reference).collect();
    assert_eq!(drawn.len(), 40);
    assert_eq!(distinct, expected);
    // Within one case the numbers are consecutive: one draw per case.
    for c in &cases {
        let n: Vec<i64> = c
            .requests
            .iter()
            .map(|r| number(r.reference.as_str()))
            .collect();
        assert_eq!(n[1], n[0] + 1, "{n:?}");
    }
}

async fn concurrent_inserts_of_one_petition_create_it_once(store: Store) {
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                insert(&store, open_case(&Spec::default()), no_mail)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut created = Vec::new();
    let mut existing = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Outcome::Created(c) => created.push(c),
            Outcome::Existing(c) => existing.push(c),
        }
    }
    assert_eq!(created.len(), 1, "exactly one insert creates the case");
    assert_eq!(existing.len(), 9);
    for e in &existing {
        assert_eq!(e, &created[0]);
    }
    assert_eq!(all_cases(&store, &CaseFilter::default(), 50).await.len(), 1);
    // The losers drew nothing (or rolled back what they drew).
    let next = create(
        &store,
        &Spec {
            petition_id: "CP-next",
            ..Spec::default()
        },
    )
    .await;
    assert_eq!(references(&[next]), [reference(3), reference(4)]);
}

async fn a_whole_lifecycle_is_persisted_step_by_step(store: Store) {
    let org = Arc::new(org());
    let case = create(&store, &Spec::default()).await;
    let id = case.id.clone();
    let housing = case.requests[0].id.clone();
    let land = case.requests[1].id.clone();
    let at = |hours: i64| t0() + Duration::hours(hours);
    let (h, l, o) = (dept("housing"), dept("land"), office("cuiping"));

    step(&store, &id, |c| c.acknowledge(&ctx(&h, at(1)), &housing)).await;
    step(&store, &id, |c| {
        c.submit_reply(&ctx(&h, at(2)), &housing, reply("正在协调"))
    })
    .await;
    let reject = ReviewDecision::parse(false, "未说明办理时限").unwrap();
    let c = step(&store, &id, |c| {
        c.review_reply(&ctx_in(&org, &o, at(26)), &housing, reject.clone())
    })
    .await;
    let r = &c.requests[0];
    assert_eq!(
        (r.status, r.round, r.reissue_reason.as_str()),
        (RequestStatus::Issued, 2, "未说明办理时限")
    );
    assert_eq!(r.replies.len(), 1);
    assert!(r.replies[0].review.as_ref().is_some_and(|v| !v.accepted));

    step(&store, &id, |c| c.acknowledge(&ctx(&h, at(27)), &housing)).await;
    step(&store, &id, |c| {
        c.submit_reply(&ctx(&h, at(28)), &housing, reply("已办结，预计月底发证"))
    })
    .await;
    step(&store, &id, |c| c.acknowledge(&ctx(&l, at(29)), &land)).await;
    step(&store, &id, |c| {
        c.submit_reply(&ctx(&l, at(30)), &land, reply("已配合核查"))
    })
    .await;
    let c = step(&store, &id, |c| {
        c.review_reply(&ctx_in(&org, &o, at(31)), &housing, ReviewDecision::Accept)
    })
    .await;
    assert_eq!(c.status, CaseStatus::Open);
    let c = step(&store, &id, |c| {
        c.review_reply(&ctx_in(&org, &o, at(32)), &land, ReviewDecision::Accept)
    })
    .await;
    assert_eq!(c.status, CaseStatus::AwaitingFeedback);

    let reissue = vec![housing.clone()];
    let c = step(&store, &id, |c| {
        c.record_feedback(
            &Ctx::new(&o, &org, at(50), &SeededIds::default()),
            None,
            Verdict::Unsatisfied,
            None,
            comment("证还没拿到"),
            &reissue,
        )
    })
    .await;
    assert_eq!(c.status, CaseStatus::Open);
    assert_eq!(
        (c.requests[0].status, c.requests[0].round),
        (RequestStatus::Issued, 3)
    );
    assert_eq!(
        (c.requests[1].status, c.requests[1].round),
        (RequestStatus::Accepted, 1)
    );
    assert_eq!(
        c.feedback.as_ref().map(|f| f.verdict),
        Some(Verdict::Unsatisfied)
    );

    step(&store, &id, |c| c.acknowledge(&ctx(&h, at(51)), &housing)).await;
    step(&store, &id, |c| {
        c.submit_reply(&ctx(&h, at(52)), &housing, reply("证已发放"))
    })
    .await;
    step(&store, &id, |c| {
        c.review_reply(&ctx_in(&org, &o, at(53)), &housing, ReviewDecision::Accept)
    })
    .await;
    let c = step(&store, &id, |c| {
        c.record_feedback(
            &Ctx::new(&o, &org, at(60), &SeededIds::default()),
            None,
            Verdict::Satisfied,
            None,
            comment("很满意"),
            &[],
        )
    })
    .await;

    assert_eq!(c.status, CaseStatus::Closed);
    let f = c.feedback.as_ref().unwrap();
    assert_eq!(
        (f.verdict, f.comment.as_str(), f.recorded_at),
        (Verdict::Satisfied, "很满意", cut_to_millis(at(60)))
    );
    let rounds: Vec<_> = c.requests[0]
        .replies
        .iter()
        .map(|p| (p.round, p.review.as_ref().map(|v| v.accepted)))
        .collect();
    assert_eq!(rounds, [(1, Some(false)), (2, Some(true)), (3, Some(true))]);
    assert_eq!(
        c.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=c.events.len() as u32).collect::<Vec<_>>()
    );
    assert_eq!(c.events.last().unwrap().kind, EventKind::CaseClosed);
    // No new request was issued along the way: the numbers stayed put.
    assert_eq!(references(&[c]), [reference(1), reference(2)]);
}

async fn a_refused_change_writes_nothing(store: Store) {
    let case = create(&store, &Spec::default()).await;
    let housing = case.requests[0].id.clone();
    let h = dept("housing");
    // The change gets halfway (an acknowledgement) before a rule refuses the rest.
    let result = update(&store, &case.id, |c| {
        c.acknowledge(&ctx(&h, t0()), &housing)?;
        c.acknowledge(&ctx(&h, t0()), &housing)
    })
    .await;
    assert!(is_wrong_state(&result), "{result:?}");
    assert_eq!(store.get_case(&case.id).await.unwrap().unwrap(), case);
}

async fn racing_acknowledgements_let_exactly_one_through(store: Store) {
    let case = create(&store, &Spec::default()).await;
    let tasks: Vec<_> = (0..10)
        .map(|n| {
            let (store, id, housing) =
                (store.clone(), case.id.clone(), case.requests[0].id.clone());
            tokio::spawn(async move {
                let h = dept("housing");
                update(&store, &id, |c| {
                    c.acknowledge(&ctx(&h, t0() + Duration::seconds(n)), &housing)
                })
                .await
            })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(
        results.iter().filter(|r| r.is_err()).all(is_wrong_state),
        "{results:?}"
    );
    let stored = store.get_case(&case.id).await.unwrap().unwrap();
    let winner = results.into_iter().find_map(Result::ok).unwrap();
    assert_eq!(stored, winner);
    let acks = stored
        .events
        .iter()
        .filter(|e| e.kind == EventKind::RequestAcknowledged)
        .count();
    assert_eq!(acks, 1);
}

async fn racing_reviews_let_exactly_one_through(store: Store) {
    let org = Arc::new(org());
    let case = create(&store, &Spec::default()).await;
    let housing = case.requests[0].id.clone();
    let h = dept("housing");
    step(&store, &case.id, |c| {
        c.acknowledge(&ctx(&h, t0()), &housing)
    })
    .await;
    step(&store, &case.id, |c| {
        c.submit_reply(&ctx(&h, t0()), &housing, reply("已处理"))
    })
    .await;

    let review = |decision: ReviewDecision| {
        let (store, org, id, housing) =
            (store.clone(), org.clone(), case.id.clone(), housing.clone());
        tokio::spawn(async move {
            let o = office("cuiping");
            update(&store, &id, |c| {
                c.review_reply(&ctx_in(&org, &o, t0()), &housing, decision.clone())
            })
            .await
        })
    };
    // Several of each, so that losers really do load the case while the winner holds it.
    let tasks: Vec<_> = (0..8)
        .map(|n| {
            let decision = if n % 2 == 0 {
                ReviewDecision::Accept
            } else {
                ReviewDecision::parse(false, "不清楚").unwrap()
            };
            (decision.clone(), review(decision))
        })
        .collect();
    let mut winners = Vec::new();
    for (decision, task) in tasks {
        let result = task.await.unwrap();
        match result {
            Ok(_) => winners.push(decision),
            Err(_) => assert!(is_wrong_state(&result), "{result:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");

    let stored = store.get_case(&case.id).await.unwrap().unwrap();
    let r = &stored.requests[0];
    if winners[0] == ReviewDecision::Accept {
        assert_eq!((r.status, r.round), (RequestStatus::Accepted, 1));
    } else {
        assert_eq!((r.status, r.round), (RequestStatus::Issued, 2));
    }
    assert_eq!(r.replies.len(), 1);
    assert!(r.replies[0].review.is_some());
}

/// Nine cases across two offices, two categories, two communities and states.
async fn ledger(store: &Store) -> Vec<Case> {
    let org = Arc::new(org());
    let mut cases = Vec::new();
    for n in 0..9 {
        let petition_id = format!("P-{n}");
        let spec = Spec {
            office: if n % 3 == 2 { "dongcheng" } else { "cuiping" },
            petition_id: &petition_id,
            category: if n % 2 == 0 {
                "property-certificate"
            } else {
                "street-lighting"
            },
            community: if n % 4 == 0 {
                "新南社区"
            } else {
                "杨柳社区"
            },
            zone: match n % 4 {
                0 => "新南一片区",
                1 => "杨柳一片区",
                _ => "",
            },
            collector: if n % 3 == 0 { "陈服务员" } else { "" },
            at: t0() + Duration::days(n),
        };
        let mut case = create(store, &spec).await;
        // Every third case holds a reply waiting for review.
        if n % 3 == 0 {
            let (r, d) = (
                case.requests[0].id.clone(),
                dept(&case.requests[0].department),
            );
            case = update(store, &case.id, |c| {
                c.acknowledge(&ctx(&d, spec.at), &r)?;
                c.submit_reply(&ctx(&d, spec.at), &r, reply("已处理"))
            })
            .await
            .unwrap();
        }
        // Case 4 goes all the way to feedback.
        if n == 4 {
            let o = office(&case.office);
            for i in 0..case.requests.len() {
                let (r, d) = (
                    case.requests[i].id.clone(),
                    dept(&case.requests[i].department),
                );
                case = update(store, &case.id, |c| {
                    c.acknowledge(&ctx(&d, spec.at), &r)?;
                    c.submit_reply(&ctx(&d, spec.at), &r, reply("已处理"))?;
                    c.review_reply(&ctx_in(&org, &o, spec.at), &r, ReviewDecision::Accept)
                })
                .await
                .unwrap();
            }
            assert_eq!(case.status, CaseStatus::AwaitingFeedback);
        }
        cases.push(case);
    }
    cases
}

async fn list_cases_filters_and_pages_newest_first(store: Store) {
    let cases = ledger(&store).await;
    let expect = |keep: &dyn Fn(&Case) -> bool| {
        let mut ids: Vec<String> = cases
            .iter()
            .filter(|c| keep(c))
            .map(|c| c.id.clone())
            .collect();
        ids.sort_by(|a, b| b.cmp(a));
        ids
    };
    let ids = |listed: &[Case]| listed.iter().map(|c| c.id.clone()).collect::<Vec<_>>();

    // Every page size visits every case once, newest first.
    for size in [1, 2, 4, 9, 50] {
        let listed = all_cases(&store, &CaseFilter::default(), size).await;
        assert_eq!(ids(&listed), expect(&|_| true), "page size {size}");
    }
    // A listed case carries its requests and replies but not its timeline.
    let listed = all_cases(&store, &CaseFilter::default(), 3).await;
    for l in &listed {
        let full = cases.iter().find(|c| c.id == l.id).unwrap();
        assert_eq!(l.requests, full.requests);
        assert!(l.events.is_empty());
        let mut bare = full.clone();
        bare.events.clear();
        assert_eq!(*l, bare);
    }

    // Halfway through the ledger: what was escalated and not closed by then.
    let cut = {
        let mut escalated: Vec<_> = cases.iter().map(|c| c.created_at).collect();
        escalated.sort();
        escalated[escalated.len() / 2]
    };
    type Keep = Box<dyn Fn(&Case) -> bool>;
    let filters: Vec<(CaseFilter, Keep)> = vec![
        (
            CaseFilter {
                open_at: Some(cut),
                ..Default::default()
            },
            Box::new(move |c: &Case| {
                c.created_at < cut && (c.status != CaseStatus::Closed || c.updated_at >= cut)
            }),
        ),
        (
            CaseFilter {
                office: Some("cuiping".into()),
                ..Default::default()
            },
            Box::new(|c: &Case| c.office == "cuiping"),
        ),
        (
            CaseFilter {
                status: Some(CaseStatus::AwaitingFeedback),
                ..Default::default()
            },
            Box::new(|c: &Case| c.status == CaseStatus::AwaitingFeedback),
        ),
        (
            CaseFilter {
                category: Some("street-lighting".into()),
                ..Default::default()
            },
            Box::new(|c: &Case| c.category == "street-lighting"),
        ),
        (
            CaseFilter {
                community: Some("新南社区".into()),
                ..Default::default()
            },
            Box::new(|c: &Case| c.community == "新南社区"),
        ),
        (
            CaseFilter {
                zone: Some("杨柳一片区".into()),
                ..Default::default()
            },
            Box::new(|c: &Case| c.zone == "杨柳一片区"),
        ),
        (
            CaseFilter {
                collector: Some("陈服务员".into()),
                ..Default::default()
            },
            Box::new(|c: &Case| c.collector == "陈服务员"),
        ),
        (
            CaseFilter {
                awaiting_review: true,
                ..Default::default()
            },
            Box::new(|c: &Case| c.awaiting_review()),
        ),
        (
            CaseFilter {
                department: Some("land".into()),
                ..Default::default()
            },
            Box::new(|c: &Case| c.requests.iter().any(|r| r.department == "land")),
        ),
        (
            // Any case of letters, anywhere in the petition id.
            CaseFilter {
                text: CaseText::parse("text", " p-4 ").unwrap(),
                ..Default::default()
            },
            Box::new(|c: &Case| c.petition_id == "P-4"),
        ),
        (
            CaseFilter {
                office: Some("cuiping".into()),
                status: Some(CaseStatus::Open),
                category: Some("property-certificate".into()),
                community: Some("新南社区".into()),
                zone: Some("新南一片区".into()),
                collector: Some("陈服务员".into()),
                awaiting_review: true,
                overdue: false,
                closed_by_override: false,
                department: Some("housing".into()),
                text: CaseText::parse("text", "P-").unwrap(),
                open_at: None,
                order: CaseOrder::Newest,
            },
            Box::new(|c: &Case| {
                c.office == "cuiping"
                    && c.status == CaseStatus::Open
                    && c.category == "property-certificate"
                    && c.community == "新南社区"
                    && c.zone == "新南一片区"
                    && c.collector == "陈服务员"
                    && c.awaiting_review()
            }),
        ),
    ];
    for (filter, keep) in &filters {
        let expected = expect(keep.as_ref());
        assert!(
            !expected.is_empty(),
            "the ledger should exercise {filter:?}"
        );
        assert_eq!(
            ids(&all_cases(&store, filter, 2).await),
            expected,
            "{filter:?}"
        );
    }
    // A `%` or `_` typed is searched for as itself, not as a wildcard.
    for typed in ["%", "P_1", "\\"] {
        let filter = CaseFilter {
            text: CaseText::parse("text", typed).unwrap(),
            ..Default::default()
        };
        assert!(all_cases(&store, &filter, 4).await.is_empty(), "{typed}");
    }
    // Each order visits every case once, in its order, at every page size;
    // a token of one order is refused by another.
    for size in [1, 2, 4, 50] {
        let oldest = CaseFilter {
            order: CaseOrder::Oldest,
            ..Default::default()
        };
        let mut expected = expect(&|_| true);
        expected.reverse();
        assert_eq!(ids(&all_cases(&store, &oldest, size).await), expected);
        let updated = CaseFilter {
            order: CaseOrder::Updated,
            ..Default::default()
        };
        let mut by_change: Vec<&Case> = cases.iter().collect();
        by_change.sort_by(|a, b| (b.updated_at, &b.id).cmp(&(a.updated_at, &a.id)));
        let expected: Vec<String> = by_change.iter().map(|c| c.id.clone()).collect();
        assert_eq!(ids(&all_cases(&store, &updated, size).await), expected);
    }
    let newest = store
        .list_cases(&CaseFilter::default(), &page(2, None), t0())
        .await
        .unwrap();
    let oldest = CaseFilter {
        order: CaseOrder::Oldest,
        ..Default::default()
    };
    let refused = store.list_cases(&oldest, &page(2, newest.next), t0()).await;
    assert!(
        matches!(&refused, Err(StoreError::Domain(DomainError::Invalid(v))) if v[0].field == "page_token"),
        "{refused:?}"
    );

    let nobody = CaseFilter {
        office: Some("nobody".into()),
        ..Default::default()
    };
    let empty = store
        .list_cases(&nobody, &page(10, None), t0())
        .await
        .unwrap();
    assert!(empty.items.is_empty() && empty.next.is_none());

    // An exactly full last page says there is nothing more.
    let full = store
        .list_cases(&CaseFilter::default(), &page(9, None), t0())
        .await
        .unwrap();
    assert_eq!((full.items.len(), full.next), (9, None));
}

async fn cases_escalated_in_a_range_are_read_whole_oldest_first(store: Store) {
    let cases = ledger(&store).await;
    let ids = |listed: &[Case]| listed.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    let expect = |keep: &dyn Fn(usize, &Case) -> bool| {
        cases
            .iter()
            .enumerate()
            .filter(|(n, c)| keep(*n, c))
            .map(|(_, c)| c.id.clone())
            .collect::<Vec<_>>()
    };
    // Case n was escalated at t0 + n days: [t0 + 1d, t0 + 5d) holds 1 to 4.
    let listed = store
        .cases_escalated(None, t0() + Duration::days(1), t0() + Duration::days(5))
        .await
        .unwrap();
    assert_eq!(ids(&listed), expect(&|n, _| (1..5).contains(&n)));
    // Whole: requests, replies, the verdict, the timeline.
    for l in &listed {
        assert_eq!(Some(l), store.get_case(&l.id).await.unwrap().as_ref());
        assert!(!l.events.is_empty());
    }
    let all = t0() + Duration::days(9);
    let listed = store
        .cases_escalated(Some("cuiping"), t0(), all)
        .await
        .unwrap();
    assert_eq!(ids(&listed), expect(&|_, c| c.office == "cuiping"));
    assert!(
        store
            .cases_escalated(Some("nowhere"), t0(), all)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .cases_escalated(Some("a\0b"), t0(), all)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .cases_escalated(None, all, all + Duration::days(1))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn list_requests_filters_and_pages_by_deadline(store: Store) {
    let cases = ledger(&store).await;
    let expect = |keep: &dyn Fn(&Case, &crate::domain::DepartmentRequest) -> bool| {
        let mut all: Vec<_> = cases
            .iter()
            .flat_map(|c| {
                c.requests
                    .iter()
                    .filter(|r| keep(c, r))
                    .map(|r| (r.reply_due_at, r.id.clone()))
            })
            .collect();
        all.sort();
        all.into_iter().map(|(_, id)| id).collect::<Vec<_>>()
    };
    let ids = |listed: &[Assigned]| {
        listed
            .iter()
            .map(|a| a.request.id.clone())
            .collect::<Vec<_>>()
    };

    for size in [1, 3, 14, 100] {
        let listed = all_requests(&store, &RequestFilter::default(), size).await;
        assert_eq!(ids(&listed), expect(&|_, _| true), "page size {size}");
    }
    // Each request comes whole, with its case's facts but not the case's lists.
    for a in all_requests(&store, &RequestFilter::default(), 5).await {
        let case = cases.iter().find(|c| c.id == a.request.case_id).unwrap();
        let request = case.requests.iter().find(|r| r.id == a.request.id).unwrap();
        assert_eq!(&a.request, request);
        let mut bare = case.clone();
        bare.requests.clear();
        bare.events.clear();
        assert_eq!(a.case, bare);
    }

    type Keep = Box<dyn Fn(&Case, &crate::domain::DepartmentRequest) -> bool>;
    let filters: Vec<(RequestFilter, Keep)> = vec![
        (
            RequestFilter {
                department: Some("land".into()),
                ..Default::default()
            },
            Box::new(|_, r| r.department == "land"),
        ),
        (
            RequestFilter {
                status: Some(RequestStatus::Replied),
                ..Default::default()
            },
            Box::new(|_, r| r.status == RequestStatus::Replied),
        ),
        (
            RequestFilter {
                category: Some("street-lighting".into()),
                ..Default::default()
            },
            Box::new(|c, _| c.category == "street-lighting"),
        ),
        (
            RequestFilter {
                open: true,
                ..Default::default()
            },
            Box::new(|c, r| !r.status.is_done() && c.status != CaseStatus::Closed),
        ),
        (
            RequestFilter {
                department: Some("housing".into()),
                status: Some(RequestStatus::Issued),
                category: Some("property-certificate".into()),
                overdue: false,
                open: true,
            },
            Box::new(|c, r| {
                r.department == "housing"
                    && r.status == RequestStatus::Issued
                    && c.category == "property-certificate"
            }),
        ),
    ];
    for (filter, keep) in &filters {
        let expected = expect(keep.as_ref());
        assert!(
            !expected.is_empty(),
            "the ledger should exercise {filter:?}"
        );
        assert_eq!(
            ids(&all_requests(&store, filter, 2).await),
            expected,
            "{filter:?}"
        );
    }
}

async fn unknown_ids_and_bad_cursors(store: Store) {
    assert!(store.get_case("no-such-case").await.unwrap().is_none());
    assert!(
        store
            .case_of_request("no-such-request")
            .await
            .unwrap()
            .is_none()
    );
    let result = update(&store, "no-such-case", |_| Ok(())).await;
    assert!(
        matches!(&result, Err(StoreError::Domain(DomainError::NotFound { what: "case", id })) if id == "no-such-case"),
        "{result:?}"
    );

    create(&store, &Spec::default()).await;
    let case_token = store
        .list_cases(&CaseFilter::default(), &page(1, None), t0())
        .await
        .unwrap()
        .next;
    assert!(case_token.is_none(), "one case fits one page");
    let request_token = store
        .list_requests(&RequestFilter::default(), &page(1, None), t0())
        .await
        .unwrap()
        .next
        .expect("two requests do not fit a page of one");

    let bad_page_token = |r: &Result<(), StoreError>| matches!(r, Err(StoreError::Domain(DomainError::Invalid(v))) if v[0].field == "page_token");
    for token in ["garbage", "", "zz", &hex::encode("cases"), &request_token] {
        let r = store
            .list_cases(
                &CaseFilter::default(),
                &page(10, Some(token.to_owned())),
                t0(),
            )
            .await
            .map(|_| ());
        assert!(bad_page_token(&r), "list_cases accepted {token:?}: {r:?}");
    }
    for token in [
        "garbage",
        &hex::encode("requests\nnot-a-number\nid"),
        &hex::encode("cases\nid"),
    ] {
        let r = store
            .list_requests(
                &RequestFilter::default(),
                &page(10, Some(token.to_owned())),
                t0(),
            )
            .await
            .map(|_| ());
        assert!(
            bad_page_token(&r),
            "list_requests accepted {token:?}: {r:?}"
        );
    }
}

// ---- the outbox ------------------------------------------------------------------

/// Stands in for the letter planner: one letter per request issued by the change,
/// so the tests see exactly which changes wrote letters.
fn letters(before: Option<&Case>, after: &Case) -> Vec<OutgoingMail> {
    let seen = before.map_or(0, |b| b.events.len());
    after.events[seen..]
        .iter()
        .filter(|e| e.kind == EventKind::RequestIssued)
        .map(|e| {
            let request = after
                .requests
                .iter()
                .find(|r| Some(&r.id) == e.request_id.as_ref())
                .unwrap();
            OutgoingMail::new(
                LetterKind::RequestIssued,
                format!("<{}.r{}@test>", request.id, request.round),
                "whistle@test".into(),
                vec![format!("{}@test", request.department), "copy@test".into()],
                format!("第{}轮", request.round),
                e.at,
            )
            .about(&after.id, Some(&request.id))
        })
        .collect()
}

async fn outbox(store: &Store, status: Option<MailStatus>) -> Vec<QueuedMail> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let p = store.list_mail(status, &page(2, after)).await.unwrap();
        all.extend(p.items);
        match p.next {
            Some(n) => after = Some(n),
            None => return all,
        }
    }
}

async fn letters_commit_with_the_change_that_causes_them(store: Store) {
    let Outcome::Created(case) = insert(&store, open_case(&Spec::default()), letters)
        .await
        .unwrap()
    else {
        panic!("created")
    };
    let mail = outbox(&store, Some(MailStatus::Pending)).await;
    assert_eq!(mail.len(), 2);
    // Newest first: land's letter was written after housing's.
    let housing = &mail[1];
    assert_eq!(
        housing.mail.request_id.as_deref(),
        Some(case.requests[0].id.as_str())
    );
    assert_eq!(housing.mail.recipients, ["housing@test", "copy@test"]);
    assert_eq!(housing.mail.payload, "第1轮");
    // The number drawn after the letter was written is read beside it.
    assert_eq!(housing.reference.as_deref(), Some(reference(1).as_str()));
    assert!(
        housing.subject.is_empty() && housing.raw.is_empty(),
        "not rendered yet"
    );
    assert_eq!(
        (housing.attempts, housing.next_attempt_at),
        (0, cut_to_millis(t0()))
    );
    assert_eq!(housing.sent_at, None);
    assert_eq!(
        store.next_mail_due().await.unwrap(),
        Some(cut_to_millis(t0()))
    );

    // Re-escalating writes nothing, letters included.
    let mut again = open_case(&Spec::default());
    again.id = uuid::Uuid::now_v7().to_string();
    assert!(matches!(
        insert(&store, again, letters).await.unwrap(),
        Outcome::Existing(_)
    ));
    assert_eq!(outbox(&store, None).await.len(), 2);

    // A change that issues nothing writes no letter; a rejection re-issues one.
    let id = case.requests[0].id.clone();
    let (h, o, org) = (dept("housing"), office("cuiping"), org());
    update_with(
        &store,
        &case.id,
        |c| c.acknowledge(&ctx(&h, t0()), &id),
        letters,
    )
    .await
    .unwrap();
    update_with(
        &store,
        &case.id,
        |c| c.submit_reply(&ctx(&h, t0()), &id, reply("办理中")),
        letters,
    )
    .await
    .unwrap();
    assert_eq!(outbox(&store, None).await.len(), 2);
    let decision = ReviewDecision::parse(false, "未答复办理时限").unwrap();
    update_with(
        &store,
        &case.id,
        |c| c.review_reply(&ctx_in(&org, &o, t0()), &id, decision),
        letters,
    )
    .await
    .unwrap();
    let mail = outbox(&store, None).await;
    assert_eq!(mail.len(), 3);
    assert_eq!(mail[0].mail.message_id, format!("<{id}.r2@test>"));
    assert_eq!(mail[0].reference.as_deref(), Some(reference(1).as_str()));

    // A refused change writes no letter either.
    let refused = update_with(
        &store,
        &case.id,
        |c| c.review_reply(&ctx_in(&org, &o, t0()), &id, ReviewDecision::Accept),
        letters,
    )
    .await;
    assert!(is_wrong_state(&refused), "{refused:?}");
    assert_eq!(outbox(&store, None).await.len(), 3);
}

/// Two letters under one id: the second cannot be written.
fn clashing_letters(before: Option<&Case>, after: &Case) -> Vec<OutgoingMail> {
    let mut mail = letters(before, after);
    if let Some(first) = mail.first().cloned() {
        mail.push(first);
    }
    mail
}

async fn a_letter_that_cannot_be_written_aborts_the_change(store: Store) {
    let result = insert(&store, open_case(&Spec::default()), clashing_letters).await;
    assert!(matches!(result, Err(StoreError::Database(_))), "{result:?}");
    let filter = CaseFilter::default();
    assert!(
        store
            .list_cases(&filter, &page(10, None), t0())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // Nothing drawn either: the first case that commits is number 1.
    let case = create(&store, &Spec::default()).await;
    assert_eq!(
        references(std::slice::from_ref(&case)),
        [reference(1), reference(2)]
    );

    let id = case.requests[0].id.clone();
    let (h, o, org) = (dept("housing"), office("cuiping"), org());
    step(&store, &case.id, |c| c.acknowledge(&ctx(&h, t0()), &id)).await;
    let case = step(&store, &case.id, |c| {
        c.submit_reply(&ctx(&h, t0()), &id, reply("办理中"))
    })
    .await;
    let decision = ReviewDecision::parse(false, "未答复办理时限").unwrap();
    let result = update_with(
        &store,
        &case.id,
        |c| {
            c.review_reply(&ctx_in(&org, &o, t0()), &id, decision)?;
            // Two rounds in one change give two letters under one Message-ID
            // and, here, one id: the write fails and takes the change with it.
            Ok(())
        },
        clashing_letters,
    )
    .await;
    assert!(matches!(result, Err(StoreError::Database(_))), "{result:?}");
    assert_eq!(store.get_case(&case.id).await.unwrap().unwrap(), case);
    assert!(outbox(&store, None).await.is_empty());
}

/// The attempt a worker reports: `outcome`, and the letter rendered as "R:"
/// and its facts when it had not been rendered yet.
fn attempted(mail: &QueuedMail, outcome: Delivery) -> Attempt {
    let rendered = mail.raw.is_empty().then(|| Rendered {
        subject: format!("【{}】", mail.reference.clone().unwrap_or_default()),
        raw: format!("R:{}", mail.mail.payload).into_bytes(),
    });
    Attempt {
        outcome,
        rendered,
        alert: None,
    }
}

/// A lease from `at` for `minutes`.
fn lease(at: DateTime<Utc>, minutes: i64) -> Lease {
    Lease {
        at,
        until: at + Duration::minutes(minutes),
    }
}

/// Claims the next due letter as worker "w" and records a fixed outcome.
async fn deliver(
    store: &Store,
    now: DateTime<Utc>,
    outcome: Delivery,
) -> Option<(QueuedMail, Attempt)> {
    let claimed = store.claim_mail("w", now, lease(now, 1), 1).await.unwrap();
    let mail = claimed.into_iter().next()?;
    let attempt = attempted(&mail, outcome);
    let done = [(mail, attempt)];
    assert_eq!(store.record_deliveries("w", &done, now).await.unwrap(), 1);
    let [(mail, attempt)] = done;
    Some((mail, attempt))
}

async fn delivery_outcomes_are_recorded_and_failed_letters_retried(store: Store) {
    insert(&store, open_case(&Spec::default()), letters)
        .await
        .unwrap();
    let now = t0() + Duration::seconds(1);
    let written = outbox(&store, None)
        .await
        .iter()
        .map(|m| cut_to_millis(m.mail.created_at))
        .min();
    assert_eq!(
        store.outbox_summary().await.unwrap(),
        OutboxSummary {
            pending: 2,
            failed: 0,
            oldest_pending: written
        }
    );

    // Nothing is due before the letters were written.
    assert!(
        deliver(&store, t0() - Duration::seconds(1), Delivery::Sent)
            .await
            .is_none()
    );

    // The oldest goes first; a temporary failure puts it back for later.
    let later = now + Duration::minutes(5);
    let retry = Delivery::Retry {
        at: later,
        error: "451 try again".into(),
    };
    let (first, _) = deliver(&store, now, retry).await.unwrap();
    let (second, _) = deliver(&store, now, Delivery::Sent).await.unwrap();
    assert_ne!(first.mail.id, second.mail.id);
    assert!(
        deliver(&store, now, Delivery::Sent).await.is_none(),
        "the retry is not due yet"
    );
    assert_eq!(
        store.next_mail_due().await.unwrap(),
        Some(cut_to_millis(later))
    );

    let all = outbox(&store, None).await;
    let get = |id: &str| all.iter().find(|m| m.mail.id == id).unwrap().clone();
    let waiting = get(&first.mail.id);
    assert_eq!(
        (
            waiting.status,
            waiting.attempts,
            waiting.next_attempt_at,
            waiting.last_error.as_str()
        ),
        (
            MailStatus::Pending,
            1,
            cut_to_millis(later),
            "451 try again"
        )
    );
    // The letter was rendered for its first attempt and is kept as rendered.
    assert_eq!(waiting.raw, b"R:\xe7\xac\xac1\xe8\xbd\xae".to_vec());
    assert_eq!(waiting.subject, format!("【{}】", reference(1)));
    let sent = get(&second.mail.id);
    assert_eq!(
        (sent.status, sent.attempts, sent.sent_at),
        (MailStatus::Sent, 1, Some(cut_to_millis(now)))
    );

    // Due again later; this time the server refuses it for good.
    let failed = Delivery::Failed {
        error: "550 no such mailbox".into(),
    };
    let (again, attempt) = deliver(&store, later, failed).await.unwrap();
    assert_eq!(
        (again.mail.id.as_str(), again.attempts),
        (first.mail.id.as_str(), 2),
        "the claim counts the attempt"
    );
    assert_eq!(attempt.rendered, None, "rendered once, sent as rendered");
    assert_eq!(again.raw, waiting.raw);
    assert!(
        deliver(&store, later + Duration::days(1), Delivery::Sent)
            .await
            .is_none()
    );
    assert_eq!(store.next_mail_due().await.unwrap(), None);
    assert_eq!(
        store.outbox_summary().await.unwrap(),
        OutboxSummary {
            pending: 0,
            failed: 1,
            oldest_pending: None
        }
    );
    let failed = outbox(&store, Some(MailStatus::Failed)).await;
    assert_eq!(failed.len(), 1);
    assert_eq!(
        (failed[0].attempts, failed[0].last_error.as_str()),
        (2, "550 no such mailbox")
    );

    // An operator retries it: pending again with fresh attempts, due at once.
    let retried = store.retry_mail(&first.mail.id, later).await.unwrap();
    assert_eq!((retried.status, retried.attempts), (MailStatus::Pending, 0));
    let (redelivered, _) = deliver(&store, later, Delivery::Sent).await.unwrap();
    assert_eq!(redelivered.mail.id, first.mail.id);
    assert_eq!(redelivered.raw, waiting.raw, "a resend is the same letter");

    let sent_again = store.retry_mail(&first.mail.id, later).await;
    assert!(
        matches!(&sent_again, Err(StoreError::Domain(DomainError::WrongState(m))) if m.contains("SENT")),
        "{sent_again:?}"
    );
    let unknown = store.retry_mail("nope", later).await;
    assert!(matches!(
        unknown,
        Err(StoreError::Domain(DomainError::NotFound {
            what: "mail",
            ..
        }))
    ));
}

async fn concurrent_workers_deliver_each_letter_once(store: Store) {
    for n in 0..6 {
        let id = format!("CP-{n}");
        let spec = Spec {
            petition_id: &id,
            ..Spec::default()
        };
        insert(&store, open_case(&spec), letters).await.unwrap();
    }
    let delivered = Arc::new(std::sync::Mutex::new(Vec::new()));
    let now = t0() + Duration::seconds(1);
    let workers = (0..4).map(|w| {
        let (store, delivered) = (store.clone(), delivered.clone());
        tokio::spawn(async move {
            let name = format!("worker-{w}");
            loop {
                let batch = store
                    .claim_mail(&name, now, lease(now, 1), 2)
                    .await
                    .unwrap();
                if batch.is_empty() {
                    break;
                }
                // A slow SMTP conversation: the others must claim other letters.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                let done: Vec<_> = batch
                    .into_iter()
                    .map(|mail| {
                        let attempt = attempted(&mail, Delivery::Sent);
                        (mail, attempt)
                    })
                    .collect();
                delivered
                    .lock()
                    .unwrap()
                    .extend(done.iter().map(|(m, _)| m.mail.id.clone()));
                let recorded = store.record_deliveries(&name, &done, now).await.unwrap();
                assert_eq!(recorded, done.len());
            }
        })
    });
    for w in workers.collect::<Vec<_>>() {
        w.await.unwrap();
    }
    let mut ids = delivered.lock().unwrap().clone();
    assert_eq!(ids.len(), 12, "every letter once: {ids:?}");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 12, "no letter twice");
    assert_eq!(outbox(&store, Some(MailStatus::Sent)).await.len(), 12);
}

async fn a_claimed_letter_waits_out_its_lease_and_goes_again_unchanged(store: Store) {
    for n in 0..3 {
        let id = format!("CP-{n}");
        let spec = Spec {
            petition_id: &id,
            ..Spec::default()
        };
        insert(&store, open_case(&spec), letters).await.unwrap();
    }
    let now = t0() + Duration::seconds(1);
    // Leases run on their own time line (real time in the workers).
    let t = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    let first = store.claim_mail("dead", now, lease(t, 1), 4).await.unwrap();
    assert_eq!(first.len(), 4, "a batch of the oldest, up to the limit");
    assert!(first.iter().all(|m| m.attempts == 1));
    // The worker dies here. While its lease holds, nobody else gets its letters.
    let second = store
        .claim_mail("alive", now, lease(t, 10), 10)
        .await
        .unwrap();
    assert_eq!(second.len(), 2, "only the letters nobody holds");
    assert!(
        second
            .iter()
            .all(|m| first.iter().all(|f| f.mail.id != m.mail.id))
    );
    let almost = t + Duration::seconds(59);
    let held = store
        .claim_mail("alive", now + Duration::days(1), lease(almost, 1), 10)
        .await
        .unwrap();
    assert!(
        held.is_empty(),
        "held until the lease ends, whatever the service's clock says"
    );
    assert_eq!(
        store.next_mail_due().await.unwrap(),
        None,
        "nothing to wake for while every letter is held"
    );

    // The lease ends: the same letters go again, as they were written.
    let later = t + Duration::minutes(1);
    let again = store
        .claim_mail("alive", now, lease(later, 1), 10)
        .await
        .unwrap();
    let ids = |batch: &[QueuedMail]| {
        batch
            .iter()
            .map(|m| (m.mail.id.clone(), m.mail.message_id.clone()))
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(ids(&again), ids(&first));
    assert!(again.iter().all(|m| m.attempts == 2));

    // The dead worker comes back to life: it no longer holds them, and its
    // outcomes are not recorded over the new holder's.
    let stale: Vec<_> = first
        .iter()
        .map(|m| (m.clone(), attempted(m, Delivery::Sent)))
        .collect();
    assert_eq!(
        store.record_deliveries("dead", &stale, now).await.unwrap(),
        0
    );
    let renewed = later + Duration::minutes(5);
    assert_eq!(
        store
            .extend_lease("dead", &ids_of(&first), renewed)
            .await
            .unwrap(),
        0
    );
    assert_eq!(outbox(&store, Some(MailStatus::Pending)).await.len(), 6);
    // The new holder renews its lease and records the batch in one write.
    assert_eq!(
        store
            .extend_lease("alive", &ids_of(&again), renewed)
            .await
            .unwrap(),
        4
    );
    let past_first_end = later + Duration::minutes(2);
    assert!(
        store
            .claim_mail("other", now, lease(past_first_end, 1), 10)
            .await
            .unwrap()
            .is_empty(),
        "a renewed lease holds past its first end"
    );
    let done: Vec<_> = again
        .iter()
        .map(|m| (m.clone(), attempted(m, Delivery::Sent)))
        .collect();
    assert_eq!(
        store.record_deliveries("alive", &done, now).await.unwrap(),
        4
    );
    let sent = outbox(&store, Some(MailStatus::Sent)).await;
    assert_eq!(sent.len(), 4);
    assert!(
        sent.iter()
            .all(|m| m.attempts == 2 && m.raw.starts_with(b"R:"))
    );
}

fn ids_of(batch: &[QueuedMail]) -> Vec<String> {
    batch.iter().map(|m| m.mail.id.clone()).collect()
}

async fn the_outbox_lists_by_status_and_pages(store: Store) {
    for n in 0..3 {
        let id = format!("CP-{n}");
        let spec = Spec {
            petition_id: &id,
            ..Spec::default()
        };
        insert(&store, open_case(&spec), letters).await.unwrap();
    }
    let now = t0() + Duration::seconds(1);
    deliver(&store, now, Delivery::Sent).await.unwrap();
    let all = outbox(&store, None).await;
    assert_eq!(all.len(), 6);
    let ids: Vec<_> = all.iter().map(|m| m.mail.id.clone()).collect();
    let mut newest_first = ids.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, newest_first);
    assert_eq!(outbox(&store, Some(MailStatus::Pending)).await.len(), 5);
    assert_eq!(outbox(&store, Some(MailStatus::Sent)).await.len(), 1);
    assert!(outbox(&store, Some(MailStatus::Failed)).await.is_empty());
    let bad = store.list_mail(None, &page(2, Some("zz".into()))).await;
    assert!(
        matches!(bad, Err(StoreError::Domain(DomainError::Invalid(v))) if v[0].field == "page_token")
    );
}

// ---- the reply channels ----------------------------------------------------------

/// As `letters`, each letter carrying a reply link whose digest is the
/// letter's id (the test reads it back by that).
fn linked_letters(before: Option<&Case>, after: &Case) -> Vec<OutgoingMail> {
    letters(before, after)
        .into_iter()
        .map(|mut m| {
            m.reply_link = Some(format!("digest-{}", m.id));
            m
        })
        .collect()
}

async fn reply_links_open_once_their_letter_commits(store: Store) {
    let Outcome::Created(case) = insert(&store, open_case(&Spec::default()), linked_letters)
        .await
        .unwrap()
    else {
        panic!("created")
    };
    let mail = outbox(&store, None).await;
    assert_eq!(mail.len(), 2);
    for m in &mail {
        let digest = m
            .mail
            .reply_link
            .clone()
            .unwrap_or(format!("digest-{}", m.mail.id));
        let link = store.reply_link(&digest).await.unwrap().expect("the link");
        assert_eq!(Some(link.request_id.as_str()), m.mail.request_id.as_deref());
        assert_eq!(link.created_at, cut_to_millis(t0()));
    }
    assert!(store.reply_link("digest-unknown").await.unwrap().is_none());

    // A change that is refused leaves no link behind.
    let housing = case.requests[0].id.clone();
    let mut tx = store.begin().await.unwrap();
    let before = tx.lock_case(&case.id).await.unwrap().unwrap();
    let mut after = before.clone();
    after
        .acknowledge(&ctx(&dept("housing"), t0()), &housing)
        .unwrap();
    let mut letter = linked_letters(None, &before).remove(0);
    letter.id = "late".into();
    letter.reply_link = Some("digest-rolled-back".into());
    tx.update_case(&before, &mut after, &[letter], &[])
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert!(
        store
            .reply_link("digest-rolled-back")
            .await
            .unwrap()
            .is_none()
    );
}

async fn form_keys_are_used_once_whatever_the_race(store: Store) {
    insert(&store, open_case(&Spec::default()), linked_letters)
        .await
        .unwrap();
    let digest = format!("digest-{}", outbox(&store, None).await[0].mail.id);
    let mut tx = store.begin().await.unwrap();
    tx.issue_form_key("key-1", &digest, t0()).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    assert_eq!(
        tx.use_form_key("key-1", "digest-other", t0())
            .await
            .unwrap(),
        FormKey::Unknown,
        "a key answers only for the link it was issued for"
    );
    assert_eq!(
        tx.use_form_key("forged", &digest, t0()).await.unwrap(),
        FormKey::Unknown
    );
    tx.rollback().await.unwrap();

    // Eight posts of one form at once: exactly one goes ahead.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (store, digest) = (store.clone(), digest.clone());
            tokio::spawn(async move {
                let mut tx = store.begin().await.unwrap();
                let got = tx.use_form_key("key-1", &digest, t0()).await.unwrap();
                tx.commit().await.unwrap();
                got
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    assert_eq!(
        outcomes.iter().filter(|o| **o == FormKey::Fresh).count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes.iter().all(|o| *o != FormKey::Unknown),
        "{outcomes:?}"
    );

    // A used key rolled back is fresh again; old keys are purged as new ones come.
    let mut tx = store.begin().await.unwrap();
    tx.issue_form_key("key-2", &digest, t0()).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert_eq!(
        tx.use_form_key("key-2", &digest, t0()).await.unwrap(),
        FormKey::Fresh
    );
    tx.rollback().await.unwrap();
    let later = t0() + links::FORM_KEY_LIFETIME + Duration::minutes(1);
    let mut tx = store.begin().await.unwrap();
    tx.issue_form_key("key-3", &digest, later).await.unwrap();
    assert_eq!(
        tx.use_form_key("key-2", &digest, later).await.unwrap(),
        FormKey::Unknown
    );
    tx.rollback().await.unwrap();
}

async fn replies_keep_their_details_and_attachments(store: Store) {
    let case = create(&store, &Spec::default()).await;
    let housing = case.requests[0].id.clone();
    let h = dept("housing");
    step(&store, &case.id, |c| {
        c.acknowledge(&ctx(&h, t0()), &housing)
    })
    .await;
    let content = b"%PDF-1.4 \x00\xff binary".to_vec();
    let file = StoredAttachment {
        id: "att-1".into(),
        request_id: housing.clone(),
        round: 1,
        filename: "整改报告.pdf".into(),
        content_type: "application/pdf".into(),
        sha256: "abc".into(),
        content: content.clone(),
        created_at: t0(),
    };
    let details = crate::domain::ReplyDetails {
        document_number: "区住建函〔2026〕88号".into(),
        replier_name: "刘科长".into(),
        replier_phone: "0818-2220001".into(),
        channel: crate::domain::Channel::Page,
        sender: String::new(),
        attachments: vec![crate::domain::Attachment {
            id: "att-1".into(),
            filename: "整改报告.pdf".into(),
            content_type: "application/pdf".into(),
            size: content.len() as u64,
            sha256: "abc".into(),
        }],
    };
    let mut tx = store.begin().await.unwrap();
    tx.insert_attachments(std::slice::from_ref(&file))
        .await
        .unwrap();
    let before = tx.lock_case(&case.id).await.unwrap().unwrap();
    let mut after = before.clone();
    let new = crate::domain::NewReply {
        text: reply("已办结"),
        details: details.clone(),
    };
    after.submit_reply(&ctx(&h, t0()), &housing, new).unwrap();
    tx.update_case(&before, &mut after, &[], &[]).await.unwrap();
    tx.commit().await.unwrap();

    let stored = store.get_case(&case.id).await.unwrap().unwrap();
    assert_eq!(stored.requests[0].replies[0].details, details);
    let listed = all_cases(&store, &CaseFilter::default(), 10).await;
    assert_eq!(
        listed[0].requests[0].replies[0].details, details,
        "lists carry them too"
    );
    let got = store.attachment("att-1").await.unwrap().expect("the file");
    assert_eq!(got.content, content);
    assert_eq!(got.request_id, housing);
    assert_eq!(got.filename, "整改报告.pdf");
    assert!(store.attachment("att-none").await.unwrap().is_none());
}

async fn inbound_mail_is_recorded_once_per_message(store: Store) {
    let case = create(&store, &Spec::default()).await;
    let housing = case.requests[0].id.clone();
    let record = |id: &str, message_id: &str| InboundRecord {
        id: id.into(),
        request_id: housing.clone(),
        message_id: message_id.chars().take(200).collect(),
        message_key: message_key(message_id),
        sender: "liu@housing.example".into(),
        subject: "Re: 函".into(),
        outcome: "REPLIED".into(),
        received_at: t0(),
        raw: b"Subject: Re\r\n\r\n\xff".to_vec(),
    };
    let mut tx = store.begin().await.unwrap();
    assert!(tx.record_inbound(&record("m1", "a@x")).await.unwrap());
    assert!(
        !tx.record_inbound(&record("m2", "a@x")).await.unwrap(),
        "the same message"
    );
    // Messages without a Message-ID cannot be told apart: each is kept.
    assert!(tx.record_inbound(&record("m3", "")).await.unwrap());
    assert!(tx.record_inbound(&record("m4", "")).await.unwrap());
    // Two long ids that share their first 200 characters are two messages,
    // though each is kept cut to them.
    let shared = "x".repeat(200);
    assert!(
        tx.record_inbound(&record("m5", &format!("{shared}1@x")))
            .await
            .unwrap()
    );
    assert!(
        tx.record_inbound(&record("m6", &format!("{shared}2@x")))
            .await
            .unwrap()
    );
    assert!(
        !tx.record_inbound(&record("m7", &format!("{shared}2@x")))
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    let kept = store.inbound_of_request(&housing).await.unwrap();
    assert_eq!(kept.len(), 5);
    assert_eq!(kept[0].raw, record("m1", "a@x").raw);
}

fn supervisor() -> Actor {
    Actor {
        name: "jiwei".into(),
        role: ActorRole::Supervisor,
    }
}

fn why(text: &str) -> crate::domain::ReasonText {
    crate::domain::ReasonText::parse("reason", text).unwrap()
}

async fn overdue_ids(store: &Store, at: DateTime<Utc>) -> Vec<String> {
    let page = store
        .list_overdue(&OverdueFilter::default(), &page(50, None), at)
        .await
        .unwrap();
    page.items.into_iter().map(|a| a.request.id).collect()
}

async fn supervision_decisions_round_trip_and_a_paused_request_is_not_overdue(store: Store) {
    use crate::domain::{ExtensionDecision, ExtensionStatus, Resolution, ReturnStatus};
    let org = org();
    let case = create(&store, &Spec::default()).await;
    let (housing, land) = (case.requests[0].id.clone(), case.requests[1].id.clone());
    let reply_due = case.requests[0].reply_due_at;
    let at = t0() + Duration::minutes(30);

    // An extension asked: stored whole, and the paused request is not overdue.
    let asked = reply_due + Duration::days(3);
    let case = step(&store, &case.id, |c| {
        c.ask_extension(
            &Ctx::new(&dept("housing"), &org, at, &SeededIds::default()),
            &housing,
            asked,
            why("需协调"),
        )
        .map(|_| ())
    })
    .await;
    assert_eq!(case.requests[0].extensions.len(), 1);
    assert!(case.requests[0].paused_since.is_some());
    let late = reply_due + Duration::days(1);
    let overdue = overdue_ids(&store, late).await;
    assert!(!overdue.contains(&housing), "{overdue:?}");
    assert!(overdue.contains(&land), "{overdue:?}");
    let ext = case.requests[0].extensions[0].id.clone();
    let case = step(&store, &case.id, |c| {
        c.decide_extension(
            &ctx_in(&org, &supervisor(), at + Duration::hours(2)),
            &ext,
            ExtensionDecision::parse(true, "同意").unwrap(),
        )
    })
    .await;
    assert_eq!(case.requests[0].reply_due_at, cut_to_millis(asked));
    assert_eq!(
        case.requests[0].extensions[0].status,
        ExtensionStatus::Approved
    );
    assert!(case.requests[0].deadline_history.len() >= 3);

    // A return by land, reassigned to lighting: a new request with a reference.
    let case = step(&store, &case.id, |c| {
        c.ask_return(&ctx_in(&org, &dept("land"), at), &land, why("非本部门职责"))
    })
    .await;
    assert_eq!(case.requests[1].status, RequestStatus::ReturnRequested);
    let case = step(&store, &case.id, |c| {
        c.resolve_return(
            &Ctx::new(&supervisor(), &org, at + Duration::hours(1), &OsIds),
            &land,
            Resolution::Reassign("lighting".into()),
            why("改派路灯所"),
        )
        .map(|_| ())
    })
    .await;
    assert_eq!(case.requests[1].status, RequestStatus::Returned);
    let ret = case.requests[1].return_ask.as_ref().unwrap();
    assert_eq!(ret.status, ReturnStatus::Reassigned);
    assert_eq!(ret.reassigned_to.as_ref(), Some(&case.requests[2].id));
    assert_eq!(
        case.requests[2].reference,
        Reference::Assigned(reference(3))
    );

    // Closed by override, and found by the filter.
    let case = step(&store, &case.id, |c| {
        c.override_close(
            &ctx(&supervisor(), at + Duration::hours(2)),
            why("超出政策范围"),
        )
    })
    .await;
    assert_eq!(case.status, CaseStatus::Closed);
    assert_eq!(
        case.closed_by_override.as_ref().map(|o| o.by.as_str()),
        Some("jiwei")
    );
    let other = create(
        &store,
        &Spec {
            petition_id: "CP-2026-0002",
            ..Spec::default()
        },
    )
    .await;
    let filter = CaseFilter {
        closed_by_override: true,
        ..Default::default()
    };
    let listed: Vec<String> = all_cases(&store, &filter, 10)
        .await
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(listed, std::slice::from_ref(&case.id));
    assert_ne!(other.id, case.id);
}

/// An alert about `case`, raised at `at`.
fn alert_about(case: &Case, key: &str, at: DateTime<Utc>) -> Alert {
    Alert {
        key: key.into(),
        kind: crate::domain::AlertKind::CaseReopened,
        level: 1,
        case_id: Some(case.id.clone()),
        request_id: None,
        office: Some(case.office.clone()),
        department: None,
        reference: None,
        round: 1,
        due_at: None,
        raised_at: at,
        summary: key.into(),
    }
}

/// The alert mailer's first run starts at the end of the feed. On PostgreSQL
/// the feed is in commit order, not id order: an alert written by a
/// transaction older than one already committed comes before it, so the end
/// is the last alert no running transaction can precede, not the highest id.
async fn a_reader_starting_at_the_feeds_end_misses_no_alert_an_older_transaction_commits(
    store: Store,
) {
    let first = create(&store, &Spec::default()).await;
    let second = create(
        &store,
        &Spec {
            petition_id: "CP-2026-0002",
            ..Spec::default()
        },
    )
    .await;
    let older = || async {
        let mut tx = store.begin().await.unwrap();
        let before = tx.lock_case(&first.id).await.unwrap().unwrap();
        let mut after = before.clone();
        after.updated_at = t0() + Duration::minutes(1);
        tx.update_case(
            &before,
            &mut after,
            &[],
            &[alert_about(&first, "older", t0())],
        )
        .await
        .unwrap();
        tx
    };
    let newer = || async {
        let mut tx = store.begin().await.unwrap();
        let before = tx.lock_case(&second.id).await.unwrap().unwrap();
        let mut after = before.clone();
        after.updated_at = t0() + Duration::minutes(2);
        tx.update_case(
            &before,
            &mut after,
            &[],
            &[alert_about(&second, "newer", t0())],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    };
    let start = match store {
        // One writer at a time: transactions commit in the order they began.
        Store::Sqlite(_) => {
            older().await.commit().await.unwrap();
            newer().await;
            let mut tx = store.begin().await.unwrap();
            let start = tx.last_alert_id().await.unwrap();
            assert!(!tx.alerts_not_yet_readable().await.unwrap());
            tx.rollback().await.unwrap();
            assert_eq!(start, 2, "both committed, in order");
            0
        }
        Store::Postgres(_) => {
            // The older transaction holds its place in the feed while a
            // newer one commits; a reader starting now must start before both.
            let held = older().await;
            newer().await;
            let mut tx = store.begin().await.unwrap();
            let start = tx.last_alert_id().await.unwrap();
            assert!(
                tx.alerts_not_yet_readable().await.unwrap(),
                "the newer alert is committed, not yet readable"
            );
            tx.rollback().await.unwrap();
            held.commit().await.unwrap();
            // Any transaction on the server older than both holds the feed
            // back too (another test's, another program's): wait it out.
            let waited = std::time::Instant::now();
            loop {
                let mut tx = store.begin().await.unwrap();
                let pending = tx.alerts_not_yet_readable().await.unwrap();
                tx.rollback().await.unwrap();
                if !pending {
                    break;
                }
                assert!(
                    waited.elapsed() < std::time::Duration::from_secs(60),
                    "both alerts committed, still not readable after a minute"
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            start
        }
    };
    let read: Vec<String> = store
        .alerts_after(start, 0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.alert.key)
        .collect();
    assert_eq!(read, ["older", "newer"]);
}

// ---- the hash chain over timelines ----------------------------------------------

/// A statement run behind the store's back, as someone with the database's
/// password could.
async fn behind_the_back(store: &Store, sql: &'static str, case_id: &str) {
    match store {
        Store::Sqlite(db) => sqlx::query(sql)
            .bind(case_id)
            .execute(&db.writer)
            .await
            .map(|_| ()),
        Store::Postgres(db) => sqlx::query(sql)
            .bind(case_id)
            .execute(&db.writer)
            .await
            .map(|_| ()),
    }
    .expect(sql);
}

async fn chain(store: &Store, case_id: &str) -> crate::domain::audit_chain::ChainReport {
    store.verify_case(case_id).await.unwrap().expect("the case")
}

/// Acknowledges and answers the case's first request, one command each.
async fn work_on(store: &Store, case: &Case, hour: i64) {
    let request = &case.requests[0];
    let d = dept(&request.department);
    let at = |h: i64| t0() + Duration::hours(hour + h);
    update(store, &case.id, |c| {
        c.acknowledge(&ctx(&d, at(0)), &request.id)
    })
    .await
    .unwrap();
    update(store, &case.id, |c| {
        c.submit_reply(&ctx(&d, at(1)), &request.id, reply("已办结"))
    })
    .await
    .unwrap();
}

async fn a_batch_of_chains_is_checked_as_each_case_alone(store: Store) {
    let mut ids = Vec::new();
    for petition_id in ["CP-2026-VB1", "CP-2026-VB2", "CP-2026-VB3"] {
        let spec = Spec {
            petition_id,
            ..Spec::default()
        };
        ids.push(create(&store, &spec).await.id);
    }
    behind_the_back(
        &store,
        "UPDATE events SET detail = 'forged' WHERE case_id = $1 AND seq = 1",
        &ids[1],
    )
    .await;
    let asked = [
        ids[2].clone(),
        "no-such-case".to_owned(),
        ids[0].clone(),
        ids[1].clone(),
    ];
    let batch = store.verify_cases(&asked).await.unwrap();
    let got: Vec<&String> = batch.iter().map(|(id, _)| id).collect();
    assert_eq!(got, [&ids[2], &ids[0], &ids[1]], "in the order asked");
    for (id, report) in &batch {
        assert_eq!(*report, chain(&store, id).await, "{id}");
    }
    assert!(batch[1].1.first_break.is_none());
    assert!(batch[2].1.first_break.is_some(), "the forged one");
    assert!(store.verify_cases(&[]).await.unwrap().is_empty());
}

async fn concurrent_writes_to_different_cases_keep_valid_chains(store: Store) {
    let ids: Vec<String> = (1..=6).map(|n| format!("CP-2026-CH{n:02}")).collect();
    let mut cases = Vec::new();
    for id in &ids {
        cases.push(
            create(
                &store,
                &Spec {
                    petition_id: id,
                    ..Spec::default()
                },
            )
            .await,
        );
    }
    let tasks: Vec<_> = cases
        .iter()
        .cloned()
        .enumerate()
        .map(|(n, case)| {
            let store = store.clone();
            tokio::spawn(async move { work_on(&store, &case, n as i64).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let mut heads = BTreeSet::new();
    for case in &cases {
        let stored = store.get_case(&case.id).await.unwrap().unwrap();
        let report = chain(&store, &case.id).await;
        assert!(report.holds(), "{report:?}");
        assert_eq!(report.checked as usize, stored.events.len());
        assert_eq!(report.checked as usize, case.events.len() + 2);
        heads.insert(report.head);
    }
    assert_eq!(heads.len(), cases.len(), "each case has a chain of its own");
}

/// What the one-time back-fill recorded: when it ran (none yet) and how many
/// events it chained.
async fn backfill_record(store: &Store) -> (Option<i64>, i64) {
    const SQL: &str = "SELECT done_at, events FROM chain_backfill WHERE id = 1";
    match store {
        Store::Sqlite(db) => sqlx::query_as(SQL).fetch_one(&db.writer).await,
        Store::Postgres(db) => sqlx::query_as(SQL).fetch_one(&db.writer).await,
    }
    .expect(SQL)
}

async fn chain_alerts(store: &Store, case_id: &str) -> Vec<Alert> {
    let filter = AlertFilter {
        kind: Some(crate::domain::AlertKind::ChainBroken),
        min_level: 0,
        office: None,
        department: None,
        case_id: Some(case_id.to_owned()),
        since: None,
    };
    let page = PageRequest {
        size: 50,
        after: None,
    };
    let alerts = store.list_alerts(&filter, &page).await.unwrap().items;
    alerts.into_iter().map(|a| a.alert).collect()
}

async fn events_from_before_the_chain_are_chained_once_and_never_again(store: Store) {
    // A fresh database: nothing to chain, and the back-fill is done.
    let (done_at, events) = backfill_record(&store).await;
    assert!(done_at.is_some() && events == 0, "{done_at:?} {events}");

    let case = create(&store, &Spec::default()).await;
    work_on(&store, &case, 1).await;
    let written = chain(&store, &case.id).await;
    assert!(written.holds(), "{written:?}");

    // A database an older version left: no chain at all, and the back-fill
    // still to run, as the migration that introduced it leaves it.
    behind_the_back(
        &store,
        "UPDATE events SET hash = NULL, prev_hash = NULL WHERE case_id = $1",
        &case.id,
    )
    .await;
    behind_the_back(
        &store,
        "UPDATE chain_backfill SET done_at = NULL WHERE CAST($1 AS TEXT) IS NOT NULL",
        &case.id,
    )
    .await;
    let unchained = chain(&store, &case.id).await;
    let b = unchained.first_break.expect("unchained");
    assert_eq!(
        (b.seq, b.problem),
        (1, crate::domain::audit_chain::ChainProblem::NotChained)
    );
    // The first start chains them, to the very same hashes, and records it.
    store.migrate().await.unwrap();
    assert_eq!(chain(&store, &case.id).await, written);
    let (done_at, events) = backfill_record(&store).await;
    assert!(done_at.is_some(), "the back-fill recorded when it ran");
    assert_eq!(events, written.checked as i64);

    // Later, someone edits an event and removes its hashes and those after
    // it: no start chains them again...
    behind_the_back(
        &store,
        "UPDATE events SET detail = detail || '（补）' WHERE case_id = $1 AND seq = 2",
        &case.id,
    )
    .await;
    behind_the_back(
        &store,
        "UPDATE events SET hash = NULL, prev_hash = NULL WHERE case_id = $1 AND seq >= 2",
        &case.id,
    )
    .await;
    store.migrate().await.unwrap();
    let broken = chain(&store, &case.id).await;
    let b = broken.first_break.clone().expect("still broken");
    assert_eq!(
        (b.seq, b.problem),
        (2, crate::domain::audit_chain::ChainProblem::NotChained)
    );
    assert!(chain_alerts(&store, &case.id).await.is_empty());

    // ...nor does the next change: it follows what is stored, and raises the
    // level-2 alert for the break it met.
    let land = case.requests[1].id.clone();
    let l = dept("land");
    update(&store, &case.id, |c| {
        c.acknowledge(&ctx(&l, t0() + Duration::hours(9)), &land)
    })
    .await
    .unwrap();
    let after = chain(&store, &case.id).await;
    assert_eq!(after.first_break, broken.first_break, "{after:?}");
    assert_eq!(after.checked, written.checked + 1);
    let alerts = chain_alerts(&store, &case.id).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].level, 2);
    assert_eq!(
        alerts[0].key,
        format!("chain-broken:{}:s2:not_chained", case.id)
    );

    // A check that finds the same break raises nothing new.
    assert!(
        !store
            .raise_chain_alert(&case.id, &after, t0())
            .await
            .unwrap()
    );
    assert_eq!(chain_alerts(&store, &case.id).await.len(), 1);
}
