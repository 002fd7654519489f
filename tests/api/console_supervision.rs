//! The console's supervisor screens over HTTP: the overdue board and its live
//! stream, the alerts, the asks waiting for a ruling, the override close, the
//! figures and any office's case with its chain verified. Every ruling is
//! checked where a system reads it, over gRPC, with the principal and the
//! person on the timeline; offices and departments are refused each screen
//! and each form as the access policy says.

use chrono::Datelike;
use reqwest::StatusCode;
use whistle::clock::Clock;
use whistle::proto::{
    AlertKind, CaseStatus, EventKind, ExtensionStatus, GetStatisticsRequest,
    RequestExtensionRequest, RequestStatus, ReturnRequestRequest,
};

use crate::console::Console;
use crate::helpers::*;

scenarios!(
    a_supervisor_approves_an_extension_and_the_new_deadline_is_on_the_case,
    a_supervisor_reassigns_a_return_and_a_ruling_needs_its_reason,
    a_supervisor_reads_any_case_verified_and_closes_it_by_override,
    offices_and_departments_are_refused_the_supervisors_screens,
    the_board_groups_by_alert_level_and_filters_and_the_alerts_list,
    the_live_board_says_changed_when_a_request_moves,
    the_figures_are_get_statistics_with_charts,
);

const SUPERVISOR: &str = "supervisor@whistle.localhost";
/// What the timeline names for a supervisor's console action.
const SUPERVISOR_ACTOR: &str = "supervisor <supervisor@whistle.localhost>";

fn ts(at: chrono::DateTime<chrono::Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    })
}

impl TestApp {
    /// Housing asks for a day more than its reply deadline; the extension's id.
    async fn housing_asks_for_a_day(&self, request: &whistle::proto::DepartmentRequest) -> String {
        let due = instant(&request.reply_due_at);
        self.department("housing")
            .request_extension(RequestExtensionRequest {
                request_id: request.id.clone(),
                new_reply_due_at: ts(due + chrono::Duration::days(1)),
                reason: "需协调开发商补缴土地出让金".into(),
            })
            .await
            .expect("asking for an extension")
            .into_inner()
            .extension
            .expect("the extension")
            .id
    }
}

async fn a_supervisor_approves_an_extension_and_the_new_deadline_is_on_the_case(app: TestApp) {
    let case = app.escalate(property_certificate("S-EXT-1")).await;
    let housing = request_of(&case, "housing").clone();
    let asked = instant(&housing.reply_due_at) + chrono::Duration::days(1);
    let extension = app.housing_asks_for_a_day(&housing).await;

    let mut supervisor = Console::sign_in(&app, SUPERVISOR).await;
    let asks = supervisor.get("/console/asks").await;
    assert_eq!(asks.status, StatusCode::OK, "{}", asks.body);
    assert!(asks.body.contains(&extension), "{}", asks.body);
    assert!(asks.body.contains("需协调开发商补缴土地出让金"));
    // Filtered to another department, it is not there.
    let other = supervisor.get("/console/asks?department=power").await;
    assert!(!other.body.contains(&extension), "{}", other.body);

    // Without the form's token: refused, nothing ruled.
    let approve = [
        ("extension_id", extension.as_str()),
        ("decision", "approve"),
        ("reason", "同意延期"),
    ];
    let forged = supervisor.post("/console/asks/extension", &approve).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    let pending = request_of(&app.case(&case.id).await, "housing").clone();
    assert_eq!(pending.extensions[0].status(), ExtensionStatus::Pending);

    let csrf = supervisor.csrf("/console/sessions").await;
    let mut fields = approve.to_vec();
    fields.push(("csrf", &csrf));
    let ruled = supervisor.post("/console/asks/extension", &fields).await;
    assert_eq!(ruled.status, StatusCode::SEE_OTHER, "{}", ruled.body);
    assert_eq!(ruled.location(), "/console/asks?done=extension");

    let seen = app.case(&case.id).await;
    let request = request_of(&seen, "housing");
    assert_eq!(instant(&request.reply_due_at), asked);
    assert_eq!(request.extensions[0].status(), ExtensionStatus::Approved);
    assert_eq!(request.extensions[0].decided_by, SUPERVISOR_ACTOR);
    let approved = seen
        .events
        .iter()
        .find(|e| e.kind() == EventKind::ExtensionApproved)
        .expect("the ruling on the timeline");
    assert_eq!(approved.actor, SUPERVISOR_ACTOR);
    let after = supervisor.get("/console/asks?done=extension").await;
    assert!(after.body.contains("延期审批已记录"), "{}", after.body);
    assert!(!after.body.contains(&extension), "ruled: {}", after.body);

    // The same ruling again: the page says why not, nothing changes.
    let again = supervisor.post("/console/asks/extension", &fields).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
}

async fn a_supervisor_reassigns_a_return_and_a_ruling_needs_its_reason(backend: Backend) {
    let Some(app) = spawn_app_with_clock(backend, None, &[], monday_morning()).await else {
        return;
    };
    let case = app.escalate(property_certificate("S-RET-1")).await;
    let land = request_of(&case, "land").id.clone();
    app.set_clock(app.clock().now() + chrono::Duration::minutes(30));
    app.department("land")
        .return_request(ReturnRequestRequest {
            request_id: land.clone(),
            reason: "不属于本部门职责".into(),
        })
        .await
        .expect("returning");
    let housing = request_of(&case, "housing").clone();
    let extension = app.housing_asks_for_a_day(&housing).await;

    let mut supervisor = Console::sign_in(&app, SUPERVISOR).await;
    let page = format!("/console/supervise/{}", case.id);
    let shown = supervisor.get(&page).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert!(shown.body.contains("不属于本部门职责"), "{}", shown.body);
    assert!(shown.body.contains(&extension));
    let csrf = supervisor.csrf("/console/sessions").await;

    // A denial and a return's decision need their reasons: said beside the
    // forms, on the page they came from.
    let denied = supervisor
        .post(
            "/console/asks/extension",
            &[
                ("csrf", &csrf),
                ("extension_id", &extension),
                ("decision", "deny"),
                ("reason", " "),
                ("from", &case.id),
            ],
        )
        .await;
    assert_eq!(
        denied.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        denied.body
    );
    assert!(denied.body.contains("理由"), "{}", denied.body);
    assert!(
        denied.body.contains("记录校验"),
        "the case page: {}",
        denied.body
    );
    let no_reason = supervisor
        .post(
            "/console/asks/return",
            &[
                ("csrf", &csrf),
                ("request_id", &land),
                ("resolution", "reassign"),
                ("department", "education"),
                ("reason", ""),
            ],
        )
        .await;
    assert_eq!(no_reason.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        no_reason.body.contains("待审批"),
        "the list: {}",
        no_reason.body
    );
    let unchanged = app.case(&case.id).await;
    assert_eq!(
        request_of(&unchanged, "land").status(),
        RequestStatus::ReturnRequested
    );

    let reassigned = supervisor
        .post(
            "/console/asks/return",
            &[
                ("csrf", &csrf),
                ("request_id", &land),
                ("resolution", "reassign"),
                ("department", "education"),
                ("reason", "属教育部门职责"),
                ("from", &case.id),
            ],
        )
        .await;
    assert_eq!(
        reassigned.status,
        StatusCode::SEE_OTHER,
        "{}",
        reassigned.body
    );
    assert_eq!(
        reassigned.location(),
        format!("/console/supervise/{}?done=return", case.id)
    );
    let seen = app.case(&case.id).await;
    assert_eq!(request_of(&seen, "land").status(), RequestStatus::Returned);
    assert_eq!(
        request_of(&seen, "education").status(),
        RequestStatus::Issued
    );
    let event = seen
        .events
        .iter()
        .find(|e| e.kind() == EventKind::RequestReassigned)
        .expect("the reassignment on the timeline");
    assert_eq!(event.actor, SUPERVISOR_ACTOR);

    let denied = supervisor
        .post(
            "/console/asks/extension",
            &[
                ("csrf", &csrf),
                ("extension_id", &extension),
                ("decision", "deny"),
                ("reason", "期限内可以办结"),
            ],
        )
        .await;
    assert_eq!(denied.status, StatusCode::SEE_OTHER, "{}", denied.body);
    let seen = app.case(&case.id).await;
    let housing = request_of(&seen, "housing");
    assert_eq!(housing.extensions[0].status(), ExtensionStatus::Denied);
    assert_eq!(housing.extensions[0].decision_reason, "期限内可以办结");
    let asks = supervisor.get("/console/asks").await;
    assert!(asks.body.contains("no-extensions"), "{}", asks.body);
    assert!(asks.body.contains("no-returns"), "{}", asks.body);
    app.stop().await;
}

async fn a_supervisor_reads_any_case_verified_and_closes_it_by_override(app: TestApp) {
    let case = app.escalate(property_certificate("S-CLOSE-1")).await;
    let extension = app
        .housing_asks_for_a_day(request_of(&case, "housing"))
        .await;
    let mut supervisor = Console::sign_in(&app, SUPERVISOR).await;
    assert!(
        supervisor
            .get("/console/asks")
            .await
            .body
            .contains(&extension)
    );
    let page = format!("/console/supervise/{}", case.id);
    let shown = supervisor.get(&page).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    assert!(shown.body.contains("办理记录完整"), "{}", shown.body);
    assert!(shown.body.contains(RESIDENT_PHONE), "{}", shown.body);
    // The read this page made is listed on it, naming the person.
    assert!(
        shown
            .body
            .contains("supervisor &lt;supervisor@whistle.localhost&gt;"),
        "{}",
        shown.body
    );
    assert!(shown.body.contains("GetCase"), "{}", shown.body);

    let close = format!("{page}/close");
    let forged = supervisor
        .post(&close, &[("reason", "群众已撤回诉求")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let csrf = supervisor.csrf("/console/sessions").await;
    let bare = supervisor
        .post(&close, &[("csrf", &csrf), ("reason", "")])
        .await;
    assert_eq!(
        bare.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        bare.body
    );
    assert!(bare.body.contains("理由"));
    assert_eq!(app.case(&case.id).await.status(), CaseStatus::Open);

    let closed = supervisor
        .post(&close, &[("csrf", &csrf), ("reason", "群众已撤回诉求")])
        .await;
    assert_eq!(closed.status, StatusCode::SEE_OTHER, "{}", closed.body);
    assert_eq!(closed.location(), format!("{page}?done=close"));
    let seen = app.case(&case.id).await;
    assert_eq!(seen.status(), CaseStatus::Closed);
    let event = seen
        .events
        .iter()
        .find(|e| e.kind() == EventKind::ClosedByOverride)
        .expect("the override on the timeline");
    assert_eq!(event.actor, SUPERVISOR_ACTOR);
    assert!(event.detail.contains("群众已撤回诉求"), "{event:?}");
    let after = supervisor.get(&format!("{page}?done=close")).await;
    assert!(after.body.contains("督办结案"), "{}", after.body);
    assert!(!after.body.contains("override-reason"), "no second close");
    // A closed case asks nothing of anyone: its ask waits for no ruling.
    let asks = supervisor.get("/console/asks").await;
    assert!(!asks.body.contains(&extension), "{}", asks.body);

    // A case that does not exist is not found.
    let missing = supervisor.get("/console/supervise/no-such-case").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

async fn offices_and_departments_are_refused_the_supervisors_screens(app: TestApp) {
    let case = app.escalate(property_certificate("S-REFUSE-1")).await;
    let housing = request_of(&case, "housing").clone();
    let extension = app.housing_asks_for_a_day(&housing).await;
    for (email, screens) in [
        ("cuiping@whistle.localhost", StatusCode::FORBIDDEN),
        ("housing@whistle.localhost", StatusCode::FORBIDDEN),
    ] {
        let mut person = Console::sign_in(&app, email).await;
        for path in [
            "/console/board",
            "/console/board/live",
            "/console/alerts",
            "/console/asks",
            "/console/figures",
        ] {
            let page = person.get(path).await;
            assert_eq!(page.status, screens, "{email} {path}: {}", page.body);
            assert!(!page.body.contains(&case.id), "{email} {path}");
        }
        // The case page of a supervisor shows nothing, even of the office's
        // own case: as VerifyCase, not found.
        let page = person.get(&format!("/console/supervise/{}", case.id)).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{email}: {}", page.body);
        assert!(!page.body.contains(RESIDENT_PHONE));

        let csrf = person.csrf("/console/sessions").await;
        let ruled = person
            .post(
                "/console/asks/extension",
                &[
                    ("csrf", &csrf),
                    ("extension_id", &extension),
                    ("decision", "approve"),
                ],
            )
            .await;
        assert_eq!(
            ruled.status,
            StatusCode::FORBIDDEN,
            "{email}: {}",
            ruled.body
        );
        let closed = person
            .post(
                &format!("/console/supervise/{}/close", case.id),
                &[("csrf", &csrf), ("reason", "x")],
            )
            .await;
        assert_eq!(
            closed.status,
            StatusCode::FORBIDDEN,
            "{email}: {}",
            closed.body
        );
    }
    let seen = app.case(&case.id).await;
    assert_eq!(seen.status(), CaseStatus::Open);
    assert_eq!(
        request_of(&seen, "housing").extensions[0].status(),
        ExtensionStatus::Pending
    );
    // Signed out, every screen sends to the sign-in form.
    let mut nobody = Console::new(&app);
    for path in ["/console/board", "/console/asks", "/console/figures"] {
        let page = nobody.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(page.location(), "/console/login");
    }
}

async fn the_board_groups_by_alert_level_and_filters_and_the_alerts_list(backend: Backend) {
    let Some(app) = spawn_app_with_clock(backend, None, &[], monday_morning()).await else {
        return;
    };
    // Urgent: acknowledged within two working hours, close to overdue at once.
    let urgent = |p: whistle::proto::EscalatePetitionRequest| {
        whistle::proto::EscalatePetitionRequest { urgent: true, ..p }
    };
    let lighting = app.escalate(urgent(street_lighting("S-BOARD-1"))).await;
    let power = app.escalate(urgent(power_cut("S-BOARD-2"))).await;
    let mut supervisor = Console::sign_in(&app, SUPERVISOR).await;

    // Nothing is overdue yet; what falls due within a day is close to it.
    let soon = supervisor.get("/console/board").await;
    assert_eq!(soon.status, StatusCode::OK, "{}", soon.body);
    let csp = soon.header("content-security-policy");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(soon.body.contains("src=\"/static/console-live.js\""));
    assert!(soon.body.contains(&lighting.id), "{}", soon.body);
    let overdue_only = supervisor.get("/console/board?within=0").await;
    assert!(
        !overdue_only.body.contains(&lighting.id),
        "{}",
        overdue_only.body
    );

    // Past both acknowledgement deadlines the watch raises level-1 alerts:
    // the board shows them in that group.
    let latest = [&lighting, &power]
        .iter()
        .flat_map(|c| c.requests.iter().map(|r| instant(&r.ack_due_at)))
        .max()
        .unwrap();
    app.set_clock(latest + chrono::Duration::minutes(5));
    // Hours later: the session has ended, idle; sign in again.
    let mut supervisor = Console::sign_in(&app, SUPERVISOR).await;
    for case in [&lighting, &power] {
        eventually("the overdue alerts", || async {
            app.alerts_of(&case.id)
                .await
                .iter()
                .any(|a| a.kind() == AlertKind::AckOverdue)
                .then_some(())
        })
        .await;
    }
    let board = supervisor.get("/console/board?within=0").await;
    let level_one = board
        .body
        .split("id=\"level-1\"")
        .nth(1)
        .and_then(|rest| rest.split("</section>").next())
        .unwrap_or_else(|| panic!("a level-1 group: {}", board.body));
    assert!(level_one.contains(&lighting.id), "{level_one}");
    assert!(level_one.contains(&power.id), "{level_one}");
    assert!(level_one.contains("已超期"), "{level_one}");
    let by_department = supervisor
        .get("/console/board?within=0&department=lighting")
        .await;
    assert!(by_department.body.contains(&lighting.id));
    assert!(
        !by_department.body.contains(&power.id),
        "{}",
        by_department.body
    );
    let level_two = supervisor.get("/console/board?within=0&level=2").await;
    assert!(!level_two.body.contains(&power.id), "{}", level_two.body);
    let script = supervisor.get("/static/console-live.js").await;
    assert_eq!(script.status, StatusCode::OK);
    assert!(script.header("content-type").starts_with("text/javascript"));
    assert!(script.body.contains("EventSource"));

    // The alerts, newest first, filtered by kind.
    let alerts = supervisor.get("/console/alerts?kind=ACK_OVERDUE").await;
    assert_eq!(alerts.status, StatusCode::OK, "{}", alerts.body);
    assert!(alerts.body.contains(&lighting.id) && alerts.body.contains(&power.id));
    let power_at = alerts.body.find(&power.id).unwrap();
    let lighting_at = alerts.body.find(&lighting.id).unwrap();
    let newest = |alerts: Vec<whistle::proto::Alert>| {
        alerts
            .iter()
            .filter(|a| a.kind() == AlertKind::AckOverdue)
            .map(|a| a.id)
            .max()
            .expect("an overdue alert")
    };
    let newest_first =
        newest(app.alerts_of(&power.id).await) > newest(app.alerts_of(&lighting.id).await);
    assert_eq!(power_at < lighting_at, newest_first, "{}", alerts.body);
    let none = supervisor.get("/console/alerts?kind=CHAIN_BROKEN").await;
    assert!(none.body.contains("no-alerts"), "{}", none.body);
    let of_lighting = supervisor.get("/console/alerts?department=lighting").await;
    assert!(of_lighting.body.contains(&lighting.id) && !of_lighting.body.contains(&power.id));
    app.stop().await;
}

async fn the_live_board_says_changed_when_a_request_moves(app: TestApp) {
    let case = app.escalate(property_certificate("S-LIVE-1")).await;
    let supervisor = Console::sign_in(&app, SUPERVISOR).await;
    let response = supervisor
        .client
        .get(supervisor.url("/console/board/live"))
        .header("cookie", supervisor.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut response = response;
    let mut seen = String::new();
    // Nothing has changed since the stream began: it says nothing but
    // keep-alives for now.
    let quiet = tokio::time::timeout(
        std::time::Duration::from_millis(500),
        until_changed(&mut response, &mut seen),
    )
    .await;
    assert!(quiet.is_err(), "changed before anything changed: {seen}");

    app.acknowledge("housing", &request_of(&case, "housing").id)
        .await;
    tokio::time::timeout(WAIT, until_changed(&mut response, &mut seen))
        .await
        .unwrap_or_else(|_| panic!("no change within the wait: {seen}"));
    let heard = seen;
    assert!(heard.contains("event: changed"), "{heard}");
}

/// Reads the stream into `seen` until it says `changed`.
async fn until_changed(response: &mut reqwest::Response, seen: &mut String) {
    while !seen.contains("event: changed") {
        match response.chunk().await.expect("the stream") {
            Some(chunk) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            None => panic!("the stream ended: {seen}"),
        }
    }
}

async fn the_figures_are_get_statistics_with_charts(backend: Backend) {
    let Some(app) = spawn_app_with_clock(backend, None, &[], monday_morning()).await else {
        return;
    };
    let case = app.escalate(property_certificate("S-FIG-1")).await;
    app.settle(&case).await;
    app.escalate(street_lighting("S-FIG-2")).await;
    let mut supervisor = Console::sign_in(&app, SUPERVISOR).await;

    let page = supervisor.get("/console/figures").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("id=\"chart-departments\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("id=\"chart-trend\""));
    assert_eq!(page.body.matches("<svg").count(), 2);

    // The week shown is GetStatistics' for the same week.
    let tz: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
    let today = app.clock().now().with_timezone(&tz).date_naive();
    let week = today.iso_week();
    let monday =
        chrono::NaiveDate::from_isoywd_opt(week.year(), week.week(), chrono::Weekday::Mon).unwrap();
    let midnight = |d: chrono::NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .unwrap()
            .and_local_timezone(tz)
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    let figures = app
        .supervision()
        .get_statistics(GetStatisticsRequest {
            from: ts(midnight(monday)),
            to: ts(midnight(monday + chrono::Duration::days(7))),
            ..Default::default()
        })
        .await
        .expect("GetStatistics")
        .into_inner();
    let percent = |r: &Option<whistle::proto::Rate>| {
        let r = r.as_ref().expect("a rate");
        if r.of == 0 {
            "—".to_owned()
        } else {
            format!("{:.1}%", f64::from(r.hits) * 100.0 / f64::from(r.of))
        }
    };
    let departments = page
        .body
        .split("id=\"departments\"")
        .nth(1)
        .and_then(|rest| rest.split("</table>").next())
        .expect("the departments' table");
    let mut compared = 0;
    for d in &figures.departments {
        let f = d.requests.as_ref().unwrap();
        let row = format!(
            "<td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>",
            d.name,
            f.requests,
            f.overdue_now,
            percent(&f.response),
            percent(&f.on_time_reply),
            percent(&f.resolution),
            percent(&d.satisfaction),
        );
        assert!(departments.contains(&row), "{row} in {departments}");
        compared += usize::from(f.requests > 0);
    }
    assert!(compared >= 3, "housing, land and lighting have requests");
    assert!(
        departments.contains("100.0%"),
        "the settled case's satisfaction"
    );
    // The community evaluation, line for line as GetStatistics scores it.
    let communities = page
        .body
        .split("id=\"communities\"")
        .nth(1)
        .and_then(|rest| rest.split("</table>").next())
        .expect("the communities' table");
    assert!(!figures.communities.is_empty());
    for c in &figures.communities {
        let name = if c.zone.is_empty() {
            c.community.clone()
        } else {
            format!("{} · {}", c.community, c.zone)
        };
        let row = format!(
            "<td>{}</td><td>{name}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>",
            c.office_name, c.cases, c.residents
        );
        assert!(communities.contains(&row), "{row} in {communities}");
        let points = format!("<td class=\"num\">{:.1}</td></tr>", c.points);
        assert!(communities.contains(&points), "{points} in {communities}");
    }

    // A range with its days the wrong way round is refused beside the form.
    let backwards = supervisor
        .get("/console/figures?period=range&from=2026-11-30&to=2026-11-01")
        .await;
    assert_eq!(
        backwards.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        backwards.body
    );
    assert!(backwards.body.contains("统计时段"), "{}", backwards.body);
    let month = supervisor.get("/console/figures?period=month").await;
    assert_eq!(month.status, StatusCode::OK);
    let range = supervisor
        .get(&format!(
            "/console/figures?period=range&from={monday}&to={}",
            monday + chrono::Duration::days(6)
        ))
        .await;
    assert_eq!(range.status, StatusCode::OK, "{}", range.body);
    assert!(
        range.body.contains(&format!("{}-W", week.year())),
        "the week's label"
    );
    app.stop().await;
}
