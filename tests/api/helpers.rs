//! `spawn_app()`: the real server on port 0 over a fresh database, SQLite or
//! PostgreSQL, with clients that carry each demo principal's key. Every scenario
//! is written once as `async fn name(app: TestApp)` and run on both backends by
//! `scenarios!`; the PostgreSQL half is skipped (not failed) when
//! `WHISTLE_TEST_POSTGRES_URL` is unset.

use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use chrono::{DateTime, Utc};
use config::Environment;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Request, Response, Status};
use tonic_types::StatusExt;

use whistle::app::Application;
use whistle::domain::Deadlines;
use whistle::proto::case_service_client::CaseServiceClient;
use whistle::proto::department_service_client::DepartmentServiceClient;
use whistle::proto::{
    AcknowledgeRequestRequest, Case, DepartmentRequest, EscalatePetitionRequest, GetCaseRequest,
    RecordFeedbackRequest, Resident, ReviewReplyRequest, SubmitReplyRequest, Verdict,
};
use whistle::settings::Settings;
use whistle::store::testing;

pub const OFFICE_KEY: &str = "demo-office-cuiping";
pub const SUPERVISOR_KEY: &str = "demo-supervisor";
/// The second office of `TWO_OFFICES`; the demo organisation has only one.
pub const XINNAN_KEY: &str = "test-office-xinnan-8f3a";

/// The resident of the standard petition, as the office recorded her.
pub const RESIDENT_NAME: &str = "张女士";
pub const RESIDENT_PHONE: &str = "13812345678";
pub const RESIDENT_PHONE_MASKED: &str = "138****5678";

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

/// A running server. Dropping it stops the server; the temporary folder (the
/// SQLite file, the settings file) lives as long as it does.
pub struct TestApp {
    pub addr: SocketAddr,
    pub settings: Settings,
    pub channel: Channel,
    pub shutdown: CancellationToken,
    _dir: TempDir,
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
    let database_url = match backend {
        Backend::Sqlite => testing::sqlite_url(dir.path()),
        Backend::Postgres => testing::fresh_postgres_url().await?,
    };
    Some(spawn_app_at(dir, &database_url, settings_file, extra_env).await)
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
        whistle::telemetry::init(&settings.log);
    }
    let app = Application::build(&settings)
        .await
        .expect("the application must build");
    let addr = app.grpc_addr();
    let shutdown = app.shutdown_token();
    tokio::spawn(app.run_until_stopped());
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("a valid URI")
        .connect()
        .await
        .expect("connecting to the test server");
    TestApp {
        addr,
        settings,
        channel,
        shutdown,
        _dir: dir,
    }
}

/// Spawns the app for one scenario and runs it; skips when the backend is absent.
pub async fn run<F, Fut>(backend: Backend, settings_file: Option<&str>, scenario: F)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    if let Some(app) = spawn_app(backend, settings_file).await {
        scenario(app).await;
    }
}

/// Instantiates each listed `async fn name(app: TestApp)` as two tests,
/// `sqlite::name` and `postgres::name`. With `settings = f;` first, they run
/// with the settings file `helpers::f()` returns instead of the demo organisation.
macro_rules! scenarios {
    (settings = $settings:ident; $($name:ident),+ $(,)?) => {
        scenarios!(@both Some($crate::helpers::$settings().as_str()); $($name),+);
    };
    ($($name:ident),+ $(,)?) => {
        scenarios!(@both None; $($name),+);
    };
    (@both $settings:expr; $($name:ident),+) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::helpers::run(
                        $crate::helpers::Backend::Sqlite,
                        $settings,
                        super::$name,
                    )
                    .await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::helpers::run(
                        $crate::helpers::Backend::Postgres,
                        $settings,
                        super::$name,
                    )
                    .await;
                }
            )+
        }
    };
}

/// Instantiates each listed `async fn name(backend: Backend)` as `sqlite::name`
/// and `postgres::name`, for scenarios that set up their own server (a real
/// binary, a mail receiver) rather than take a `TestApp`.
macro_rules! per_backend {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await;
                }
            )+
        }
    };
}

/// Two offices, the demo departments and categories, and the demo keys (plus
/// one for the second office). Keys are stored as digests, as in production.
/// Two departments differ from the demo: land may see residents' phones, and
/// power has two working days to reply instead of five.
pub fn two_offices() -> String {
    use whistle::grpc::auth::key_digest;
    let mut toml = String::from(
        r#"
[offices.cuiping]
name = "翠屏街道"
reference_prefix = "翠街哨"
communities = ["杨柳社区", "新南社区"]

[offices.xinnan]
name = "西外街道"
reference_prefix = "西街哨"
communities = ["滨河社区"]

[departments.housing]
name = "区住房和城乡建设局"
[departments.land]
name = "区自然资源局"
# Land staff call residents back themselves.
show_resident_phone = true
[departments.education]
name = "区教育局"
[departments.lighting]
name = "区路灯管理所"
[departments.power]
name = "国网达州供电公司"
# Power cuts cannot wait a working week.
reply_working_days = 2

[categories.property-certificate]
name = "不动产权证办理"
lead = "housing"
assisting = ["land"]
[categories.street-lighting]
name = "路灯维修"
lead = "lighting"
assisting = ["power"]
[categories.power-supply]
name = "供电故障"
lead = "power"
"#,
    );
    let principals = [
        (
            "cuiping-office",
            "role = \"office\"\noffice = \"cuiping\"",
            OFFICE_KEY,
        ),
        (
            "xinnan-office",
            "role = \"office\"\noffice = \"xinnan\"",
            XINNAN_KEY,
        ),
        ("supervisor", "role = \"supervisor\"", SUPERVISOR_KEY),
    ];
    for (name, role, key) in principals {
        toml.push_str(&format!(
            "\n[principals.{name}]\n{role}\nkey_sha256 = \"{}\"\n",
            key_digest(key)
        ));
    }
    for dept in ["housing", "land", "education", "lighting", "power"] {
        toml.push_str(&format!(
            "\n[principals.{dept}-dept]\nrole = \"department\"\ndepartment = \"{dept}\"\nkey_sha256 = \"{}\"\n",
            key_digest(&department_key(dept))
        ));
    }
    toml
}

/// The demo key of a department: `demo-dept-housing`, …
pub fn department_key(code: &str) -> String {
    format!("demo-dept-{code}")
}

impl TestApp {
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

    /// A department by its code: housing, land, education, lighting, power.
    pub fn department(&self, code: &str) -> DepartmentClient {
        self.departments_as(&department_key(code))
    }

    /// The office escalates a petition that must be accepted.
    pub async fn escalate(&self, petition: EscalatePetitionRequest) -> Case {
        let id = petition.petition_id.clone();
        self.office()
            .escalate_petition(petition)
            .await
            .unwrap_or_else(|s| panic!("escalating {id}: {s:?}"))
            .into_inner()
    }

    /// The case as the office sees it, timeline included.
    pub async fn case(&self, case_id: &str) -> Case {
        self.office()
            .get_case(GetCaseRequest {
                case_id: case_id.into(),
            })
            .await
            .unwrap_or_else(|s| panic!("getting case {case_id}: {s:?}"))
            .into_inner()
    }

    pub async fn acknowledge(&self, department: &str, request_id: &str) -> DepartmentRequest {
        self.department(department)
            .acknowledge_request(AcknowledgeRequestRequest {
                request_id: request_id.into(),
            })
            .await
            .unwrap_or_else(|s| panic!("{department} acknowledging {request_id}: {s:?}"))
            .into_inner()
    }

    pub async fn reply(&self, department: &str, request_id: &str, text: &str) -> DepartmentRequest {
        self.department(department)
            .submit_reply(SubmitReplyRequest {
                request_id: request_id.into(),
                text: text.into(),
            })
            .await
            .unwrap_or_else(|s| panic!("{department} replying to {request_id}: {s:?}"))
            .into_inner()
    }

    /// 签收 then 答复.
    pub async fn answer(
        &self,
        department: &str,
        request_id: &str,
        text: &str,
    ) -> DepartmentRequest {
        self.acknowledge(department, request_id).await;
        self.reply(department, request_id, text).await
    }

    pub async fn accept(&self, request_id: &str) -> Case {
        self.office()
            .review_reply(ReviewReplyRequest {
                request_id: request_id.into(),
                accept: true,
                reason: String::new(),
            })
            .await
            .unwrap_or_else(|s| panic!("accepting {request_id}: {s:?}"))
            .into_inner()
    }

    pub async fn reject(&self, request_id: &str, reason: &str) -> Case {
        self.office()
            .review_reply(ReviewReplyRequest {
                request_id: request_id.into(),
                accept: false,
                reason: reason.into(),
            })
            .await
            .unwrap_or_else(|s| panic!("rejecting {request_id}: {s:?}"))
            .into_inner()
    }

    pub async fn feedback(
        &self,
        case_id: &str,
        verdict: Verdict,
        comment: &str,
        reissue: &[&str],
    ) -> Result<Response<Case>, Status> {
        self.office()
            .record_feedback(RecordFeedbackRequest {
                case_id: case_id.into(),
                verdict: verdict as i32,
                comment: comment.into(),
                reissue_request_ids: reissue.iter().map(|s| s.to_string()).collect(),
            })
            .await
    }

    /// Every department answers and the office accepts every reply: the case
    /// then waits for the resident's verdict.
    pub async fn settle(&self, case: &Case) -> Case {
        let mut last = None;
        for request in &case.requests {
            self.answer(&request.department, &request.id, "已办结。")
                .await;
            last = Some(self.accept(&request.id).await);
        }
        last.expect("a case has at least one request")
    }

    /// The deadlines the service must give a round issued to `department` at `at`.
    pub fn deadlines(&self, department: &str, at: DateTime<Utc>) -> Deadlines {
        self.settings
            .organisation()
            .expect("the organisation")
            .deadlines(department, at)
    }
}

fn bearer(key: &str) -> Bearer {
    Bearer(Some(format!("Bearer {key}").parse().expect("an ASCII key")))
}

/// The seed's typical petition: a property certificate that cannot be issued,
/// which routes to housing (lead) and land (assisting).
pub fn property_certificate(petition_id: &str) -> EscalatePetitionRequest {
    EscalatePetitionRequest {
        petition_id: petition_id.into(),
        category: "property-certificate".into(),
        title: "杨柳小区3栋房产证迟迟未能办理".into(),
        description: "居民反映：小区交房已满五年，因开发商欠缴土地出让金，\n业主至今无法办理不动产权证，影响子女入学。".into(),
        resident: Some(Resident {
            name: RESIDENT_NAME.into(),
            phone: RESIDENT_PHONE.into(),
        }),
        address: "翠屏街道杨柳社区3栋2单元".into(),
        community: "杨柳社区".into(),
        difficulty: 3,
        lead_department: String::new(),
        assisting_departments: Vec::new(),
    }
}

/// A broken street light: lighting (lead) and power (assisting).
pub fn street_lighting(petition_id: &str) -> EscalatePetitionRequest {
    EscalatePetitionRequest {
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
        ..property_certificate(petition_id)
    }
}

/// A petition routed to one department only (power), for races on one request.
pub fn power_cut(petition_id: &str) -> EscalatePetitionRequest {
    EscalatePetitionRequest {
        category: "power-supply".into(),
        title: "杨柳社区5栋频繁停电".into(),
        description: "近一个月停电四次。".into(),
        difficulty: 1,
        ..property_certificate(petition_id)
    }
}

/// The request of `department` in `case`.
#[track_caller]
pub fn request_of<'a>(case: &'a Case, department: &str) -> &'a DepartmentRequest {
    case.requests
        .iter()
        .find(|r| r.department == department)
        .unwrap_or_else(|| panic!("case {} has no request to {department}", case.id))
}

/// A protobuf timestamp as a chrono instant.
#[track_caller]
pub fn instant(ts: &Option<prost_types::Timestamp>) -> DateTime<Utc> {
    let ts = ts.as_ref().expect("a timestamp");
    DateTime::from_timestamp(ts.seconds, ts.nanos as u32).expect("a valid timestamp")
}

/// The call must fail with `code`; returns the status for further checks.
#[track_caller]
pub fn refused<T: Debug>(result: Result<Response<T>, Status>, code: Code) -> Status {
    match result {
        Ok(response) => panic!("expected {code:?}, got OK: {:?}", response.get_ref()),
        Err(status) => {
            assert_eq!(
                status.code(),
                code,
                "expected {code:?}, got {:?}: {}",
                status.code(),
                status.message()
            );
            status
        }
    }
}

/// The call must fail with INVALID_ARGUMENT and a BadRequest detail naming `field`.
#[track_caller]
pub fn invalid<T: Debug>(result: Result<Response<T>, Status>, field: &str) -> Status {
    let status = refused(result, Code::InvalidArgument);
    let fields = violated_fields(&status);
    assert!(
        fields.iter().any(|f| f == field),
        "expected a violation of {field:?}, got {fields:?} ({})",
        status.message()
    );
    status
}

/// The fields a status's google.rpc.BadRequest detail names.
#[track_caller]
pub fn violated_fields(status: &Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .unwrap_or_else(|| panic!("no BadRequest details in {status:?}"))
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}

/// `翠街哨〔2026〕0007号` → ("翠街哨", 2026, 7). Panics on any other shape.
#[track_caller]
pub fn parse_reference(reference: &str) -> (String, i32, u32) {
    let shape = || format!("{reference:?} is not shaped like 翠街哨〔2026〕0001号");
    let (prefix, rest) = reference
        .split_once('〔')
        .unwrap_or_else(|| panic!("{}", shape()));
    let (year, rest) = rest
        .split_once('〕')
        .unwrap_or_else(|| panic!("{}", shape()));
    let number = rest
        .strip_suffix('号')
        .unwrap_or_else(|| panic!("{}", shape()));
    assert!(
        !prefix.is_empty()
            && year.len() == 4
            && number.len() >= 4
            && number.bytes().all(|b| b.is_ascii_digit()),
        "{}",
        shape()
    );
    (
        prefix.to_owned(),
        year.parse().unwrap_or_else(|_| panic!("{}", shape())),
        number.parse().unwrap_or_else(|_| panic!("{}", shape())),
    )
}

/// This year on the calendar references are numbered by (Asia/Shanghai).
pub fn this_year() -> i32 {
    use chrono::Datelike;
    Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).year()
}

/// The real binary, as an operator runs it, on `database_url` with `env` on top;
/// returns the child (killed when dropped) and its gRPC address, read from its
/// JSON log.
pub async fn start_binary(
    database_url: &str,
    dir: &std::path::Path,
    env: &[(&'static str, String)],
) -> (Child, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_whistle"));
    command
        .current_dir(dir)
        .env("WHISTLE__DATABASE__URL", database_url)
        .env("WHISTLE__GRPC__LISTEN", "127.0.0.1:0")
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
