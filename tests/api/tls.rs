//! Transport security: the gRPC listener and the reply page over TLS, client
//! certificates that are principals, and certificates renewed and client CAs
//! rotated while the service runs. Every certificate and key is made here, at
//! test time, by a throwaway CA; none is checked in. The store does not matter
//! to any of this, so these run on SQLite only.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use config::Environment;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use whistle::app::Application;
use whistle::proto::case_service_client::CaseServiceClient;
use whistle::proto::department_service_client::DepartmentServiceClient;
use whistle::proto::{AcknowledgeRequestRequest, ListAssignedRequestsRequest, ListCasesRequest};
use whistle::settings::Settings;
use whistle::store::testing;
use whistle::tls::{Reload, ReloadingCert, ReloadingClientCa};

use crate::helpers::*;

/// A certificate authority made for one test.
pub(crate) struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub(crate) pem: String,
}

impl Ca {
    pub(crate) fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate and its key, PEM: for a server at `names`, or a client.
    fn issue(&self, common_name: &str, names: &[&str], purpose: ExtendedKeyUsagePurpose) -> Pair {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![purpose];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Pair {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    pub(crate) fn server(&self) -> Pair {
        self.issue(
            "whistle test server",
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    pub(crate) fn client(&self, common_name: &str) -> Pair {
        self.issue(common_name, &[], ExtendedKeyUsagePurpose::ClientAuth)
    }
}

pub(crate) struct Pair {
    pub(crate) cert: String,
    pub(crate) key: String,
}

/// A server on TLS, started in this process over a fresh SQLite database.
struct TlsApp {
    grpc: SocketAddr,
    http: Option<SocketAddr>,
    /// gRPC's first, then the page's.
    certificates: Vec<Arc<ReloadingCert>>,
    /// gRPC's client CA, when one is set.
    client_ca: Option<Arc<ReloadingClientCa>>,
    shutdown: CancellationToken,
    dir: TempDir,
}

impl Drop for TlsApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Where a test's files go: the server's pair, the client CA.
pub(crate) struct Files {
    dir: TempDir,
}

impl Files {
    pub(crate) fn new() -> Files {
        Files {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn write(&self, name: &str, text: &str) -> String {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    }

    /// Puts the server's pair where `server.crt` and `server.key` are read.
    pub(crate) fn serve(&self, pair: &Pair) {
        self.write("server.crt", &pair.cert);
        self.write("server.key", &pair.key);
    }
}

/// The demo departments and keys, one more office, and a department system
/// known by its certificate alone: `housing-system`, which is housing.
fn organisation() -> String {
    two_offices()
        + r#"
[principals.housing-system]
role = "department"
department = "housing"
cert_subjects = ["housing-system"]
"#
}

/// Starts the app with `grpc.tls` from `files` (server.crt, server.key) and
/// `env` on top; `Err` when it does not start.
async fn start(files: &Files, env: &[(&str, &str)]) -> anyhow::Result<TlsApp> {
    let dir = tempfile::tempdir().unwrap();
    let settings_file = dir.path().join("whistle.toml");
    std::fs::write(&settings_file, organisation()).unwrap();
    let database = testing::sqlite_url(dir.path());
    let outbox = dir.path().join("outbox");
    let cert = files.path("server.crt");
    let key = files.path("server.key");
    let vars: std::collections::HashMap<String, String> = [
        ("WHISTLE__DATABASE__URL", database.as_str()),
        ("WHISTLE__GRPC__LISTEN", "127.0.0.1:0"),
        ("WHISTLE__HTTP__LISTEN", "127.0.0.1:0"),
        ("WHISTLE__GRPC__SHUTDOWN_NOTICE_SECS", "0"),
        ("WHISTLE__MAIL__FILE_DIR", outbox.to_str().unwrap()),
        ("WHISTLE__GRPC__TLS__CERT_FILE", cert.to_str().unwrap()),
        ("WHISTLE__GRPC__TLS__KEY_FILE", key.to_str().unwrap()),
        // Only the test reloads, so that what it sees is what it did.
        ("WHISTLE__GRPC__TLS__RELOAD_SECS", "0"),
        ("WHISTLE__HTTP__TLS__RELOAD_SECS", "0"),
    ]
    .into_iter()
    .chain(env.iter().copied())
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let environment = Environment::with_prefix("WHISTLE")
        .prefix_separator("__")
        .separator("__")
        .source(Some(vars));
    let settings = Settings::load_with(Some(&settings_file), environment)?;
    let app = Application::builder(&settings).start().await?;
    let running = TlsApp {
        grpc: app.grpc_addr(),
        http: app.http_addr(),
        certificates: app.tls_certificates(),
        client_ca: app.tls_client_ca(),
        shutdown: app.shutdown_token(),
        dir,
    };
    tokio::spawn(app.run_until_stopped());
    Ok(running)
}

impl TlsApp {
    /// A channel that trusts `ca` and shows `client`'s certificate, if any.
    /// It connects at its first call, so a refused handshake shows there.
    fn channel(&self, ca: &Ca, client: Option<&Pair>) -> Channel {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&ca.pem))
            .domain_name("localhost");
        if let Some(pair) = client {
            tls = tls.identity(Identity::from_pem(&pair.cert, &pair.key));
        }
        Channel::from_shared(format!("https://{}", self.grpc))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect_lazy()
    }

    fn cases(&self, ca: &Ca, client: Option<&Pair>, key: Option<&str>) -> CaseClient {
        CaseServiceClient::with_interceptor(self.channel(ca, client), with_key(key))
    }

    fn departments(&self, ca: &Ca, client: Option<&Pair>, key: Option<&str>) -> DepartmentClient {
        DepartmentServiceClient::with_interceptor(self.channel(ca, client), with_key(key))
    }
}

fn with_key(key: Option<&str>) -> Bearer {
    match key {
        Some(key) => bearer(key),
        None => no_key(),
    }
}

/// Whether a call over a fresh connection trusting only `ca` gets an answer
/// from the service (any answer: the handshake went through).
async fn handshakes(app: &TlsApp, ca: &Ca) -> bool {
    match app
        .cases(ca, None, Some(OFFICE_KEY))
        .list_cases(ListCasesRequest::default())
        .await
    {
        Ok(_) => true,
        Err(status) => {
            assert!(
                is_transport_failure(&status),
                "a refused handshake, not an answer: {status:?}"
            );
            false
        }
    }
}

/// A call that failed below gRPC (no TLS session, no HTTP/2), as opposed to
/// one the service answered with a status of its own. Under TLS 1.3 a client
/// whose certificate the server refuses has already sent its request when the
/// alert arrives, and sees the connection close under it (CANCELLED).
fn is_transport_failure(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::Unknown | Code::Internal | Code::Cancelled
    ) && !status.metadata().contains_key("content-type")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_client_calls_and_a_plain_text_client_is_refused() {
    let ca = Ca::new("whistle test CA");
    let files = Files::new();
    files.serve(&ca.server());
    let app = start(&files, &[]).await.unwrap();

    let listed = app
        .cases(&ca, None, Some(OFFICE_KEY))
        .list_cases(ListCasesRequest::default())
        .await
        .expect("the office calls over TLS with its key");
    assert!(listed.into_inner().cases.is_empty());

    let plain = Channel::from_shared(format!("http://{}", app.grpc))
        .unwrap()
        .connect_lazy();
    let refused = CaseServiceClient::with_interceptor(plain, bearer(OFFICE_KEY))
        .list_cases(ListCasesRequest::default())
        .await
        .expect_err("plain text is not spoken");
    assert!(is_transport_failure(&refused), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_department_system_calls_with_its_certificate_alone_and_is_that_department() {
    let ca = Ca::new("whistle test CA");
    let clients = Ca::new("government network client CA");
    let files = Files::new();
    files.serve(&ca.server());
    let client_ca = files.write("clients.crt", &clients.pem);
    let app = start(
        &files,
        &[("WHISTLE__GRPC__TLS__CLIENT_CA_FILE", &client_ca)],
    )
    .await
    .unwrap();

    // Optional client certificates: the office still calls with its key alone.
    let case = app
        .cases(&ca, None, Some(OFFICE_KEY))
        .escalate_petition(property_certificate("TLS-1"))
        .await
        .expect("a key without a certificate")
        .into_inner();
    let request_id = request_of(&case, "housing").id.clone();

    let housing_system = clients.client("housing-system");
    let mut departments = app.departments(&ca, Some(&housing_system), None);
    let listed = departments
        .list_assigned_requests(ListAssignedRequestsRequest::default())
        .await
        .expect("the certificate is housing")
        .into_inner();
    let ids: Vec<&str> = listed.requests.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, [request_id.as_str()], "housing's request, and only it");
    departments
        .acknowledge_request(AcknowledgeRequestRequest {
            request_id: request_id.clone(),
        })
        .await
        .expect("housing acknowledges its own request");

    // Authorised as the department, not more: an office's call is refused.
    refused(
        app.cases(&ca, Some(&housing_system), None)
            .escalate_petition(property_certificate("TLS-2"))
            .await,
        Code::PermissionDenied,
    );

    // The timeline names the principal the certificate is.
    let case = app
        .cases(&ca, None, Some(OFFICE_KEY))
        .get_case(whistle::proto::GetCaseRequest {
            case_id: case.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        case.events
            .iter()
            .any(|e| e.actor == "housing-system" && e.request_id == request_id),
        "{:?}",
        case.events
    );

    // A key and a certificate must be one principal's.
    let both = refused(
        app.departments(&ca, Some(&housing_system), Some(&department_key("land")))
            .list_assigned_requests(ListAssignedRequestsRequest::default())
            .await,
        Code::Unauthenticated,
    );
    assert!(both.message().contains("different principals"), "{both:?}");

    // A certificate the CA signed that is nobody's is no credential by itself.
    let stranger = clients.client("someone-else");
    let nobody = refused(
        app.departments(&ca, Some(&stranger), None)
            .list_assigned_requests(ListAssignedRequestsRequest::default())
            .await,
        Code::Unauthenticated,
    );
    assert!(nobody.message().contains("no principal"), "{nobody:?}");
    app.departments(&ca, Some(&stranger), Some(&department_key("land")))
        .list_assigned_requests(ListAssignedRequestsRequest::default())
        .await
        .expect("with a key it is that key's principal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_no_trusted_ca_signed_is_refused_at_the_handshake() {
    let ca = Ca::new("whistle test CA");
    let clients = Ca::new("government network client CA");
    let forger = Ca::new("someone's own CA");
    let files = Files::new();
    files.serve(&ca.server());
    let client_ca = files.write("clients.crt", &clients.pem);

    let optional = start(
        &files,
        &[("WHISTLE__GRPC__TLS__CLIENT_CA_FILE", &client_ca)],
    )
    .await
    .unwrap();
    let forged = forger.client("housing-system");
    let status = optional
        .departments(&ca, Some(&forged), None)
        .list_assigned_requests(ListAssignedRequestsRequest::default())
        .await
        .expect_err("a forged certificate gets no session");
    assert!(is_transport_failure(&status), "{status:?}");

    let required = start(
        &files,
        &[
            ("WHISTLE__GRPC__TLS__CLIENT_CA_FILE", &client_ca),
            ("WHISTLE__GRPC__TLS__CLIENT_AUTH", "required"),
        ],
    )
    .await
    .unwrap();
    let status = required
        .cases(&ca, None, Some(OFFICE_KEY))
        .list_cases(ListCasesRequest::default())
        .await
        .expect_err("no certificate, no connection, whatever the key");
    assert!(is_transport_failure(&status), "{status:?}");
    required
        .departments(&ca, Some(&clients.client("housing-system")), None)
        .list_assigned_requests(ListAssignedRequestsRequest::default())
        .await
        .expect("a certificate the client CA signed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_serves_new_connections_and_a_broken_one_does_not() {
    let old_ca = Ca::new("the CA of last year");
    let new_ca = Ca::new("the CA of this year");
    let files = Files::new();
    files.serve(&old_ca.server());
    let app = start(&files, &[]).await.unwrap();
    let grpc = &app.certificates[0];

    assert!(handshakes(&app, &old_ca).await);
    assert!(!handshakes(&app, &new_ca).await, "not renewed yet");
    assert_eq!(grpc.check(), Reload::Unchanged);

    files.serve(&new_ca.server());
    assert_eq!(grpc.check(), Reload::Reloaded);
    assert!(handshakes(&app, &new_ca).await, "the renewed certificate");
    assert!(!handshakes(&app, &old_ca).await, "the old one is gone");

    // Half a renewal: a new certificate beside the old key.
    files.write("server.crt", &old_ca.server().cert);
    assert_eq!(grpc.check(), Reload::Refused);
    assert!(
        handshakes(&app, &new_ca).await,
        "the last good pair serves on"
    );
    files.write("server.crt", "-----BEGIN CERTIFICATE-----\ngarbage\n");
    assert_eq!(grpc.check(), Reload::Refused);
    assert!(
        handshakes(&app, &new_ca).await,
        "the last good pair serves on"
    );
    std::fs::remove_file(files.path("server.key")).unwrap();
    assert_eq!(grpc.check(), Reload::Refused);
    assert!(
        handshakes(&app, &new_ca).await,
        "the last good pair serves on"
    );
}

/// What a department system gets from a call over a fresh connection showing
/// `client` alone: the ids of the requests it is assigned, or the failure.
async fn assigned(app: &TlsApp, ca: &Ca, client: &Pair) -> Result<Vec<String>, tonic::Status> {
    let listed = app
        .departments(ca, Some(client), None)
        .list_assigned_requests(ListAssignedRequestsRequest::default())
        .await?;
    Ok(listed
        .into_inner()
        .requests
        .into_iter()
        .map(|r| r.id)
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_client_ca_verifies_new_connections_and_a_broken_one_does_not() {
    let ca = Ca::new("whistle test CA");
    let old_clients = Ca::new("client CA of last year");
    let new_clients = Ca::new("client CA of this year");
    let files = Files::new();
    files.serve(&ca.server());
    let client_ca = files.write("clients.crt", &old_clients.pem);
    let app = start(
        &files,
        &[("WHISTLE__GRPC__TLS__CLIENT_CA_FILE", &client_ca)],
    )
    .await
    .unwrap();
    let reload = app.client_ca.clone().expect("a client CA is set");
    let case = app
        .cases(&ca, None, Some(OFFICE_KEY))
        .escalate_petition(property_certificate("CA-1"))
        .await
        .unwrap()
        .into_inner();
    let housings = vec![request_of(&case, "housing").id.clone()];
    let old_housing = old_clients.client("housing-system");
    let new_housing = new_clients.client("housing-system");
    let refused_at_handshake = |answer: Result<Vec<String>, tonic::Status>, what: &str| {
        let status = answer.expect_err(what);
        assert!(is_transport_failure(&status), "{what}: {status:?}");
    };

    // A connection opened under the old CA, kept open across the rotation.
    let mut open = app.departments(&ca, Some(&old_housing), None);
    let list = ListAssignedRequestsRequest::default;
    open.list_assigned_requests(list())
        .await
        .expect("the old CA's certificate");
    assert_eq!(assigned(&app, &ca, &old_housing).await.unwrap(), housings);
    refused_at_handshake(
        assigned(&app, &ca, &new_housing).await,
        "the new CA is not trusted yet",
    );
    assert_eq!(reload.check(), Reload::Unchanged);

    // During the rotation the file holds both CAs, and both are trusted.
    files.write(
        "clients.crt",
        &format!("{}{}", old_clients.pem, new_clients.pem),
    );
    assert_eq!(reload.check(), Reload::Reloaded);
    assert_eq!(assigned(&app, &ca, &old_housing).await.unwrap(), housings);
    assert_eq!(
        assigned(&app, &ca, &new_housing).await.unwrap(),
        housings,
        "the new CA's certificate is housing-system too"
    );

    // The old CA taken out: its certificates get no new connection.
    files.write("clients.crt", &new_clients.pem);
    assert_eq!(reload.check(), Reload::Reloaded);
    assert_eq!(assigned(&app, &ca, &new_housing).await.unwrap(), housings);
    refused_at_handshake(
        assigned(&app, &ca, &old_housing).await,
        "the old CA is no longer trusted",
    );
    open.list_assigned_requests(list())
        .await
        .expect("an open connection keeps what it was verified with");
    app.cases(&ca, None, Some(OFFICE_KEY))
        .list_cases(ListCasesRequest::default())
        .await
        .expect("still optional: a key without a certificate connects");

    // A broken replacement: refused, reported once, the CA in use stays.
    files.write("clients.crt", "-----BEGIN CERTIFICATE-----\ngarbage\n");
    assert_eq!(reload.check(), Reload::Refused);
    assert_eq!(reload.check(), Reload::Unchanged, "reported once");
    assert_eq!(assigned(&app, &ca, &new_housing).await.unwrap(), housings);
    refused_at_handshake(
        assigned(&app, &ca, &old_housing).await,
        "a broken file does not bring the old CA back",
    );
    std::fs::remove_file(files.path("clients.crt")).unwrap();
    assert_eq!(reload.check(), Reload::Refused);
    assert_eq!(assigned(&app, &ca, &new_housing).await.unwrap(), housings);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_required_client_certificate_stays_required_across_a_rotation() {
    let ca = Ca::new("whistle test CA");
    let old_clients = Ca::new("client CA of last year");
    let new_clients = Ca::new("client CA of this year");
    let files = Files::new();
    files.serve(&ca.server());
    let client_ca = files.write("clients.crt", &old_clients.pem);
    let app = start(
        &files,
        &[
            ("WHISTLE__GRPC__TLS__CLIENT_CA_FILE", &client_ca),
            ("WHISTLE__GRPC__TLS__CLIENT_AUTH", "required"),
        ],
    )
    .await
    .unwrap();
    files.write("clients.crt", &new_clients.pem);
    assert_eq!(app.client_ca.as_ref().unwrap().check(), Reload::Reloaded);
    assigned(&app, &ca, &new_clients.client("housing-system"))
        .await
        .expect("the new CA's certificate");
    let status = app
        .cases(&ca, None, Some(OFFICE_KEY))
        .list_cases(ListCasesRequest::default())
        .await
        .expect_err("no certificate, no connection, whatever the key");
    assert!(is_transport_failure(&status), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_broken_file_stops_start_up_naming_the_setting() {
    let ca = Ca::new("whistle test CA");
    let files = Files::new();
    let error = |e: anyhow::Error| format!("{e:#}");

    let missing = error(start(&files, &[]).await.err().expect("no files"));
    assert!(missing.contains("grpc.tls"), "{missing}");
    assert!(missing.contains("server.crt"), "{missing}");

    files.serve(&ca.server());
    files.write("server.key", &ca.server().key);
    let mismatched = error(start(&files, &[]).await.err().expect("another key"));
    assert!(mismatched.contains("does not go with"), "{mismatched}");

    files.serve(&ca.server());
    let not_a_ca = files.write("clients.crt", "not PEM at all");
    let bad_ca = error(
        start(&files, &[("WHISTLE__GRPC__TLS__CLIENT_CA_FILE", &not_a_ca)])
            .await
            .err()
            .expect("no CA in the file"),
    );
    assert!(bad_ca.contains("grpc.tls.client_ca_file"), "{bad_ca}");

    // The page's client CA: only with the page's TLS, and a file that loads.
    let ca_file = files.write("people.crt", &ca.pem);
    let without_tls = error(
        start(&files, &[("WHISTLE__HTTP__TLS__CLIENT_CA_FILE", &ca_file)])
            .await
            .err()
            .expect("no http.tls.cert_file"),
    );
    assert!(
        without_tls.contains("http.tls.client_ca_file: client certificates need TLS"),
        "{without_tls}"
    );
    let (cert, key) = (files.path("server.crt"), files.path("server.key"));
    let bad_page_ca = error(
        start(
            &files,
            &[
                ("WHISTLE__HTTP__TLS__CERT_FILE", cert.to_str().unwrap()),
                ("WHISTLE__HTTP__TLS__KEY_FILE", key.to_str().unwrap()),
                ("WHISTLE__HTTP__TLS__CLIENT_CA_FILE", &not_a_ca),
            ],
        )
        .await
        .err()
        .expect("no CA in the page's file"),
    );
    assert!(
        bad_page_ca.contains("http.tls.client_ca_file"),
        "{bad_page_ca}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reply_page_is_served_over_https() {
    let ca = Ca::new("whistle test CA");
    let files = Files::new();
    files.serve(&ca.server());
    let cert = files.path("server.crt");
    let key = files.path("server.key");
    let app = start(
        &files,
        &[
            ("WHISTLE__HTTP__TLS__CERT_FILE", cert.to_str().unwrap()),
            ("WHISTLE__HTTP__TLS__KEY_FILE", key.to_str().unwrap()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(app.certificates.len(), 2, "gRPC's and the page's");
    let page = app.http.expect("the page listens");
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let answer = client
        .get(format!("https://localhost:{}/healthz", page.port()))
        .send()
        .await
        .expect("HTTPS with the test CA");
    assert_eq!(answer.status(), reqwest::StatusCode::OK);
    assert_eq!(answer.text().await.unwrap(), "ok");
    let plain = reqwest::get(format!("http://{page}/healthz")).await;
    assert!(plain.is_err(), "plain HTTP is not spoken: {plain:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_health_command_asks_a_tls_listener_with_the_ca_file() {
    let ca = Ca::new("whistle test CA");
    let files = Files::new();
    files.serve(&ca.server());
    let app = start(&files, &[]).await.unwrap();
    let ca_file = files.write("ca.crt", &ca.pem);
    let health = |args: &[&str]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_whistle"));
        command
            .current_dir(app.dir.path())
            .arg("health")
            .arg("--addr")
            .arg(app.grpc.to_string())
            .args(args);
        async move { command.output().await.expect("running whistle health") }
    };
    let answer = health(&["--ca-file", &ca_file, "--server-name", "localhost"]).await;
    assert!(answer.status.success(), "{answer:?}");
    assert_eq!(String::from_utf8_lossy(&answer.stdout).trim(), "SERVING");
    let plain = health(&[]).await;
    assert_eq!(plain.status.code(), Some(1), "{plain:?}");
}
