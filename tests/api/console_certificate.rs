//! Signing in to the console with a TLS client certificate, over real TLS
//! with certificates a throwaway CA makes at test time: the page's listener
//! asks for one (`http.tls.client_ca_file`) without requiring it. A
//! certificate that maps to a principal signs in with one button and acts
//! as `principal <CN=…>`; an unmapped one, or none, gets no button and is
//! refused; the reply page still opens without one; the button's form needs
//! its token like every other.

use reqwest::StatusCode;
use whistle::proto::{CaseStatus, EventKind};

use crate::console::{Console, replied_case};
use crate::helpers::*;
use crate::tls::{Ca, Files, Pair};

scenarios!(
    a_mapped_certificate_signs_in_and_works_its_cases,
    an_unmapped_certificate_or_none_signs_no_one_in,
    the_reply_page_opens_without_a_certificate,
    the_certificate_form_needs_its_token,
);

/// The organisation of `two_offices` with housing's letters delivered, and
/// a desk of the 翠屏 office known by its certificate alone.
fn organisation() -> String {
    let housing = "[departments.housing]\nname = \"区住房和城乡建设局\"\n";
    let org = two_offices();
    assert!(org.contains(housing), "two_offices changed: {org}");
    org.replace(
        housing,
        &format!("{housing}emails = [\"housing@whistle.localhost\"]\n"),
    ) + r#"
[principals.cuiping-desk]
role = "office"
office = "cuiping"
cert_subjects = ["cuiping-desk"]
"#
}

/// Who the timeline names for the desk's certificate.
const DESK: &str = "cuiping-desk <CN=cuiping-desk>";
const BUTTON: &str = ">使用数字证书登录</button>";

/// An app whose page speaks TLS with a server certificate of `ca`, asking for
/// client certificates `ca` signed; the files live as long as the app.
async fn start(backend: Backend, ca: &Ca) -> Option<(TestApp, Files)> {
    let files = Files::new();
    files.serve(&ca.server());
    let ca_file = files.write("clients.crt", &ca.pem);
    let cert = files.path("server.crt");
    let key = files.path("server.key");
    let app = spawn_app_with(
        backend,
        Some(&organisation()),
        &[
            ("WHISTLE__HTTP__TLS__CERT_FILE", cert.to_str().unwrap()),
            ("WHISTLE__HTTP__TLS__KEY_FILE", key.to_str().unwrap()),
            ("WHISTLE__HTTP__TLS__CLIENT_CA_FILE", &ca_file),
        ],
    )
    .await?;
    Some((app, files))
}

/// A browser that trusts `ca` and shows `client`'s certificate, if any.
fn browser(app: &TestApp, ca: &Ca, client: Option<&Pair>) -> Console {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .redirect(reqwest::redirect::Policy::none())
        .add_root_certificate(reqwest::Certificate::from_pem(ca.pem.as_bytes()).unwrap());
    if let Some(pair) = client {
        let pem = format!("{}{}", pair.cert, pair.key);
        builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    let port = app.http_addr.expect("the page is served").port();
    Console {
        client: builder.build().unwrap(),
        base: format!("https://localhost:{port}"),
        cookies: Default::default(),
    }
}

async fn a_mapped_certificate_signs_in_and_works_its_cases(backend: Backend) {
    let ca = Ca::new("whistle test CA");
    let Some((app, _files)) = start(backend, &ca).await else {
        return;
    };
    let case = replied_case(&app, "P-CERT-1").await;
    let desk = ca.client("cuiping-desk");
    let mut console = browser(&app, &ca, Some(&desk));

    let login = console.get("/console/login").await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    assert!(login.body.contains(BUTTON), "{}", login.body);
    assert!(login.body.contains("CN=cuiping-desk"), "{}", login.body);
    assert!(
        login.body.contains("name=\"email\""),
        "the mailed-link form is still there"
    );
    let signed = console
        .post(
            "/console/certificate",
            &[("form_token", &login.hidden("form_token"))],
        )
        .await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    assert_eq!(signed.location(), "/console/cases");
    let cookie = signed
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("whistle_console="))
        .expect("a session cookie");
    assert!(cookie.contains("Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");

    let list = console.get("/console/cases").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(
        list.body.contains(&format!("/console/cases/{}", case.id)),
        "{}",
        list.body
    );
    let path = format!("/console/cases/{}", case.id);
    let request = &case.requests[0];
    let csrf = console.csrf(&path).await;
    let reviewed = console
        .post(
            &format!("{path}/review"),
            &[
                ("csrf", &csrf),
                ("request_id", &request.id),
                ("decision", "accept"),
                ("reason", ""),
            ],
        )
        .await;
    assert_eq!(reviewed.status, StatusCode::SEE_OTHER, "{}", reviewed.body);
    let seen = app.case(&case.id).await;
    assert_eq!(
        seen.status(),
        CaseStatus::Open,
        "one request still to review"
    );
    let accepted = seen
        .events
        .iter()
        .find(|e| e.kind() == EventKind::ReplyAccepted)
        .expect("the acceptance on the timeline");
    assert_eq!(accepted.actor, DESK);

    let sessions = console.get("/console/sessions").await;
    assert_eq!(sessions.status, StatusCode::OK, "{}", sessions.body);
    let csrf = sessions.hidden("csrf");
    let out = console.post("/console/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER, "{}", out.body);
    let after = console.get("/console/cases").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER, "signed out");
    assert_eq!(after.location(), "/console/login");
}

async fn an_unmapped_certificate_or_none_signs_no_one_in(backend: Backend) {
    let ca = Ca::new("whistle test CA");
    let Some((app, _files)) = start(backend, &ca).await else {
        return;
    };
    let stranger = ca.client("someone-else");
    for (client, why) in [
        (Some(&stranger), "未登记为任何单位的证书"),
        (None, "未出示数字证书"),
    ] {
        let mut console = browser(&app, &ca, client);
        let login = console.get("/console/login").await;
        assert_eq!(login.status, StatusCode::OK, "{}", login.body);
        assert!(!login.body.contains(BUTTON), "{}", login.body);
        assert!(login.body.contains(why), "{}", login.body);
        let refused = console
            .post(
                "/console/certificate",
                &[("form_token", &login.hidden("form_token"))],
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
        assert!(refused.body.contains(why), "{}", refused.body);
        assert!(
            !console.cookies.contains_key("whistle_console"),
            "no session"
        );
        let cases = console.get("/console/cases").await;
        assert_eq!(cases.status, StatusCode::SEE_OTHER);
        assert_eq!(cases.location(), "/console/login");
    }
}

async fn the_reply_page_opens_without_a_certificate(backend: Backend) {
    let ca = Ca::new("whistle test CA");
    let Some((app, _files)) = start(backend, &ca).await else {
        return;
    };
    let case = app.escalate(property_certificate("P-CERT-PAGE")).await;
    let housing = request_of(&case, "housing");
    let letter = app
        .wait_for_letter(&format!("<{}.r1.issued@whistle.localhost>", housing.id))
        .await;
    let at = letter.text.find("/r/").expect("a reply link") + 3;
    let token = &letter.text[at..at + 40];
    let mut console = browser(&app, &ca, None);
    let page = console.get(&format!("/r/{token}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(&housing.reference), "{}", page.body);
}

async fn the_certificate_form_needs_its_token(backend: Backend) {
    let ca = Ca::new("whistle test CA");
    let Some((app, _files)) = start(backend, &ca).await else {
        return;
    };
    let desk = ca.client("cuiping-desk");
    let mut console = browser(&app, &ca, Some(&desk));
    let login = console.get("/console/login").await;
    assert!(login.body.contains(BUTTON), "{}", login.body);
    let token = login.hidden("form_token");
    // Without the token, with another, and with the token but not its cookie
    // (as a cross-site post would come).
    for fields in [vec![], vec![("form_token", "0".repeat(40))]] {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let refused = console.post("/console/certificate", &fields).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    }
    console.cookies.clear();
    let refused = console
        .post("/console/certificate", &[("form_token", &token)])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(
        !console.cookies.contains_key("whistle_console"),
        "no session"
    );
}
