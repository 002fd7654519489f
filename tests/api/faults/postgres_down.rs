//! A private PostgreSQL stopped and started under load: calls fail fast with
//! `UNAVAILABLE` and succeed again without a restart of the service.

use std::time::{Duration, Instant};

use futures::future::join_all;
use tonic::{Code, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use whistle::proto::GetCaseRequest;

use super::*;
use crate::helpers::*;

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

async fn timed<T>(call: impl Future<Output = Result<tonic::Response<T>, Status>>) -> Timed {
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

/// Waits until the server's health says `expected` (it asks the database
/// every second in this test).
async fn health_becomes(app: &TestApp, expected: ServingStatus) {
    let health = HealthClient::new(app.channel.clone());
    eventually(&format!("health {expected:?}"), || {
        let mut health = health.clone();
        async move {
            let status = health
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .ok()?
                .into_inner()
                .status();
            (status == expected).then_some(())
        }
    })
    .await;
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
            ("WHISTLE__GRPC__HEALTH_CHECK_SECS", "1"),
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
    health_becomes(&app, ServingStatus::NotServing).await;
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
    health_becomes(&app, ServingStatus::Serving).await;
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
