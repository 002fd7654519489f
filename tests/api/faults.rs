//! Faults: what a street office and a department see when things break. The
//! server is killed in the middle of a load of retried escalations, PostgreSQL
//! goes away and comes back, the mail server is down for a while, and clients
//! misbehave (an oversized petition, a flood of calls from one key, connections
//! that open calls and never finish them). Nothing that was answered may be lost
//! or doubled, no call may hang, and the well-behaved callers keep being served.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::join_all;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::{Code, Status};
use whistle::domain::PageRequest;
use whistle::proto::{
    Case, EscalatePetitionRequest, GetCaseRequest, ListAssignedRequestsRequest, ListCasesRequest,
};
use whistle::store::MailStatus;

use crate::helpers::*;
use crate::smtp::Receiver;

/// Outbox workers of the killed server: each may hold one letter mid-send.
const MAIL_WORKERS: usize = 2;

per_backend!(
    escalations_retried_through_a_killed_server_open_each_case_once,
    letters_wait_out_a_mail_server_that_is_down_and_arrive_once,
);

/// The Message-ID of a request's first letter.
fn first_letter(request_id: &str) -> String {
    format!("<{request_id}.r1.issued@whistle.localhost>")
}

/// A database of its own for a binary: a file in `dir`, or a fresh schema.
async fn fresh_database(backend: Backend, dir: &std::path::Path) -> Option<String> {
    match backend {
        Backend::Sqlite => Some(whistle::store::testing::sqlite_url(dir)),
        Backend::Postgres => whistle::store::testing::fresh_postgres_url().await,
    }
}

/// Every case the office's ledger holds, page by page.
async fn whole_ledger(office: &mut CaseClient) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut page_token = String::new();
    for _ in 0..100 {
        let page = office
            .list_cases(ListCasesRequest {
                page_size: 500,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .expect("listing the ledger")
            .into_inner();
        cases.extend(page.cases);
        if page.next_page_token.is_empty() {
            return cases;
        }
        page_token = page.next_page_token;
    }
    panic!("the ledger did not end within 100 pages");
}

// ---------------------------------------------------------------------------
// Kill -9 under load
// ---------------------------------------------------------------------------

/// Which server a client should talk to now, and which one it is (0 before the
/// kill, 1 after the restart).
type Current = Arc<Mutex<(String, u32)>>;

/// What an office system's retry loop got in the end for one petition.
#[derive(Debug)]
struct Answered {
    petition_id: String,
    case: Case,
    /// The server that answered: 0 the one killed, 1 its replacement.
    server: u32,
}

/// Failures a careful office system retries: the server is gone or going
/// (connection refused or reset, a timeout), the database is unavailable, or a
/// concurrent change won.
fn worth_a_retry(status: &Status) -> bool {
    match status.code() {
        Code::Unavailable
        | Code::Unknown
        | Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::ResourceExhausted => true,
        // h2 reports a connection torn down mid-call as INTERNAL; the server's own
        // INTERNAL ("internal error") is a bug and is not retried.
        Code::Internal => status.message() != "internal error",
        _ => false,
    }
}

/// Escalates `petition` until some server answers it, through refused
/// connections, resets and the restart; gives up after `deadline`.
async fn escalate_until_answered(
    current: &Current,
    petition: EscalatePetitionRequest,
    deadline: Instant,
) -> Result<Answered, String> {
    let mut last = String::new();
    while Instant::now() < deadline {
        let (addr, server) = current.lock().unwrap().clone();
        let mut office = cases_at(&addr, OFFICE_KEY);
        match tokio::time::timeout(
            Duration::from_secs(5),
            office.escalate_petition(petition.clone()),
        )
        .await
        {
            Ok(Ok(response)) => {
                return Ok(Answered {
                    petition_id: petition.petition_id,
                    case: response.into_inner(),
                    server,
                });
            }
            Ok(Err(status)) if worth_a_retry(&status) => {
                last = format!("{:?}: {}", status.code(), status.message());
            }
            Ok(Err(status)) => {
                return Err(format!(
                    "{} was answered {:?}: {}",
                    petition.petition_id,
                    status.code(),
                    status.message()
                ));
            }
            Err(_) => last = "no answer within 5 s".into(),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!(
        "{} was never answered; last: {last}",
        petition.petition_id
    ))
}

/// Lists of petitions; two office systems work through each list at once, so
/// every petition is escalated concurrently by two callers, and retried by both.
const LISTS: usize = 3;
const CLIENTS_PER_LIST: usize = 2;
const PETITIONS_PER_LIST: usize = 20;

async fn escalations_retried_through_a_killed_server_open_each_case_once(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(database_url) = fresh_database(backend, dir.path()).await else {
        return;
    };
    let receiver = Receiver::start();
    let mut env = receiver.settings();
    // One office's systems make all these calls; the per-key limit has its own test.
    env.push(("WHISTLE__GRPC__RATE_LIMIT_PER_SECOND", "0".into()));
    env.push(("WHISTLE__MAIL__WORKERS", MAIL_WORKERS.to_string()));
    let (mut first, addr) = start_binary(&database_url, dir.path(), &env).await;
    let current: Current = Arc::new(Mutex::new((addr, 0)));

    let answered = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(40);
    let clients: Vec<_> = (0..LISTS * CLIENTS_PER_LIST)
        .map(|client| {
            let list = client % LISTS;
            let current = current.clone();
            let answered = answered.clone();
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                for n in 0..PETITIONS_PER_LIST {
                    let petition = property_certificate(&format!("KILL-{list}-{n:02}"));
                    let outcome = escalate_until_answered(&current, petition, deadline).await;
                    if outcome.is_ok() {
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                    outcomes.push(outcome);
                }
                outcomes
            })
        })
        .collect();
    let total = LISTS * CLIENTS_PER_LIST * PETITIONS_PER_LIST;

    // Kill the server once a third of the answers are in, while the rest are
    // in flight, and start another on the same database.
    let until = Instant::now() + Duration::from_secs(20);
    while answered.load(Ordering::SeqCst) < total / 3 {
        assert!(Instant::now() < until, "the load did not get going");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.start_kill().unwrap();
    first.wait().await.unwrap();
    let answered_at_kill = answered.load(Ordering::SeqCst);
    let (mut second, addr) = start_binary(&database_url, dir.path(), &env).await;
    *current.lock().unwrap() = (addr.clone(), 1);

    let mut by_petition: BTreeMap<String, Vec<Answered>> = BTreeMap::new();
    let mut failures = Vec::new();
    for client in join_all(clients).await {
        for outcome in client.expect("a client task") {
            match outcome {
                Ok(a) => by_petition
                    .entry(a.petition_id.clone())
                    .or_default()
                    .push(a),
                Err(e) => failures.push(e),
            }
        }
    }
    assert!(failures.is_empty(), "unanswered escalations: {failures:#?}");
    assert!(
        answered_at_kill < total,
        "every escalation was answered before the kill; nothing was in flight"
    );
    let before: usize = by_petition
        .values()
        .flatten()
        .filter(|a| a.server == 0)
        .count();
    assert!(
        before > 0 && before < total,
        "answers from both servers: {before} of {total} before the kill"
    );

    // Both callers of a petition were answered with the same case; and asking the
    // new server again now, after the kill, still gives that case.
    let mut office = cases_at(&addr, OFFICE_KEY);
    let mut answered_cases: BTreeMap<String, Case> = BTreeMap::new();
    for (petition_id, answers) in &by_petition {
        assert_eq!(answers.len(), CLIENTS_PER_LIST, "{petition_id}");
        let ids: BTreeSet<&str> = answers.iter().map(|a| a.case.id.as_str()).collect();
        assert_eq!(
            ids.len(),
            1,
            "{petition_id} was answered with different cases: {:?}",
            answers
                .iter()
                .map(|a| (&a.case.id, a.server))
                .collect::<Vec<_>>()
        );
        let again = office
            .escalate_petition(property_certificate(petition_id))
            .await
            .unwrap_or_else(|s| panic!("escalating {petition_id} again: {s:?}"))
            .into_inner();
        assert_eq!(
            again.id, answers[0].case.id,
            "{petition_id}: the case answered before the kill is the case after it"
        );
        let references = |c: &Case| {
            c.requests
                .iter()
                .map(|r| r.reference.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            references(&again),
            references(&answers[0].case),
            "{petition_id}"
        );
        answered_cases.insert(petition_id.clone(), again);
    }
    assert_eq!(answered_cases.len(), LISTS * PETITIONS_PER_LIST);

    // The ledger: each answered escalation exactly once, nothing else.
    let ledger = whole_ledger(&mut office).await;
    let mut petitions: Vec<&str> = ledger.iter().map(|c| c.petition_id.as_str()).collect();
    petitions.sort();
    let unique: BTreeSet<&str> = petitions.iter().copied().collect();
    assert_eq!(
        petitions.len(),
        unique.len(),
        "a petition opened twice: {petitions:?}"
    );
    assert_eq!(
        unique,
        answered_cases
            .keys()
            .map(String::as_str)
            .collect::<BTreeSet<_>>()
    );
    for case in &ledger {
        assert_eq!(case.id, answered_cases[&case.petition_id].id);
    }

    // Reference numbers: none twice, and none skipped by a transaction the kill cut short.
    let mut numbers: Vec<u32> = ledger
        .iter()
        .flat_map(|c| &c.requests)
        .map(|r| parse_reference(&r.reference).2)
        .collect();
    numbers.sort();
    assert_eq!(
        numbers,
        (1..=numbers.len() as u32).collect::<Vec<_>>(),
        "reference numbers unique and gap-free"
    );

    // Every letter those cases caused arrives; a letter caught mid-send by the kill
    // may come twice, as the same Message-ID, and nothing else does.
    let expected: BTreeSet<String> = ledger
        .iter()
        .flat_map(|c| &c.requests)
        .map(|r| first_letter(&r.id))
        .collect();
    receiver
        .wait_until(Duration::from_secs(30), "every letter", |received| {
            let ids: BTreeSet<String> = received.iter().map(|m| m.message_id()).collect();
            expected.is_subset(&ids)
        })
        .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let received: Vec<String> = receiver.received().iter().map(|m| m.message_id()).collect();
    let strangers: Vec<&String> = received
        .iter()
        .filter(|id| !expected.contains(*id))
        .collect();
    assert!(
        strangers.is_empty(),
        "letters no case caused: {strangers:?}"
    );
    assert!(
        received.len() <= expected.len() + MAIL_WORKERS,
        "only the letters in flight at the kill (one per worker) may come twice: {} letters for {} expected",
        received.len(),
        expected.len()
    );

    second.start_kill().unwrap();
    second.wait().await.unwrap();
}

// ---------------------------------------------------------------------------
// The mail server is down for a while
// ---------------------------------------------------------------------------

async fn letters_wait_out_a_mail_server_that_is_down_and_arrive_once(backend: Backend) {
    // A port nothing listens on: connections to it are refused until the
    // receiver starts there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut env = Receiver::settings_for_port(port);
    // Plenty of attempts: this is about waiting, not about giving up.
    env.push(("WHISTLE__MAIL__RETRY__MAX_ATTEMPTS", "30".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let Some(app) = spawn_app_with(backend, None, &env).await else {
        return;
    };
    let mut expected = BTreeSet::new();
    for n in 0..4 {
        let case = app
            .escalate(property_certificate(&format!("SMTP-DOWN-{n}")))
            .await;
        expected.extend(case.requests.iter().map(|r| first_letter(&r.id)));
    }
    assert_eq!(expected.len(), 8);

    // Past a couple of retry periods (1 s), the letters wait in the outbox,
    // each tried more than once and none given up.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let store = app.store().await;
    let page = PageRequest {
        size: 100,
        after: None,
    };
    let queued = store.list_mail(None, &page).await.unwrap().items;
    assert_eq!(queued.len(), 8, "{queued:?}");
    for mail in &queued {
        assert_eq!(mail.status, MailStatus::Pending, "{mail:?}");
        assert!(mail.attempts >= 2, "retried while down: {mail:?}");
        assert!(!mail.last_error.is_empty(), "{mail:?}");
    }

    // The mail server comes up on that port: every letter arrives, once.
    let receiver = Receiver::start_on(port);
    receiver
        .wait_until(Duration::from_secs(20), "every queued letter", |received| {
            received.len() >= expected.len()
        })
        .await;
    // Give a stray duplicate time to show up before counting.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let received: Vec<String> = receiver.received().iter().map(|m| m.message_id()).collect();
    let mut sorted = received.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        expected.iter().cloned().collect::<Vec<_>>(),
        "each letter exactly once"
    );
    let sent = store.list_mail(None, &page).await.unwrap().items;
    assert!(
        sent.iter()
            .all(|m| m.status == MailStatus::Sent && m.sent_at.is_some()),
        "{sent:?}"
    );
    store.close().await;
}

// ---------------------------------------------------------------------------
// PostgreSQL stopped and started under load
// ---------------------------------------------------------------------------

/// A PostgreSQL server of the test's own, from the machine's server binaries, on
/// a free port, so that stopping it disturbs no other test. Stopped when dropped.
struct PrivatePostgres {
    bin: std::path::PathBuf,
    /// Holds the data directory and the socket; owned by `postgres` under root.
    dir: tempfile::TempDir,
    port: u16,
    as_postgres: bool,
}

impl PrivatePostgres {
    /// `None` when the machine has no PostgreSQL server binaries.
    async fn start() -> Option<PrivatePostgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
            .max()?;
        let dir = tempfile::tempdir().unwrap();
        // initdb and postgres refuse to run as root.
        let as_postgres = std::process::Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        if as_postgres {
            let status = std::process::Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success(), "chown of the private PostgreSQL folder");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = PrivatePostgres {
            bin,
            dir,
            port,
            as_postgres,
        };
        let data = pg.data();
        pg.run(
            "initdb",
            &["-A", "trust", "-U", "postgres", "--no-sync", "-D", &data],
        )
        .await;
        pg.start_server().await;
        Some(pg)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn command(&self, program: &str, args: &[&str]) -> std::process::Command {
        let program = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            std::process::Command::new(program)
        };
        command
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        command
    }

    async fn run(&self, program: &str, args: &[&str]) {
        let mut command = tokio::process::Command::from(self.command(program, args));
        let output = tokio::time::timeout(Duration::from_secs(60), command.output())
            .await
            .unwrap_or_else(|_| panic!("{program} {args:?} took over 60 s"))
            .unwrap_or_else(|e| panic!("running {program}: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    async fn start_server(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let data = self.data();
        let log = self.dir.path().join("log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "start", "-w", "-t", "30", "-D", &data, "-l", &log, "-o", &options,
            ],
        )
        .await;
    }

    async fn stop_server(&self) {
        let data = self.data();
        self.run("pg_ctl", &["stop", "-m", "immediate", "-w", "-D", &data])
            .await;
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self
            .command("pg_ctl", &["stop", "-m", "immediate", "-D", &data])
            .status();
    }
}

/// How long a call may take while the database is down: the acquire timeout
/// this test sets (2 s) and some slack, not the minutes of a hung connect.
const FAIL_FAST: Duration = Duration::from_secs(4);

/// One timed call and how it ended.
#[derive(Debug)]
struct Timed {
    took: Duration,
    code: Code,
}

async fn timed<T>(
    call: impl std::future::Future<Output = Result<tonic::Response<T>, Status>>,
) -> Timed {
    let started = Instant::now();
    let code = match tokio::time::timeout(Duration::from_secs(15), call).await {
        Ok(Ok(_)) => Code::Ok,
        Ok(Err(status)) => status.code(),
        Err(_) => Code::DeadlineExceeded,
    };
    Timed {
        took: started.elapsed(),
        code,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_postgres_is_down_calls_fail_fast_and_succeed_once_it_is_back() {
    let Some(pg) = PrivatePostgres::start().await else {
        eprintln!("skipped: no PostgreSQL server binaries under /usr/lib/postgresql");
        return;
    };
    let app = spawn_app_at(
        tempfile::tempdir().unwrap(),
        &pg.url(),
        None,
        &[
            ("WHISTLE__DATABASE__ACQUIRE_TIMEOUT_SECS", "2"),
            ("WHISTLE__GRPC__RATE_LIMIT_PER_SECOND", "0"),
        ],
    )
    .await;
    let case = app.escalate(property_certificate("PG-DOWN-0")).await;

    // Offices keep reading all along; every call of theirs is timed.
    let stop = tokio_util::sync::CancellationToken::new();
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let mut office = app.office();
            let stop = stop.clone();
            let case_id = case.id.clone();
            tokio::spawn(async move {
                let mut calls = Vec::new();
                while !stop.is_cancelled() && calls.len() < 2000 {
                    let call = office.get_case(GetCaseRequest {
                        case_id: case_id.clone(),
                    });
                    calls.push(timed(call).await);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                calls
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    pg.stop_server().await;
    // Twice, so the second round also meets a pool the first one left behind.
    for round in 0..2 {
        let escalations = (0..4).map(|n| {
            let mut office = app.office();
            async move {
                let petition = property_certificate(&format!("PG-DOWN-{round}-{n}"));
                timed(office.escalate_petition(petition)).await
            }
        });
        let reads = (0..4).map(|_| {
            let mut office = app.office();
            let case_id = case.id.clone();
            async move { timed(office.get_case(GetCaseRequest { case_id })).await }
        });
        let (escalations, reads) = futures::join!(join_all(escalations), join_all(reads));
        for call in escalations.iter().chain(&reads) {
            assert_eq!(call.code, Code::Unavailable, "round {round}: {call:?}");
            assert!(call.took < FAIL_FAST, "round {round}: {call:?}");
        }
    }

    // Back up: the same service, not restarted, serves again within a bound.
    pg.start_server().await;
    let back = Instant::now();
    let recovered = loop {
        let call = timed(
            app.office()
                .escalate_petition(property_certificate("PG-DOWN-1-0")),
        )
        .await;
        if call.code == Code::Ok {
            break back.elapsed();
        }
        assert_eq!(call.code, Code::Unavailable, "{call:?}");
        assert!(
            back.elapsed() < Duration::from_secs(15),
            "still failing 15 s after PostgreSQL came back: {call:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(app.case(&case.id).await.id, case.id);
    // The escalations refused while it was down go through now, once each.
    for round in 0..2 {
        for n in 0..4 {
            app.escalate(property_certificate(&format!("PG-DOWN-{round}-{n}")))
                .await;
        }
    }
    let ledger = whole_ledger(&mut app.office()).await;
    assert_eq!(ledger.len(), 9, "PG-DOWN-0 and eight retried escalations");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.cancel();

    let calls: Vec<Timed> = join_all(readers)
        .await
        .into_iter()
        .flat_map(|r| r.expect("a reader task"))
        .collect();
    let slow: Vec<&Timed> = calls.iter().filter(|c| c.took >= FAIL_FAST).collect();
    assert!(slow.is_empty(), "calls that hung: {slow:?}");
    let odd: Vec<&Timed> = calls
        .iter()
        .filter(|c| !matches!(c.code, Code::Ok | Code::Unavailable))
        .collect();
    assert!(odd.is_empty(), "only OK or UNAVAILABLE: {odd:?}");
    assert!(calls.iter().any(|c| c.code == Code::Unavailable));
    assert_eq!(
        calls.last().map(|c| c.code),
        Some(Code::Ok),
        "the readers are served again (recovered after {recovered:?})"
    );
}

// ---------------------------------------------------------------------------
// Abuse
// ---------------------------------------------------------------------------

async fn sqlite_app(extra_env: &[(&str, &str)]) -> TestApp {
    spawn_app_with(Backend::Sqlite, None, extra_env)
        .await
        .expect("SQLite is always there")
}

/// A petition whose description alone is 2 MiB, twice `grpc.max_message_bytes`.
fn oversized_petition(petition_id: &str) -> EscalatePetitionRequest {
    EscalatePetitionRequest {
        description: "溢".repeat(2 * 1024 * 1024 / 3 + 1), // 3 bytes each in UTF-8
        ..property_certificate(petition_id)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_petition_is_refused_and_the_server_keeps_answering() {
    let app = sqlite_app(&[]).await;
    let started = Instant::now();
    let status = app
        .office()
        .escalate_petition(oversized_petition("HUGE-1"))
        .await
        .expect_err("a 2 MiB petition is refused");
    assert!(
        status.message().contains("too large"),
        "{:?}: {}",
        status.code(),
        status.message()
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    // The same connection, and a new one, are still served.
    let case = app.escalate(property_certificate("HUGE-2")).await;
    assert_eq!(app.case(&case.id).await.petition_id, "HUGE-2");
    cases_at(&app.addr.to_string(), OFFICE_KEY)
        .get_case(GetCaseRequest {
            case_id: case.id.clone(),
        })
        .await
        .expect("a new connection is served");
    let ledger = whole_ledger(&mut app.office()).await;
    assert_eq!(
        ledger.len(),
        1,
        "nothing of the oversized petition was kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_petition_is_answered_out_of_range() {
    let app = sqlite_app(&[]).await;
    // As the README's table of errors says for grpc.max_message_bytes (tonic's code).
    let status = refused(
        app.office()
            .escalate_petition(oversized_petition("HUGE-1"))
            .await,
        Code::OutOfRange,
    );
    assert!(
        status.message().contains("too large"),
        "{}",
        status.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_key_is_throttled_while_other_keys_are_served() {
    let app = sqlite_app(&[
        ("WHISTLE__GRPC__RATE_LIMIT_PER_SECOND", "5"),
        ("WHISTLE__GRPC__RATE_LIMIT_BURST", "10"),
    ])
    .await;
    let case = app.escalate(property_certificate("FLOOD-1")).await;

    let started = Instant::now();
    let flood = (0..50).map(|_| {
        let mut office = app.office();
        let case_id = case.id.clone();
        async move { office.get_case(GetCaseRequest { case_id }).await }
    });
    let department = (0..5).map(|_| {
        let mut housing = app.department("housing");
        async move {
            housing
                .list_assigned_requests(ListAssignedRequestsRequest::default())
                .await
        }
    });
    let (flood, department) = futures::join!(join_all(flood), join_all(department));
    let elapsed = started.elapsed();

    for answer in &department {
        assert!(answer.is_ok(), "another key is served: {answer:?}");
    }
    let ok = flood.iter().filter(|r| r.is_ok()).count();
    let throttled: Vec<&Status> = flood.iter().filter_map(|r| r.as_ref().err()).collect();
    for status in &throttled {
        assert_eq!(
            status.code(),
            Code::ResourceExhausted,
            "{}",
            status.message()
        );
    }
    // The burst (less the escalation), plus what trickled in meanwhile.
    let allowed = 10 + (5.0 * elapsed.as_secs_f64()).ceil() as usize;
    assert!(
        ok >= 5 && ok <= allowed,
        "{ok} of 50 served in {elapsed:?}; at most {allowed} allowed"
    );
    assert!(!throttled.is_empty(), "some of the flood is throttled");

    // A little later the office's allowance is back.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    app.case(&case.id).await;
}

/// The first frames of an HTTP/2 connection: the preface and empty SETTINGS.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// A frame: 24-bit length, type, flags, stream id.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = len.to_be_bytes()[1..].to_vec();
    f.extend([kind, flags]);
    f.extend(stream.to_be_bytes());
    f.extend(payload);
    f
}

/// The request headers of a GetCase call, HPACK-encoded as literals (no
/// indexing, no Huffman) so no encoder is needed.
fn get_case_headers(authority: &str) -> Vec<u8> {
    let bearer = format!("Bearer {OFFICE_KEY}");
    let headers = [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/whistle.v1.CaseService/GetCase"),
        (":authority", authority),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        ("authorization", bearer.as_str()),
    ];
    let mut block = Vec::new();
    for (name, value) in headers {
        assert!(name.len() < 127 && value.len() < 127);
        block.push(0);
        block.push(name.len() as u8);
        block.extend(name.as_bytes());
        block.push(value.len() as u8);
        block.extend(value.as_bytes());
    }
    block
}

/// Opens a connection that starts `streams` GetCase calls, sends the first ten
/// bytes of a hundred-byte message on each, and never sends the rest.
async fn stalled_connection(
    addr: std::net::SocketAddr,
    streams: u32,
) -> std::io::Result<TcpStream> {
    let mut tcp = TcpStream::connect(addr).await?;
    let mut bytes = PREFACE.to_vec();
    let headers = get_case_headers(&addr.to_string());
    let mut partial = vec![0u8, 0, 0, 0, 100];
    partial.extend([0u8; 10]);
    for n in 0..streams {
        let stream = 2 * n + 1;
        bytes.extend(frame(0x1, 0x4, stream, &headers)); // HEADERS, END_HEADERS
        bytes.extend(frame(0x0, 0x0, stream, &partial)); // DATA, not END_STREAM
    }
    tcp.write_all(&bytes).await?;
    Ok(tcp)
}

/// Reads whatever the server sends on `tcp`, so that it never blocks writing,
/// until the server closes the connection; the flag says it did.
fn hold(mut tcp: TcpStream) -> (Arc<AtomicBool>, tokio::task::JoinHandle<()>) {
    let closed = Arc::new(AtomicBool::new(false));
    let flag = closed.clone();
    let task = tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        while let Ok(n) = tcp.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
        flag.store(true, Ordering::SeqCst);
    });
    (closed, task)
}

/// Connections that never get as far as a call: half of them stop halfway
/// through the HTTP/2 preface, half never say a word.
async fn silent_connections(addr: std::net::SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for i in 0..n {
        let mut tcp = TcpStream::connect(addr).await.expect("connecting");
        if i % 2 == 0 {
            tcp.write_all(&PREFACE[..10]).await.unwrap();
        }
        held.push(tcp);
    }
    held
}

/// How many of the held connections the server has closed.
fn closed(held: &[(Arc<AtomicBool>, tokio::task::JoinHandle<()>)]) -> usize {
    held.iter()
        .filter(|(c, _)| c.load(Ordering::SeqCst))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_finish_their_calls_do_not_keep_others_waiting() {
    let app = sqlite_app(&[]).await;
    let case = app.escalate(property_certificate("SLOW-1")).await;

    // 200 calls left hanging on 20 connections, and 100 connections that never
    // get as far as a call.
    let mut held = Vec::new();
    for _ in 0..20 {
        let tcp = stalled_connection(app.addr, 10).await.expect("connecting");
        held.push(hold(tcp));
    }
    held.extend(
        silent_connections(app.addr, 100)
            .await
            .into_iter()
            .map(hold),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A normal office system, on its existing connection and on a new one.
    for round in 0..3 {
        let started = Instant::now();
        app.case(&case.id).await;
        cases_at(&app.addr.to_string(), OFFICE_KEY)
            .get_case(GetCaseRequest {
                case_id: case.id.clone(),
            })
            .await
            .expect("a new connection is served");
        app.escalate(property_certificate(&format!("SLOW-{}", round + 2)))
            .await;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "round {round} took {:?} beside the stalled clients",
            started.elapsed()
        );
    }
    assert_eq!(
        closed(&held),
        0,
        "the stalled clients were all still there while the others were served"
    );
    for (_, task) in held {
        task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_stop_answering_pings_are_closed() {
    let app = sqlite_app(&[
        ("WHISTLE__GRPC__KEEPALIVE_INTERVAL_SECS", "1"),
        ("WHISTLE__GRPC__KEEPALIVE_TIMEOUT_SECS", "1"),
    ])
    .await;
    let mut held = Vec::new();
    for _ in 0..20 {
        let tcp = stalled_connection(app.addr, 10).await.expect("connecting");
        held.push(hold(tcp));
    }
    // A ping after a second, a second to answer it, and some slack.
    let until = Instant::now() + Duration::from_secs(6);
    while closed(&held) < held.len() {
        assert!(
            Instant::now() < until,
            "{} of {} unresponsive connections still open after 6 s",
            held.len() - closed(&held),
            held.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The office system, which answers pings, is still connected and served.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    app.escalate(property_certificate("PING-1")).await;
}

/// Opens a GetCase call whose request message never comes (the stream stays
/// open, empty) and returns how it ended and when.
async fn call_without_its_message(
    app: &TestApp,
) -> (Result<tonic::Response<Case>, Status>, Duration) {
    let mut grpc = tonic::client::Grpc::new(app.channel.clone());
    grpc.ready().await.expect("the channel is ready");
    let mut request = tonic::Request::new(futures::stream::pending::<GetCaseRequest>());
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {OFFICE_KEY}").parse().unwrap(),
    );
    let path =
        tonic::codegen::http::uri::PathAndQuery::from_static("/whistle.v1.CaseService/GetCase");
    let codec = tonic_prost::ProstCodec::<GetCaseRequest, Case>::default();
    let started = Instant::now();
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        grpc.client_streaming(request, path, codec),
    )
    .await
    .expect("the server gives up on the call within 10 s");
    (result, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_message_never_arrives_is_cut_off_at_the_request_timeout() {
    let app = sqlite_app(&[("WHISTLE__GRPC__REQUEST_TIMEOUT_SECS", "1")]).await;
    let (result, took) = call_without_its_message(&app).await;
    let status = result.expect_err("the call is not answered OK");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "cut off after {took:?}, expected about 1 s ({:?})",
        status.code()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_cut_off_at_the_request_timeout_is_answered_deadline_exceeded() {
    let app = sqlite_app(&[("WHISTLE__GRPC__REQUEST_TIMEOUT_SECS", "1")]).await;
    let (result, _) = call_without_its_message(&app).await;
    // As the README's table of errors promises for grpc.request_timeout_secs.
    refused(result, Code::DeadlineExceeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_never_speak_http2_are_closed() {
    let app = sqlite_app(&[
        ("WHISTLE__GRPC__HANDSHAKE_TIMEOUT_SECS", "1"),
        ("WHISTLE__GRPC__REQUEST_TIMEOUT_SECS", "1"),
        ("WHISTLE__GRPC__KEEPALIVE_INTERVAL_SECS", "1"),
        ("WHISTLE__GRPC__KEEPALIVE_TIMEOUT_SECS", "1"),
    ])
    .await;
    let held: Vec<_> = silent_connections(app.addr, 20)
        .await
        .into_iter()
        .map(hold)
        .collect();
    // Every timeout the server has is 1 s here; allow several times that.
    let until = Instant::now() + Duration::from_secs(6);
    while closed(&held) < held.len() {
        assert!(
            Instant::now() < until,
            "{} of {} connections that never sent the HTTP/2 preface still open after 6 s",
            held.len() - closed(&held),
            held.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
