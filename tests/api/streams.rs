//! The live streams through the real server: a supervisor's alerts, an office's
//! case events and a department's new requests arrive as they happen, only to
//! whom they concern, and a client that reconnects after the last id it
//! received gets exactly the rest. A reader that stops reading is cut off
//! with the id to resume after instead of being buffered without end, and a
//! stopping service ends its streams instead of waiting for their clients.
//! A principal, and the instance in all, may hold only so many streams; one
//! more is refused naming the limit until a stream ends. What another instance
//! commits arrives too, through the instance's one poller.

use std::time::{Duration, Instant};

use tonic::Code;
use tonic::transport::{Channel, Endpoint};
use whistle::proto::case_service_client::CaseServiceClient;
use whistle::proto::{
    Alert, AlertKind, AssignedRequestEvent, CaseEvent, EscalatePetitionRequest, EventKind,
    ListAlertsRequest, RequestStatus, WatchAlertsRequest, WatchAssignedRequestsRequest,
    WatchCaseEventsRequest,
};

use crate::helpers::*;

scenarios!(
    a_supervisor_follows_alerts_live_and_resumes_after_the_last_one,
    an_office_follows_its_own_case_events_and_resumes_after_the_last_one,
    a_department_follows_the_requests_issued_to_it,
    a_reader_that_stops_reading_is_cut_off_with_the_id_to_resume_after,
    stopping_the_service_ends_its_live_streams,
    a_slow_reader_hears_of_the_shutdown_after_at_most_its_buffer,
    a_reader_that_stopped_reading_does_not_hold_up_the_shutdown,
    a_principal_and_the_instance_are_held_to_their_stream_limits,
    a_stream_hears_what_another_instance_commits,
);

async fn watch_alerts(
    app: &TestApp,
    after_alert_id: u64,
    min_level: i32,
) -> tonic::Streaming<Alert> {
    app.supervision()
        .watch_alerts(WatchAlertsRequest {
            after_alert_id,
            min_level,
        })
        .await
        .expect("watching alerts")
        .into_inner()
}

async fn watch_events(office: &mut CaseClient, after_event_id: u64) -> tonic::Streaming<CaseEvent> {
    office
        .watch_case_events(WatchCaseEventsRequest { after_event_id })
        .await
        .expect("watching case events")
        .into_inner()
}

async fn watch_assigned(
    app: &TestApp,
    department: &str,
    after_event_id: u64,
) -> tonic::Streaming<AssignedRequestEvent> {
    app.department(department)
        .watch_assigned_requests(WatchAssignedRequestsRequest { after_event_id })
        .await
        .expect("watching assigned requests")
        .into_inner()
}

fn alert_ids(alerts: &[Alert]) -> Vec<u64> {
    alerts.iter().map(|a| a.id).collect()
}

fn event_ids(events: &[CaseEvent]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e.event.as_ref().expect("an event").id)
        .collect()
}

fn kinds(events: &[CaseEvent]) -> Vec<EventKind> {
    events
        .iter()
        .map(|e| e.event.as_ref().expect("an event").kind())
        .collect()
}

/// Every item's id once: nothing was delivered twice.
#[track_caller]
fn distinct(ids: &[u64]) {
    let unique: std::collections::BTreeSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "an id twice: {ids:?}");
}

async fn a_supervisor_follows_alerts_live_and_resumes_after_the_last_one(backend: Backend) {
    let Some(app) = spawn_app_with_clock(backend, None, &[], monday_morning()).await else {
        return;
    };
    let mut live = watch_alerts(&app, 0, 0).await;
    let mut cases = Vec::new();
    for n in 0..3 {
        cases.push(app.escalate(power_cut(&format!("S-ALERTS-{n}"))).await);
    }

    // Raised while the supervisor watches: the three reminders, then the first
    // overdue alert; then the supervisor's connection drops.
    app.set_clock(shanghai(2026, 11, 24, 13, 30));
    let mut received = take_n(&mut live, 3).await;
    assert!(
        received.iter().all(|a| a.kind() == AlertKind::DueSoon),
        "{received:#?}"
    );
    app.set_clock(shanghai(2026, 11, 25, 0, 0));
    received.push(next_of(&mut live).await);
    assert_eq!(received[3].kind(), AlertKind::AckOverdue);
    drop(live);
    // (Every case's overdue alert is in before power acknowledges one of them.)
    eventually("the three overdue alerts", || async {
        let n = all_alerts(&mut app.supervision(), Default::default())
            .await
            .len();
        (n == 6).then_some(())
    })
    .await;

    // Meanwhile: the other overdue alerts, a rejected reply, the repeats.
    let third = &cases[2].requests[0].id;
    app.answer("power", third, "已派员抢修。").await;
    app.reject(third, "未说明停电原因。").await;
    app.set_clock(shanghai(2026, 11, 26, 0, 0));
    let total = 3 + 3 + 1 + 2;
    eventually(&format!("{total} alerts"), || async {
        let n = all_alerts(&mut app.supervision(), Default::default())
            .await
            .len();
        (n == total).then_some(())
    })
    .await;

    // Reconnecting after the last one received: exactly the rest, then live.
    let last = received.last().unwrap().id;
    let mut resumed = watch_alerts(&app, last, 0).await;
    received.extend(take_n(&mut resumed, total - received.len()).await);
    app.set_clock(shanghai(2026, 11, 27, 0, 0));
    received.extend(take_n(&mut resumed, 3).await);

    // The same as a reader that never disconnected would have got, in the order
    // of a stream from the start, and what ListAlerts holds.
    let mut replay = watch_alerts(&app, 0, 0).await;
    let whole = take_n(&mut replay, received.len()).await;
    assert_eq!(
        alert_ids(&received),
        alert_ids(&whole),
        "no gap, no duplicate"
    );
    distinct(&alert_ids(&received));
    let listed = all_alerts(&mut app.supervision(), Default::default()).await;
    assert_eq!(listed.len(), received.len());
    let mut listed_ids = alert_ids(&listed);
    let mut received_ids = alert_ids(&received);
    listed_ids.sort();
    received_ids.sort();
    assert_eq!(listed_ids, received_ids);
    assert_eq!(
        received
            .iter()
            .filter(|a| a.kind() == AlertKind::ReplyRejected)
            .count(),
        1
    );

    // min_level 2: only the district's alerts, from the start or after any alert.
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
        2,
        "the two requests still unacknowledged: {level2:#?}"
    );
    let mut district = watch_alerts(&app, 0, 2).await;
    assert_eq!(
        alert_ids(&take_n(&mut district, 2).await),
        alert_ids(&level2)
    );
    let mut district = watch_alerts(&app, received[0].id, 2).await;
    assert_eq!(
        alert_ids(&take_n(&mut district, 2).await),
        alert_ids(&level2)
    );

    // Refusals come as a status, before any stream.
    let unknown = app
        .supervision()
        .watch_alerts(WatchAlertsRequest {
            after_alert_id: 1_000_000,
            min_level: 0,
        })
        .await;
    invalid(unknown, "after_alert_id");
    let level3 = app
        .supervision()
        .watch_alerts(WatchAlertsRequest {
            after_alert_id: 0,
            min_level: 3,
        })
        .await;
    invalid(level3, "min_level");
    for key in [OFFICE_KEY.to_owned(), department_key("power")] {
        let answer = app
            .supervision_as(&key)
            .watch_alerts(WatchAlertsRequest::default())
            .await;
        refused(answer, Code::PermissionDenied);
    }
}

/// A petition of 西外街道 (the second office of `two_offices`).
fn xinnan_power_cut(petition_id: &str) -> EscalatePetitionRequest {
    EscalatePetitionRequest {
        community: "滨河社区".into(),
        address: "西外街道滨河社区".into(),
        ..power_cut(petition_id)
    }
}

async fn an_office_follows_its_own_case_events_and_resumes_after_the_last_one(backend: Backend) {
    let Some(app) = spawn_app(backend, Some(&two_offices())).await else {
        return;
    };
    let mut cuiping = app.office();
    let mut xinnan = app.cases_as(XINNAN_KEY);
    let mut ours = watch_events(&mut cuiping, 0).await;
    let mut theirs = watch_events(&mut xinnan, 0).await;

    let case = app.escalate(power_cut("S-EVENTS-1")).await;
    let other = xinnan
        .escalate_petition(xinnan_power_cut("S-EVENTS-X1"))
        .await
        .expect("西外街道 escalates")
        .into_inner();
    let request = case.requests[0].id.clone();
    app.acknowledge("power", &request).await;
    app.reply("power", &request, "已派员检修。").await;

    let mut received = take_n(&mut ours, 4).await;
    assert_eq!(
        kinds(&received),
        [
            EventKind::Escalated,
            EventKind::RequestIssued,
            EventKind::RequestAcknowledged,
            EventKind::ReplySubmitted
        ]
    );
    assert!(
        received.iter().all(|e| e.case_id == case.id),
        "{received:#?}"
    );
    let actors: Vec<_> = received
        .iter()
        .map(|e| e.event.as_ref().unwrap().actor.as_str())
        .collect();
    assert_eq!(
        actors,
        [
            "cuiping-office",
            "cuiping-office",
            "power-dept",
            "power-dept"
        ]
    );
    // 西外街道 sees its own case, and not 翠屏街道's: its next event after
    // those is the one of its second petition, though 翠屏's came between.
    let their_first = take_n(&mut theirs, 2).await;
    assert!(
        their_first.iter().all(|e| e.case_id == other.id),
        "{their_first:#?}"
    );
    let another = xinnan
        .escalate_petition(xinnan_power_cut("S-EVENTS-X2"))
        .await
        .unwrap()
        .into_inner();
    let next = next_of(&mut theirs).await;
    assert_eq!(
        (next.case_id.as_str(), kinds(std::slice::from_ref(&next))[0]),
        (another.id.as_str(), EventKind::Escalated)
    );
    drop(theirs);

    // The office's system drops after the acknowledgement; the reply was
    // already on its way, more happens while it is away.
    drop(ours);
    received.truncate(3);
    app.reject(&request, "未说明停电原因。").await;
    let last = event_ids(&received)[2];
    let mut resumed = watch_events(&mut cuiping, last).await;
    received.extend(take_n(&mut resumed, 3).await);
    assert_eq!(
        kinds(&received[3..]),
        [
            EventKind::ReplySubmitted,
            EventKind::ReplyRejected,
            EventKind::RequestIssued
        ]
    );
    // Live again.
    app.acknowledge("power", &request).await;
    received.push(next_of(&mut resumed).await);
    assert_eq!(kinds(&received[6..]), [EventKind::RequestAcknowledged]);

    let mut replay = watch_events(&mut cuiping, 0).await;
    let whole = take_n(&mut replay, received.len()).await;
    assert_eq!(
        event_ids(&received),
        event_ids(&whole),
        "no gap, no duplicate"
    );
    distinct(&event_ids(&received));
    // What the timeline holds, in the same order.
    let timeline = app.case(&case.id).await;
    assert_eq!(
        timeline.events.iter().map(|e| e.id).collect::<Vec<_>>(),
        event_ids(&received)
    );

    // Refusals.
    invalid(
        cuiping
            .watch_case_events(WatchCaseEventsRequest {
                after_event_id: 1_000_000,
            })
            .await,
        "after_event_id",
    );
    for mut client in [
        app.cases_as(&department_key("power")),
        app.cases_as(SUPERVISOR_KEY),
    ] {
        let answer = client
            .watch_case_events(WatchCaseEventsRequest::default())
            .await;
        refused(answer, Code::PermissionDenied);
    }
}

async fn a_department_follows_the_requests_issued_to_it(backend: Backend) {
    let Some(app) = spawn_app(backend, Some(&two_offices())).await else {
        return;
    };
    let mut power = watch_assigned(&app, "power", 0).await;
    let mut lighting = watch_assigned(&app, "lighting", 0).await;

    // Lighting leads the street light, power assists; the power cut is power's
    // alone; the property certificate neither's.
    let light = app.escalate(street_lighting("S-ISSUED-1")).await;
    app.escalate(property_certificate("S-ISSUED-2")).await;
    let cut = app.escalate(power_cut("S-ISSUED-3")).await;
    let first = take_n(&mut power, 2).await;
    let got: Vec<_> = first
        .iter()
        .map(|e| {
            let r = e.request.as_ref().expect("the request");
            (r.case_id.clone(), r.department.clone(), r.round)
        })
        .collect();
    assert_eq!(
        got,
        [
            (light.id.clone(), "power".to_owned(), 1),
            (cut.id.clone(), "power".to_owned(), 1)
        ]
    );
    let facts = first[1]
        .request
        .as_ref()
        .unwrap()
        .case
        .as_ref()
        .expect("the case's facts");
    assert_eq!(facts.title, cut.title);
    assert_eq!(
        facts.resident.as_ref().unwrap().phone,
        RESIDENT_PHONE_MASKED,
        "as the department may see it"
    );

    // A rejected reply re-issues the request: round 2 arrives on the stream.
    let id = request_of(&cut, "power").id.clone();
    app.answer("power", &id, "已派员检修。").await;
    app.reject(&id, "未说明停电原因。").await;
    let again = next_of(&mut power).await;
    let r = again.request.as_ref().unwrap();
    assert_eq!(
        (r.id.as_str(), r.round, r.status()),
        (id.as_str(), 2, RequestStatus::Issued)
    );
    assert_eq!(r.reissue_reason, "未说明停电原因。");
    assert!(again.event_id > 0);

    // Lighting got its own request only: the next after it is its next one.
    let own = next_of(&mut lighting).await;
    assert_eq!(own.request.as_ref().unwrap().case_id, light.id);
    let light2 = app.escalate(street_lighting("S-ISSUED-4")).await;
    let next = next_of(&mut lighting).await;
    assert_eq!(next.request.as_ref().unwrap().case_id, light2.id);
    let power_next = next_of(&mut power).await;
    assert_eq!(power_next.request.as_ref().unwrap().case_id, light2.id);

    // Resuming after the first: the rest, no gap, no duplicate.
    let all: Vec<u64> = first
        .iter()
        .chain([&again, &power_next])
        .map(|e| e.event_id)
        .collect();
    distinct(&all);
    let mut resumed = watch_assigned(&app, "power", all[0]).await;
    let rest = take_n(&mut resumed, 3).await;
    assert_eq!(
        rest.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        all[1..]
    );

    for mut client in [app.supervisor_departments(), app.departments_as(OFFICE_KEY)] {
        let answer = client
            .watch_assigned_requests(WatchAssignedRequestsRequest::default())
            .await;
        refused(answer, Code::PermissionDenied);
    }
}

/// Items at most waiting for a reader in the slow-reader scenario.
const STREAM_BUFFER: usize = 4;
/// The slow reader's HTTP/2 windows, in bytes: less than one message.
const WINDOW: u32 = 16;
/// Escalations recorded while the slow reader does not read: two events each.
const ESCALATIONS: usize = 40;

/// A connection of its own (a stalled stream must not stall the others'
/// connection) whose HTTP/2 windows hold less than one message, so that what
/// the client does not read stays at the server rather than in the client's
/// transport buffers.
async fn narrow_channel(app: &TestApp) -> Channel {
    Endpoint::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .initial_stream_window_size(Some(WINDOW))
        .initial_connection_window_size(Some(WINDOW))
        .connect()
        .await
        .expect("connecting")
}

async fn a_reader_that_stops_reading_is_cut_off_with_the_id_to_resume_after(backend: Backend) {
    let env = [
        ("WHISTLE__GRPC__STREAM_BUFFER", "4"),
        ("WHISTLE__GRPC__STREAM_STALL_SECS", "1"),
        ("WHISTLE__GRPC__RATE_LIMIT_PER_SECOND", "0"),
    ];
    let Some(app) = spawn_app_with(backend, None, &env).await else {
        return;
    };
    let narrow = narrow_channel(&app).await;
    let mut slow_office = CaseServiceClient::with_interceptor(narrow, bearer(OFFICE_KEY));
    let mut slow = watch_events(&mut slow_office, 0).await;
    let mut office = app.office();
    let mut keeping_up = watch_events(&mut office, 0).await;

    for n in 0..ESCALATIONS {
        app.escalate(power_cut(&format!("S-SLOW-{n:02}"))).await;
    }
    // A reader that keeps up gets everything, live, while the slow one stalls.
    let everything = take_n(&mut keeping_up, 2 * ESCALATIONS).await;
    // The slow reader takes nothing for longer than the stall allowed.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    app.escalate(power_cut("S-SLOW-AFTER")).await;
    let after = take_n(&mut keeping_up, 2).await;
    assert_eq!(
        after[0].event.as_ref().unwrap().kind(),
        EventKind::Escalated
    );

    let (got, status) = until_failure(&mut slow).await;
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let last = event_ids(&got).last().copied().unwrap_or(0);
    assert!(
        status
            .message()
            .contains(&format!("reconnect after id {last}")),
        "names the last id received ({last}): {}",
        status.message()
    );
    assert_eq!(
        event_ids(&got),
        event_ids(&everything[..got.len()]),
        "what it got is the start of the feed"
    );
    assert!(
        got.len() < 2 * ESCALATIONS,
        "cut off, not buffered without end: got {}",
        got.len()
    );
    // What it got before the cut: the stream's buffer, and what HTTP/2 held
    // beyond it: the window (here less than a message) and one encoded chunk,
    // which the server drains from that same buffer (so about a buffer more).
    assert!(
        got.len() <= 3 * STREAM_BUFFER,
        "at most the buffer and what HTTP/2 held: got {}",
        got.len()
    );
    assert!(
        tokio::time::timeout(WAIT, slow.message())
            .await
            .expect("ended")
            .expect("after its status, the stream is over")
            .is_none()
    );

    // Reconnecting after the id named: the rest, no gap, no duplicate.
    let mut resumed = watch_events(&mut office, last).await;
    let rest = take_n(&mut resumed, 2 * ESCALATIONS + 2 - got.len()).await;
    let mut ids = event_ids(&got);
    ids.extend(event_ids(&rest));
    let mut expected = event_ids(&everything);
    expected.extend(event_ids(&after));
    assert_eq!(ids, expected);
}

/// How a stream that has nothing more to send ends.
async fn ending_of<T: Send + 'static>(stream: &mut tonic::Streaming<T>) -> tonic::Status {
    let (items, status) = until_failure(stream).await;
    assert!(
        items.is_empty(),
        "{} items after the last expected",
        items.len()
    );
    status
}

async fn stopping_the_service_ends_its_live_streams(backend: Backend) {
    let Some(app) = spawn_app_with_clock(backend, None, &[], monday_morning()).await else {
        return;
    };
    let mut alerts = watch_alerts(&app, 0, 0).await;
    let mut office = app.office();
    let mut events = watch_events(&mut office, 0).await;
    let mut assigned = watch_assigned(&app, "power", 0).await;
    let case = app.escalate(power_cut("S-STOP")).await;
    app.answer("power", &case.requests[0].id, "已派员检修。")
        .await;
    app.reject(&case.requests[0].id, "未说明停电原因。").await;
    let alert = next_of(&mut alerts).await;
    let last_event = event_ids(&take_n(&mut events, 6).await)[5];
    let last_issued = take_n(&mut assigned, 2).await[1].event_id;

    let stopping = Instant::now();
    app.shutdown.cancel();
    let endings = [
        (ending_of(&mut alerts).await, alert.id),
        (ending_of(&mut events).await, last_event),
        (ending_of(&mut assigned).await, last_issued),
    ];
    for (status, after) in endings {
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        assert!(
            status
                .message()
                .contains(&format!("reconnect after id {after}")),
            "{}",
            status.message()
        );
    }
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "streams ended {:?} after the shutdown",
        stopping.elapsed()
    );
    // And the service stops without waiting for the clients to hang up.
    app.stop().await;
}

async fn a_slow_reader_hears_of_the_shutdown_after_at_most_its_buffer(backend: Backend) {
    let env = [
        ("WHISTLE__GRPC__STREAM_BUFFER", "4"),
        ("WHISTLE__GRPC__RATE_LIMIT_PER_SECOND", "0"),
    ];
    let Some(app) = spawn_app_with(backend, None, &env).await else {
        return;
    };
    let mut slow_office =
        CaseServiceClient::with_interceptor(narrow_channel(&app).await, bearer(OFFICE_KEY));
    let mut slow = watch_events(&mut slow_office, 0).await;
    let mut office = app.office();
    let mut keeping_up = watch_events(&mut office, 0).await;
    for n in 0..ESCALATIONS {
        app.escalate(power_cut(&format!("S-STEADY-{n:02}"))).await;
    }
    take_n(&mut keeping_up, 2 * ESCALATIONS).await;

    // A reader that takes one item every 50 ms, well within the stall allowed,
    // with a backlog of 80: the service stops without feeding it the backlog.
    let pace = Duration::from_millis(50);
    let mut got = take_n(&mut slow, 2).await;
    app.shutdown.cancel();
    let status = loop {
        tokio::time::sleep(pace).await;
        match tokio::time::timeout(WAIT, slow.message()).await {
            Ok(Ok(Some(event))) => got.push(event),
            Ok(Ok(None)) => panic!("the stream ended without a status"),
            Ok(Err(status)) => break status,
            Err(_) => panic!("the stream neither sent nor ended within {WAIT:?}"),
        }
    };
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let last = *event_ids(&got).last().unwrap();
    assert!(
        status
            .message()
            .contains(&format!("reconnect after id {last}")),
        "{}",
        status.message()
    );
    assert!(
        got.len() <= 2 + 3 * STREAM_BUFFER,
        "after the shutdown, at most the buffer and what HTTP/2 held: got {} in all",
        got.len()
    );
    app.stop().await;
}

/// A connected client sitting on a live stream without reading (its HTTP/2
/// window full) would hold the gRPC server's graceful stop for ever: HTTP/2
/// waits to deliver bytes the client never reads. The service gives calls
/// `grpc.drain_secs` and then closes their connections.
async fn a_reader_that_stopped_reading_does_not_hold_up_the_shutdown(backend: Backend) {
    // The default stall allowance (30 s): the stream is still waiting for its
    // reader when the service is told to stop.
    let env = [
        ("WHISTLE__GRPC__STREAM_BUFFER", "4"),
        ("WHISTLE__GRPC__RATE_LIMIT_PER_SECOND", "0"),
        ("WHISTLE__GRPC__DRAIN_SECS", "2"),
    ];
    let Some(app) = spawn_app_with(backend, None, &env).await else {
        return;
    };
    let mut slow_office =
        CaseServiceClient::with_interceptor(narrow_channel(&app).await, bearer(OFFICE_KEY));
    let _slow = watch_events(&mut slow_office, 0).await;
    let mut office = app.office();
    let mut keeping_up = watch_events(&mut office, 0).await;
    for n in 0..10 {
        app.escalate(power_cut(&format!("S-STALLED-{n:02}"))).await;
    }
    take_n(&mut keeping_up, 20).await;
    // Not a sleep for time to pass: the bound on a stop that does not hang.
    let stopped = tokio::time::timeout(Duration::from_secs(5), app.stop()).await;
    assert!(
        stopped.is_ok(),
        "a client that stopped reading a live stream held up the shutdown past \
         grpc.drain_secs"
    );
}

async fn a_principal_and_the_instance_are_held_to_their_stream_limits(backend: Backend) {
    let env = [
        ("WHISTLE__GRPC__STREAM_MAX_PER_PRINCIPAL", "2"),
        ("WHISTLE__GRPC__STREAM_MAX_TOTAL", "3"),
    ];
    let Some(app) = spawn_app_with(backend, None, &env).await else {
        return;
    };
    let mut office = app.office();
    let first = watch_events(&mut office, 0).await;
    let _second = watch_events(&mut office, 0).await;
    let third = office
        .watch_case_events(WatchCaseEventsRequest { after_event_id: 0 })
        .await;
    let status = refused(third, Code::ResourceExhausted);
    assert!(
        status.message().contains("grpc.stream_max_per_principal"),
        "{}",
        status.message()
    );

    // The supervisor has streams of its own, up to the instance's limit.
    let _alerts = watch_alerts(&app, 0, 0).await;
    let housing = app
        .department("housing")
        .watch_assigned_requests(WatchAssignedRequestsRequest { after_event_id: 0 })
        .await;
    let status = refused(housing, Code::ResourceExhausted);
    assert!(
        status.message().contains("grpc.stream_max_total"),
        "{}",
        status.message()
    );

    // A stream the office ends frees its slot for the next one, which works.
    drop(first);
    let mut again = eventually("the office's freed slot", || {
        let mut office = office.clone();
        async move {
            office
                .watch_case_events(WatchCaseEventsRequest { after_event_id: 0 })
                .await
                .ok()
        }
    })
    .await
    .into_inner();
    let case = app.escalate(power_cut("S-LIMIT")).await;
    assert_eq!(next_of(&mut again).await.case_id, case.id);
}

async fn a_stream_hears_what_another_instance_commits(backend: Backend) {
    let db = tempfile::tempdir().unwrap();
    let Some(database) = fresh_database(backend, db.path()).await else {
        return;
    };
    let env = [("WHISTLE__GRPC__STREAM_POLL_MS", "100")];
    let clock = std::sync::Arc::new(whistle::clock::ManualClock::new(monday_morning()));
    let watched = spawn_app_on(
        tempfile::tempdir().unwrap(),
        &database,
        None,
        &env,
        clock.clone(),
    )
    .await;
    let other = spawn_app_on(tempfile::tempdir().unwrap(), &database, None, &env, clock).await;
    let mut office = watched.office();
    let mut live = watch_events(&mut office, 0).await;

    let case = other.escalate(power_cut("S-ELSEWHERE")).await;
    let event = next_of(&mut live).await;
    assert_eq!(event.case_id, case.id);
    assert_eq!(event.event.expect("an event").kind(), EventKind::Escalated);
}
