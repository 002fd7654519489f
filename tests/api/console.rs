//! The console (工作台) over HTTP, as a street office's staff use it: ask for
//! a sign-in letter, follow its link, work the office's cases. What it
//! refuses: a used or expired link, a form without its token, another
//! office's case, a session signed out. What the console records is checked
//! where a system reads it, over gRPC, with the person on the timeline.

use std::collections::HashMap;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use whistle::clock::Clock;
use whistle::proto::{CaseStatus, EventKind, RequestStatus};

use crate::helpers::*;

scenarios!(
    an_office_signs_in_from_its_letter_reviews_a_reply_and_records_the_verdict,
    a_rejection_in_the_console_reissues_the_request,
    a_sign_in_link_signs_in_once,
    an_unknown_address_gets_the_same_answer_and_no_letter,
    a_form_without_its_token_is_forbidden_and_changes_nothing,
    a_signed_out_session_is_refused,
    a_person_sees_their_sessions_and_revokes_another,
    console_pages_carry_the_security_headers_and_a_strict_cookie,
    an_expired_sign_in_link_is_refused,
    a_session_ends_when_idle_and_at_the_end_of_its_lifetime,
    a_supervisor_reads_any_case_but_is_given_no_office_forms,
);

scenarios!(
    module = two;
    settings = two_offices;
    another_offices_case_is_not_found,
);

pub(crate) const PERSON: &str = "cuiping@whistle.localhost";
/// What the timeline names for a console action: the principal and the person.
pub(crate) const ACTOR: &str = "cuiping-office <cuiping@whistle.localhost>";

/// A browser with its cookie jar, following no redirects.
pub(crate) struct Console {
    pub(crate) client: reqwest::Client,
    pub(crate) base: String,
    pub(crate) cookies: HashMap<String, String>,
}

pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no Location in a {} answer:\n{}", self.status, self.body))
    }

    /// The value of a hidden field of the page's (first) form naming it.
    pub(crate) fn hidden(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no {name} on the page:\n{}", self.body))
            + marker.len();
        self.body[start..].split('"').next().unwrap().to_owned()
    }

    /// A header's value, empty when it is absent.
    pub(crate) fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }

    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }
}

impl Console {
    pub(crate) fn new(app: &TestApp) -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: format!("http://{}", app.http_addr.expect("the page is served")),
            cookies: HashMap::new(),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        }
    }

    pub(crate) fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn answer(&mut self, response: reqwest::Response) -> Answer {
        let answer = Answer {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        };
        for set in answer.set_cookies() {
            let pair = set.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || set.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        answer
    }

    pub(crate) async fn get(&mut self, path: &str) -> Answer {
        let response = self
            .client
            .get(self.url(path))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.answer(response).await
    }

    pub(crate) async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let response = self
            .client
            .post(self.url(path))
            .header("cookie", self.cookie_header())
            .form(fields)
            .send()
            .await
            .unwrap();
        self.answer(response).await
    }

    /// Asks for a sign-in letter for `email`; the page's answer.
    async fn ask(&mut self, email: &str) -> Answer {
        let form = self.get("/console/login").await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.body);
        let token = form.hidden("form_token");
        self.post(
            "/console/login",
            &[("form_token", &token), ("email", email)],
        )
        .await
    }

    /// Opens a sign-in link and presses its button.
    async fn follow(&mut self, link: &str) -> Answer {
        let page = self.get(link).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let (form_token, token) = (page.hidden("form_token"), page.hidden("token"));
        self.post(
            "/console/sign-in",
            &[("form_token", &form_token), ("token", &token)],
        )
        .await
    }

    /// Signs in as `email` from the letter it receives.
    pub(crate) async fn sign_in(app: &TestApp, email: &str) -> Self {
        let mut console = Self::new(app);
        let before = app
            .letters()
            .iter()
            .filter(|l| l.to == [email] && l.message_id.contains(".sign-in@"))
            .count();
        let asked = console.ask(email).await;
        assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);
        let link = sign_in_link(app, email, before + 1).await;
        let signed = console.follow(&link).await;
        assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
        assert!(
            ["/console/cases", "/console/requests"].contains(&signed.location()),
            "{}",
            signed.location()
        );
        console
    }

    /// The CSRF token the signed-in pages' forms carry.
    pub(crate) async fn csrf(&mut self, path: &str) -> String {
        let page = self.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        page.hidden("csrf")
    }
}

/// The `n`-th sign-in letter to `email` (waiting for it), and its link.
async fn sign_in_link(app: &TestApp, email: &str, n: usize) -> String {
    let letters = eventually(&format!("{n} sign-in letters to {email}"), || async {
        let letters: Vec<Letter> = app
            .letters()
            .into_iter()
            .filter(|l| l.to == [email] && l.message_id.contains(".sign-in@"))
            .collect();
        (letters.len() >= n).then_some(letters)
    })
    .await;
    // Letter ids are UUIDv7: in the order they were written.
    let mut letters = letters;
    letters.sort_by(|a, b| a.message_id.cmp(&b.message_id));
    let text = &letters[n - 1].text;
    let start = text
        .find("http://")
        .unwrap_or_else(|| panic!("no link in the letter:\n{text}"));
    let rest = &text[start..];
    let at = rest.find("/console/sign-in/").expect("a sign-in link") + "/console/sign-in/".len();
    format!("{}{}", &rest[..at], &rest[at..at + 40])
}

/// A case whose housing and land requests both await the office's review.
pub(crate) async fn replied_case(app: &TestApp, petition: &str) -> whistle::proto::Case {
    let case = app.escalate(property_certificate(petition)).await;
    for request in &case.requests {
        app.answer(
            &request.department,
            &request.id,
            "已督促开发商补缴，下月起分批办证。",
        )
        .await;
    }
    app.case(&case.id).await
}

async fn an_office_signs_in_from_its_letter_reviews_a_reply_and_records_the_verdict(app: TestApp) {
    let case = replied_case(&app, "P-CONSOLE-1").await;
    let mut console = Console::sign_in(&app, PERSON).await;

    let list = console.get("/console/cases").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.body.contains(&format!("/console/cases/{}", case.id)),
        "{}",
        list.body
    );
    let filtered = console.get("/console/cases?status=CLOSED").await;
    assert!(!filtered.body.contains(&case.id), "{}", filtered.body);

    let path = format!("/console/cases/{}", case.id);
    let page = console.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains(RESIDENT_PHONE),
        "the office sees the phone"
    );
    assert!(page.body.contains("已督促开发商补缴"), "{}", page.body);
    for request in &case.requests {
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
        assert_eq!(reviewed.location(), format!("{path}?done=review"));
    }
    let seen = app.case(&case.id).await;
    assert_eq!(seen.status(), CaseStatus::AwaitingFeedback);
    let accepted: Vec<_> = seen
        .events
        .iter()
        .filter(|e| e.kind() == EventKind::ReplyAccepted)
        .collect();
    assert_eq!(accepted.len(), 2);
    assert!(accepted.iter().all(|e| e.actor == ACTOR), "{accepted:#?}");

    let csrf = console.csrf(&path).await;
    let recorded = console
        .post(
            &format!("{path}/feedback"),
            &[
                ("csrf", &csrf),
                ("verdict", "SATISFIED"),
                ("method", "PHONE"),
                ("comment", "张女士已拿到房产证"),
            ],
        )
        .await;
    assert_eq!(recorded.status, StatusCode::SEE_OTHER, "{}", recorded.body);
    let closed = app.case(&case.id).await;
    assert_eq!(closed.status(), CaseStatus::Closed);
    let feedback = closed
        .events
        .iter()
        .find(|e| e.kind() == EventKind::FeedbackRecorded)
        .expect("the verdict on the timeline");
    assert_eq!(feedback.actor, ACTOR);
    let page = console.get(&path).await;
    assert!(page.body.contains("已办结"), "{}", page.body);
    assert!(
        page.body
            .contains("cuiping-office &lt;cuiping@whistle.localhost&gt;"),
        "the person on the page's timeline: {}",
        page.body
    );
}

async fn a_rejection_in_the_console_reissues_the_request(app: TestApp) {
    let case = replied_case(&app, "P-CONSOLE-REJECT").await;
    let housing = request_of(&case, "housing").id.clone();
    let mut console = Console::sign_in(&app, PERSON).await;
    let path = format!("/console/cases/{}", case.id);

    // A rejection without its reason is refused beside the form, in Chinese.
    let csrf = console.csrf(&path).await;
    let refused = console
        .post(
            &format!("{path}/review"),
            &[
                ("csrf", &csrf),
                ("request_id", &housing),
                ("decision", "reject"),
                ("reason", " "),
            ],
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(refused.body.contains("理由"), "{}", refused.body);
    assert_eq!(
        request_of(&app.case(&case.id).await, "housing").status(),
        RequestStatus::Replied
    );

    let csrf = console.csrf(&path).await;
    let rejected = console
        .post(
            &format!("{path}/review"),
            &[
                ("csrf", &csrf),
                ("request_id", &housing),
                ("decision", "reject"),
                ("reason", "未说明办证时间"),
            ],
        )
        .await;
    assert_eq!(rejected.status, StatusCode::SEE_OTHER, "{}", rejected.body);
    let seen = app.case(&case.id).await;
    let request = request_of(&seen, "housing");
    assert_eq!(request.status(), RequestStatus::Issued);
    assert_eq!(request.round, 2);
    let event = seen
        .events
        .iter()
        .find(|e| e.kind() == EventKind::ReplyRejected)
        .unwrap();
    assert_eq!(event.actor, ACTOR);
}

async fn a_sign_in_link_signs_in_once(app: TestApp) {
    let mut first = Console::new(&app);
    first.ask(PERSON).await;
    let link = sign_in_link(&app, PERSON, 1).await;
    let signed = first.follow(&link).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);

    // The same link again, from another browser: refused, no session.
    let mut second = Console::new(&app);
    let again = second.follow(&link).await;
    assert_eq!(again.status, StatusCode::FORBIDDEN, "{}", again.body);
    assert!(again.body.contains("已使用或已过期"), "{}", again.body);
    assert!(!second.cookies.contains_key("whistle_console"));
    let cases = second.get("/console/cases").await;
    assert_eq!(cases.status, StatusCode::SEE_OTHER);
    assert_eq!(cases.location(), "/console/login");

    // A token never issued, and junk, are refused the same way.
    let forged = format!("{}{}", &link[..link.len() - 40], "0".repeat(40));
    assert_eq!(second.follow(&forged).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        second
            .follow(&format!("{}/console/sign-in/junk", second.base))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

async fn an_expired_sign_in_link_is_refused(backend: Backend) {
    let Some(app) = spawn_app_with_clock(backend, None, &[], monday_morning()).await else {
        return;
    };
    let mut console = Console::new(&app);
    console.ask(PERSON).await;
    let link = sign_in_link(&app, PERSON, 1).await;
    app.set_clock(app.clock().now() + chrono::Duration::minutes(15) + chrono::Duration::seconds(1));
    let late = console.follow(&link).await;
    assert_eq!(late.status, StatusCode::FORBIDDEN, "{}", late.body);
    assert!(!console.cookies.contains_key("whistle_console"));

    // A fresh link within its 15 minutes signs in.
    console.ask(PERSON).await;
    let link = sign_in_link(&app, PERSON, 2).await;
    app.set_clock(app.clock().now() + chrono::Duration::minutes(14));
    assert_eq!(console.follow(&link).await.status, StatusCode::SEE_OTHER);
    app.stop().await;
}

async fn an_unknown_address_gets_the_same_answer_and_no_letter(app: TestApp) {
    let mut console = Console::new(&app);
    let unknown = console.ask("nobody@whistle.localhost").await;
    let known = console.ask(PERSON).await;
    assert_eq!(unknown.status, known.status);
    let without_token = |a: &Answer| a.body.replace(&a.hidden("form_token"), "");
    assert_eq!(without_token(&unknown), without_token(&known));
    assert!(known.body.contains("如果该邮箱已登记"), "{}", known.body);
    // The letter to the known address is written; by then none went to the
    // unknown one, which was asked for first.
    sign_in_link(&app, PERSON, 1).await;
    assert!(
        app.letters()
            .iter()
            .all(|l| l.to != ["nobody@whistle.localhost"])
    );
}

async fn a_form_without_its_token_is_forbidden_and_changes_nothing(app: TestApp) {
    let case = replied_case(&app, "P-CONSOLE-CSRF").await;
    let housing = request_of(&case, "housing").id.clone();
    let mut console = Console::sign_in(&app, PERSON).await;
    let path = format!("/console/cases/{}", case.id);
    let review = format!("{path}/review");
    let accept = [("request_id", housing.as_str()), ("decision", "accept")];

    let missing = console.post(&review, &accept).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN, "{}", missing.body);
    let mut forged = accept.to_vec();
    forged.push(("csrf", "0123456789abcdef0123456789abcdef01234567"));
    assert_eq!(
        console.post(&review, &forged).await.status,
        StatusCode::FORBIDDEN
    );
    let feedback = console
        .post(&format!("{path}/feedback"), &[("verdict", "SATISFIED")])
        .await;
    assert_eq!(feedback.status, StatusCode::FORBIDDEN);
    assert_eq!(
        console.post("/console/logout", &[]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        request_of(&app.case(&case.id).await, "housing").status(),
        RequestStatus::Replied
    );

    // The sign-in form is held to its own token too.
    let mut fresh = Console::new(&app);
    fresh.get("/console/login").await;
    let asked = fresh.post("/console/login", &[("email", PERSON)]).await;
    assert_eq!(asked.status, StatusCode::FORBIDDEN);
}

async fn a_signed_out_session_is_refused(app: TestApp) {
    let mut console = Console::sign_in(&app, PERSON).await;
    let cookie = console.cookies["whistle_console"].clone();
    let csrf = console.csrf("/console/cases").await;
    let out = console.post("/console/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), "/console/login");
    assert!(
        !console.cookies.contains_key("whistle_console"),
        "the cookie is cleared"
    );

    // The old cookie, kept and sent again, opens nothing.
    console.cookies.insert("whistle_console".into(), cookie);
    let cases = console.get("/console/cases").await;
    assert_eq!(cases.status, StatusCode::SEE_OTHER);
    assert_eq!(cases.location(), "/console/login");
    let posted = console.post("/console/logout", &[("csrf", &csrf)]).await;
    assert_eq!(posted.location(), "/console/login");
}

async fn console_pages_carry_the_security_headers_and_a_strict_cookie(app: TestApp) {
    let mut console = Console::new(&app);
    console.ask(PERSON).await;
    let link = sign_in_link(&app, PERSON, 1).await;
    let signed = console.follow(&link).await;
    let session = signed
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("whistle_console="))
        .expect("a session cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(session.contains(attribute), "{session}");
    }
    assert!(!session.contains("Secure"), "plain HTTP: {session}");
    for path in ["/console/login", "/console/cases"] {
        let page = console.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        let header = |name: &str| page.headers.get(name).unwrap().to_str().unwrap().to_owned();
        let csp = header("content-security-policy");
        assert!(
            csp.contains("frame-ancestors 'none'") && !csp.contains("script-src"),
            "{csp}"
        );
        assert_eq!(header("cache-control"), "no-store");
        assert_eq!(header("referrer-policy"), "no-referrer");
        assert!(!page.body.contains("<script"), "{path}");
    }
    let css = console.get("/static/console.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(
        css.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
}

async fn another_offices_case_is_not_found(app: TestApp) {
    let case = app.escalate(property_certificate("P-CONSOLE-OTHER")).await;
    let path = format!("/console/cases/{}", case.id);
    let mut own = Console::sign_in(&app, PERSON).await;
    assert_eq!(own.get(&path).await.status, StatusCode::OK);

    let mut other = Console::sign_in(&app, "xinnan@whistle.localhost").await;
    let page = other.get(&path).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND, "{}", page.body);
    assert!(!page.body.contains(RESIDENT_PHONE));
    let list = other.get("/console/cases").await;
    assert!(!list.body.contains(&case.id), "{}", list.body);
    let csrf = other.csrf("/console/cases").await;
    let housing = request_of(&case, "housing").id.clone();
    let review = other
        .post(
            &format!("{path}/review"),
            &[
                ("csrf", &csrf),
                ("request_id", &housing),
                ("decision", "accept"),
            ],
        )
        .await;
    assert_eq!(review.status, StatusCode::NOT_FOUND, "{}", review.body);
}

async fn a_session_ends_when_idle_and_at_the_end_of_its_lifetime(backend: Backend) {
    let Some(app) = spawn_app_with_clock(backend, None, &[], monday_morning()).await else {
        return;
    };
    let minutes = |n| chrono::Duration::minutes(n);
    let mut console = Console::sign_in(&app, PERSON).await;
    // Used every 29 minutes, it lasts past the idle timeout (30 minutes)...
    for _ in 0..3 {
        app.set_clock(app.clock().now() + minutes(29));
        assert_eq!(console.get("/console/cases").await.status, StatusCode::OK);
    }
    // ...and left for 31, it is over.
    app.set_clock(app.clock().now() + minutes(31));
    let idle = console.get("/console/cases").await;
    assert_eq!(idle.status, StatusCode::SEE_OTHER);
    assert_eq!(idle.location(), "/console/login");

    // However busy, a session ends 12 hours after it began: 24 uses 29
    // minutes apart reach 11 h 36 min, the next 12 h 5 min.
    let mut busy = Console::sign_in(&app, PERSON).await;
    for _ in 0..24 {
        app.set_clock(app.clock().now() + minutes(29));
        assert_eq!(busy.get("/console/cases").await.status, StatusCode::OK);
    }
    app.set_clock(app.clock().now() + minutes(29));
    assert_eq!(
        busy.get("/console/cases").await.status,
        StatusCode::SEE_OTHER
    );
    app.stop().await;
}

async fn a_supervisor_reads_any_case_but_is_given_no_office_forms(app: TestApp) {
    let case = replied_case(&app, "P-CONSOLE-SUP").await;
    let path = format!("/console/cases/{}", case.id);
    let mut office = Console::sign_in(&app, PERSON).await;
    assert!(office.get(&path).await.body.contains("/review"));

    let mut supervisor = Console::sign_in(&app, "supervisor@whistle.localhost").await;
    let list = supervisor.get("/console/cases").await;
    assert!(list.body.contains(&case.id), "{}", list.body);
    let page = supervisor.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("/review"), "{}", page.body);
    let csrf = supervisor.csrf("/console/cases").await;
    let housing = request_of(&case, "housing").id.clone();
    let refused = supervisor
        .post(
            &format!("{path}/review"),
            &[
                ("csrf", &csrf),
                ("request_id", &housing),
                ("decision", "accept"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(
        request_of(&app.case(&case.id).await, "housing").status(),
        RequestStatus::Replied
    );

    // A department is refused the case list, as over gRPC.
    let mut housing_staff = Console::sign_in(&app, "housing@whistle.localhost").await;
    assert_eq!(
        housing_staff.get("/console/cases").await.status,
        StatusCode::FORBIDDEN
    );
}

async fn a_person_sees_their_sessions_and_revokes_another(app: TestApp) {
    let mut phone = Console::sign_in(&app, PERSON).await;
    let mut desk = Console::sign_in(&app, PERSON).await;
    // Another person's session is not theirs to see or end.
    let mut other = Console::sign_in(&app, "supervisor@whistle.localhost").await;

    let listed = desk.get("/console/sessions").await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(
        listed.body.matches("name=\"session\"").count(),
        1,
        "{}",
        listed.body
    );
    assert!(listed.body.contains("本设备"));
    let phones = listed.hidden("session");
    let csrf = listed.hidden("csrf");

    let by_other = other.csrf("/console/sessions").await;
    let refused = other
        .post(
            "/console/sessions/revoke",
            &[("csrf", &by_other), ("session", &phones)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND, "{}", refused.body);
    assert_eq!(phone.get("/console/cases").await.status, StatusCode::OK);

    let revoked = desk
        .post(
            "/console/sessions/revoke",
            &[("csrf", &csrf), ("session", &phones)],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER, "{}", revoked.body);
    let refused = phone.get("/console/cases").await;
    assert_eq!(refused.status, StatusCode::SEE_OTHER);
    assert_eq!(refused.location(), "/console/login");
    assert_eq!(desk.get("/console/cases").await.status, StatusCode::OK);
    let listed = desk.get("/console/sessions").await;
    assert_eq!(
        listed.body.matches("name=\"session\"").count(),
        0,
        "{}",
        listed.body
    );
}
