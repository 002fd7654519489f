//! The console's pages for a street office and a department, over HTTP: the
//! new-petition form and its refusals field by field, the case list's
//! filters and orders, a reply's file downloaded from the case page, the
//! verdict with how the visit was made, the week's ledger as a table and a
//! workbook, and a department's open requests, each opening its reply page.
//! What the console records is checked over gRPC.

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use whistle::proto::{CaseStatus, EventKind, GetCaseRequest, VisitMethod};

use crate::console::{ACTOR, Console, PERSON};
use crate::helpers::*;

scenarios!(
    an_office_escalates_from_the_form_and_is_told_each_fault_beside_its_field,
    the_case_list_filters_and_sorts_as_list_cases_does,
    a_department_works_its_open_requests_from_the_console,
    a_reply_file_downloads_from_the_case_page_and_the_verdict_says_how_it_was_taken,
    the_week_ledger_is_a_table_and_the_workbook_export_ledger_writes,
    an_office_uploads_its_visit_sheet_checks_it_and_escalates_it_once,
);

scenarios!(
    module = two;
    settings = two_offices;
    another_offices_file_and_ledger_are_not_shown,
    the_progress_list_prints_with_the_residents_for_the_office_only,
);

const HOUSING: &str = "housing@whistle.localhost";
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n";

/// The new-petition form's fields, filled in as a clerk would.
fn petition<'a>(csrf: &'a str, petition_id: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("petition_id", petition_id),
        ("title", "滨江路路灯不亮"),
        ("category", "street-lighting"),
        ("community", "新南社区"),
        ("address", "新南社区滨江路12号"),
        ("resident_name", "李先生"),
        ("resident_phone", "139 8765 4321"),
        ("description", "夜间行人摔倒两次。"),
        ("difficulty", "2"),
        ("lead_department", ""),
    ]
}

async fn an_office_escalates_from_the_form_and_is_told_each_fault_beside_its_field(app: TestApp) {
    let mut console = Console::sign_in(&app, PERSON).await;
    let form = console.get("/console/cases/new").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    assert!(form.body.contains("<label for=\"resident_phone\">"));
    let csrf = form.hidden("csrf");

    // Every fault at once, each beside its field, in Chinese; what was typed
    // is kept.
    let mut wrong = petition(&csrf, "P-FORM-1");
    for (name, value) in &mut wrong {
        match *name {
            "title" => *value = " ",
            "resident_phone" => *value = "12345",
            "difficulty" => *value = "9",
            "community" => *value = "滨河社区",
            _ => {}
        }
    }
    wrong.push(("assisting_departments", "nowhere"));
    let refused = console.post("/console/cases/new", &wrong).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    for (field, words) in [
        ("title", "不能为空"),
        ("resident_phone", "应为手机号"),
        ("difficulty", "应为1到5"),
        ("community", "不是翠屏街道的社区"),
        ("assisting_departments", "没有部门"),
    ] {
        let marker = format!("id=\"{field}-error\">");
        let at = refused
            .body
            .find(&marker)
            .unwrap_or_else(|| panic!("no error beside {field}:\n{}", refused.body));
        let beside = refused.body[at..].split("</span>").next().unwrap();
        assert!(beside.contains(words), "{field}: {beside}");
    }
    assert!(refused.body.contains("aria-invalid=\"true\""));
    assert!(
        refused.body.contains("value=\"新南社区滨江路12号\""),
        "kept"
    );
    assert!(
        refused.body.contains("请修改以下5处"),
        "the summary counts them: {}",
        refused.body
    );

    // Without its token the form changes nothing.
    let fine = petition(&csrf, "P-FORM-1");
    let forged: Vec<_> = fine.iter().filter(|(k, _)| *k != "csrf").cloned().collect();
    assert_eq!(
        console.post("/console/cases/new", &forged).await.status,
        StatusCode::FORBIDDEN
    );

    let made = console.post("/console/cases/new", &fine).await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
    let case_id = made
        .location()
        .strip_prefix("/console/cases/")
        .and_then(|rest| rest.strip_suffix("?done=escalated"))
        .unwrap_or_else(|| panic!("{}", made.location()))
        .to_owned();
    let case = app.case(&case_id).await;
    assert_eq!(case.petition_id, "P-FORM-1");
    assert_eq!(case.resident.as_ref().unwrap().phone, "13987654321");
    let departments: Vec<_> = case
        .requests
        .iter()
        .map(|r| r.department.as_str())
        .collect();
    assert_eq!(departments, ["lighting", "power"], "routed by category");
    let escalated = case
        .events
        .iter()
        .find(|e| e.kind() == EventKind::Escalated)
        .unwrap();
    assert_eq!(escalated.actor, ACTOR);
    let shown = console.get(made.location()).await;
    assert!(shown.body.contains("诉求已提交"), "{}", shown.body);

    // The same petition id with other content is refused beside the id.
    let mut other = petition(&csrf, "P-FORM-1");
    other[2].1 = "另一件事";
    let again = console.post("/console/cases/new", &other).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert!(
        again.body.contains("id=\"petition_id-error\">"),
        "{}",
        again.body
    );

    // Departments and supervisors escalate nothing.
    for email in [HOUSING, "supervisor@whistle.localhost"] {
        let mut other = Console::sign_in(&app, email).await;
        let csrf = other.csrf("/console/sessions").await;
        assert_eq!(
            other.get("/console/cases/new").await.status,
            StatusCode::FORBIDDEN,
            "{email}"
        );
        let posted = other
            .post("/console/cases/new", &petition(&csrf, "P-FORM-2"))
            .await;
        assert_eq!(posted.status, StatusCode::FORBIDDEN, "{email}");
    }
}

/// An address as the page's attributes escape it, read back.
fn unescaped(href: &str) -> String {
    href.replace("&#x2f;", "/").replace("&amp;", "&")
}

/// The address of the first link on the page whose address begins `path`.
fn link(body: &str, path: &str) -> String {
    let body = unescaped(body);
    let start = at(&body, &format!("href=\"{path}")) + "href=\"".len();
    body[start..].split('"').next().unwrap().to_owned()
}

/// Where `needle` first is on the page.
fn at(body: &str, needle: &str) -> usize {
    body.find(needle)
        .unwrap_or_else(|| panic!("{needle} is not on the page"))
}

async fn the_case_list_filters_and_sorts_as_list_cases_does(app: TestApp) {
    let first = app.escalate(property_certificate("P-LIST-1")).await;
    let second = app.escalate(street_lighting("P-LIST-2")).await;
    let third = app.escalate(property_certificate("P-LIST-3")).await;
    let mut console = Console::sign_in(&app, PERSON).await;
    let shown = |body: &str| {
        [&first, &second, &third]
            .iter()
            .filter(|c| body.contains(&format!("/console/cases/{}", c.id)))
            .map(|c| c.petition_id.clone())
            .collect::<Vec<_>>()
    };

    let all = console.get("/console/cases").await;
    assert_eq!(shown(&all.body), ["P-LIST-1", "P-LIST-2", "P-LIST-3"]);
    assert!(
        at(&all.body, &third.id) < at(&all.body, &first.id),
        "newest first"
    );
    let oldest = console.get("/console/cases?order=OLDEST").await;
    assert!(at(&oldest.body, &first.id) < at(&oldest.body, &third.id));
    assert!(oldest.body.contains("value=\"OLDEST\" selected"));

    for (query, expected) in [
        ("category=street-lighting", vec!["P-LIST-2"]),
        ("department=land", vec!["P-LIST-1", "P-LIST-3"]),
        (
            "community=%E6%96%B0%E5%8D%97%E7%A4%BE%E5%8C%BA",
            vec!["P-LIST-2"],
        ),
        ("q=p-list-3", vec!["P-LIST-3"]),
        ("q=%E6%BB%A8%E6%B1%9F%E8%B7%AF", vec!["P-LIST-2"]),
        ("q=%25", vec![]),
        ("overdue=1", vec![]),
        ("status=CLOSED", vec![]),
    ] {
        let page = console.get(&format!("/console/cases?{query}")).await;
        assert_eq!(page.status, StatusCode::OK, "{query}");
        assert_eq!(shown(&page.body), expected, "{query}");
    }
    let long = "字".repeat(101);
    let refused = console.get(&format!("/console/cases?q={long}")).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("上限为100个"), "{}", refused.body);

    // The same filters over gRPC, which the console shares.
    let listed = app
        .office()
        .list_cases(whistle::proto::ListCasesRequest {
            department: "land".into(),
            text: "P-LIST".into(),
            order: whistle::proto::CaseOrder::OldestFirst as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<_> = listed
        .cases
        .iter()
        .map(|c| c.petition_id.as_str())
        .collect();
    assert_eq!(ids, ["P-LIST-1", "P-LIST-3"]);
}

/// A reply page's form key.
fn form_key(body: &str) -> String {
    let marker = "name=\"form_key\" value=\"";
    let start = at(body, marker) + marker.len();
    body[start..].split('"').next().unwrap().to_owned()
}

/// The housing clerk, signed in to the console, opens the request from its
/// list and replies on its page with a PDF.
async fn housing_replies_with_a_file(app: &TestApp, case: &whistle::proto::Case) {
    let housing = request_of(case, "housing");
    let mut clerk = Console::sign_in(app, HOUSING).await;
    let list = clerk.get("/console/requests").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(list.body.contains(&housing.reference), "{}", list.body);
    let csrf = list.hidden("csrf");
    let opened = clerk
        .post(
            &format!("/console/requests/{}/open", housing.id),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER, "{}", opened.body);
    let page = clerk.url(opened.location());
    let desk = reqwest::get(&page).await.unwrap().text().await.unwrap();
    let form = Form::new()
        .text("form_key", form_key(&desk))
        .text("text", "已督促开发商补缴，附办理进度说明。")
        .part(
            "attachments",
            Part::bytes(PDF.to_vec())
                .file_name("办理进度说明.pdf")
                .mime_str("application/pdf")
                .unwrap(),
        );
    let posted = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{page}/reply"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::SEE_OTHER);
}

async fn a_department_works_its_open_requests_from_the_console(app: TestApp) {
    let case = app.escalate(property_certificate("P-DEPT-1")).await;
    let done = app.escalate(property_certificate("P-DEPT-2")).await;
    let closed = request_of(&done, "housing").id.clone();
    app.answer("housing", &closed, "已办结。").await;
    app.accept(&closed).await;

    let mut clerk = Console::sign_in(&app, HOUSING).await;
    let list = clerk.get("/console/requests").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains(&request_of(&case, "housing").reference));
    assert!(
        !list.body.contains(&request_of(&done, "housing").reference),
        "an accepted request is not open: {}",
        list.body
    );
    assert!(!list.body.contains(&request_of(&case, "land").reference));
    assert!(list.body.contains("剩余"), "{}", list.body);
    assert_eq!(
        clerk
            .get("/console/requests?overdue=1")
            .await
            .body
            .matches("/open\"")
            .count(),
        0
    );

    // A department sees no office's list, ledger or form.
    for path in ["/console/cases", "/console/ledger", "/console/cases/new"] {
        assert_eq!(
            clerk.get(path).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    // Another department's request does not open; a post without its token
    // makes no link.
    let csrf = list.hidden("csrf");
    let land = request_of(&case, "land").id.clone();
    let other = clerk
        .post(
            &format!("/console/requests/{land}/open"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "{}", other.body);
    let housing = request_of(&case, "housing").id.clone();
    let forged = clerk
        .post(&format!("/console/requests/{housing}/open"), &[])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    // An office has no requests of its own to list.
    let mut office = Console::sign_in(&app, PERSON).await;
    assert_eq!(
        office.get("/console/requests").await.status,
        StatusCode::FORBIDDEN
    );

    housing_replies_with_a_file(&app, &case).await;
    let seen = app.case(&case.id).await;
    assert_eq!(
        request_of(&seen, "housing").status(),
        whistle::proto::RequestStatus::Replied
    );
    let replied = seen
        .events
        .iter()
        .find(|e| e.kind() == EventKind::ReplySubmitted)
        .unwrap();
    assert!(replied.actor.contains("housing"), "{}", replied.actor);
}

async fn a_reply_file_downloads_from_the_case_page_and_the_verdict_says_how_it_was_taken(
    app: TestApp,
) {
    let case = app.escalate(property_certificate("P-FILE-1")).await;
    housing_replies_with_a_file(&app, &case).await;
    let land = request_of(&case, "land").id.clone();
    app.answer("land", &land, "已核实。").await;

    let mut console = Console::sign_in(&app, PERSON).await;
    let path = format!("/console/cases/{}", case.id);
    let page = console.get(&path).await;
    assert!(page.body.contains("办理进度说明.pdf"), "{}", page.body);
    assert!(page.body.contains("剩余") || page.body.contains("已于"));
    // The office sees that its case's timeline is the one written.
    assert!(
        page.body.contains(r#"id="chain""#) && page.body.contains("完整："),
        "{}",
        page.body
    );
    let file_path = link(&page.body, &format!("{path}/files/"));
    let file = console
        .client
        .get(console.url(&file_path))
        .header("cookie", console.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), StatusCode::OK);
    assert_eq!(file.headers()["content-type"], "application/pdf");
    let disposition = file.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert_eq!(file.bytes().await.unwrap().as_ref(), PDF);
    // Not under another case's address, and not to a stranger.
    let elsewhere = app.escalate(property_certificate("P-FILE-2")).await;
    let moved = file_path.replace(&case.id, &elsewhere.id);
    assert_eq!(console.get(&moved).await.status, StatusCode::NOT_FOUND);
    let signed_out = Console::new(&app).get(&file_path).await;
    assert_eq!(signed_out.status, StatusCode::SEE_OTHER);
    assert_eq!(signed_out.location(), "/console/login");

    for request in &case.requests {
        app.accept(&request.id).await;
    }
    // The console asks how the visit was made.
    let csrf = console.csrf(&path).await;
    let unsaid = console
        .post(
            &format!("{path}/feedback"),
            &[("csrf", &csrf), ("verdict", "SATISFIED"), ("comment", "")],
        )
        .await;
    assert_eq!(unsaid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unsaid.body.contains("回访方式"), "{}", unsaid.body);
    assert_eq!(
        app.case(&case.id).await.status(),
        CaseStatus::AwaitingFeedback
    );
    let recorded = console
        .post(
            &format!("{path}/feedback"),
            &[
                ("csrf", &csrf),
                ("verdict", "SATISFIED"),
                ("method", "VISIT"),
                ("comment", "上门时张女士已拿到证"),
            ],
        )
        .await;
    assert_eq!(recorded.status, StatusCode::SEE_OTHER, "{}", recorded.body);
    let closed = app
        .office()
        .get_case(GetCaseRequest {
            case_id: case.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(closed.status(), CaseStatus::Closed);
    let feedback = closed.feedback.expect("the verdict");
    assert_eq!(feedback.method(), VisitMethod::Visit);
    let page = console.get(&path).await;
    assert!(page.body.contains("（上门回访）"), "{}", page.body);
}

async fn the_week_ledger_is_a_table_and_the_workbook_export_ledger_writes(app: TestApp) {
    let case = app.escalate(property_certificate("P-LEDGER-1")).await;
    let mut console = Console::sign_in(&app, PERSON).await;
    let page = console.get("/console/ledger").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("翠屏街道周台账"), "{}", page.body);
    // One row per request: the housing and the land request.
    assert_eq!(page.body.matches(&case.id).count(), 2, "{}", page.body);
    assert!(page.body.contains("区自然资源局"));
    let download = link(&page.body, "/console/ledger.xlsx?week=");
    let file = console
        .client
        .get(console.url(&download))
        .header("cookie", console.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), StatusCode::OK);
    assert_eq!(
        file.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let disposition = file.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.contains("filename*=UTF-8''%E7%BF%A0%E5%B1%8F%E8%A1%97%E9%81%93"),
        "翠屏街道…: {disposition}"
    );
    let bytes = file.bytes().await.unwrap();
    assert!(bytes.starts_with(b"PK"), "a workbook");
    let sheet = whistle_xlsx_text(&bytes);
    assert!(
        sheet.contains("P-LEDGER-1"),
        "the case is in the workbook: {sheet}"
    );

    // A week before: nothing; a week that is no week: refused.
    let before = link(&page.body, "/console/ledger?week=");
    let empty = console.get(&before).await;
    assert!(empty.body.contains("本周没有立案"), "{}", empty.body);
    assert_ne!(
        console.get("/console/ledger?week=2026-W99").await.status,
        StatusCode::OK
    );
}

/// The ledger sheet's cells, as text.
fn whistle_xlsx_text(bytes: &[u8]) -> String {
    use calamine::{Reader, Xlsx};
    let mut book: Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).expect("a workbook");
    let sheet = book.worksheet_range("案件台账").expect("the ledger sheet");
    sheet
        .rows()
        .flat_map(|row| row.iter().map(|cell| cell.to_string()))
        .collect::<Vec<_>>()
        .join("\t")
}

async fn another_offices_file_and_ledger_are_not_shown(app: TestApp) {
    let case = app.escalate(property_certificate("P-OTHER-FILE")).await;
    housing_replies_with_a_file(&app, &case).await;
    let mut own = Console::sign_in(&app, PERSON).await;
    let page = own.get(&format!("/console/cases/{}", case.id)).await;
    let file_path = link(&page.body, &format!("/console/cases/{}/files/", case.id));

    let mut other = Console::sign_in(&app, "xinnan@whistle.localhost").await;
    let refused = other.get(&file_path).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND, "{}", refused.body);
    let ledger = other.get("/console/ledger").await;
    assert_eq!(ledger.status, StatusCode::OK);
    assert!(!ledger.body.contains(&case.id), "{}", ledger.body);
    assert!(ledger.body.contains("西外街道周台账"));
    // Its own office whatever it names.
    let named = other.get("/console/ledger?office=cuiping").await;
    assert!(!named.body.contains(&case.id));
}

async fn the_progress_list_prints_with_the_residents_for_the_office_only(app: TestApp) {
    let case = app.escalate(property_certificate("P-PROGRESS")).await;
    let housing = request_of(&case, "housing").id.clone();
    app.acknowledge("housing", &housing).await;
    app.department("housing")
        .post_progress_note(whistle::proto::PostProgressNoteRequest {
            request_id: housing.clone(),
            text: "已约开发商现场核实".into(),
        })
        .await
        .expect("a progress note");

    let mut own = Console::sign_in(&app, PERSON).await;
    let page = own.get("/console/progress").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("翠屏街道进展通报"), "{}", page.body);
    assert!(
        page.body.contains("id=\"case-P-PROGRESS\""),
        "{}",
        page.body
    );
    for shown in [
        RESIDENT_NAME,
        RESIDENT_PHONE,
        "阶段性答复：已约开发商现场核实",
        "本周新进展",
        "待部门签收",
        "待部门办理答复",
    ] {
        assert!(page.body.contains(shown), "{shown} in {}", page.body);
    }
    let download = link(&page.body, "/console/progress.xlsx?");
    let file = own
        .client
        .get(own.url(&download))
        .header("cookie", own.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), StatusCode::OK);
    let bytes = file.bytes().await.unwrap();
    use calamine::{Reader, Xlsx};
    let mut book: Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(bytes.to_vec())).expect("a workbook");
    let sheet = book
        .worksheet_range("进展通报")
        .expect("the progress sheet");
    let cells: Vec<String> = sheet.rows().flatten().map(|c| c.to_string()).collect();
    assert!(cells.iter().any(|c| c == "P-PROGRESS"), "{cells:?}");
    assert!(cells.iter().any(|c| c == RESIDENT_PHONE), "{cells:?}");
    // A community without it, and a day before it: not listed.
    let elsewhere = own
        .get("/console/progress?community=%E6%96%B0%E5%8D%97%E7%A4%BE%E5%8C%BA")
        .await;
    assert!(
        elsewhere.body.contains("id=\"no-entries\""),
        "{}",
        elsewhere.body
    );
    let before = own.get("/console/progress?date=2020-01-01").await;
    assert!(before.body.contains("id=\"no-entries\""), "{}", before.body);
    assert_ne!(
        own.get("/console/progress?date=2020-13-01").await.status,
        StatusCode::OK
    );

    // A supervisor opens on the first office, without the residents.
    let mut supervisor = Console::sign_in(&app, "supervisor@whistle.localhost").await;
    let supervised = supervisor.get("/console/progress").await;
    assert_eq!(supervised.status, StatusCode::OK, "{}", supervised.body);
    assert!(
        supervised.body.contains("P-PROGRESS"),
        "{}",
        supervised.body
    );
    assert!(
        !supervised.body.contains(RESIDENT_PHONE),
        "{}",
        supervised.body
    );
    let xinnan = supervisor.get("/console/progress?office=xinnan").await;
    assert!(!xinnan.body.contains("P-PROGRESS"), "{}", xinnan.body);
    // Another office reads its own, whatever it names.
    let mut other = Console::sign_in(&app, "xinnan@whistle.localhost").await;
    let named = other.get("/console/progress?office=cuiping").await;
    assert!(named.body.contains("西外街道进展通报"), "{}", named.body);
    assert!(!named.body.contains("P-PROGRESS"), "{}", named.body);
}

/// Posts a visit sheet to the console's import form.
async fn upload(
    console: &mut Console,
    csrf: &str,
    sheet: &[u8],
    check_only: bool,
) -> (StatusCode, String) {
    let mut form = Form::new().text("csrf", csrf.to_owned()).part(
        "sheet",
        Part::bytes(sheet.to_vec())
            .file_name("走访登记表.csv")
            .mime_str("text/csv")
            .unwrap(),
    );
    if check_only {
        form = form.text("check_only", "1");
    }
    let answer = console
        .client
        .post(console.url("/console/import"))
        .header("cookie", console.cookie_header())
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = answer.status();
    (status, answer.text().await.unwrap())
}

async fn an_office_uploads_its_visit_sheet_checks_it_and_escalates_it_once(app: TestApp) {
    // UTF-8 with a byte-order mark, as Excel saves "CSV UTF-8"; the second
    // row's community is not the office's.
    let sheet = "\u{feff}诉求人,联系电话,社区,片区,地址,类别,诉求内容,走访日期,收集人\r\n\
                 陈一,13700001111,新南社区,三片区,滨江路1号,供电故障,小区停电两天,2026-12-01,孙九\r\n\
                 刘二,,幸福社区,三片区,幸福路2号,路灯维修,路灯不亮,2026-12-01,孙九\r\n"
        .as_bytes();
    let before = app
        .office()
        .list_cases(whistle::proto::ListCasesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .cases
        .len();
    let mut console = Console::sign_in(&app, PERSON).await;
    let csrf = console.csrf("/console/import").await;

    // Checked first: nothing written.
    let (status, checked) = upload(&mut console, &csrf, sheet, true).await;
    assert_eq!(status, StatusCode::OK, "{checked}");
    assert!(checked.contains("预检结果（未立案）"), "{checked}");
    assert!(checked.contains("可以立案 1 行"), "{checked}");
    assert!(checked.contains("国网达州供电公司（主办）"), "{checked}");
    assert!(checked.contains("社区 (community)："), "{checked}");
    let count = |app: &TestApp| {
        let mut client = app.office();
        async move {
            client
                .list_cases(whistle::proto::ListCasesRequest::default())
                .await
                .unwrap()
                .into_inner()
                .cases
        }
    };
    assert_eq!(count(&app).await.len(), before, "a check writes nothing");

    // Then escalated: one case, opened by the person who uploaded.
    let (status, done) = upload(&mut console, &csrf, sheet, false).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert!(
        done.contains("新立案 1 行，此前已立案 0 行，有错 1 行"),
        "{done}"
    );
    let cases = count(&app).await;
    assert_eq!(cases.len(), before + 1);
    let case = app.case(&cases[0].id).await;
    assert_eq!(case.title, "小区停电两天");
    assert!(
        done.contains(&format!("/console/cases/{}", case.id)),
        "{done}"
    );
    assert_eq!(case.events[0].actor, ACTOR, "the person on the timeline");

    // Again: found, not escalated twice.
    let (_, again) = upload(&mut console, &csrf, sheet, false).await;
    assert!(
        again.contains("新立案 0 行，此前已立案 1 行，有错 1 行"),
        "{again}"
    );
    assert_eq!(count(&app).await.len(), before + 1);

    // Without the form's token: refused; not a sheet: said so.
    let (status, _) = upload(&mut console, "forged", sheet, false).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = upload(&mut console, &csrf, b"\x00\x01 not a sheet", false).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("无法读取"), "{body}");
}
