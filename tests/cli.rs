//! The `whistle` binary as an operator meets it: keys made and hashed without
//! the key on the command line, errors as one line and an exit code, logs
//! without escape codes in a pipe, and the health check a container runs.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use whistle::grpc::auth::key_digest;

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
        .env("WHISTLE__MAIL__FILE_DIR", dir.join("outbox"));
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
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
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
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
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
    let mut child = whistle(dir)
        .arg("serve")
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
    assert_eq!(out.status.code(), Some(1), "a stopped server is unhealthy");
    assert_eq!(
        text(&out.stderr).lines().count(),
        1,
        "{}",
        text(&out.stderr)
    );
}
