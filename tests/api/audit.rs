//! The evidence a disciplinary review relies on, through the real server: a
//! case's timeline is hash-chained, so an event row changed, removed or
//! swapped behind the service's back (plain SQL on its database) is named by
//! VerifyCase, and stays named however the service is restarted or used
//! after; and supervisors list who was shown residents' unmasked details.

use sqlx::Connection;
use tonic::Code;

use whistle::domain::audit_chain::Link;
use whistle::proto::{
    AlertKind, Case, ChainProblem, GetCaseRequest, ListAlertsRequest, ListPersonalDataReadsRequest,
    PersonalDataRead, VerifyCaseRequest, VerifyCaseResponse,
};

use crate::helpers::*;

mod laundering {
    use super::*;
    scenarios!(a_chain_stripped_of_its_hashes_stays_broken_after_restart_and_change);
}

scenarios!(
    verify_case_names_the_first_event_changed_behind_the_service,
    only_supervisors_verify_and_unknown_cases_are_not_found,
    personal_data_reads_are_listed_newest_first_for_supervisors,
);

/// The app's database opened beside it, as someone holding its password.
pub(crate) enum Raw {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Raw {
    pub(crate) async fn open(app: &TestApp) -> Raw {
        Raw::at(&app.settings.database.url).await
    }

    pub(crate) async fn at(url: &str) -> Raw {
        if url.starts_with("sqlite:") {
            Raw::Sqlite(sqlx::SqliteConnection::connect(url).await.unwrap())
        } else {
            Raw::Postgres(sqlx::PgConnection::connect(url).await.unwrap())
        }
    }

    /// Runs `sql` with the texts bound as `$1`, `$2`, …
    pub(crate) async fn exec(&mut self, sql: &'static str, binds: &[&str]) {
        let affected = match self {
            Raw::Sqlite(c) => {
                let mut q = sqlx::query(sql);
                for b in binds {
                    q = q.bind(b.to_string());
                }
                q.execute(&mut *c).await.unwrap().rows_affected()
            }
            Raw::Postgres(c) => {
                let mut q = sqlx::query(sql);
                for b in binds {
                    q = q.bind(b.to_string());
                }
                q.execute(&mut *c).await.unwrap().rows_affected()
            }
        };
        assert!(affected > 0, "{sql} changed nothing");
    }

    /// An event row's chained values: kind, actor, at, request id, detail,
    /// prev hash.
    async fn event(&mut self, case_id: &str, seq: i32) -> EventRow {
        const SQL: &str = "SELECT kind, actor, at, request_id, detail, prev_hash \
                           FROM events WHERE case_id = $1 AND seq = $2";
        match self {
            Raw::Sqlite(c) => sqlx::query_as(SQL)
                .bind(case_id)
                .bind(seq)
                .fetch_one(&mut *c)
                .await
                .unwrap(),
            Raw::Postgres(c) => sqlx::query_as(SQL)
                .bind(case_id)
                .bind(seq)
                .fetch_one(&mut *c)
                .await
                .unwrap(),
        }
    }
}

type EventRow = (String, String, i64, Option<String>, String, String);

/// A case the office escalated, housing answered and the office accepted.
async fn worked_case(app: &TestApp, petition_id: &str) -> Case {
    let case = app.escalate(property_certificate(petition_id)).await;
    let housing = request_of(&case, "housing").id.clone();
    app.answer("housing", &housing, "已协调开发商补缴，月底发证。")
        .await;
    app.accept(&housing).await;
    app.case(&case.id).await
}

async fn verify(app: &TestApp, case_id: &str) -> VerifyCaseResponse {
    app.supervision()
        .verify_case(VerifyCaseRequest {
            case_id: case_id.into(),
        })
        .await
        .unwrap_or_else(|s| panic!("verifying {case_id}: {s:?}"))
        .into_inner()
}

/// The first bad event's seq, stream id, kind and problem.
fn first_break(answer: &VerifyCaseResponse) -> (u32, u64, String, ChainProblem) {
    let b = answer.first_break.as_ref().expect("a break");
    assert!(!answer.ok);
    (b.seq, b.event_id, b.kind.clone(), b.problem())
}

fn named(case: &Case, seq: usize, problem: ChainProblem) -> (u32, u64, String, ChainProblem) {
    let e = &case.events[seq - 1];
    // The stored spelling is the proto name without its prefix.
    let kind = e.kind().as_str_name().trim_start_matches("EVENT_KIND_");
    (seq as u32, e.id, kind.to_owned(), problem)
}

async fn verify_case_names_the_first_event_changed_behind_the_service(app: TestApp) {
    let edited = worked_case(&app, "A-CHAIN-1").await;
    let removed = worked_case(&app, "A-CHAIN-2").await;
    let swapped = worked_case(&app, "A-CHAIN-3").await;
    let rehashed = worked_case(&app, "A-CHAIN-4").await;
    let untouched = worked_case(&app, "A-CHAIN-5").await;
    assert!(edited.events.len() >= 5, "{:?}", edited.events);

    for case in [&edited, &removed, &swapped, &rehashed, &untouched] {
        let answer = verify(&app, &case.id).await;
        assert!(answer.ok && answer.first_break.is_none(), "{answer:?}");
        assert_eq!(answer.events_checked, case.events.len() as u64);
        assert_eq!(answer.head_hash.len(), 64);
    }
    let head = verify(&app, &untouched.id).await.head_hash;

    let mut db = Raw::open(&app).await;

    // A detail changed: that event is named.
    db.exec(
        "UPDATE events SET detail = detail || '（已改）' WHERE case_id = $1 AND seq = 3",
        &[&edited.id],
    )
    .await;
    assert_eq!(
        first_break(&verify(&app, &edited.id).await),
        named(&edited, 3, ChainProblem::ContentChanged)
    );

    // An event deleted: the one after the gap is named.
    db.exec(
        "DELETE FROM events WHERE case_id = $1 AND seq = 2",
        &[&removed.id],
    )
    .await;
    let answer = verify(&app, &removed.id).await;
    assert_eq!(
        first_break(&answer),
        named(&removed, 3, ChainProblem::EventMissing)
    );
    assert_eq!(answer.events_checked, removed.events.len() as u64 - 1);

    // Two actors swapped: the earlier of the two is named.
    let (first, last) = (&swapped.events[0].actor, &swapped.events[3].actor);
    assert_ne!(first, last);
    db.exec(
        "UPDATE events SET actor = $2 WHERE case_id = $1 AND seq = 1",
        &[&swapped.id, last],
    )
    .await;
    db.exec(
        "UPDATE events SET actor = $2 WHERE case_id = $1 AND seq = 4",
        &[&swapped.id, first],
    )
    .await;
    assert_eq!(
        first_break(&verify(&app, &swapped.id).await),
        named(&swapped, 1, ChainProblem::ContentChanged)
    );

    // An edit whose author also recomputed that event's hash: the next event
    // still names the old one.
    let (kind, actor, at, request_id, detail, prev) = db.event(&rehashed.id, 2).await;
    let detail = format!("{detail}（补记）");
    let hash = Link {
        case_id: &rehashed.id,
        seq: 2,
        kind: &kind,
        actor: &actor,
        at_millis: at,
        request_id: request_id.as_deref(),
        detail: &detail,
    }
    .hash(&prev);
    db.exec(
        "UPDATE events SET detail = $2, hash = $3 WHERE case_id = $1 AND seq = 2",
        &[&rehashed.id, &detail, &hash],
    )
    .await;
    assert_eq!(
        first_break(&verify(&app, &rehashed.id).await),
        named(&rehashed, 3, ChainProblem::LinkBroken)
    );

    // Another case's chain is its own; and the service goes on chaining.
    let answer = verify(&app, &untouched.id).await;
    assert!(answer.ok, "{answer:?}");
    assert_eq!(answer.head_hash, head);
    let land = request_of(&untouched, "land").id.clone();
    app.acknowledge("land", &land).await;
    let answer = verify(&app, &untouched.id).await;
    assert!(answer.ok, "{answer:?}");
    assert_eq!(answer.events_checked, untouched.events.len() as u64 + 1);
    assert_ne!(answer.head_hash, head);
}

async fn only_supervisors_verify_and_unknown_cases_are_not_found(app: TestApp) {
    let case = app.escalate(property_certificate("A-CHAIN-6")).await;
    let ask = |case_id: &str| VerifyCaseRequest {
        case_id: case_id.into(),
    };
    let office = app
        .supervision_as(OFFICE_KEY)
        .verify_case(ask(&case.id))
        .await;
    refused(office, Code::NotFound);
    let housing = app
        .supervision_as(&department_key("housing"))
        .verify_case(ask(&case.id))
        .await;
    refused(housing, Code::NotFound);
    for unknown in ["019a0000-0000-7000-8000-000000000000", "", "a\0b"] {
        let answer = app.supervision().verify_case(ask(unknown)).await;
        refused(answer, Code::NotFound);
    }
    assert!(verify(&app, &case.id).await.ok);
}

async fn reads(
    app: &TestApp,
    request: ListPersonalDataReadsRequest,
) -> (Vec<PersonalDataRead>, String) {
    let answer = app
        .supervision()
        .list_personal_data_reads(request)
        .await
        .unwrap_or_else(|s| panic!("listing reads: {s:?}"))
        .into_inner();
    (answer.reads, answer.next_page_token)
}

fn who(reads: &[PersonalDataRead]) -> Vec<(String, String, String)> {
    reads
        .iter()
        .map(|r| (r.case_id.clone(), r.reader.clone(), r.via.clone()))
        .collect()
}

async fn personal_data_reads_are_listed_newest_first_for_supervisors(app: TestApp) {
    let first = app.escalate(property_certificate("A-PII-L1")).await;
    let second = app.escalate(property_certificate("A-PII-L2")).await;
    let get = |id: &str| GetCaseRequest { case_id: id.into() };
    app.supervisor().get_case(get(&first.id)).await.unwrap();
    app.supervisor().get_case(get(&second.id)).await.unwrap();
    app.supervisor()
        .list_cases(whistle::proto::ListCasesRequest::default())
        .await
        .unwrap();

    let (all, next) = reads(&app, ListPersonalDataReadsRequest::default()).await;
    assert!(next.is_empty());
    let read = |case: &Case, via: &str| (case.id.clone(), "supervisor".to_owned(), via.to_owned());
    assert_eq!(
        who(&all),
        [
            read(&second, "ListCases"),
            read(&first, "ListCases"),
            read(&second, "GetCase"),
            read(&first, "GetCase"),
        ],
        "newest first"
    );
    assert!(all.iter().all(|r| r.at.is_some()));

    // Listing is not itself a read of personal data: nothing more is recorded.
    let (again, _) = reads(&app, ListPersonalDataReadsRequest::default()).await;
    assert_eq!(who(&again), who(&all));

    // Filters, each alone and together.
    let filtered = |case_id: &str, reader: &str| ListPersonalDataReadsRequest {
        case_id: case_id.into(),
        reader: reader.into(),
        ..Default::default()
    };
    let (of_first, _) = reads(&app, filtered(&first.id, "")).await;
    assert_eq!(
        who(&of_first),
        [read(&first, "ListCases"), read(&first, "GetCase")]
    );
    let (by_supervisor, _) = reads(&app, filtered("", "supervisor")).await;
    assert_eq!(who(&by_supervisor), who(&all));
    let (both, _) = reads(&app, filtered(&second.id, "supervisor")).await;
    assert_eq!(
        who(&both),
        [read(&second, "ListCases"), read(&second, "GetCase")]
    );
    let (nobody, _) = reads(&app, filtered(&first.id, "land-dept")).await;
    assert!(nobody.is_empty());
    let later = all[0].at.map(|mut t| {
        t.seconds += 3600;
        t
    });
    let (none, next) = reads(
        &app,
        ListPersonalDataReadsRequest {
            since: later,
            ..Default::default()
        },
    )
    .await;
    assert!(none.is_empty() && next.is_empty());
    let (since_first, _) = reads(
        &app,
        ListPersonalDataReadsRequest {
            since: all[3].at,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(who(&since_first), who(&all));

    // Pages of one, following the token, give the same list.
    let mut paged = Vec::new();
    let mut token = String::new();
    loop {
        let (page, next) = reads(
            &app,
            ListPersonalDataReadsRequest {
                page_size: 1,
                page_token: token,
                ..Default::default()
            },
        )
        .await;
        assert_eq!(page.len(), 1);
        paged.extend(page);
        if next.is_empty() {
            break;
        }
        token = next;
    }
    assert_eq!(who(&paged), who(&all));
    let bad = app
        .supervision()
        .list_personal_data_reads(ListPersonalDataReadsRequest {
            page_token: "not-a-token".into(),
            ..Default::default()
        })
        .await;
    invalid(bad, "page_token");

    // For supervisors only.
    let office = app
        .supervision_as(OFFICE_KEY)
        .list_personal_data_reads(ListPersonalDataReadsRequest::default())
        .await;
    refused(office, Code::PermissionDenied);
    let land = app
        .supervision_as(&department_key("land"))
        .list_personal_data_reads(ListPersonalDataReadsRequest::default())
        .await;
    refused(land, Code::PermissionDenied);
}

/// A database two instances of a scenario open one after the other: a file
/// in `dir`, or a fresh PostgreSQL schema.
async fn database(
    backend: Backend,
    dir: &std::path::Path,
) -> Option<whistle::store::testing::TestDatabase> {
    use whistle::store::testing::TestDatabase;
    match backend {
        Backend::Sqlite => Some(TestDatabase::sqlite(dir)),
        Backend::Postgres => TestDatabase::postgres().await,
    }
}

/// `whistle verify` run by an operator on `url`: its exit code and output.
fn whistle_verify(url: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_whistle"))
        .current_dir(dir.path())
        .env("WHISTLE__DATABASE__URL", url)
        .arg("verify")
        .output()
        .expect("running whistle verify");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Someone who can write the database edits an event and removes its hashes
/// and those of every later event, hoping the service will chain the forged
/// rows again. Before, the next start or the next change did; now neither
/// does, and the case, `whistle verify` and a level-2 alert name the break.
async fn a_chain_stripped_of_its_hashes_stays_broken_after_restart_and_change(backend: Backend) {
    let db = tempfile::tempdir().unwrap();
    let Some(database) = database(backend, db.path()).await else {
        return;
    };
    let url: &str = &database;
    let first = spawn_app_at(tempfile::tempdir().unwrap(), url, None, &[]).await;
    let case = worked_case(&first, "A-LAUNDER-1").await;
    let other = worked_case(&first, "A-LAUNDER-2").await;
    assert!(verify(&first, &case.id).await.ok);
    first.stop().await;

    let mut raw = Raw::at(url).await;
    raw.exec(
        "UPDATE events SET detail = '已于当日办结，群众满意' WHERE case_id = $1 AND seq = 3",
        &[&case.id],
    )
    .await;
    raw.exec(
        "UPDATE events SET hash = NULL, prev_hash = NULL WHERE case_id = $1 AND seq >= 3",
        &[&case.id],
    )
    .await;
    drop(raw);

    // A restart chains nothing, and an ordinary change follows what is there.
    let second = spawn_app_at(tempfile::tempdir().unwrap(), url, None, &[]).await;
    let land = request_of(&case, "land").id.clone();
    second.acknowledge("land", &land).await;
    let answer = verify(&second, &case.id).await;
    assert_eq!(
        first_break(&answer),
        named(&case, 3, ChainProblem::NotChained)
    );
    assert_eq!(answer.events_checked, case.events.len() as u64 + 1);
    assert!(
        answer
            .first_break
            .as_ref()
            .unwrap()
            .explanation
            .contains("hashes were removed"),
        "{answer:?}"
    );
    assert!(verify(&second, &other.id).await.ok, "other cases hold");

    // The supervisors are told, once, at level 2.
    let alerts = all_alerts(
        &mut second.supervision(),
        ListAlertsRequest {
            kind: AlertKind::ChainBroken as i32,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        (alerts[0].case_id.as_str(), alerts[0].level),
        (case.id.as_str(), 2)
    );
    assert!(
        alerts[0].summary.contains("第3条事件没有哈希"),
        "{}",
        alerts[0].summary
    );
    second.stop().await;

    // And the operator's check says so too, after another restart.
    let third = spawn_app_at(tempfile::tempdir().unwrap(), url, None, &[]).await;
    assert!(!verify(&third, &case.id).await.ok);
    third.stop().await;
    let (code, stdout) = whistle_verify(url);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("broken {}: seq 3 (event ", case.id))
            && stdout.contains("it has no hash"),
        "{stdout}"
    );
    assert!(
        stdout.contains("2 cases, ") && stdout.contains(": 1 broken"),
        "{stdout}"
    );
}
