//! The reply page in a real browser: headless Chromium driven over WebDriver
//! (chromedriver, through fantoccini), as a department's clerk uses it from
//! the link in their letter — acknowledge, reply with a file, post again by
//! going back, and open a link that has ended. It also takes screenshots at
//! phone and desktop width: into `target/screenshots/` on every run, and into
//! `docs/screenshots/` (the ones the README shows) with
//! `WHISTLE_UPDATE_SCREENSHOTS=1`, so an ordinary run leaves the tree as it was.
//!
//! Chromium and chromedriver come from Debian (`chromium`, `chromium-driver`,
//! and `fonts-noto-cjk` so Chinese renders); the test installs them when
//! missing, through the installer every test binary shares (one install at a
//! time across processes, nothing already installed upgraded), and fails,
//! saying why, when it cannot: a page nobody has opened in a browser is not
//! tested.

#![forbid(unsafe_code)]

#[path = "support/install.rs"]
mod install;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use config::Environment;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use tempfile::TempDir;
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::transport::Channel;
use tonic::{Request, Status};

use whistle::app::Application;
use whistle::proto::case_service_client::CaseServiceClient;
use whistle::proto::department_service_client::DepartmentServiceClient;
use whistle::proto::{
    AcknowledgeRequestRequest, Case, EscalatePetitionRequest, GetAttachmentRequest, GetCaseRequest,
    ReplyChannel, RequestExtensionRequest, RequestStatus, Resident, ReviewReplyRequest,
    SubmitReplyRequest,
};
use whistle::settings::Settings;
use whistle::store::testing;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const INSTALL: &[&str] = &["chromium", "chromium-driver", "fonts-noto-cjk"];
const OFFICE_KEY: &str = "demo-office-cuiping";
const WAIT: Duration = Duration::from_secs(15);

/// whistle in this process on port 0, over SQLite, writing letters to files.
struct App {
    http: SocketAddr,
    channel: Channel,
    outbox: PathBuf,
    shutdown: CancellationToken,
    dir: TempDir,
}

impl Drop for App {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

#[derive(Clone)]
struct Bearer(MetadataValue<Ascii>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

fn bearer(key: &str) -> Bearer {
    Bearer(format!("Bearer {key}").parse().expect("an ASCII key"))
}

impl App {
    async fn start() -> App {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let outbox = dir.path().join("outbox");
        let env = [
            ("WHISTLE__DATABASE__URL", testing::sqlite_url(dir.path())),
            ("WHISTLE__GRPC__LISTEN", "127.0.0.1:0".to_owned()),
            ("WHISTLE__HTTP__LISTEN", "127.0.0.1:0".to_owned()),
            // The walks escalate the same petition under several ids, each
            // to be a case of its own.
            ("WHISTLE__DUPLICATES__ENABLED", "false".to_owned()),
            (
                "WHISTLE__MAIL__FILE_DIR",
                outbox.to_str().expect("a UTF-8 temp path").to_owned(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let environment = Environment::with_prefix("WHISTLE")
            .prefix_separator("__")
            .separator("__")
            .source(Some(env));
        let settings = Settings::load_with(None, environment).expect("test settings");
        let app = Application::builder(&settings)
            .start()
            .await
            .expect("the application starts");
        let grpc = app.grpc_addr();
        let http = app.http_addr().expect("the reply page is served");
        let shutdown = app.shutdown_token();
        tokio::spawn(app.run_until_stopped());
        let channel = Channel::from_shared(format!("http://{grpc}"))
            .expect("a URI")
            .connect()
            .await
            .expect("connecting to whistle");
        App {
            http,
            channel,
            outbox,
            shutdown,
            dir,
        }
    }

    fn office(
        &self,
    ) -> CaseServiceClient<tonic::service::interceptor::InterceptedService<Channel, Bearer>> {
        CaseServiceClient::with_interceptor(self.channel.clone(), bearer(OFFICE_KEY))
    }

    async fn escalate(&self, petition_id: &str) -> Case {
        self.office()
            .escalate_petition(EscalatePetitionRequest {
                petition_id: petition_id.into(),
                category: "property-certificate".into(),
                title: "杨柳小区3栋房产证迟迟未能办理".into(),
                description: "居民反映：小区交房已满五年，因开发商欠缴土地出让金，\n业主至今无法办理不动产权证，影响子女入学。".into(),
                resident: Some(Resident {
                    name: "张女士".into(),
                    phone: "13812345678".into(),
                }),
                address: "翠屏街道杨柳社区3栋2单元".into(),
                community: "杨柳社区".into(),
                difficulty: 3,
                ..Default::default()
            })
            .await
            .expect("escalating")
            .into_inner()
    }

    async fn case(&self, id: &str) -> Case {
        self.office()
            .get_case(GetCaseRequest { case_id: id.into() })
            .await
            .expect("the case")
            .into_inner()
    }

    /// The reply link in the letter delivered to the request's department.
    async fn link_for(&self, request_id: &str) -> String {
        let id = format!("{request_id}.r1.issued@whistle.localhost");
        let started = Instant::now();
        loop {
            let letters = std::fs::read_dir(&self.outbox)
                .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
                .unwrap_or_else(|_| Vec::new());
            for path in letters {
                if path.extension().is_none_or(|x| x != "eml") {
                    continue;
                }
                let raw = std::fs::read(&path).expect("a letter");
                let message = mail_parser::MessageParser::default()
                    .parse(&raw)
                    .expect("a parsable letter");
                if message.message_id() == Some(id.as_str()) {
                    let text = message.body_text(0).expect("a text part").into_owned();
                    let at = text.find("/r/").expect("a reply link in the letter") + 3;
                    let token = &text[at..at + 40];
                    return format!("http://{}/r/{token}", self.http);
                }
            }
            assert!(started.elapsed() < WAIT, "no letter {id} within {WAIT:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl App {
    /// The sign-in link in the newest sign-in letter to `email`.
    async fn sign_in_link(&self, email: &str) -> String {
        let started = Instant::now();
        loop {
            let letters: Vec<PathBuf> = std::fs::read_dir(&self.outbox)
                .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
                .unwrap_or_else(|_| Vec::new());
            for path in letters {
                if path.extension().is_none_or(|x| x != "eml") {
                    continue;
                }
                let raw = std::fs::read(&path).expect("a letter");
                let message = mail_parser::MessageParser::default()
                    .parse(&raw)
                    .expect("a parsable letter");
                let to_them = message
                    .to()
                    .and_then(|to| to.first())
                    .and_then(|a| a.address())
                    == Some(email);
                if to_them
                    && message
                        .message_id()
                        .is_some_and(|id| id.contains(".sign-in@"))
                {
                    let text = message.body_text(0).expect("a text part").into_owned();
                    let at = text.find("/console/sign-in/").expect("a sign-in link")
                        + "/console/sign-in/".len();
                    let token = &text[at..at + 40];
                    return format!("http://{}/console/sign-in/{token}", self.http);
                }
            }
            assert!(
                started.elapsed() < WAIT,
                "no sign-in letter to {email} within {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Each department of the case acknowledges and replies from its system.
    async fn answer_all(&self, case: &Case) {
        for request in &case.requests {
            let key = format!("demo-dept-{}", request.department);
            let mut system =
                DepartmentServiceClient::with_interceptor(self.channel.clone(), bearer(&key));
            system
                .acknowledge_request(AcknowledgeRequestRequest {
                    request_id: request.id.clone(),
                })
                .await
                .expect("acknowledging");
            system
                .submit_reply(SubmitReplyRequest {
                    request_id: request.id.clone(),
                    text: "已协调开发商补缴土地出让金，3栋业主的不动产权证本月分批办理。".into(),
                    ..Default::default()
                })
                .await
                .expect("replying");
        }
    }
}

fn housing(case: &Case) -> &whistle::proto::DepartmentRequest {
    case.requests
        .iter()
        .find(|r| r.department == "housing")
        .expect("a request to housing")
}

/// Installs Chromium, its driver and the CJK fonts from Debian when they are
/// missing (`support/install.rs`, shared with every test binary).
fn ensure_browser() {
    if let Err(why) = install::debian(INSTALL) {
        panic!(
            "the browser tests need Chromium and chromedriver and could not install them: \
             {why}\nrun `apt-get install -y --no-install-recommends {}` (as root) and try again",
            INSTALL.join(" ")
        );
    }
    assert!(
        Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
        "{} installed, yet {CHROMIUM} or {CHROMEDRIVER} is missing",
        INSTALL.join(" ")
    );
}

/// chromedriver on a free port, and a headless Chromium session through it.
struct Driver {
    _process: Child,
    client: Client,
}

impl Driver {
    async fn start() -> Driver {
        ensure_browser();
        let port = {
            let probe = TcpListener::bind("127.0.0.1:0").expect("a free port");
            probe.local_addr().expect("its address").port()
        };
        let process = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            // Chromium's own words (the file picker's button) in Chinese.
            .env("LANGUAGE", "zh_CN")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("starting chromedriver");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    // The test runs as root in a container.
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--disable-gpu",
                    "--hide-scrollbars",
                    "--lang=zh-CN",
                    "--window-size=390,844",
                ],
            }),
        );
        let started = Instant::now();
        let client = loop {
            let connected = ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await;
            match connected {
                Ok(client) => break client,
                Err(e) if started.elapsed() < WAIT => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("no WebDriver session with chromedriver: {e}"),
            }
        };
        Driver {
            _process: process,
            client,
        }
    }

    async fn text_of(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} on the page: {e}"))
            .text()
            .await
            .expect("its text")
    }

    /// Clicks a submit button and waits until the browser has followed the
    /// redirect to the page whose address ends with `landing`.
    async fn submit(&self, button: &str, landing: &str) {
        // The page the button is on may already have `landing` as its
        // address (the second review of a case); only once its document is
        // gone has the browser followed the post.
        let before = self
            .client
            .find(Locator::Css("html"))
            .await
            .expect("the page's document");
        self.client
            .find(Locator::Css(button))
            .await
            .unwrap_or_else(|e| panic!("{button} on the page: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {button}: {e}"));
        let started = Instant::now();
        while before.tag_name().await.is_ok() {
            assert!(
                started.elapsed() < WAIT,
                "{button} never left the page it was on"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        loop {
            let url = self.client.current_url().await.expect("the address");
            let ready = self
                .client
                .execute("return document.readyState;", vec![])
                .await
                .unwrap_or_default();
            if url.as_str().ends_with(landing) && ready == json!("complete") {
                return;
            }
            assert!(
                started.elapsed() < WAIT,
                "{button} did not lead to …{landing} (at {url})"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `css` is on the page.
    async fn wait_for(&self, css: &str) {
        let started = Instant::now();
        while !self.has(css).await {
            assert!(started.elapsed() < WAIT, "{css} never came");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn type_into(&self, css: &str, text: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("typing into {css}: {e}"));
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    /// Signs in as `email` from the letter the console mails.
    async fn sign_in(&self, app: &App, email: &str, home: &str) {
        self.client
            .goto(&format!("http://{}/console/login", app.http))
            .await
            .expect("the sign-in page");
        self.type_into("#email", email).await;
        self.click("main form button").await;
        self.wait_for("#sent").await;
        let link = app.sign_in_link(email).await;
        self.client.goto(&link).await.expect("following the link");
        self.submit("main form button", home).await;
    }

    async fn has(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .expect("a query")
            .is_empty()
    }

    /// The whole page at `width` CSS pixels, saved as a PNG (see the module doc
    /// for where).
    async fn screenshot(&self, width: u32, name: &str) {
        self.client
            .set_window_size(width, 900)
            .await
            .expect("resizing");
        let height = self
            .client
            .execute(
                "return Math.ceil(document.documentElement.scrollHeight);",
                vec![],
            )
            .await
            .expect("the page height")
            .as_u64()
            .unwrap_or(900);
        let fits = self
            .client
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth;",
                vec![],
            )
            .await
            .expect("the page width");
        assert_eq!(fits, json!(true), "the page overflows {width} px sideways");
        // The window's size includes what is not page (the window frame even
        // headless): add that to the page's height.
        let frame = self
            .client
            .execute("return window.outerHeight - window.innerHeight;", vec![])
            .await
            .expect("the window frame")
            .as_u64()
            .unwrap_or(0);
        self.client
            .set_window_size(width, (height + frame) as u32)
            .await
            .expect("resizing to the whole page");
        let png = self.client.screenshot().await.expect("a screenshot");
        let folder = if std::env::var_os("WHISTLE_UPDATE_SCREENSHOTS").is_some() {
            "docs/screenshots"
        } else {
            "target/screenshots"
        };
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
        std::fs::create_dir_all(&dir).expect("the screenshots' folder");
        std::fs::write(dir.join(name), png).expect("saving the screenshot");
        self.client
            .set_window_size(390, 844)
            .await
            .expect("back to phone size");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clerk_acknowledges_and_replies_with_a_file_in_a_real_browser() {
    let app = App::start().await;
    let case = app.escalate("P-BROWSER-REPLY").await;
    let link = app.link_for(&housing(&case).id).await;
    let driver = Driver::start().await;
    let browser = &driver.client;

    browser.goto(&link).await.expect("opening the link");
    assert_eq!(driver.text_of("#reference").await, housing(&case).reference);
    assert_eq!(driver.text_of("#status").await, "已发函");
    driver.screenshot(390, "reply-page-phone.png").await;
    driver.screenshot(1280, "reply-page-desktop.png").await;

    // 签收
    driver.submit("#ack-button", "?done=ack").await;
    assert!(driver.text_of("#notice").await.contains("已签收"));
    assert_eq!(driver.text_of("#status").await, "已签收");

    // 答复, with a file chosen from disk.
    let files = tempfile::tempdir().expect("a folder for the file");
    let file = files.path().join("答复函.pdf");
    let pdf = b"%PDF-1.4 signed reply".to_vec();
    std::fs::write(&file, &pdf).expect("writing the file");
    let fill = |css: &'static str, text: &'static str| async move {
        browser
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("typing into {css}: {e}"));
    };
    fill(
        "#reply-text",
        "已督促开发商补缴土地出让金，预计下月起分批办证。",
    )
    .await;
    fill("#document-number", "区住建函〔2026〕12号").await;
    fill("#replier-name", "李明").await;
    fill("#replier-phone", "0818-2345678").await;
    browser
        .find(Locator::Css("#attachments"))
        .await
        .expect("the file input")
        .send_keys(file.to_str().expect("a UTF-8 path"))
        .await
        .expect("choosing the file");
    driver.submit("#reply-button", "?done=reply").await;
    assert!(driver.text_of("#notice").await.contains("答复已提交"));
    assert_eq!(driver.text_of("#status").await, "已答复");
    assert!(
        driver.has("#replies a[download]").await,
        "the file is listed"
    );

    // Back to the form and post it again (a clerk unsure it went through),
    // then reload the result: still one reply.
    browser.back().await.expect("going back");
    if driver.has("#reply-form").await {
        // The browser kept the filled-in page: its form key was used.
        eprintln!("the browser kept the posted form; posting it again");
        driver.submit("#reply-button", "?done=repeat").await;
        assert!(driver.text_of("#notice").await.contains("未重复记录"));
    } else {
        // The browser fetched the page again (it is never cached): it offers
        // no second reply.
        eprintln!("the browser fetched the page again; it offers no second reply");
        assert_eq!(driver.text_of("#status").await, "已答复");
    }
    browser.refresh().await.expect("reloading");

    let case = app.case(&case.id).await;
    let request = housing(&case);
    assert_eq!(request.status(), RequestStatus::Replied);
    assert!(
        request.history.is_empty(),
        "one reply: {:#?}",
        request.history
    );
    let reply = request.reply.as_ref().expect("the reply");
    assert_eq!(reply.channel(), ReplyChannel::Page);
    assert_eq!(reply.replier_name, "李明");
    assert_eq!(reply.document_number, "区住建函〔2026〕12号");
    assert_eq!(reply.attachments.len(), 1);
    assert_eq!(reply.attachments[0].filename, "答复函.pdf");
    let content = app
        .office()
        .get_attachment(GetAttachmentRequest {
            attachment_id: reply.attachments[0].id.clone(),
        })
        .await
        .expect("the file")
        .into_inner();
    assert_eq!(content.content, pdf);

    driver
        .client
        .clone()
        .close()
        .await
        .expect("closing the browser");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_link_shows_only_its_outcome_in_a_real_browser() {
    let app = App::start().await;
    let case = app.escalate("P-BROWSER-ENDED").await;
    let request = housing(&case).id.clone();
    let link = app.link_for(&request).await;
    let mut housing_system =
        DepartmentServiceClient::with_interceptor(app.channel.clone(), bearer("demo-dept-housing"));
    housing_system
        .acknowledge_request(AcknowledgeRequestRequest {
            request_id: request.clone(),
        })
        .await
        .expect("acknowledging");
    housing_system
        .submit_reply(SubmitReplyRequest {
            request_id: request.clone(),
            text: "已协调开发商补缴土地出让金，3栋业主的不动产权证已于本月分批办理完毕。".into(),
            ..Default::default()
        })
        .await
        .expect("replying");
    app.office()
        .review_reply(ReviewReplyRequest {
            request_id: request.clone(),
            accept: true,
            reason: String::new(),
        })
        .await
        .expect("accepting");

    let driver = Driver::start().await;
    driver.client.goto(&link).await.expect("opening the link");
    assert!(driver.text_of("#ended").await.contains("此链接已结束"));
    assert!(driver.text_of("#replies").await.contains("已采纳"));
    assert!(!driver.has("form").await, "no form on an ended link");
    driver.screenshot(390, "reply-page-ended-phone.png").await;
    driver
        .client
        .clone()
        .close()
        .await
        .expect("closing the browser");
}

/// The console as a street office uses it: sign in from the mailed link,
/// review each department's reply, record the resident's verdict, and the
/// case closes. Screenshots of the console's main pages on the way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_signs_in_reviews_and_closes_a_case_in_the_console_in_a_real_browser() {
    let app = App::start().await;
    let case = app.escalate("P-BROWSER-CONSOLE").await;
    app.answer_all(&case).await;
    // One more, still open, for the lists and the department's page.
    app.escalate("P-BROWSER-CONSOLE-2").await;
    let driver = Driver::start().await;
    let browser = &driver.client;
    let base = format!("http://{}", app.http);

    driver
        .client
        .goto(&format!("{base}/console/login"))
        .await
        .expect("the sign-in page");
    driver.screenshot(390, "console-login-phone.png").await;
    driver
        .sign_in(&app, "cuiping@whistle.localhost", "/console/cases")
        .await;
    assert!(driver.text_of("#cases").await.contains("P-BROWSER-CONSOLE"));
    driver.screenshot(390, "console-cases-phone.png").await;
    driver.screenshot(1280, "console-cases-desktop.png").await;

    // The new-petition form, and what it says when sent empty.
    browser
        .goto(&format!("{base}/console/cases/new"))
        .await
        .expect("the form");
    driver
        .screenshot(1280, "console-petition-desktop.png")
        .await;
    driver.click("main form button[type=submit]").await;
    driver.wait_for("#problems").await;
    assert!(driver.text_of("#title-error").await.contains("不能为空"));
    driver
        .screenshot(390, "console-petition-errors-phone.png")
        .await;

    // Each reply accepted, then the verdict from a visit.
    let path = format!("/console/cases/{}", case.id);
    browser
        .goto(&format!("{base}{path}"))
        .await
        .expect("the case");
    for _ in &case.requests {
        driver
            .submit(".review-form button", &format!("{path}?done=review"))
            .await;
        assert!(driver.text_of("#notice").await.contains("审核结果已记录"));
    }
    driver.click("#method-VISIT").await;
    driver
        .type_into("#comment", "上门回访，张女士已拿到房产证")
        .await;
    driver
        .submit(".feedback-form button", &format!("{path}?done=feedback"))
        .await;
    assert_eq!(driver.text_of("#status").await, "已办结");
    assert!(driver.text_of("#feedback").await.contains("上门回访"));
    driver.screenshot(390, "console-case-phone.png").await;
    driver.screenshot(1280, "console-case-desktop.png").await;
    let closed = app.case(&case.id).await;
    assert_eq!(closed.status(), whistle::proto::CaseStatus::Closed);
    assert_eq!(
        closed.feedback.expect("the verdict").method(),
        whistle::proto::VisitMethod::Visit
    );

    browser
        .goto(&format!("{base}/console/ledger"))
        .await
        .expect("the ledger");
    assert!(
        driver
            .text_of("#ledger")
            .await
            .contains("P-BROWSER-CONSOLE")
    );
    driver.screenshot(390, "console-ledger-phone.png").await;
    driver.screenshot(1280, "console-ledger-desktop.png").await;

    // The week's visit sheet, checked before anything is escalated: one row
    // would become a case, the other names its wrong column.
    let sheet = app.dir.path().join("走访登记表.csv");
    std::fs::write(
        &sheet,
        "诉求人,联系电话,社区,片区,地址,类别,诉求内容,走访日期,收集人\n\
         王大爷,13900001234,杨柳社区,,杨柳社区5栋,street-lighting,5栋门口路灯不亮,2026-12-01,\n\
         李阿姨,123,杨柳社区,,杨柳社区6栋,street-lighting,6栋楼道路灯坏了,2026-12-01,\n",
    )
    .expect("the sheet");
    browser
        .goto(&format!("{base}/console/import"))
        .await
        .expect("the import page");
    browser
        .find(Locator::Css("#import-form input[type=file]"))
        .await
        .expect("the file field")
        .send_keys(sheet.to_str().expect("a UTF-8 path"))
        .await
        .expect("choosing the sheet");
    driver.click("#import-form input[name=check_only]").await;
    driver.click("#import-form button[type=submit]").await;
    driver.wait_for("#result").await;
    assert!(driver.text_of("#result").await.contains("预检结果"));
    let counts = driver.text_of("#counts").await;
    assert!(
        counts.contains("可以立案 1 行") && counts.contains("有错 1 行"),
        "{counts}"
    );
    assert!(driver.text_of("#row-3").await.contains("联系电话"));
    driver.screenshot(390, "console-import-phone.png").await;
    driver.screenshot(1280, "console-import-desktop.png").await;

    // The Tuesday list: the case still open, with its resident to tell.
    browser
        .goto(&format!("{base}/console/progress"))
        .await
        .expect("the progress list");
    let list = driver.text_of("#progress").await;
    assert!(
        list.contains("P-BROWSER-CONSOLE-2") && list.contains("张女士"),
        "{list}"
    );
    assert!(driver.has("#case-P-BROWSER-CONSOLE-2").await);
    assert!(
        !driver.has("#case-P-BROWSER-CONSOLE").await,
        "the closed case is not listed: {list}"
    );
    driver.screenshot(390, "console-progress-phone.png").await;
    driver
        .screenshot(1280, "console-progress-desktop.png")
        .await;

    // The housing department's open requests.
    driver.submit(".signout button", "/console/login").await;
    driver
        .sign_in(&app, "housing@whistle.localhost", "/console/requests")
        .await;
    assert!(driver.has("#requests").await);
    driver.screenshot(390, "console-requests-phone.png").await;
    driver
        .screenshot(1280, "console-requests-desktop.png")
        .await;
    driver
        .client
        .clone()
        .close()
        .await
        .expect("closing the browser");
}

impl Driver {
    async fn wait_for_text(&self, css: &str, text: &str) -> String {
        let started = Instant::now();
        loop {
            let now = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if now.contains(text) {
                return now;
            }
            assert!(
                started.elapsed() < WAIT,
                "{css} never said {text:?} (it says {now:?})"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervisor_approves_an_extension_and_reads_the_figures_in_a_real_browser() {
    let app = App::start().await;
    let case = app.escalate("P-BROWSER-SUPERVISOR").await;
    let request = housing(&case).clone();
    let due = request.reply_due_at.expect("a reply deadline");
    let asked = prost_types::Timestamp {
        seconds: due.seconds + 24 * 3600,
        nanos: 0,
    };
    let mut housing_system =
        DepartmentServiceClient::with_interceptor(app.channel.clone(), bearer("demo-dept-housing"));
    let extension = housing_system
        .request_extension(RequestExtensionRequest {
            request_id: request.id.clone(),
            new_reply_due_at: Some(asked),
            reason: "需协调开发商补缴土地出让金".into(),
        })
        .await
        .expect("asking for an extension")
        .into_inner()
        .extension
        .expect("the extension")
        .id;

    let driver = Driver::start().await;
    let browser = &driver.client;
    driver
        .sign_in(&app, "supervisor@whistle.localhost", "/console/cases")
        .await;

    // The board runs its script under the page's CSP and follows the live
    // stream: a change elsewhere refreshes it.
    browser
        .goto(&format!("http://{}/console/board", app.http))
        .await
        .expect("opening the board");
    driver.wait_for_text("#live", "实时更新中").await;
    assert!(driver.has("#board-count").await, "the board");
    let land = case
        .requests
        .iter()
        .find(|r| r.department == "land")
        .expect("a request to land");
    DepartmentServiceClient::with_interceptor(app.channel.clone(), bearer("demo-dept-land"))
        .acknowledge_request(AcknowledgeRequestRequest {
            request_id: land.id.clone(),
        })
        .await
        .expect("acknowledging");
    // Refreshed: the script stamps the time it fetched the board again.
    driver.wait_for_text("#live", "实时更新中 · ").await;
    driver.screenshot(390, "console-board-phone.png").await;
    driver.screenshot(1280, "console-board-desktop.png").await;

    browser
        .goto(&format!("http://{}/console/asks", app.http))
        .await
        .expect("opening the asks");
    let form = format!("article[id='extension-{extension}']");
    browser
        .find(Locator::Css(&format!("{form} textarea")))
        .await
        .expect("the ruling's reason")
        .send_keys("同意延期一天")
        .await
        .expect("typing the reason");
    driver.screenshot(390, "console-asks-phone.png").await;
    driver
        .submit(&format!("{form} button[type='submit']"), "?done=extension")
        .await;
    assert!(driver.text_of("#notice").await.contains("延期审批已记录"));

    let ruled = app.case(&case.id).await;
    let ruled = housing(&ruled);
    assert_eq!(
        ruled.reply_due_at.as_ref().map(|t| t.seconds),
        Some(asked.seconds)
    );
    assert_eq!(
        ruled.extensions[0].decided_by,
        "supervisor <supervisor@whistle.localhost>"
    );

    browser
        .goto(&format!("http://{}/console/figures", app.http))
        .await
        .expect("opening the figures");
    for chart in ["#chart-departments", "#chart-trend"] {
        assert!(driver.has(&format!("svg{chart}")).await, "{chart} drawn");
    }
    assert!(
        driver.has("#chart-departments rect").await,
        "bars for the departments"
    );
    let width = browser
        .execute(
            "return document.getElementById('chart-departments').getBoundingClientRect().width;",
            vec![],
        )
        .await
        .expect("the chart's width")
        .as_f64()
        .unwrap_or(0.0);
    assert!(width > 200.0, "the chart is drawn at {width} px");
    driver.screenshot(390, "console-figures-phone.png").await;
    driver.screenshot(1280, "console-figures-desktop.png").await;
    driver
        .client
        .clone()
        .close()
        .await
        .expect("closing the browser");
}
