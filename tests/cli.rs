//! The `whistle` binary as an operator meets it: keys made and hashed without
//! the key on the command line, errors as one line and an exit code, logs
//! without escape codes in a pipe, the health check a container runs, and a
//! backup taken while the service runs that a second server starts from, and
//! the check of every timeline's hash chain before and after a tamper, and
//! the import of an office's visit sheet (`cli/import.rs`).

#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Request, Status};
use whistle::grpc::auth::key_digest;
use whistle::proto::case_service_client::CaseServiceClient;
use whistle::proto::{EscalatePetitionRequest, GetCaseRequest, Resident};

#[path = "cli/import.rs"]
mod import;

/// The real binary, with no configuration from the environment this test runs in.
fn whistle(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_whistle"));
    command.current_dir(dir);
    for (key, _) in std::env::vars_os() {
        if key
            .to_string_lossy()
            .to_uppercase()
            .starts_with("WHISTLE__")
        {
            command.env_remove(key);
        }
    }
    command
        .env("WHISTLE__DATABASE__URL", sqlite_url(dir))
        .env("WHISTLE__MAIL__FILE_DIR", dir.join("outbox"))
        // These escalate one petition under several ids to have cases to
        // back up and verify; joining duplicates is the api tests' to check.
        .env("WHISTLE__DUPLICATES__ENABLED", "false");
    command
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite:{}", dir.join("whistle.db").display())
}

fn run_with_stdin(mut command: Command, input: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting whistle");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

/// What a failed command said: exactly one line on stderr, `error: …`, and
/// the exit code `code` (2: the operator's mistake, 1: a failure while
/// working).
#[track_caller]
fn error_line(out: &Output, code: i32) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr
}

#[test]
fn hash_key_reads_the_key_from_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = whistle(dir.path());
    command.arg("hash-key");
    let out = run_with_stdin(command, b"demo-office-cuiping\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("{}\n", key_digest("demo-office-cuiping"))
    );
    // The argument still works, and agrees.
    let out = whistle(dir.path())
        .args(["hash-key", "demo-office-cuiping"])
        .output()
        .unwrap();
    assert_eq!(
        text(&out.stdout).trim(),
        "fd2741b444053b5d470314062340926564922a9c1719cb20b0b7eb31ff08e35e"
    );
}

#[test]
fn hash_key_refuses_an_empty_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = whistle(dir.path());
    command.arg("hash-key");
    let out = run_with_stdin(command, b"\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("error: the key is empty"), "{stderr}");
}

#[test]
fn new_key_prints_a_fresh_key_and_the_configuration_that_accepts_it() {
    let dir = tempfile::tempdir().unwrap();
    let new_key = || {
        let out = whistle(dir.path())
            .args(["new-key", "--name", "lighting-dept", "--role", "department"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let printed = new_key();
    let key = printed.lines().next().unwrap();
    assert!(key.len() >= 43, "256 bits take 43 base64 characters: {key}");
    assert!(
        key.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "URL-safe: {key}"
    );
    let digest_line = printed
        .lines()
        .find(|l| l.starts_with("key_sha256 = "))
        .unwrap_or_else(|| panic!("no digest line in {printed}"));
    assert_eq!(digest_line, format!("key_sha256 = \"{}\"", key_digest(key)));

    // The rest is TOML an operator pastes as it is.
    let snippet: String = printed.lines().skip(1).collect::<Vec<_>>().join("\n");
    let table: config::Value = config::Config::builder()
        .add_source(config::File::from_str(&snippet, config::FileFormat::Toml))
        .build()
        .unwrap()
        .get("principals.lighting-dept")
        .unwrap();
    let table = table.into_table().unwrap();
    assert_eq!(table["role"].clone().into_string().unwrap(), "department");
    assert_eq!(
        table["key_sha256"].clone().into_string().unwrap(),
        key_digest(key)
    );

    assert_ne!(new_key().lines().next().unwrap(), key, "every key is new");
}

#[test]
fn a_bad_config_path_is_one_line_on_stderr_even_with_backtraces_on() {
    let dir = tempfile::tempdir().unwrap();
    let out = whistle(dir.path())
        .args(["--config", "/nonexistent/whistle.toml", "migrate"])
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1")
        .output()
        .unwrap();
    let stderr = error_line(&out, 2);
    assert!(
        stderr.starts_with("error: configuration file /nonexistent/whistle.toml"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_environment_variable_refuses_start_up_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = whistle(dir.path())
        .arg("migrate")
        .env("WHISTLE__MAIL__TRANSPROT", "smtp")
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let stderr = error_line(&out, 2);
    assert!(stderr.contains("WHISTLE__MAIL__TRANSPROT"), "{stderr}");
    assert!(stderr.contains("WHISTLE__MAIL__TRANSPORT"), "{stderr}");
    assert!(!dir.path().join("whistle.db").exists(), "nothing ran");
}

#[test]
fn an_unreachable_database_says_why_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    // Port 1 on loopback: nothing listens there, so the connection is refused.
    let out = whistle(dir.path())
        .arg("migrate")
        .env(
            "WHISTLE__DATABASE__URL",
            "postgres://whistle:secret@127.0.0.1:1/whistle",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "a failure while working");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("Connection refused"), "{stderr}");
    assert!(
        !stderr.contains("secret"),
        "the password is hidden: {stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "not after the pool's timeout: {:?}",
        started.elapsed()
    );
}

#[test]
fn start_up_says_what_the_service_will_do() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let log = server.log_so_far();
    for expected in [
        "\"organisation\":\"demo\"",
        "\"departments\":5",
        "letters go as .eml files into",
        "\"weekly_digest\":\"off\"",
        "\"years\":\"2025 (shipped), 2026 (shipped)\"",
        "\"database\":\"sqlite:",
        "\"grpc_addr\":",
    ] {
        assert!(log.contains(expected), "{expected} missing from {log}");
    }
}

#[test]
fn piped_logs_have_no_escape_codes() {
    let dir = tempfile::tempdir().unwrap();
    let out = whistle(dir.path())
        .arg("migrate")
        .env("RUST_LOG", "debug")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let all = [out.stdout, out.stderr].concat();
    let log = text(&all);
    assert!(log.contains("migrations applied"), "{log}");
    assert!(!log.contains('\u{1b}'), "escape codes in {log:?}");
}

/// A `whistle serve` child, killed when dropped, its gRPC address, and what it
/// has logged so far.
struct Server {
    child: Child,
    addr: String,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    fn log_so_far(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the real server on a free port with JSON logs, and reads its address
/// from the start-up line. Every line it logs must be JSON.
fn serve(dir: &Path) -> Server {
    serve_on(dir, &sqlite_url(dir))
}

/// As `serve`, on the database `database_url`.
fn serve_on(dir: &Path, database_url: &str) -> Server {
    let mut child = whistle(dir)
        .arg("serve")
        .env("WHISTLE__DATABASE__URL", database_url)
        .env("WHISTLE__GRPC__LISTEN", "127.0.0.1:0")
        .env("WHISTLE__HTTP__LISTEN", "127.0.0.1:0")
        .env("WHISTLE__GRPC__SHUTDOWN_NOTICE_SECS", "0")
        .env("WHISTLE__LOG__FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting whistle serve");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let written = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            written.lock().unwrap().push_str(&line);
            written.lock().unwrap().push('\n');
            let json: serde_json::Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            if json["message"] == "whistle is listening" {
                let _ = tx.send(json["grpc_addr"].as_str().unwrap().to_owned());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("whistle listens within 30 s");
    Server { child, addr, log }
}

#[test]
fn health_exits_0_while_the_server_is_serving_and_1_when_it_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let health = |args: &[&str]| {
        whistle(dir.path())
            .arg("health")
            .args(args)
            .output()
            .unwrap()
    };

    let out = health(&["--addr", &server.addr]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "SERVING\n");
    let out = health(&[
        "--addr",
        &server.addr,
        "--service",
        "whistle.v1.CaseService",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // Without --addr it asks where the configuration says the server listens.
    let out = whistle(dir.path())
        .arg("health")
        .env("WHISTLE__GRPC__LISTEN", &server.addr)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let out = health(&["--addr", &server.addr, "--service", "no.such.Service"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("error: "),
        "{}",
        text(&out.stderr)
    );

    let addr = server.addr.clone();
    drop(server);
    let out = health(&["--addr", &addr, "--timeout-secs", "2"]);
    let stderr = error_line(&out, 1);
    assert!(stderr.contains("Connection refused"), "{stderr}");
    assert_eq!(
        stderr.matches("tcp connect error").count(),
        1,
        "each cause once: {stderr}"
    );
}

#[test]
fn every_health_option_says_what_it_is_for() {
    let out = whistle(Path::new("."))
        .args(["health", "-h"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = text(&out.stdout);
    for option in ["--ca-file", "--server-name", "--cert-file", "--key-file"] {
        let line = help
            .lines()
            .find(|l| l.trim_start().starts_with(option))
            .unwrap_or_else(|| panic!("no {option} in {help}"));
        let said = line.trim_start()[option.len()..]
            .trim_start()
            .trim_start_matches("<FILE>")
            .trim_start_matches("<NAME>")
            .trim();
        assert!(!said.is_empty(), "{option} has no help text: {help}");
    }
}

#[test]
fn placeholders_left_in_the_configuration_are_named_at_once_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = String::from("[departments.housing]\nname = \"住建\"\n");
    // Without --role, new-key leaves the role as a placeholder too.
    for (name, role) in [
        ("roads-system", Some("department")),
        ("east-system", Some("office")),
        ("some-system", None),
    ] {
        let out = whistle(dir.path())
            .args(["new-key", "--name", name])
            .args(role.map(|role| ["--role", role]).into_iter().flatten())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let snippet = text(&out.stdout);
        config += &snippet[snippet.find("[principals.").unwrap()..];
    }
    let file = dir.path().join("whistle.toml");
    std::fs::write(&file, &config).unwrap();
    let out = whistle(dir.path())
        .args(["--config", file.to_str().unwrap(), "migrate"])
        .output()
        .unwrap();
    let stderr = error_line(&out, 2);
    assert!(
        stderr.contains("principals.roads-system.department: \"DEPARTMENT\" is not a department"),
        "{stderr}"
    );
    assert!(
        stderr.contains("principals.east-system.office: \"OFFICE\" is not an office"),
        "{stderr}"
    );
    assert!(
        stderr.contains("is not a department of [departments]; write one of: housing"),
        "the codes there are: {stderr}"
    );
    assert!(
        stderr.contains("\"OFFICE\" is not an office of [offices]; [offices] has none yet"),
        "{stderr}"
    );
    assert!(
        stderr.contains("principals.some-system.role: \"ROLE\" is not a role"),
        "{stderr}"
    );
    assert!(!stderr.contains("Some("), "{stderr}");
    assert!(!dir.path().join("whistle.db").exists(), "nothing ran");
}

#[test]
fn a_listen_address_without_a_port_stops_start_up_before_the_database_is_made() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["serve", "migrate"] {
        let out = whistle(dir.path())
            .arg(command)
            .env("WHISTLE__GRPC__LISTEN", "57052")
            .env("WHISTLE__METRICS__LISTEN", "9090")
            .output()
            .unwrap();
        let stderr = error_line(&out, 2);
        assert!(
            stderr.contains("grpc.listen: \"57052\" is not an address to listen on"),
            "{stderr}"
        );
        assert!(stderr.contains("metrics.listen: \"9090\""), "{stderr}");
        assert!(
            !dir.path().join("whistle.db").exists(),
            "{command} made a database"
        );
    }
}

#[tokio::test]
async fn a_missing_postgres_database_is_named_once() {
    let Ok(admin) = std::env::var("WHISTLE_TEST_POSTGRES_URL") else {
        return;
    };
    let mut url = reqwest::Url::parse(admin.trim()).unwrap();
    url.set_path("/whistle_no_such_database");
    let dir = tempfile::tempdir().unwrap();
    let out = whistle(dir.path())
        .arg("migrate")
        .env("WHISTLE__DATABASE__URL", url.as_str())
        .output()
        .unwrap();
    let stderr = error_line(&out, 1);
    assert_eq!(
        stderr
            .matches("database \"whistle_no_such_database\" does not exist")
            .count(),
        1,
        "{stderr}"
    );
}

/// The demo office's client of a running server.
async fn office(
    addr: &str,
) -> CaseServiceClient<
    InterceptedService<Channel, impl FnMut(Request<()>) -> Result<Request<()>, Status> + use<>>,
> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("connecting to whistle");
    let key: MetadataValue<Ascii> = "Bearer demo-office-cuiping".parse().unwrap();
    CaseServiceClient::with_interceptor(channel, move |mut request: Request<()>| {
        request.metadata_mut().insert("authorization", key.clone());
        Ok(request)
    })
}

fn street_lighting(petition_id: &str) -> EscalatePetitionRequest {
    EscalatePetitionRequest {
        petition_id: petition_id.into(),
        category: "street-lighting".into(),
        title: "新南社区滨江路路灯连续一周不亮".into(),
        description: "夜间行人摔倒两次，居民要求尽快维修。".into(),
        resident: Some(Resident {
            name: "李先生".into(),
            phone: "0818-2345678".into(),
        }),
        address: "翠屏街道新南社区滨江路".into(),
        community: "新南社区".into(),
        difficulty: 2,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_backup_taken_while_the_server_runs_starts_a_second_server_with_every_case() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let mut client = office(&server.addr).await;
    let escalated = client
        .escalate_petition(street_lighting("XF-2026-0001"))
        .await
        .expect("escalating")
        .into_inner();
    let get = GetCaseRequest {
        case_id: escalated.id.clone(),
    };
    let before = client.get_case(get.clone()).await.unwrap().into_inner();

    let file = dir.path().join("backup.db");
    let out = whistle(dir.path())
        .arg("backup")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let line = text(&out.stdout);
    assert!(
        line.starts_with(&format!(
            "backed up {} to {} (",
            sqlite_url(dir.path()),
            file.display()
        )) && line.ends_with(" ms)\n")
            && line.lines().count() == 1,
        "{line}"
    );
    let bytes = std::fs::metadata(&file).unwrap().len();
    assert!(line.contains(&format!("({bytes} bytes, ")), "{line}");
    assert!(!dir.path().join("backup.db.partial").exists());

    // The service went on: a case escalated after the backup is not in it.
    let later = client
        .escalate_petition(street_lighting("XF-2026-0002"))
        .await
        .expect("escalating after the backup")
        .into_inner();
    drop(server);

    // Restore: a second server with the backup as its database.
    let elsewhere = tempfile::tempdir().unwrap();
    let restored = serve_on(elsewhere.path(), &format!("sqlite:{}", file.display()));
    let mut client = office(&restored.addr).await;
    let after = client.get_case(get).await.expect("the case").into_inner();
    assert_eq!(after, before, "the case whole, timeline included");
    let missing = client
        .get_case(GetCaseRequest {
            case_id: later.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
}

#[test]
fn a_backup_never_overwrites_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = whistle(dir.path()).arg("migrate").output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let file = dir.path().join("precious.db");
    std::fs::write(&file, b"last week's backup").unwrap();
    let out = whistle(dir.path())
        .arg("backup")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains("exists already"), "{stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read(&file).unwrap(), b"last week's backup");
    assert!(!dir.path().join("precious.db.partial").exists());
}

#[test]
fn a_backup_of_a_database_that_is_not_there_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = whistle(dir.path())
        .args(["backup", "copy.db"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("there is no database file"), "{stderr}");
    assert!(!dir.path().join("whistle.db").exists(), "no empty database");
    assert!(!dir.path().join("copy.db").exists());
}

#[tokio::test]
async fn a_postgres_backup_points_at_pg_dump() {
    let Some(url) = whistle::store::testing::TestDatabase::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = whistle(dir.path())
        .args(["backup", "whistle.dump"])
        .env("WHISTLE__DATABASE__URL", &*url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("pg_dump -Fc"), "{stderr}");
    assert!(stderr.contains("pg_restore"), "{stderr}");
    assert!(!dir.path().join("whistle.dump").exists());
}

#[tokio::test]
async fn the_ledger_of_a_week_is_written_to_a_file_from_the_database() {
    use calamine::{Reader, Xlsx};
    use chrono::Datelike;
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let mut client = office(&server.addr).await;
    let escalated = client
        .escalate_petition(street_lighting("XF-LEDGER-1"))
        .await
        .expect("escalating")
        .into_inner();
    let week = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .iso_week();
    let week = format!("{}-W{:02}", week.year(), week.week());

    let file = dir.path().join("台账.xlsx");
    let out = whistle(dir.path())
        .args(["ledger", "--office", "cuiping", "--week", &week, "--out"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(": 1 cases, 2 rows, "),
        "{}",
        text(&out.stdout)
    );
    let mut workbook: Xlsx<_> = calamine::open_workbook(&file).expect("a workbook");
    let sheet = workbook
        .worksheet_range("案件台账")
        .expect("the ledger sheet");
    assert_eq!(sheet.height(), 3, "a header and one row per request");
    assert_eq!(sheet.get((1, 0)).unwrap().to_string(), escalated.id);
    assert_eq!(sheet.get((1, 10)).unwrap().to_string(), "区路灯管理所");
    assert_eq!(sheet.get((2, 11)).unwrap().to_string(), "协办");

    // --format csv, to the ledger's own name in the current folder.
    let out = whistle(dir.path())
        .args(["ledger", "--week", &week, "--format", "csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let csv = std::fs::read(dir.path().join(format!("全部街道台账{week}.csv"))).unwrap();
    assert!(csv.starts_with(b"\xEF\xBB\xBF"));
    assert!(text(&csv).contains(&escalated.id));
    drop(server);

    // Mistakes in the command are the operator's to fix: exit 2, one line.
    for args in [
        &["ledger", "--week", "2026-48"][..],
        &["ledger", "--week", &week, "--office", "nowhere"],
        &["ledger", "--from", "2026-12-01", "--to", "2026-11-01"],
        &["ledger", "--week", &week, "--format", "pdf"],
    ] {
        let out = whistle(dir.path()).args(args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).starts_with("error: "),
            "{}",
            text(&out.stderr)
        );
    }
}

#[tokio::test]
async fn the_outbox_lists_its_letters_and_puts_back_only_failed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let mut client = office(&server.addr).await;
    client
        .escalate_petition(street_lighting("XF-OUTBOX-1"))
        .await
        .expect("escalating");
    drop(server);

    let outbox = |args: &[&str]| {
        whistle(dir.path())
            .arg("outbox")
            .args(args)
            .output()
            .unwrap()
    };
    let out = outbox(&["list"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("id ") && lines[0].ends_with("subject / last error"),
        "{stdout}"
    );
    // A request letter to each department, lead and assisting.
    let letters: Vec<&str> = lines[1..]
        .iter()
        .filter(|l| l.contains("lighting@") || l.contains("power@"))
        .copied()
        .collect();
    assert_eq!(letters.len(), 2, "{stdout}");
    let first = letters[0].split_whitespace().next().unwrap().to_owned();
    assert_eq!(first.len(), 36, "a letter's id first: {stdout}");

    let out = outbox(&["list", "--status", "failed"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().count(), 1, "the header alone");
    let out = outbox(&["list", "--status", "lost"]);
    assert!(text(&out.stderr).contains("--status: \"lost\" is not pending, sent or failed"));

    // Only a failed letter goes back in the queue.
    let stderr = error_line(&outbox(&["retry", &first]), 1);
    assert!(
        stderr.contains("only FAILED mail can be retried"),
        "{stderr}"
    );
    let stderr = error_line(&outbox(&["retry", "no-such-letter"]), 1);
    assert_eq!(stderr, "error: mail no-such-letter not found\n");
}

#[tokio::test]
async fn verify_exits_0_while_every_chain_holds_and_1_naming_a_tampered_event() {
    use sqlx::Connection;

    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path());
    let mut client = office(&server.addr).await;
    let mut ids = Vec::new();
    for petition_id in ["XF-2026-0101", "XF-2026-0102"] {
        let case = client
            .escalate_petition(street_lighting(petition_id))
            .await
            .expect("escalating")
            .into_inner();
        ids.push((case.id, case.events.len()));
    }
    drop(server);
    let verify = |args: &[&str]| {
        whistle(dir.path())
            .arg("verify")
            .args(args)
            .output()
            .unwrap()
    };
    let events: usize = ids.iter().map(|(_, n)| n).sum();

    let out = verify(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("2 cases, {events} events checked: every chain holds\n")
    );
    let out = verify(&["--heads"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let heads: Vec<&str> = stdout.lines().filter(|l| l.starts_with("head ")).collect();
    assert_eq!(heads.len(), 2, "{stdout}");
    for (id, n) in &ids {
        assert!(
            heads.iter().any(|l| {
                let parts: Vec<&str> = l.split(' ').collect();
                parts.len() == 4
                    && parts[1] == id
                    && parts[2] == n.to_string()
                    && parts[3].len() == 64
            }),
            "{stdout}"
        );
    }

    // Someone with the file rewrites the escalation of the second case, with
    // a line break that would forge an output line if printed raw.
    let (tampered, _) = &ids[1];
    let mut db = sqlx::SqliteConnection::connect(&sqlite_url(dir.path()))
        .await
        .unwrap();
    let changed =
        sqlx::query("UPDATE events SET kind = 'ESCALATED\nok' WHERE case_id = $1 AND seq = 1")
            .bind(tampered)
            .execute(&mut db)
            .await
            .unwrap();
    assert_eq!(changed.rows_affected(), 1);
    db.close().await.unwrap();

    let out = verify(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with(&format!("broken {tampered}: seq 1 (event "))
            && lines[0].contains(", ESCALATED\\u{a}ok): its content does not match its hash"),
        "{stdout}"
    );
    assert_eq!(
        lines[1],
        format!("2 cases, {events} events checked: 1 broken")
    );
}

#[test]
fn the_demo_plays_a_week_from_letter_to_a_level_2_alert_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let out = whistle(dir.path())
        .arg("demo")
        // The demo reads no configuration: a database it could not open is not its.
        .env(
            "WHISTLE__DATABASE__URL",
            "postgres://nobody@127.0.0.1:1/none",
        )
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}{stdout}", text(&out.stderr));
    let expected = [
        "Mon 2026-11-23 09:00",
        "letter to lighting@departments.example: 【翠街哨〔2026〕0001号】路灯维修：",
        "│ 关于新南社区5栋至8栋路灯不亮的函",
        "letter to power@departments.example: 【翠街哨〔2026〕0002号】",
        "lighting replies (答复)",
        "Tue 2026-11-24 13:30",
        "letter to power@departments.example: 【催办】【翠街哨〔2026〕0002号】请于2026年11月24日（星期二）24:00前签收",
        "alert DUE_SOON level 1: 翠街哨〔2026〕0002号 国网达州供电公司 签收期限",
        "Wed 2026-11-25 00:00",
        "alert ACK_OVERDUE level 1: 翠街哨〔2026〕0002号 国网达州供电公司 签收已逾期",
        "alert ACK_OVERDUE level 1: 翠街哨〔2026〕0002号 国网达州供电公司 签收逾期1天",
        "alert ACK_OVERDUE level 2: 翠街哨〔2026〕0002号 国网达州供电公司 签收逾期2天",
        "翠街哨〔2026〕0002号 power overdue by 2天9小时",
    ];
    // Each in this order, and no alert more than these four.
    let mut rest = stdout.as_str();
    for line in expected {
        let at = rest
            .find(line)
            .unwrap_or_else(|| panic!("{line:?} missing or out of order in:\n{stdout}"));
        rest = &rest[at + line.len()..];
    }
    assert_eq!(stdout.matches("  alert ").count(), 4, "{stdout}");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "the demo left files where it ran"
    );
}
