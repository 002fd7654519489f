//! The deadline watch through the real server, on a clock the test moves: the
//! reminder (催办) and its letter, the overdue alert, its repeats and its
//! escalation to the district; the alerts commands raise; deadlines across the
//! Spring Festival and in office hours; catching up after downtime; two
//! instances on one PostgreSQL raising each alert once; and the real binary,
//! whose time comes from the system clock, under libfaketime.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use whistle::clock::ManualClock;
use whistle::proto::{
    AlertKind, Case, Deadline, DepartmentRequest, EscalatePetitionRequest, EventKind,
    ListAlertsRequest, ListAssignedRequestsRequest, ListCasesRequest, ListOverdueRequest, Verdict,
    WatchAlertsRequest, WatchCaseEventsRequest,
};

use crate::helpers::*;

scenarios!(
    a_late_acknowledgement_is_reminded_alerted_repeated_and_escalated,
    a_rejection_a_third_round_and_an_unsatisfied_resident_are_each_alerted_once,
    deadlines_count_the_spring_festival_and_office_hours,
    after_downtime_the_watch_raises_what_is_true_now_once,
    the_real_binary_alerts_at_the_deadline_on_the_system_clock,
);

/// Only PostgreSQL serves several instances on one database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_raise_each_alert_once() {
    two_instances_raise_each_alert_once().await;
}

const WATCH: &str = "whistle-watch";
const POWER_CUT_TITLE: &str = "杨柳社区5栋频繁停电";

/// The request of a one-request case (power_cut routes to power only).
fn only_request(case: &Case) -> &DepartmentRequest {
    assert_eq!(case.requests.len(), 1, "{case:?}");
    &case.requests[0]
}

/// The timeline entries the watch wrote, as (kind, request id).
fn watch_events(case: &Case) -> Vec<(EventKind, String)> {
    case.events
        .iter()
        .filter(|e| e.actor == WATCH)
        .map(|e| (e.kind(), e.request_id.clone()))
        .collect()
}

async fn overdue_cases(app: &TestApp) -> Vec<Case> {
    app.office()
        .list_cases(ListCasesRequest {
            overdue: true,
            ..Default::default()
        })
        .await
        .expect("listing overdue cases")
        .into_inner()
        .cases
}

async fn overdue_assigned(app: &TestApp, department: &str) -> Vec<DepartmentRequest> {
    app.department(department)
        .list_assigned_requests(ListAssignedRequestsRequest {
            overdue: true,
            ..Default::default()
        })
        .await
        .expect("listing overdue requests")
        .into_inner()
        .requests
}

async fn a_late_acknowledgement_is_reminded_alerted_repeated_and_escalated(backend: Backend) {
    let Some(app) = spawn_app_with_clock(backend, None, &[], monday_morning()).await else {
        return;
    };
    let case = app.escalate(power_cut("W-LATE-1")).await;
    let request = only_request(&case).clone();
    let ack_due = shanghai(2026, 11, 25, 0, 0);
    let reply_due = shanghai(2026, 12, 1, 0, 0);
    assert_eq!(instant(&request.issued_at), monday_morning());
    assert_eq!(
        (instant(&request.ack_due_at), instant(&request.reply_due_at)),
        (ack_due, reply_due),
        "acknowledge by the end of Tuesday, reply by the end of the next Monday"
    );
    let reference = request.reference.clone();
    let due_text = "2026年11月24日（星期二）24:00";

    // Tuesday 13:30, four working hours before the end of the day: 催办.
    app.set_clock(shanghai(2026, 11, 24, 13, 30));
    let alerts = app.wait_for_alerts(&case.id, 1).await;
    let due_soon = &alerts[0];
    assert_eq!((due_soon.kind(), due_soon.level), (AlertKind::DueSoon, 1));
    assert_eq!(
        (
            due_soon.request_id.as_str(),
            due_soon.department.as_str(),
            due_soon.office.as_str(),
            due_soon.reference.as_str(),
            due_soon.round,
        ),
        (
            request.id.as_str(),
            "power",
            "cuiping",
            reference.as_str(),
            1
        )
    );
    assert_eq!(instant(&due_soon.due_at), ack_due);
    assert_eq!(instant(&due_soon.raised_at), shanghai(2026, 11, 24, 13, 30));
    assert_eq!(
        due_soon.summary,
        format!("{reference} 国网达州供电公司 签收期限{due_text}将至：{POWER_CUT_TITLE}")
    );
    let reminder = app
        .wait_for_letter(&format!("<{}.r1.remind-ack@whistle.localhost>", request.id))
        .await;
    assert_eq!(
        reminder.subject,
        format!("【催办】【{reference}】请于{due_text}前签收：{POWER_CUT_TITLE}")
    );
    assert_eq!(reminder.to, ["power@departments.example"]);
    let request_letter = format!("<{}.r1.issued@whistle.localhost>", request.id);
    assert_eq!(
        reminder.in_reply_to,
        std::slice::from_ref(&request_letter),
        "the reminder answers the request letter"
    );
    assert_eq!(reminder.references, std::slice::from_ref(&request_letter));
    assert!(
        reminder.text.contains(&format!("签收期限为{due_text}"))
            && reminder.text.contains(&request.id),
        "{}",
        reminder.text
    );
    let now = app.case(&case.id).await;
    assert!(
        only_request(&now).overdue.is_none(),
        "due soon, not overdue"
    );
    assert!(overdue_cases(&app).await.is_empty());

    // The end of Tuesday: overdue, level 1, the issuing office.
    app.set_clock(ack_due);
    let alerts = app.wait_for_alerts(&case.id, 2).await;
    let overdue = &alerts[1];
    assert_eq!((overdue.kind(), overdue.level), (AlertKind::AckOverdue, 1));
    assert_eq!(instant(&overdue.due_at), ack_due);
    assert_eq!(instant(&overdue.raised_at), ack_due);
    assert_eq!(overdue.request_id, request.id);
    assert_eq!(
        overdue.summary,
        format!("{reference} 国网达州供电公司 签收已逾期（期限{due_text}）：{POWER_CUT_TITLE}"),
        "the first alert comes at the deadline itself: overdue, not 'overdue by 0 minutes'"
    );

    // Three hours into Wednesday, every door says so, with the deadline and how long ago.
    app.set_clock(shanghai(2026, 11, 25, 3, 0));
    let later = app.escalate(power_cut("W-LATE-2")).await;
    let overdue_for = 3 * 3600;
    let check = |r: &DepartmentRequest, door: &str| {
        let o = r
            .overdue
            .as_ref()
            .unwrap_or_else(|| panic!("{door}: not overdue: {r:?}"));
        assert_eq!(o.deadline(), Deadline::Acknowledge, "{door}");
        assert_eq!(instant(&o.due_at), ack_due, "{door}");
        assert_eq!(o.overdue_seconds, overdue_for, "{door}");
    };
    check(only_request(&app.case(&case.id).await), "GetCase");
    assert!(
        only_request(&app.case(&later.id).await).overdue.is_none(),
        "the case escalated just now is not overdue"
    );
    let listed = overdue_cases(&app).await;
    assert_eq!(
        listed.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        [case.id.as_str()],
        "ListCases{{overdue}}"
    );
    check(only_request(&listed[0]), "ListCases");
    let assigned = overdue_assigned(&app, "power").await;
    assert_eq!(assigned.len(), 1, "{assigned:?}");
    assert_eq!(assigned[0].id, request.id);
    check(&assigned[0], "ListAssignedRequests");
    assert!(overdue_assigned(&app, "housing").await.is_empty());
    let supervised = app
        .supervision()
        .list_overdue(ListOverdueRequest::default())
        .await
        .expect("ListOverdue")
        .into_inner();
    assert_eq!(supervised.requests.len(), 1, "{supervised:?}");
    check(&supervised.requests[0], "ListOverdue");
    let facts = supervised.requests[0]
        .case
        .as_ref()
        .expect("the case's facts");
    assert_eq!(
        (facts.case_id.as_str(), facts.title.as_str()),
        (case.id.as_str(), POWER_CUT_TITLE)
    );
    let coverage = supervised.calendar.expect("the calendar's coverage");
    assert_eq!(
        (coverage.complete, coverage.uncovered_years),
        (false, vec![2027]),
        "2027's holidays are not published yet"
    );
    let by_office = app
        .supervision()
        .list_overdue(ListOverdueRequest {
            department: "housing".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(by_office.requests.is_empty(), "filtered by department");

    // A working day later, the alert again; after two, the district's supervisors.
    app.set_clock(shanghai(2026, 11, 26, 0, 0));
    let alerts = app.wait_for_alerts(&case.id, 3).await;
    assert_eq!(
        (alerts[2].kind(), alerts[2].level),
        (AlertKind::AckOverdue, 1)
    );
    assert_eq!(
        alerts[2].summary,
        format!("{reference} 国网达州供电公司 签收逾期1天（期限{due_text}）：{POWER_CUT_TITLE}")
    );
    app.set_clock(shanghai(2026, 11, 27, 0, 0));
    let alerts = app.wait_for_alerts(&case.id, 4).await;
    assert_eq!(
        (alerts[3].kind(), alerts[3].level),
        (AlertKind::AckOverdue, 2)
    );
    assert_eq!(
        alerts[3].summary,
        format!(
            "{reference} 国网达州供电公司 签收逾期2天（期限{due_text}），已报区督办：{POWER_CUT_TITLE}"
        )
    );
    let level2 = all_alerts(
        &mut app.supervision(),
        ListAlertsRequest {
            min_level: 2,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        level2.len(),
        1,
        "only the escalated alert is level 2: {level2:#?}"
    );
    // The later case is overdue now too, by less: ListOverdue puts the most
    // overdue first, a page at a time.
    let mut pages = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = app
            .supervision()
            .list_overdue(ListOverdueRequest {
                page_size: 1,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .expect("ListOverdue")
            .into_inner();
        pages.extend(
            page.requests
                .into_iter()
                .map(|r| (r.case_id, r.overdue.unwrap().overdue_seconds)),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(
        pages,
        [(case.id.clone(), 2 * 86400), (later.id.clone(), 0)],
        "most overdue first"
    );

    let timeline = app.case(&case.id).await;
    let r = request.id.clone();
    assert_eq!(
        watch_events(&timeline),
        [
            (EventKind::ReminderSent, r.clone()),
            (EventKind::RequestOverdue, r.clone()),
            (EventKind::RequestOverdue, r.clone()),
            (EventKind::RequestOverdue, r.clone()),
        ]
    );
    let details: Vec<_> = timeline
        .events
        .iter()
        .filter(|e| e.kind() == EventKind::RequestOverdue)
        .map(|e| e.detail.as_str())
        .collect();
    assert!(
        details[0].contains("level 1") && details[2].contains("level 2"),
        "{details:?}"
    );

    // Power acknowledges on Friday: the acknowledgement alerts stop. The next
    // thing the watch does is the reply's reminder on Monday afternoon; by then
    // an acknowledgement alert would have come too.
    app.set_clock(shanghai(2026, 11, 27, 10, 0));
    app.acknowledge("power", &request.id).await;
    assert!(only_request(&app.case(&case.id).await).overdue.is_none());
    app.set_clock(shanghai(2026, 11, 30, 13, 30));
    let alerts = app.wait_for_alerts(&case.id, 5).await;
    assert_eq!((alerts[4].kind(), alerts[4].level), (AlertKind::DueSoon, 1));
    assert_eq!(instant(&alerts[4].due_at), reply_due);
    assert_eq!(
        alerts[4].summary,
        format!(
            "{reference} 国网达州供电公司 答复期限2026年11月30日（星期一）24:00将至：{POWER_CUT_TITLE}"
        )
    );
    let reply_reminder = app
        .wait_for_letter(&format!(
            "<{}.r1.remind-reply@whistle.localhost>",
            request.id
        ))
        .await;
    assert!(
        reply_reminder.subject.starts_with("【催办】"),
        "{reply_reminder:?}"
    );
    let acks = alerts
        .iter()
        .filter(|a| a.kind() == AlertKind::AckOverdue)
        .count();
    assert_eq!(
        acks, 3,
        "no acknowledgement alert after the acknowledgement"
    );
    // Reminders: one per deadline, each once.
    let reminders: Vec<_> = app
        .letters()
        .into_iter()
        .filter(|l| {
            l.message_id
                .starts_with(&format!("<{}.r1.remind", request.id))
        })
        .map(|l| l.message_id)
        .collect();
    assert_eq!(reminders.len(), 2, "{reminders:?}");
}

const REJECTION_1: &str = "答复未说明停电原因。";
const REJECTION_2: &str = "仍未给出恢复供电的时间。";
const UNSATISFIED: &str = "居民回访：上周又停电两次。";

async fn a_rejection_a_third_round_and_an_unsatisfied_resident_are_each_alerted_once(
    backend: Backend,
) {
    let Some(app) = spawn_app_with_clock(backend, None, &[], monday_morning()).await else {
        return;
    };
    let case = app.escalate(power_cut("W-ROUNDS")).await;
    let id = only_request(&case).id.clone();
    let reference = only_request(&case).reference.clone();
    assert!(
        app.alerts_of(&case.id).await.is_empty(),
        "escalating raises nothing"
    );

    app.answer("power", &id, "已派员检修。").await;
    app.reject(&id, REJECTION_1).await;
    let alerts = app.wait_for_alerts(&case.id, 1).await;
    assert_eq!(kinds_and_levels(&alerts), [(AlertKind::ReplyRejected, 1)]);
    assert_eq!(
        alerts[0].summary,
        format!("{reference} 国网达州供电公司 第1轮答复被退回：{REJECTION_1}")
    );
    assert_eq!(
        (alerts[0].round, alerts[0].request_id.as_str()),
        (1, id.as_str())
    );

    // The second rejection sends the request out a third time: the district hears of it.
    app.answer("power", &id, "已更换变压器。").await;
    app.reject(&id, REJECTION_2).await;
    let alerts = app.wait_for_alerts(&case.id, 3).await;
    assert_eq!(
        kinds_and_levels(&alerts[1..]),
        [
            (AlertKind::ReplyRejected, 1),
            (AlertKind::RepeatedRounds, 2)
        ]
    );
    assert_eq!(
        alerts[1].summary,
        format!("{reference} 国网达州供电公司 第2轮答复被退回：{REJECTION_2}")
    );
    assert_eq!(alerts[2].round, 3);
    assert_eq!(
        alerts[2].summary,
        format!("{reference} 国网达州供电公司 第3次交办：{POWER_CUT_TITLE}")
    );
    // Reviewing again is refused and raises nothing.
    let again = app
        .office()
        .review_reply(whistle::proto::ReviewReplyRequest {
            request_id: id.clone(),
            accept: false,
            reason: REJECTION_2.into(),
        })
        .await;
    refused(again, tonic::Code::FailedPrecondition);

    // Accepted, then the resident is not satisfied: re-opened, a fourth round.
    app.answer("power", &id, "线路已全部改造完毕。").await;
    app.accept(&id).await;
    let reopened = app
        .feedback(&case.id, Verdict::Unsatisfied, UNSATISFIED, &[])
        .await
        .expect("unsatisfied feedback")
        .into_inner();
    assert_eq!(only_request(&reopened).round, 4);
    let alerts = app.wait_for_alerts(&case.id, 5).await;
    assert_eq!(
        kinds_and_levels(&alerts[3..]),
        [(AlertKind::CaseReopened, 1), (AlertKind::RepeatedRounds, 2)]
    );
    let reopen = &alerts[3];
    assert_eq!(
        reopen.summary,
        format!("翠屏街道 群众不满意（{UNSATISFIED}），案件重新办理：{POWER_CUT_TITLE}")
    );
    assert_eq!(
        (
            reopen.request_id.as_str(),
            reopen.department.as_str(),
            reopen.office.as_str()
        ),
        ("", "", "cuiping"),
        "about the case, not one request"
    );
    assert_eq!(alerts[4].round, 4);
    assert!(
        alerts[4].summary.contains("第4次交办"),
        "{}",
        alerts[4].summary
    );
    assert!(
        alerts
            .iter()
            .all(|a| instant(&a.raised_at) == monday_morning() && a.case_id == case.id)
    );

    // The filters of ListAlerts.
    let mut supervision = app.supervision();
    let repeated = all_alerts(
        &mut supervision,
        ListAlertsRequest {
            kind: AlertKind::RepeatedRounds as i32,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(repeated.iter().map(|a| a.round).collect::<Vec<_>>(), [3, 4]);
    let level2 = all_alerts(
        &mut supervision,
        ListAlertsRequest {
            min_level: 2,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(level2, repeated);
    let power = all_alerts(
        &mut supervision,
        ListAlertsRequest {
            department: "power".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        power.len(),
        4,
        "all but the re-opening, which names no department"
    );
    let since = all_alerts(
        &mut supervision,
        ListAlertsRequest {
            since: Some(prost_types::Timestamp {
                seconds: monday_morning().timestamp() + 1,
                nanos: 0,
            }),
            ..Default::default()
        },
    )
    .await;
    assert!(since.is_empty(), "{since:?}");
    // Offices and departments do not read the supervisors' alerts.
    for key in [OFFICE_KEY.to_owned(), department_key("power")] {
        let answer = app
            .supervision_as(&key)
            .list_alerts(ListAlertsRequest::default())
            .await;
        refused(answer, tonic::Code::PermissionDenied);
    }
}

/// An urgent power cut: the urgent policy applies.
fn urgent_power_cut(petition_id: &str) -> EscalatePetitionRequest {
    EscalatePetitionRequest {
        urgent: true,
        ..power_cut(petition_id)
    }
}

async fn deadlines_count_the_spring_festival_and_office_hours(backend: Backend) {
    // Friday 2026-02-13, the eve of the make-up Saturday before 春节.
    let friday = shanghai(2026, 2, 13, 10, 0);
    let Some(app) = spawn_app_with_clock(backend, None, &[], friday).await else {
        return;
    };
    let case = app.escalate(power_cut("W-SPRING")).await;
    let request = only_request(&case).clone();
    // Acknowledge within 1 working day: the make-up Saturday 02-14. Reply
    // within 5: 02-14, then the festival (02-15 to 02-23), then 24 to 27.
    let reply_due = shanghai(2026, 2, 28, 0, 0);
    assert_eq!(instant(&request.ack_due_at), shanghai(2026, 2, 15, 0, 0));
    assert_eq!(instant(&request.reply_due_at), reply_due);
    assert!(!case.urgent);
    app.acknowledge("power", &request.id).await;

    // Urgent: 2 working hours to acknowledge, 1 working day to reply.
    let urgent = app.escalate(urgent_power_cut("W-SPRING-URGENT")).await;
    assert!(urgent.urgent);
    let u = only_request(&urgent).clone();
    assert_eq!(instant(&u.ack_due_at), shanghai(2026, 2, 13, 12, 0));
    assert_eq!(instant(&u.reply_due_at), shanghai(2026, 2, 15, 0, 0));
    // Its reminder halfway (the window is shorter than the lead), then the alert.
    app.set_clock(shanghai(2026, 2, 13, 11, 0));
    let alerts = app.wait_for_alerts(&urgent.id, 1).await;
    assert_eq!(kinds_and_levels(&alerts), [(AlertKind::DueSoon, 1)]);
    assert_eq!(instant(&alerts[0].due_at), shanghai(2026, 2, 13, 12, 0));
    assert!(
        alerts[0]
            .summary
            .contains("签收期限2026年2月13日（星期五）12:00将至"),
        "{}",
        alerts[0].summary
    );
    app.set_clock(shanghai(2026, 2, 13, 12, 0));
    let alerts = app.wait_for_alerts(&urgent.id, 2).await;
    assert_eq!(
        (alerts[1].kind(), alerts[1].level),
        (AlertKind::AckOverdue, 1)
    );
    // Issued at 16:30, two working hours: 16:30–17:30 on Friday, then 09:00–10:00
    // on the make-up Saturday.
    app.set_clock(shanghai(2026, 2, 13, 16, 30));
    let late = app.escalate(urgent_power_cut("W-SPRING-LATE")).await;
    assert_eq!(
        instant(&only_request(&late).ack_due_at),
        shanghai(2026, 2, 14, 10, 0)
    );

    // The last afternoon: reminded, still not overdue at 23:00.
    app.set_clock(shanghai(2026, 2, 27, 23, 0));
    let alerts = app.wait_for_alerts(&case.id, 1).await;
    assert_eq!(kinds_and_levels(&alerts), [(AlertKind::DueSoon, 1)]);
    assert_eq!(instant(&alerts[0].due_at), reply_due);
    assert_eq!(instant(&alerts[0].raised_at), shanghai(2026, 2, 27, 23, 0));
    assert!(
        alerts[0]
            .summary
            .contains("答复期限2026年2月27日（星期五）24:00将至"),
        "{}",
        alerts[0].summary
    );
    assert!(only_request(&app.case(&case.id).await).overdue.is_none());
    let overdue = app
        .supervision()
        .list_overdue(ListOverdueRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(
        overdue.requests.iter().all(|r| r.id != request.id),
        "not overdue before the day ends"
    );
    assert_eq!(overdue.calendar.expect("coverage").uncovered_years, [2027]);

    // Midnight: overdue.
    app.set_clock(reply_due);
    let alerts = app.wait_for_alerts(&case.id, 2).await;
    assert_eq!(
        (alerts[1].kind(), alerts[1].level),
        (AlertKind::ReplyOverdue, 1)
    );
    let o = only_request(&app.case(&case.id).await)
        .overdue
        .expect("overdue at midnight");
    assert_eq!(
        (o.deadline(), instant(&o.due_at), o.overdue_seconds),
        (Deadline::Reply, reply_due, 0)
    );
    // Saturday 02-28 is a make-up working day: the repeat comes at its end.
    app.set_clock(shanghai(2026, 3, 1, 0, 0));
    let alerts = app.wait_for_alerts(&case.id, 3).await;
    assert_eq!(
        (alerts[2].kind(), alerts[2].level),
        (AlertKind::ReplyOverdue, 1)
    );
    assert!(
        alerts[2].summary.contains("答复逾期1天"),
        "{}",
        alerts[2].summary
    );
}

async fn after_downtime_the_watch_raises_what_is_true_now_once(backend: Backend) {
    let db = tempfile::tempdir().unwrap();
    let Some(url) = fresh_database(backend, db.path()).await else {
        return;
    };
    // An instance that leaves the watch to others, on Monday.
    let monday = Arc::new(ManualClock::new(monday_morning()));
    let first = spawn_app_on(
        tempfile::tempdir().unwrap(),
        &url,
        None,
        &[("WHISTLE__WATCH__WORKERS", "0")],
        monday,
    )
    .await;
    let case = first.escalate(property_certificate("W-DOWN")).await;
    let housing = request_of(&case, "housing").id.clone();
    let land = request_of(&case, "land").id.clone();
    first.acknowledge("housing", &housing).await;
    first.stop().await;

    // Back on the Friday after next: housing's reply and both of land's
    // deadlines are past, by days; each is alerted once, at level 2, with no
    // reminder and none of the repeats missed meanwhile.
    let friday = shanghai(2026, 12, 4, 10, 0);
    let second = spawn_app_on(
        tempfile::tempdir().unwrap(),
        &url,
        None,
        &[],
        Arc::new(ManualClock::new(friday)),
    )
    .await;
    // A case's alerts commit together, in the transaction of one look: once
    // there are three, the look is complete.
    let alerts = second.wait_for_alerts(&case.id, 3).await;
    let mut seen: Vec<_> = alerts
        .iter()
        .map(|a| (a.request_id.clone(), a.kind(), a.level))
        .collect();
    seen.sort();
    let mut expected = vec![
        (housing.clone(), AlertKind::ReplyOverdue, 2),
        (land.clone(), AlertKind::AckOverdue, 2),
        (land.clone(), AlertKind::ReplyOverdue, 2),
    ];
    expected.sort();
    assert_eq!(seen, expected);
    assert!(alerts.iter().all(|a| instant(&a.raised_at) == friday));
    let land_ack = alerts
        .iter()
        .find(|a| a.kind() == AlertKind::AckOverdue)
        .unwrap();
    assert!(
        land_ack.summary.contains(
            "区自然资源局 签收逾期9天10小时（期限2026年11月24日（星期二）24:00），已报区督办"
        ),
        "{}",
        land_ack.summary
    );
    let timeline = second.case(&case.id).await;
    let watched = watch_events(&timeline);
    assert_eq!(watched.len(), 3, "{watched:?}");
    assert!(watched.iter().all(|(k, _)| *k == EventKind::RequestOverdue));
    assert!(
        second
            .letters()
            .iter()
            .all(|l| !l.message_id.contains("remind")),
        "no reminder after a deadline"
    );

    // From now on the repeats come one at a time: the next at the end of Friday.
    second.set_clock(shanghai(2026, 12, 5, 0, 0));
    let alerts = second.wait_for_alerts(&case.id, 6).await;
    assert!(
        alerts[3..]
            .iter()
            .all(|a| a.level == 2 && instant(&a.raised_at) == shanghai(2026, 12, 5, 0, 0)),
        "{alerts:#?}"
    );
    let requests: BTreeSet<_> = alerts[3..]
        .iter()
        .map(|a| (a.request_id.clone(), a.kind()))
        .collect();
    assert_eq!(requests.len(), 3, "one more for each deadline: {alerts:#?}");
}

/// Cases per instance in the two-instance scenario.
const CASES_PER_INSTANCE: usize = 12;

async fn two_instances_raise_each_alert_once() {
    let Some(url) = whistle::store::testing::TestDatabase::postgres().await else {
        return;
    };
    let clock = Arc::new(ManualClock::new(monday_morning()));
    // Small scan batches, so that both instances' scans interleave over the cases.
    let env = [
        ("WHISTLE__WATCH__BATCH", "3"),
        ("WHISTLE__GRPC__RATE_LIMIT_PER_SECOND", "0"),
    ];
    let mut apps = Vec::new();
    for _ in 0..2 {
        apps.push(
            spawn_app_on(
                tempfile::tempdir().unwrap(),
                &url,
                None,
                &env,
                clock.clone(),
            )
            .await,
        );
    }
    // A supervisor and the office follow live on different instances: each
    // stream carries what both instances commit, concurrently.
    let mut live_alerts = apps[0]
        .supervision()
        .watch_alerts(WatchAlertsRequest::default())
        .await
        .expect("watching alerts")
        .into_inner();
    let mut live_events = apps[1]
        .office()
        .watch_case_events(WatchCaseEventsRequest::default())
        .await
        .expect("watching case events")
        .into_inner();
    let mut cases = Vec::new();
    for n in 0..CASES_PER_INSTANCE {
        for (i, app) in apps.iter().enumerate() {
            cases.push(
                app.escalate(property_certificate(&format!("W-TWO-{i}-{n:02}")))
                    .await,
            );
        }
    }
    let requests: Vec<String> = cases
        .iter()
        .flat_map(|c| c.requests.iter().map(|r| r.id.clone()))
        .collect();

    // Each step makes one more alert due for every request.
    let steps = [
        shanghai(2026, 11, 24, 13, 30),
        shanghai(2026, 11, 25, 0, 0),
        shanghai(2026, 11, 26, 0, 0),
        shanghai(2026, 11, 27, 0, 0),
    ];
    for (step, at) in steps.iter().enumerate() {
        clock.set(*at);
        let expected = requests.len() * (step + 1);
        eventually(&format!("{expected} alerts at {at}"), || async {
            let n = all_alerts(&mut apps[step % 2].supervision(), Default::default())
                .await
                .len();
            assert!(n <= expected, "{n} alerts, more than {expected}");
            (n == expected).then_some(())
        })
        .await;
    }

    // Every alert by its key (its cause): exactly the expected ones.
    let store = apps[0].store().await;
    let page = store
        .list_alerts(
            &Default::default(),
            &whistle::domain::PageRequest {
                size: 500,
                after: None,
            },
        )
        .await
        .expect("listing alerts");
    store.close().await;
    assert!(page.next.is_none());
    let keys: Vec<String> = page.items.iter().map(|a| a.alert.key.clone()).collect();
    let unique: BTreeSet<&String> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "a key twice: {keys:?}");
    let expected: BTreeSet<String> = requests
        .iter()
        .flat_map(|id| {
            [
                format!("due-soon:{id}:r1:acknowledge"),
                format!("acknowledge-overdue:{id}:r1:l1:n0"),
                format!("acknowledge-overdue:{id}:r1:l1:n1"),
                format!("acknowledge-overdue:{id}:r1:l2:n2"),
            ]
        })
        .collect();
    assert_eq!(
        unique.into_iter().cloned().collect::<BTreeSet<_>>(),
        expected
    );

    // The supervisor's stream got each alert once.
    let streamed = take_n(&mut live_alerts, keys.len()).await;
    let streamed_ids: BTreeSet<u64> = streamed.iter().map(|a| a.id).collect();
    assert_eq!(
        streamed_ids.len(),
        keys.len(),
        "an alert twice on the stream"
    );
    let stored_ids: BTreeSet<u64> = page.items.iter().map(|a| a.id as u64).collect();
    assert_eq!(streamed_ids, stored_ids);

    // Each case's timeline holds each reminder and each overdue look once, and
    // the office's stream each of their events once.
    let mut timeline_ids = BTreeSet::new();
    for case in &cases {
        let timeline = apps[1].case(&case.id).await;
        timeline_ids.extend(timeline.events.iter().map(|e| e.id));
        let mut per_request: BTreeMap<(String, EventKind), usize> = BTreeMap::new();
        for (kind, request) in watch_events(&timeline) {
            *per_request.entry((request, kind)).or_default() += 1;
        }
        for r in &case.requests {
            assert_eq!(
                per_request.get(&(r.id.clone(), EventKind::ReminderSent)),
                Some(&1),
                "{timeline:#?}"
            );
            assert_eq!(
                per_request.get(&(r.id.clone(), EventKind::RequestOverdue)),
                Some(&3),
                "{timeline:#?}"
            );
        }
    }
    let streamed = take_n(&mut live_events, timeline_ids.len()).await;
    let streamed_ids: BTreeSet<u64> = streamed
        .iter()
        .map(|e| e.event.as_ref().unwrap().id)
        .collect();
    assert_eq!(
        streamed_ids.len(),
        timeline_ids.len(),
        "an event twice on the stream"
    );
    assert_eq!(streamed_ids, timeline_ids);

    // And each department one reminder letter per request, from whichever
    // instance delivered it.
    let reminders = eventually("every reminder letter", || async {
        let letters: Vec<String> = apps
            .iter()
            .flat_map(|a| a.letters())
            .filter(|l| l.message_id.contains(".remind-ack@"))
            .map(|l| l.message_id)
            .collect();
        (letters.len() >= requests.len()).then_some(letters)
    })
    .await;
    let unique: BTreeSet<_> = reminders.iter().collect();
    assert_eq!(
        (reminders.len(), unique.len()),
        (requests.len(), requests.len()),
        "one reminder per request"
    );
}

/// libfaketime's preload library, installed when it is missing (by the
/// installer every test binary shares). `None`, with a note, where it can be
/// neither found nor installed; on CI (`CI=true`) that fails instead.
async fn libfaketime() -> Option<std::path::PathBuf> {
    static FOUND: tokio::sync::OnceCell<Option<std::path::PathBuf>> =
        tokio::sync::OnceCell::const_new();
    FOUND
        .get_or_init(|| async {
            let find = || {
                [
                    "/usr/lib/x86_64-linux-gnu/faketime",
                    "/usr/lib/aarch64-linux-gnu/faketime",
                    "/usr/lib/faketime",
                    "/usr/local/lib/faketime",
                ]
                .iter()
                .map(|dir| std::path::Path::new(dir).join("libfaketime.so.1"))
                .find(|p| p.exists())
            };
            if let Some(found) = find() {
                return Some(found);
            }
            let installed = tokio::task::spawn_blocking(|| crate::install::debian(&["faketime"]))
                .await
                .expect("the installer's thread");
            let found = find();
            if found.is_none() {
                let why = installed.err().unwrap_or_else(|| "no libfaketime.so.1".into());
                assert!(
                    std::env::var("CI").is_err(),
                    "CI must run the faketime test: {why}"
                );
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "faketime test skipped: libfaketime is missing and could not be installed: {why}"
                );
            }
            found
        })
        .await
        .clone()
}

/// What makes the real binary live at `start` (a UTC wall time), its clock
/// running from there at the normal rate. Only the wall clock is faked: the
/// runtime's timers keep the real monotonic clock.
fn faked(lib: &std::path::Path, start: &str) -> Vec<(&'static str, String)> {
    vec![
        ("LD_PRELOAD", lib.display().to_string()),
        ("FAKETIME", format!("@{start}")),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1".into()),
        ("TZ", "UTC".into()),
    ]
}

async fn the_real_binary_alerts_at_the_deadline_on_the_system_clock(backend: Backend) {
    let Some(lib) = libfaketime().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = fresh_database(backend, dir.path()).await else {
        return;
    };
    // Monday 10:00 in Shanghai is 02:00 UTC.
    let (mut binary, addr) =
        start_binary(&url, dir.path(), &faked(&lib, "2026-11-23 02:00:00")).await;
    let case = cases_at(&addr, OFFICE_KEY)
        .escalate_petition(power_cut("W-FAKETIME"))
        .await
        .expect("escalating")
        .into_inner();
    let request = only_request(&case).clone();
    let issued = instant(&request.issued_at);
    assert!(
        (issued - monday_morning()).num_seconds().abs() < 30,
        "the binary lives on Monday 2026-11-23: issued at {issued}"
    );
    let ack_due = shanghai(2026, 11, 25, 0, 0);
    assert_eq!(instant(&request.ack_due_at), ack_due);
    binary.start_kill().unwrap();
    binary.wait().await.unwrap();

    // Restarted twelve seconds before the end of Tuesday (time enough to
    // start on a busy machine): the late reminder at once, then the alert when
    // the system clock reaches the deadline.
    let (_binary, addr) = start_binary(&url, dir.path(), &faked(&lib, "2026-11-24 15:59:48")).await;
    let mut supervision = supervision_at(&addr, SUPERVISOR_KEY);
    let started = std::time::Instant::now();
    let alerts = loop {
        let alerts = all_alerts(
            &mut supervision,
            ListAlertsRequest {
                case_id: case.id.clone(),
                ..Default::default()
            },
        )
        .await;
        if alerts.iter().any(|a| a.kind() == AlertKind::AckOverdue) {
            break alerts;
        }
        assert!(
            started.elapsed() < Duration::from_secs(40),
            "no overdue alert 40 s after a restart 12 s before the deadline: {alerts:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        kinds_and_levels(&alerts),
        [(AlertKind::DueSoon, 1), (AlertKind::AckOverdue, 1)]
    );
    let reminded = instant(&alerts[0].raised_at);
    assert!(
        reminded < ack_due && ack_due - reminded < chrono::Duration::seconds(30),
        "reminded at {reminded}, just before the deadline"
    );
    let alerted: DateTime<Utc> = instant(&alerts[1].raised_at);
    assert!(
        alerted >= ack_due && alerted - ack_due < chrono::Duration::seconds(5),
        "the watch slept until the deadline by the system clock: alerted at {alerted}"
    );
}
