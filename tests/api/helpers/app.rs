//! Starting whistle for a test: in this process on port 0 over a fresh
//! database (`spawn_app`), on a clock the test moves (`spawn_app_with_clock`,
//! `spawn_app_on`), or as the real binary an operator runs (`start_binary`),
//! and clients that carry a bearer key.

use super::*;
use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use config::Environment;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Request, Status};

use whistle::app::Application;
use whistle::clock::{Clock, ManualClock};
use whistle::proto::case_service_client::CaseServiceClient;
use whistle::proto::department_service_client::DepartmentServiceClient;
use whistle::proto::supervision_service_client::SupervisionServiceClient;
use whistle::settings::Settings;
use whistle::store::testing::TestDatabase;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Adds `authorization: Bearer KEY` to every call (nothing when there is no key).
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

pub type Authed = InterceptedService<Channel, Bearer>;
pub type CaseClient = CaseServiceClient<Authed>;
pub type DepartmentClient = DepartmentServiceClient<Authed>;
pub type SupervisionClient = SupervisionServiceClient<Authed>;

/// A running server. Dropping it stops the server; the temporary folder (the
/// SQLite file, the settings file) lives as long as it does.
pub struct TestApp {
    pub addr: SocketAddr,
    /// The reply page, and the reply-mail listener when the test turned it on.
    pub http_addr: Option<SocketAddr>,
    // No test talks SMTP to the reply-mail listener yet; the field is there
    // for the one that will.
    #[allow(dead_code)]
    pub smtp_addr: Option<SocketAddr>,
    /// Metrics and probes, when the test turned them on.
    #[allow(dead_code)]
    pub metrics_addr: Option<SocketAddr>,
    pub settings: Settings,
    pub channel: Channel,
    pub shutdown: CancellationToken,
    /// The clock the app runs on when the test drives time; `None` on the
    /// system clock.
    pub clock: Option<Arc<ManualClock>>,
    /// The server and its workers until they stop; `stop` waits for them.
    running: Option<JoinHandle<anyhow::Result<()>>>,
    _dir: TempDir,
    /// The database the app was started on when it is the app's own; dropped
    /// last (a PostgreSQL schema goes with it).
    database: Option<TestDatabase>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts the real server on port 0 over a fresh database. `settings_file`, if
/// given, is TOML written to the temporary folder and read as the `--config`
/// file (without one, the demo organisation is active). `None` when the backend
/// is PostgreSQL and no test server is configured.
pub async fn spawn_app(backend: Backend, settings_file: Option<&str>) -> Option<TestApp> {
    spawn_app_with(backend, settings_file, &[]).await
}

/// As `spawn_app`, with more `WHISTLE__…` overrides (mail transport, retries).
pub async fn spawn_app_with(
    backend: Backend,
    settings_file: Option<&str>,
    extra_env: &[(&str, &str)],
) -> Option<TestApp> {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let database = fresh_database(backend, dir.path()).await?;
    let mut app = spawn_app_at(dir, &database, settings_file, extra_env).await;
    app.database = Some(database);
    Some(app)
}

/// A database of its own for a test: a file in `dir`, or a fresh PostgreSQL
/// schema, dropped with the value (`None` when the PostgreSQL half is skipped).
pub async fn fresh_database(backend: Backend, dir: &std::path::Path) -> Option<TestDatabase> {
    match backend {
        Backend::Sqlite => Some(TestDatabase::sqlite(dir)),
        Backend::Postgres => TestDatabase::postgres().await,
    }
}

/// As `spawn_app_with`, on a database the caller chose (a private PostgreSQL
/// server, say); `dir` holds the settings file and the letters and lives as
/// long as the app.
pub async fn spawn_app_at(
    dir: TempDir,
    database_url: &str,
    settings_file: Option<&str>,
    extra_env: &[(&str, &str)],
) -> TestApp {
    start_app(dir, database_url, settings_file, extra_env, None).await
}

/// As `spawn_app_with`, on a `ManualClock` standing at `start`: the test moves
/// it (`set_clock`, `advance_clock`) and the deadline watch and the outbox act
/// as if that time had passed, with no sleeping.
pub async fn spawn_app_with_clock(
    backend: Backend,
    settings_file: Option<&str>,
    extra_env: &[(&str, &str)],
    start: DateTime<Utc>,
) -> Option<TestApp> {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let database = fresh_database(backend, dir.path()).await?;
    let clock = Arc::new(ManualClock::new(start));
    let mut app = start_app(dir, &database, settings_file, extra_env, Some(clock)).await;
    app.database = Some(database);
    Some(app)
}

/// An app on a database and a clock the caller shares with other apps: two
/// instances on one PostgreSQL, or one started after another stopped. `dir`
/// holds this app's settings file and letters.
pub async fn spawn_app_on(
    dir: TempDir,
    database_url: &str,
    settings_file: Option<&str>,
    extra_env: &[(&str, &str)],
    clock: Arc<ManualClock>,
) -> TestApp {
    start_app(dir, database_url, settings_file, extra_env, Some(clock)).await
}

async fn start_app(
    dir: TempDir,
    database_url: &str,
    settings_file: Option<&str>,
    extra_env: &[(&str, &str)],
    clock: Option<Arc<ManualClock>>,
) -> TestApp {
    let file = settings_file.map(|toml| {
        let path = dir.path().join("whistle.toml");
        std::fs::write(&path, toml).expect("writing the settings file");
        path
    });
    // Letters go to the test's own folder, never into the working tree.
    let outbox = dir.path().join("outbox");
    let env: HashMap<String, String> = [
        ("WHISTLE__DATABASE__URL", database_url),
        ("WHISTLE__GRPC__LISTEN", "127.0.0.1:0"),
        ("WHISTLE__HTTP__LISTEN", "127.0.0.1:0"),
        ("WHISTLE__GRPC__SHUTDOWN_NOTICE_SECS", "0"),
        // Scenarios escalate the same few petitions under many ids to fill a
        // ledger; those about duplicates turn joining on (`DUPLICATES_ON`).
        ("WHISTLE__DUPLICATES__ENABLED", "false"),
        (
            "WHISTLE__MAIL__FILE_DIR",
            outbox.to_str().expect("a UTF-8 temp path"),
        ),
    ]
    .into_iter()
    .chain(extra_env.iter().copied())
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let environment = Environment::with_prefix("WHISTLE")
        .prefix_separator("__")
        .separator("__")
        .source(Some(env));
    let settings =
        Settings::load_with(file.as_deref(), environment).expect("test settings must load");
    if std::env::var_os("TEST_LOG").is_some() {
        whistle::telemetry::init(&settings.log, &settings.telemetry)
            .expect("test telemetry must start");
    }
    let mut builder = Application::builder(&settings);
    if let Some(clock) = &clock {
        builder = builder.clock(clock.clone());
    }
    let app = builder.start().await.expect("the application must build");
    let addr = app.grpc_addr();
    let (http_addr, smtp_addr) = (app.http_addr(), app.smtp_addr());
    let metrics_addr = app.metrics_addr();
    let shutdown = app.shutdown_token();
    let running = tokio::spawn(app.run_until_stopped());
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("a valid URI")
        .connect()
        .await
        .expect("connecting to the test server");
    TestApp {
        addr,
        http_addr,
        smtp_addr,
        metrics_addr,
        settings,
        channel,
        shutdown,
        clock,
        running: Some(running),
        _dir: dir,
        database: None,
    }
}

/// Runs one scenario on `backend` (see `scenarios!`).
pub async fn run<S: Scenario<Takes>, Takes>(
    backend: Backend,
    settings_file: Option<&str>,
    scenario: S,
) {
    scenario.run(backend, settings_file).await;
}

/// A scenario: an async function of a `TestApp` or of a `Backend`. `Takes`
/// tells the two apart, so each is a distinct implementation.
pub trait Scenario<Takes> {
    fn run(self, backend: Backend, settings_file: Option<&str>) -> impl Future<Output = ()>;
}

impl<F, Fut> Scenario<TestApp> for F
where
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    /// On a server `spawn_app` starts; skipped when the backend is absent.
    async fn run(self, backend: Backend, settings_file: Option<&str>) {
        if let Some(app) = spawn_app(backend, settings_file).await {
            self(app).await;
        }
    }
}

impl<F, Fut> Scenario<Backend> for F
where
    F: FnOnce(Backend) -> Fut,
    Fut: Future<Output = ()>,
{
    /// It starts its own servers: settings files are for `TestApp` scenarios.
    async fn run(self, backend: Backend, settings_file: Option<&str>) {
        assert!(
            settings_file.is_none(),
            "a scenario that takes a Backend starts its own servers with its own settings"
        );
        self(backend).await;
    }
}

/// The interceptor that sends `key` as a bearer token, for clients on channels
/// a test builds itself.
pub fn bearer(key: &str) -> Bearer {
    Bearer(Some(format!("Bearer {key}").parse().expect("an ASCII key")))
}

/// The interceptor that sends no key, for clients on channels a test builds
/// itself (a client certificate may be the credential).
pub fn no_key() -> Bearer {
    Bearer(None)
}

/// The real binary, as an operator runs it, on `database_url` with `env` on top;
/// returns the child (killed when dropped) and its gRPC address, read from its
/// JSON log.
pub async fn start_binary(
    database_url: &str,
    dir: &std::path::Path,
    env: &[(&'static str, String)],
) -> (Child, String) {
    start_binary_with_args(database_url, dir, env, &[]).await
}

/// As `start_binary`, with command-line arguments (`--config FILE`).
pub async fn start_binary_with_args(
    database_url: &str,
    dir: &std::path::Path,
    env: &[(&'static str, String)],
    args: &[&str],
) -> (Child, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_whistle"));
    command
        .args(args)
        .current_dir(dir)
        .env("WHISTLE__DATABASE__URL", database_url)
        .env("WHISTLE__GRPC__LISTEN", "127.0.0.1:0")
        .env("WHISTLE__HTTP__LISTEN", "127.0.0.1:0")
        .env("WHISTLE__GRPC__SHUTDOWN_NOTICE_SECS", "0")
        // As in `start_app`: joining duplicates is for the scenarios about it.
        .env("WHISTLE__DUPLICATES__ENABLED", "false")
        .env("WHISTLE__LOG__FORMAT", "json")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("starting whistle");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("reading the log") {
            if let Some(rest) = line.split("\"grpc_addr\":\"").nth(1) {
                return rest.split('"').next().unwrap().to_owned();
            }
        }
        panic!("whistle exited before listening");
    })
    .await
    .expect("whistle starts within 30 s");
    // Keep draining the log so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

/// A supervision client for a server at `addr`, carrying `key`.
pub fn supervision_at(addr: &str, key: &str) -> SupervisionClient {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("a valid URI")
        .connect_timeout(Duration::from_secs(2))
        .connect_lazy();
    SupervisionServiceClient::with_interceptor(channel, bearer(key))
}

/// A case client for a server at `addr` (a binary `start_binary` started),
/// carrying `key`. It connects at its first call, so a server that is down
/// shows as a failed call rather than a failed constructor.
pub fn cases_at(addr: &str, key: &str) -> CaseClient {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("a valid URI")
        .connect_timeout(Duration::from_secs(2))
        .connect_lazy();
    CaseServiceClient::with_interceptor(channel, bearer(key))
}

impl TestApp {
    /// Fires the shutdown token and waits until the server and every worker
    /// have stopped (the database closed): another app may then take over the
    /// same database.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        let running = self.running.take().expect("stopped once");
        tokio::time::timeout(Duration::from_secs(10), running)
            .await
            .expect("the app stops within 10 s of its shutdown")
            .expect("the app's task")
            .expect("the app stops cleanly");
    }

    /// The test's clock; panics for an app on the system clock.
    #[track_caller]
    pub fn clock(&self) -> &ManualClock {
        self.clock
            .as_deref()
            .expect("an app started with spawn_app_with_clock")
    }

    /// Moves the app's clock to `at` (forward, as time does).
    #[track_caller]
    pub fn set_clock(&self, at: DateTime<Utc>) {
        assert!(at >= self.clock().now(), "time only moves forward");
        self.clock().set(at);
    }

    /// The folder the file transport writes each letter to as an .eml file.
    pub fn outbox_dir(&self) -> std::path::PathBuf {
        std::path::PathBuf::from(&self.settings.mail.file_dir)
    }

    /// The app's own database, opened beside it, to look at what it wrote.
    pub async fn store(&self) -> whistle::store::Store {
        whistle::store::connect(&self.settings.database.url, &Default::default())
            .await
            .expect("opening the app's database")
    }

    pub fn cases_as(&self, key: &str) -> CaseClient {
        CaseServiceClient::with_interceptor(self.channel.clone(), bearer(key))
    }

    pub fn departments_as(&self, key: &str) -> DepartmentClient {
        DepartmentServiceClient::with_interceptor(self.channel.clone(), bearer(key))
    }

    /// Clients that send no `authorization` at all.
    pub fn anonymous_cases(&self) -> CaseClient {
        CaseServiceClient::with_interceptor(self.channel.clone(), Bearer(None))
    }

    /// Clients that send `authorization` exactly as given.
    pub fn cases_with_authorization(&self, value: &str) -> CaseClient {
        let value = value.parse().expect("an ASCII header value");
        CaseServiceClient::with_interceptor(self.channel.clone(), Bearer(Some(value)))
    }

    pub fn anonymous_departments(&self) -> DepartmentClient {
        DepartmentServiceClient::with_interceptor(self.channel.clone(), Bearer(None))
    }

    /// The 翠屏街道 street office.
    pub fn office(&self) -> CaseClient {
        self.cases_as(OFFICE_KEY)
    }

    pub fn supervisor(&self) -> CaseClient {
        self.cases_as(SUPERVISOR_KEY)
    }

    pub fn supervisor_departments(&self) -> DepartmentClient {
        self.departments_as(SUPERVISOR_KEY)
    }

    pub fn supervision_as(&self, key: &str) -> SupervisionClient {
        SupervisionServiceClient::with_interceptor(self.channel.clone(), bearer(key))
    }

    /// SupervisionService as the district's supervisor.
    pub fn supervision(&self) -> SupervisionClient {
        self.supervision_as(SUPERVISOR_KEY)
    }

    /// A department by its code: housing, land, education, lighting, power.
    pub fn department(&self, code: &str) -> DepartmentClient {
        self.departments_as(&department_key(code))
    }
}
