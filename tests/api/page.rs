//! The reply page over HTTP, as a department's clerk uses it from the link in
//! their letter: open it, acknowledge, note progress, reply with files; and
//! what it refuses: a second post of one form, a forged form, an unknown or
//! ended link, a file type not taken, too many requests. What the page
//! records is checked where the street office reads it, over gRPC.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use reqwest::multipart::{Form, Part};
use whistle::proto::{
    Case, DecideExtensionRequest, EventKind, ExtensionStatus, GetAttachmentRequest, ReplyChannel,
    RequestStatus,
};

use crate::helpers::*;

scenarios!(
    a_department_opens_the_link_in_its_letter,
    acknowledging_on_the_page_acknowledges_the_request,
    a_progress_note_shows_on_the_case_timeline,
    a_reply_with_an_attachment_reaches_the_case,
    posting_the_same_form_twice_records_one_reply,
    a_forged_form_key_is_refused_and_changes_nothing,
    an_unknown_or_malformed_link_is_not_found,
    an_ended_link_says_so_and_takes_no_answers,
    a_case_closed_by_override_takes_no_answers_from_the_page,
    every_answer_carries_the_security_headers,
    a_file_of_a_type_not_taken_is_refused_beside_its_field,
    a_file_name_with_bidi_controls_is_refused_beside_its_field,
);

/// What a reply's files really are: a program named `.pdf` is refused, and
/// a file is served as what its bytes are, under a clean name, whatever its
/// sender declared or the database was made to say.
mod files {
    use super::*;

    scenarios!(
        a_pdf_that_is_a_program_is_refused_at_upload,
        a_file_is_served_as_what_its_bytes_are_under_a_clean_name,
        a_deadline_no_one_could_mean_is_refused_on_the_page,
    );

    const EXE: &[u8] = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xffThis program";
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01";
    const HTML: &[u8] = b"<!DOCTYPE html><html><script>alert(document.cookie)</script></html>";

    async fn a_pdf_that_is_a_program_is_refused_at_upload(app: TestApp) {
        let (case, link) = housing_link(&app, "P-PAGE-MZ").await;
        let browser = Browser::new();
        let key = browser.get(&link).await.form_key();
        let posted = browser
            .post_multipart(
                &format!("{link}/reply"),
                reply_form(&key, vec![("答复函.pdf", "application/pdf", EXE.to_vec())]),
            )
            .await;
        assert_eq!(posted.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            posted
                .body
                .contains("「答复函.pdf」的内容与扩展名不符：实为.exe 文件"),
            "{}",
            posted.body
        );
        let case = app.case(&case.id).await;
        assert_eq!(housing_status(&case), RequestStatus::Issued);
        assert!(request_of(&case, "housing").reply.is_none());
    }

    async fn a_file_is_served_as_what_its_bytes_are_under_a_clean_name(app: TestApp) {
        let (case, link) = housing_link(&app, "P-PAGE-SNIFF").await;
        let browser = Browser::new();
        let key = browser.get(&link).await.form_key();
        let posted = browser
            .post_multipart(
                &format!("{link}/reply"),
                reply_form(
                    &key,
                    vec![
                        ("签收单.png", "application/x-msdownload", PNG.to_vec()),
                        ("说明.txt", "text/html", HTML.to_vec()),
                    ],
                ),
            )
            .await;
        assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.body);
        let case = app.case(&case.id).await;
        let files = &request_of(&case, "housing")
            .reply
            .as_ref()
            .unwrap()
            .attachments;
        let (png, html) = (files[0].clone(), files[1].clone());
        assert_eq!(png.content_type, "image/png", "what the bytes are");
        assert_eq!(html.content_type, "application/octet-stream");

        // A row written with the declared type and a reordering name (by an
        // older version, or behind the service's back) is answered the same.
        let mut db = crate::audit::Raw::open(&app).await;
        db.exec(
            "UPDATE attachments SET content_type = 'text/html', filename = $2 WHERE id = $1",
            &[&html.id, "C:\\fakepath\\x\u{202e}fdp.exe"],
        )
        .await;
        db.exec(
            "UPDATE attachments SET content_type = 'application/x-msdownload' WHERE id = $1",
            &[&png.id],
        )
        .await;
        let get = |id: &str| {
            let mut office = app.office();
            let request = GetAttachmentRequest {
                attachment_id: id.to_owned(),
            };
            async move { office.get_attachment(request).await.unwrap().into_inner() }
        };
        let served = get(&html.id).await;
        let info = served.info.unwrap();
        assert_eq!(info.content_type, "application/octet-stream");
        assert_eq!(info.filename, "xfdp.exe");
        assert_eq!(served.content, HTML);
        let served = get(&png.id).await.info.unwrap();
        assert_eq!(served.content_type, "image/png");

        // The page serves them the same way.
        let base = &link[..link.find("/r/").unwrap()];
        let token = &link[link.len() - 40..];
        let file = browser
            .get(&format!("{base}/r/{token}/files/{}", html.id))
            .await;
        assert_eq!(file.headers["content-type"], "application/octet-stream");
        let disposition = file.headers["content-disposition"].to_str().unwrap();
        assert!(
            disposition.contains("filename=\"xfdp.exe\""),
            "{disposition}"
        );
        let file = browser
            .get(&format!("{base}/r/{token}/files/{}", png.id))
            .await;
        assert_eq!(file.headers["content-type"], "image/png");
    }

    async fn a_deadline_no_one_could_mean_is_refused_on_the_page(app: TestApp) {
        let (case, link) = housing_link(&app, "P-PAGE-9999").await;
        let browser = Browser::new();
        for far in ["9999-12-31", "2099-12-31"] {
            let key = browser.get(&link).await.form_key();
            let posted = browser
                .post_form(
                    &format!("{link}/extension"),
                    &[
                        ("form_key", key.as_str()),
                        ("new_reply_due_at", far),
                        ("reason", "需会同规划部门核查历史档案"),
                    ],
                )
                .await;
            assert_eq!(posted.status, StatusCode::UNPROCESSABLE_ENTITY, "{far}");
            assert!(
                posted.body.contains("不能晚于今后730天")
                    || posted.body.contains("应在2000年1月1日至2100年1月1日之间"),
                "{far}: {}",
                posted.body
            );
        }
        let housing = request_of(&app.case(&case.id).await, "housing").clone();
        assert!(housing.extensions.is_empty(), "{:?}", housing.extensions);
    }
}

/// Who was shown the resident in full: a department allowed to see phones
/// reads them in its letter and on its reply page, and both are recorded.
mod who_saw_the_resident {
    use super::*;
    use whistle::proto::ListPersonalDataReadsRequest;

    scenarios!(letters_and_page_views_that_show_the_phone_are_recorded);

    async fn letters_and_page_views_that_show_the_phone_are_recorded(backend: Backend) {
        // Land sees residents' phones, and now receives letters too.
        let head = "[departments.land]\nname = \"区自然资源局\"";
        let settings = two_offices().replace(
            head,
            &format!("{head}\nemails = [\"land@departments.example\"]"),
        );
        let settings = settings.replace(
            "[departments.housing]\nname = \"区住房和城乡建设局\"",
            "[departments.housing]\nname = \"区住房和城乡建设局\"\nemails = [\"housing@departments.example\"]",
        );
        let Some(app) = spawn_app(backend, Some(&settings)).await else {
            return;
        };
        let case = app.escalate(property_certificate("P-PII-PAGE")).await;
        let reads = || async {
            app.supervision()
                .list_personal_data_reads(ListPersonalDataReadsRequest {
                    case_id: case.id.clone(),
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .reads
                .into_iter()
                .map(|r| (r.reader, r.via))
                .collect::<Vec<_>>()
        };
        // The letter to land carries the phone in full: recorded with it.
        let land = request_of(&case, "land").clone();
        let letter = app
            .wait_for_letter(&format!("<{}.r1.issued@whistle.localhost>", land.id))
            .await;
        assert!(letter.text.contains(RESIDENT_PHONE), "{}", letter.text);
        assert_eq!(
            reads().await,
            [("land (letter)".to_owned(), "Letter".to_owned())]
        );

        // Land's clerk opens the page, which shows the phone: recorded.
        let page = Browser::new().get(&link_in(&letter.text)).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains(RESIDENT_PHONE), "{}", page.body);
        assert_eq!(
            reads().await,
            [
                ("land (reply page)".to_owned(), "ReplyPage".to_owned()),
                ("land (letter)".to_owned(), "Letter".to_owned()),
            ]
        );

        // Housing sees the phone masked, in its letter and on its page:
        // nothing to record.
        let housing = request_of(&case, "housing").clone();
        let letter = app
            .wait_for_letter(&format!("<{}.r1.issued@whistle.localhost>", housing.id))
            .await;
        assert!(!letter.text.contains(RESIDENT_PHONE), "{}", letter.text);
        let page = Browser::new().get(&link_in(&letter.text)).await;
        assert!(!page.body.contains(RESIDENT_PHONE));
        assert_eq!(reads().await.len(), 2);
    }
}

/// Asks from the page, on a clock the test moves.
mod asks {
    use super::*;

    scenarios!(
        an_extension_asked_on_the_page_waits_for_a_ruling_and_moves_the_deadline,
        a_late_or_too_early_extension_is_refused_with_the_reason,
        a_return_within_the_window_is_asked_once,
    );

    /// The deadlines card of the page: what the clerk reads as the deadline
    /// now, apart from the asks and the history that also name deadlines.
    fn deadlines_card(body: &str) -> &str {
        let start = body
            .find("class=\"card deadlines\"")
            .unwrap_or_else(|| panic!("no deadlines on the page:\n{body}"));
        let rest = &body[start..];
        &rest[..rest.find("</section>").expect("the card's end")]
    }

    /// `2026年12月4日`: the day of a deadline as the page writes it, where
    /// midnight is the 24:00 of the day before.
    fn zh_day(due: chrono::DateTime<chrono::Utc>) -> String {
        use chrono::Datelike;
        let local = (due - chrono::Duration::seconds(1)).with_timezone(&chrono_tz::Asia::Shanghai);
        format!("{}年{}月{}日", local.year(), local.month(), local.day())
    }

    async fn an_extension_asked_on_the_page_waits_for_a_ruling_and_moves_the_deadline(
        backend: Backend,
    ) {
        let Some(app) = spawn_app_with_clock(backend, None, &[], monday_morning()).await else {
            return;
        };
        let (case, link) = housing_link(&app, "P-PAGE-EXT").await;
        let old_due = instant(&request_of(&case, "housing").reply_due_at);
        let browser = Browser::new();
        let page = browser.get(&link).await;
        assert!(page.body.contains("id=\"extension-form\""), "{}", page.body);
        // A date alone: the end of that day, in Shanghai.
        let day = (old_due.with_timezone(&chrono_tz::Asia::Shanghai) + chrono::Duration::days(3))
            .date_naive();
        let asked = shanghai(
            chrono::Datelike::year(&day),
            chrono::Datelike::month(&day),
            chrono::Datelike::day(&day),
            0,
            0,
        ) + chrono::Duration::days(1);
        let day = day.format("%Y-%m-%d").to_string();
        let form = [
            ("form_key", page.form_key()),
            ("new_reply_due_at", day.clone()),
            ("reason", "需会同规划部门核查历史档案".to_owned()),
        ];
        let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let posted = browser
            .post_form(&format!("{link}/extension"), &fields)
            .await;
        assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.body);
        assert!(posted.location().ends_with("?done=extension"));
        // The same form again asks nothing more.
        let again = browser
            .post_form(&format!("{link}/extension"), &fields)
            .await;
        assert!(again.location().ends_with("?done=repeat"));

        let housing = request_of(&app.case(&case.id).await, "housing").clone();
        assert_eq!(housing.extensions.len(), 1, "{:#?}", housing.extensions);
        let extension = &housing.extensions[0];
        assert_eq!(extension.status(), ExtensionStatus::Pending);
        assert_eq!(instant(&extension.new_reply_due_at), asked);
        assert_eq!(instant(&extension.old_reply_due_at), old_due);
        assert!(housing.paused_since.is_some(), "the clock stands still");

        let page = browser.get(&format!("{link}?done=extension")).await;
        for shown in [
            "延期申请已提交",
            "待审批",
            "计时暂停",
            "需会同规划部门核查历史档案",
        ] {
            assert!(page.body.contains(shown), "{shown} in:\n{}", page.body);
        }
        for gone in ["id=\"extension-form\"", "id=\"return-form\""] {
            assert!(!page.body.contains(gone), "one ask at a time: {gone}");
        }

        app.supervision()
            .decide_extension(DecideExtensionRequest {
                extension_id: extension.id.clone(),
                approve: true,
                reason: "同意".into(),
            })
            .await
            .expect("approving");
        let page = browser.get(&link).await;
        let card = deadlines_card(&page.body);
        assert!(card.contains(&zh_day(asked)), "{card}");
        assert!(!card.contains("计时暂停"), "{card}");
        for shown in ["已批准", "期限变更记录", "延期获批"] {
            assert!(page.body.contains(shown), "{shown} in:\n{}", page.body);
        }
    }

    async fn a_late_or_too_early_extension_is_refused_with_the_reason(backend: Backend) {
        let Some(app) = spawn_app_with_clock(backend, None, &[], monday_morning()).await else {
            return;
        };
        let (case, link) = housing_link(&app, "P-PAGE-EXT-LATE").await;
        let due = instant(&request_of(&case, "housing").reply_due_at);
        let local = |at: chrono::DateTime<chrono::Utc>| {
            at.with_timezone(&chrono_tz::Asia::Shanghai)
                .format("%Y-%m-%dT%H:%M")
                .to_string()
        };
        let browser = Browser::new();

        // Not later than the deadline: refused beside the field.
        let key = browser.get(&link).await.form_key();
        let early = local(due - chrono::Duration::hours(1));
        let refused = browser
            .post_form(
                &format!("{link}/extension"),
                &[
                    ("form_key", &key),
                    ("new_reply_due_at", &early),
                    ("reason", "人手不足"),
                ],
            )
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            refused
                .body
                .contains("id=\"extension-new_reply_due_at-error\""),
            "{}",
            refused.body
        );
        assert!(refused.body.contains("人手不足"), "what was typed stays");

        // After the deadline the form is gone, and a post of it is refused
        // naming the deadline.
        app.set_clock(due + chrono::Duration::hours(1));
        let page = browser.get(&link).await;
        assert!(!page.body.contains("id=\"extension-form\""));
        let later = local(due + chrono::Duration::days(3));
        let refused = browser
            .post_form(
                &format!("{link}/extension"),
                &[
                    ("form_key", &page.form_key()),
                    ("new_reply_due_at", &later),
                    ("reason", "人手不足"),
                ],
            )
            .await;
        assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
        let notice = &refused.body[refused.body.find("id=\"notice\"").expect("a notice")..];
        let notice = &notice[..notice.find("</div>").expect("the notice's end")];
        assert!(notice.contains("已过"), "{notice}");
        assert!(notice.contains(&zh_day(due)), "{notice}");
        let housing = request_of(&app.case(&case.id).await, "housing").clone();
        assert!(housing.extensions.is_empty(), "{:#?}", housing.extensions);
    }

    async fn a_return_within_the_window_is_asked_once(backend: Backend) {
        let Some(app) = spawn_app_with_clock(backend, None, &[], monday_morning()).await else {
            return;
        };
        let (case, link) = housing_link(&app, "P-PAGE-RETURN").await;
        let browser = Browser::new();
        let page = browser.get(&link).await;
        assert!(page.body.contains("id=\"return-form\""), "{}", page.body);

        // No reason: refused beside the field.
        let refused = browser
            .post_form(
                &format!("{link}/return"),
                &[("form_key", &page.form_key()), ("reason", " ")],
            )
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            refused.body.contains("id=\"return-reason-error\""),
            "{}",
            refused.body
        );

        let key = refused.form_key();
        let form = [
            ("form_key", key.as_str()),
            ("reason", "房产证办理属不动产登记中心职责"),
        ];
        let posted = browser.post_form(&format!("{link}/return"), &form).await;
        assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.body);
        assert!(posted.location().ends_with("?done=return"));
        let again = browser.post_form(&format!("{link}/return"), &form).await;
        assert!(again.location().ends_with("?done=repeat"));

        let now = app.case(&case.id).await;
        assert_eq!(housing_status(&now), RequestStatus::ReturnRequested);
        let asks = now
            .events
            .iter()
            .filter(|e| e.kind() == EventKind::ReturnRequested)
            .count();
        assert_eq!(asks, 1);

        let page = browser.get(&format!("{link}?done=return")).await;
        for shown in ["退单申请已提交", "待决定", "计时暂停", "不动产登记中心"]
        {
            assert!(page.body.contains(shown), "{shown} in:\n{}", page.body);
        }
        assert!(!page.body.contains("id=\"return-form\""));
    }
}

mod limits {
    use super::*;

    scenarios!(too_many_requests_are_told_to_wait);

    async fn too_many_requests_are_told_to_wait(backend: Backend) {
        let env = [("WHISTLE__HTTP__RATE_LIMIT_PER_LINK_PER_MINUTE", "3")];
        let Some(app) = spawn_app_with(backend, None, &env).await else {
            return;
        };
        let (_, link) = housing_link(&app, "P-PAGE-LIMIT").await;
        let browser = Browser::new();
        for _ in 0..3 {
            assert_eq!(browser.get(&link).await.status, StatusCode::OK);
        }
        let refused = browser.get(&link).await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        let wait: u64 = refused.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .expect("Retry-After in seconds");
        assert!((1..=60).contains(&wait), "{wait}");
        // Another link is not held back by this one's allowance.
        let (_, other) = housing_link(&app, "P-PAGE-LIMIT-2").await;
        assert_eq!(browser.get(&other).await.status, StatusCode::OK);
    }
}

/// An HTTP client that behaves like a browser with JavaScript off, except
/// that it shows redirects instead of following them.
struct Browser {
    client: reqwest::Client,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    /// Where a 303 sends the browser.
    fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no Location in a {} answer", self.status))
    }

    /// The one-time key the page's forms carry.
    fn form_key(&self) -> String {
        let marker = "name=\"form_key\" value=\"";
        let start = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no form on the page:\n{}", self.body))
            + marker.len();
        self.body[start..]
            .split('"')
            .next()
            .expect("a closing quote")
            .to_owned()
    }
}

impl Browser {
    fn new() -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("an HTTP client"),
        }
    }

    async fn answer(response: reqwest::Response) -> Answer {
        Answer {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.expect("a body"),
        }
    }

    async fn get(&self, url: &str) -> Answer {
        Self::answer(self.client.get(url).send().await.expect("GET")).await
    }

    async fn post_form(&self, url: &str, fields: &[(&str, &str)]) -> Answer {
        Self::answer(
            self.client
                .post(url)
                .form(fields)
                .send()
                .await
                .expect("POST"),
        )
        .await
    }

    async fn post_multipart(&self, url: &str, form: Form) -> Answer {
        Self::answer(
            self.client
                .post(url)
                .multipart(form)
                .send()
                .await
                .expect("POST"),
        )
        .await
    }
}

/// The reply link in a letter's text: `…/r/` and 40 hex digits.
pub(crate) fn link_in(text: &str) -> String {
    let start = text
        .find("http://")
        .filter(|&i| text[i..].contains("/r/"))
        .unwrap_or_else(|| panic!("no reply link in the letter:\n{text}"));
    let rest = &text[start..];
    let at = rest.find("/r/").expect("/r/") + 3;
    format!("{}{}", &rest[..at], &rest[at..at + 40])
}

/// Escalates a property-certificate petition and reads housing's link from
/// the letter delivered to it.
async fn housing_link(app: &TestApp, petition: &str) -> (Case, String) {
    let case = app.escalate(property_certificate(petition)).await;
    let housing = request_of(&case, "housing");
    let letter = app
        .wait_for_letter(&format!("<{}.r1.issued@whistle.localhost>", housing.id))
        .await;
    let link = link_in(&letter.text);
    let served = app.http_addr.expect("the reply page is served");
    assert!(link.starts_with(&format!("http://{served}/r/")), "{link}");
    (case, link)
}

fn housing_status(case: &Case) -> RequestStatus {
    request_of(case, "housing").status()
}

/// The reply form, filled in as a clerk would.
fn reply_form(key: &str, files: Vec<(&str, &str, Vec<u8>)>) -> Form {
    let mut form = Form::new()
        .text("form_key", key.to_owned())
        .text("text", "已督促开发商补缴土地出让金，预计下月起分批办证。")
        .text("document_number", "区住建函〔2026〕12号")
        .text("replier_name", "李明")
        .text("replier_phone", "0818-2345678");
    for (name, mime, bytes) in files {
        form = form.part(
            "attachments",
            Part::bytes(bytes)
                .file_name(name.to_owned())
                .mime_str(mime)
                .expect("a MIME type"),
        );
    }
    form
}

async fn a_department_opens_the_link_in_its_letter(app: TestApp) {
    let (case, link) = housing_link(&app, "P-PAGE-OPEN").await;
    let housing = request_of(&case, "housing");
    let page = Browser::new().get(&link).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
    for shown in [
        housing.reference.as_str(),
        case.title.as_str(),
        "主办",
        "签收期限",
        "答复期限",
        "剩余",
        RESIDENT_NAME,
        RESIDENT_PHONE_MASKED,
        "杨柳社区",
        "确认签收",
        "提交答复",
        "提交阶段性答复",
        "name=\"viewport\"",
    ] {
        assert!(page.body.contains(shown), "{shown} missing:\n{}", page.body);
    }
    assert!(!page.body.contains(RESIDENT_PHONE), "the unmasked phone");
    // Every rendering carries a fresh key.
    let again = Browser::new().get(&link).await;
    assert_ne!(page.form_key(), again.form_key());
}

async fn acknowledging_on_the_page_acknowledges_the_request(app: TestApp) {
    let (case, link) = housing_link(&app, "P-PAGE-ACK").await;
    let browser = Browser::new();
    let page = browser.get(&link).await;
    let posted = browser
        .post_form(&format!("{link}/ack"), &[("form_key", &page.form_key())])
        .await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER);
    assert!(
        posted.location().ends_with("?done=ack"),
        "{}",
        posted.location()
    );
    let after = browser.get(&format!("{link}?done=ack")).await;
    assert!(after.body.contains("已签收"), "{}", after.body);
    assert!(
        !after.body.contains("确认签收"),
        "the form is gone once acknowledged"
    );
    let case = app.case(&case.id).await;
    assert_eq!(housing_status(&case), RequestStatus::Acknowledged);
}

async fn a_progress_note_shows_on_the_case_timeline(app: TestApp) {
    let (case, link) = housing_link(&app, "P-PAGE-PROGRESS").await;
    let browser = Browser::new();
    let key = browser.get(&link).await.form_key();
    let note = "已约谈开发商，正在核算欠缴金额。";
    let posted = browser
        .post_form(
            &format!("{link}/progress"),
            &[("form_key", &key), ("text", note)],
        )
        .await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER);
    assert!(posted.location().ends_with("?done=progress"));
    let case = app.case(&case.id).await;
    let housing = request_of(&case, "housing").id.clone();
    assert!(
        case.events
            .iter()
            .any(|e| e.kind() == EventKind::ProgressNoted
                && e.request_id == housing
                && e.detail.contains(note)),
        "{:#?}",
        case.events
    );
    // A note on a request not yet acknowledged acknowledges it first.
    assert_eq!(housing_status(&case), RequestStatus::Acknowledged);
    let page = browser.get(&link).await;
    assert!(page.body.contains("阶段性答复") && page.body.contains(note));
}

async fn a_reply_with_an_attachment_reaches_the_case(app: TestApp) {
    let (case, link) = housing_link(&app, "P-PAGE-REPLY").await;
    let browser = Browser::new();
    let key = browser.get(&link).await.form_key();
    let pdf = b"%PDF-1.4 the reply as signed".to_vec();
    let posted = browser
        .post_multipart(
            &format!("{link}/reply"),
            reply_form(&key, vec![("答复函.pdf", "application/pdf", pdf.clone())]),
        )
        .await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.body);
    assert!(posted.location().ends_with("?done=reply"));

    let case = app.case(&case.id).await;
    let housing = request_of(&case, "housing");
    assert_eq!(housing.status(), RequestStatus::Replied);
    let reply = housing.reply.as_ref().expect("the reply on the case");
    assert_eq!(reply.channel(), ReplyChannel::Page);
    assert_eq!(reply.replier_name, "李明");
    assert_eq!(reply.replier_phone, "0818-2345678");
    assert_eq!(reply.document_number, "区住建函〔2026〕12号");
    assert_eq!(reply.attachments.len(), 1);
    let info = &reply.attachments[0];
    assert_eq!(info.filename, "答复函.pdf");
    let content = app
        .office()
        .get_attachment(GetAttachmentRequest {
            attachment_id: info.id.clone(),
        })
        .await
        .expect("the office reads the file")
        .into_inner();
    assert_eq!(content.content, pdf);

    // The page lists the file, and serves it as a download.
    let page = browser.get(&link).await;
    let href = format!("/r/{}/files/{}", &link[link.len() - 40..], info.id);
    assert!(page.body.contains(&href), "{}", page.body);
    let base = &link[..link.find("/r/").unwrap()];
    let file = browser.get(&format!("{base}{href}")).await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(file.headers["content-type"], "application/pdf");
    assert_eq!(file.headers["x-content-type-options"], "nosniff");
    let disposition = file.headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        disposition.contains("filename*=UTF-8''%E7%AD%94%E5%A4%8D%E5%87%BD%2Epdf"),
        "{disposition}"
    );
    assert_eq!(file.body.as_bytes(), pdf);
}

async fn posting_the_same_form_twice_records_one_reply(app: TestApp) {
    let (case, link) = housing_link(&app, "P-PAGE-TWICE").await;
    let browser = Browser::new();
    let key = browser.get(&link).await.form_key();
    let first = browser
        .post_multipart(&format!("{link}/reply"), reply_form(&key, vec![]))
        .await;
    assert!(first.location().ends_with("?done=reply"));
    let second = browser
        .post_multipart(&format!("{link}/reply"), reply_form(&key, vec![]))
        .await;
    assert_eq!(second.status, StatusCode::SEE_OTHER);
    assert!(second.location().ends_with("?done=repeat"));
    let page = browser.get(&format!("{link}?done=repeat")).await;
    assert!(page.body.contains("未重复记录"), "{}", page.body);

    let case = app.case(&case.id).await;
    let housing = request_of(&case, "housing");
    assert!(housing.reply.is_some());
    assert!(housing.history.is_empty(), "{:#?}", housing.history);
    let replies = case
        .events
        .iter()
        .filter(|e| e.kind() == EventKind::ReplySubmitted)
        .count();
    assert_eq!(replies, 1);
}

async fn a_forged_form_key_is_refused_and_changes_nothing(app: TestApp) {
    let (case, link) = housing_link(&app, "P-PAGE-FORGED").await;
    let browser = Browser::new();
    let forged = browser
        .post_form(
            &format!("{link}/ack"),
            &[("form_key", "0123456789abcdef0123456789abcdef01234567")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(
        forged.body.contains("页面已过期，请刷新后重新提交"),
        "{}",
        forged.body
    );
    let missing = browser.post_form(&format!("{link}/ack"), &[]).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    let case = app.case(&case.id).await;
    assert_eq!(housing_status(&case), RequestStatus::Issued);
}

async fn an_unknown_or_malformed_link_is_not_found(app: TestApp) {
    let (_, link) = housing_link(&app, "P-PAGE-UNKNOWN").await;
    let base = &link[..link.find("/r/").unwrap()];
    let browser = Browser::new();
    let unknown = "f".repeat(40);
    for path in [
        format!("/r/{unknown}"),
        format!("/r/{}", "F".repeat(40)),
        "/r/not-a-token".to_owned(),
        format!("/r/{unknown}/files/x"),
        "/r/".to_owned(),
        "/elsewhere".to_owned(),
    ] {
        let answer = browser.get(&format!("{base}{path}")).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
        assert!(answer.body.contains("链接无效"), "{path}: {}", answer.body);
        assert!(!answer.body.contains(&unknown), "{path} echoed the token");
        assert!(
            !answer.body.contains("not-a-token"),
            "{path} echoed the path"
        );
    }
    let posted = browser
        .post_form(&format!("{base}/r/{unknown}/ack"), &[("form_key", "x")])
        .await;
    assert_eq!(posted.status, StatusCode::NOT_FOUND);
    assert!(!posted.body.contains(&unknown));
}

async fn an_ended_link_says_so_and_takes_no_answers(app: TestApp) {
    let (case, link) = housing_link(&app, "P-PAGE-ENDED").await;
    let browser = Browser::new();
    // A page opened before the office accepted the reply: its form is stale.
    let key = browser.get(&link).await.form_key();
    let housing = request_of(&case, "housing").id.clone();
    app.answer("housing", &housing, "已办结。").await;
    app.accept(&housing).await;

    let page = browser.get(&link).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("此链接已结束"), "{}", page.body);
    assert!(page.body.contains("采纳"), "{}", page.body);
    assert!(page.body.contains("已办结。"), "the outcome: {}", page.body);
    assert!(!page.body.contains("<form"), "no forms on an ended link");

    let posted = browser
        .post_form(
            &format!("{link}/progress"),
            &[("form_key", &key), ("text", "仍在办理")],
        )
        .await;
    assert_eq!(posted.status, StatusCode::CONFLICT);
    assert!(posted.body.contains("此答复链接已失效"), "{}", posted.body);
    let case = app.case(&case.id).await;
    assert_eq!(housing_status(&case), RequestStatus::Accepted);
    assert!(
        !case
            .events
            .iter()
            .any(|e| e.kind() == EventKind::ProgressNoted)
    );
}

/// A page opened before a supervisor closed the case by override takes no
/// acknowledgement, note or reply afterwards, and the case stays as the
/// override left it.
async fn a_case_closed_by_override_takes_no_answers_from_the_page(app: TestApp) {
    let (case, link) = housing_link(&app, "P-PAGE-OVERRIDE").await;
    let browser = Browser::new();
    let keys = [
        browser.get(&link).await.form_key(),
        browser.get(&link).await.form_key(),
        browser.get(&link).await.form_key(),
    ];
    app.supervision()
        .override_close(whistle::proto::OverrideCloseRequest {
            case_id: case.id.clone(),
            reason: "诉求已由区政府统一处理".into(),
        })
        .await
        .expect("closing by override");
    let closed = app.case(&case.id).await;

    let page = browser.get(&link).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("此链接已结束"), "{}", page.body);
    assert!(!page.body.contains("<form"), "no forms on an ended link");
    let answers = [
        browser
            .post_form(&format!("{link}/ack"), &[("form_key", &keys[0])])
            .await,
        browser
            .post_form(
                &format!("{link}/progress"),
                &[("form_key", &keys[1]), ("text", "仍在办理")],
            )
            .await,
        browser
            .post_multipart(&format!("{link}/reply"), reply_form(&keys[2], Vec::new()))
            .await,
    ];
    for posted in answers {
        assert_eq!(posted.status, StatusCode::CONFLICT, "{}", posted.body);
        assert!(posted.body.contains("案件已办结"), "{}", posted.body);
    }
    let after = app.case(&case.id).await;
    assert_eq!(after, closed);
    assert_eq!(after.status(), whistle::proto::CaseStatus::Closed);
    assert_eq!(housing_status(&after), RequestStatus::Issued);
}

async fn every_answer_carries_the_security_headers(app: TestApp) {
    let (_, link) = housing_link(&app, "P-PAGE-HEADERS").await;
    let base = &link[..link.find("/r/").unwrap()];
    let browser = Browser::new();
    for url in [
        link.clone(),
        format!("{base}/r/{}", "0".repeat(40)),
        format!("{base}/static/page.css"),
        format!("{base}/healthz"),
    ] {
        let answer = browser.get(&url).await;
        let h = &answer.headers;
        assert_eq!(
            h["content-security-policy"],
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
            "{url}"
        );
        assert_eq!(h["referrer-policy"], "no-referrer", "{url}");
        assert_eq!(h["x-frame-options"], "DENY", "{url}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{url}");
        assert_eq!(h["cache-control"], "no-store", "{url}");
    }
    let health = browser.get(&format!("{base}/healthz")).await;
    assert_eq!(
        (health.status, health.body.as_str()),
        (StatusCode::OK, "ok")
    );
    let css = browser.get(&format!("{base}/static/page.css")).await;
    assert_eq!(css.headers["content-type"], "text/css; charset=utf-8");
}

/// Posts a reply with one file the page refuses, and checks that nothing was
/// recorded and the form is offered again; the page's answer.
async fn refused_file(app: &TestApp, petition: &str, file: (&str, &str, Vec<u8>)) -> Answer {
    let (case, link) = housing_link(app, petition).await;
    let browser = Browser::new();
    let key = browser.get(&link).await.form_key();
    let posted = browser
        .post_multipart(&format!("{link}/reply"), reply_form(&key, vec![file]))
        .await;
    assert_eq!(posted.status, StatusCode::UNPROCESSABLE_ENTITY);
    // What the clerk typed is still there, with a fresh key to post it again.
    assert!(posted.body.contains("区住建函〔2026〕12号"));
    assert_ne!(posted.form_key(), key);
    let case = app.case(&case.id).await;
    assert_eq!(housing_status(&case), RequestStatus::Issued);
    assert!(request_of(&case, "housing").reply.is_none());
    posted
}

async fn a_file_of_a_type_not_taken_is_refused_beside_its_field(app: TestApp) {
    let file = ("setup.exe", "application/octet-stream", b"MZ".to_vec());
    let posted = refused_file(&app, "P-PAGE-EXE", file).await;
    assert!(
        posted.body.contains("附件：「setup.exe」的文件类型不受理"),
        "{}",
        posted.body
    );
}

/// `x\u{202E}exe.pdf` is a PDF by its name and shows as `xfdp.exe`: the
/// page refuses the name rather than keep what misleads whoever opens it.
async fn a_file_name_with_bidi_controls_is_refused_beside_its_field(app: TestApp) {
    let file = ("x\u{202E}exe.pdf", "application/pdf", b"%PDF-1.4".to_vec());
    let posted = refused_file(&app, "P-PAGE-BIDI", file).await;
    assert!(
        posted
            .body
            .contains("附件：「x[U+202E]exe.pdf」的文件名含有双向文字控制符"),
        "{}",
        posted.body
    );
    assert!(!posted.body.contains('\u{202E}'), "{}", posted.body);
}
