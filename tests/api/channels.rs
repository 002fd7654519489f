//! Alerts reach the groups where officials look: 企业微信, 钉钉 and 飞书
//! robots, played here by local stand-ins that check each request as the
//! vendor would (the path, the JSON shape, the signature recomputed from the
//! vendor's documented algorithm, the timestamp window) and answer as the
//! vendor does, error codes included. Each alert reaches each group once,
//! within the robot's rate limit, and never with a resident's details.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use whistle::clock::{Clock, ManualClock};

use crate::helpers::*;

scenarios!(
    each_vendor_receives_an_alert_as_it_documents,
    a_burst_reaches_a_wecom_group_within_twenty_messages_a_minute,
    a_robot_that_was_down_gets_the_message_once,
    a_robot_with_another_secret_refuses_and_nothing_is_taken_as_sent,
    the_weekly_digest_reaches_each_robot_once_signed_and_without_residents,
    a_robot_that_keeps_failing_raises_one_alert_and_one_when_it_recovers,
);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Vendor {
    Wecom,
    Dingtalk,
    Feishu,
}

/// One request the stand-in accepted.
#[derive(Debug, Clone)]
struct Posted {
    /// The service's time when it came: the rate limit is the service's
    /// minute, which the test moves.
    at: Option<DateTime<Utc>>,
    /// When it came in real time, for the limits counted by the second.
    came: std::time::Instant,
    body: Value,
}

#[derive(Debug)]
struct Robot {
    vendor: Vendor,
    secret: Option<String>,
    up: bool,
    clock: Option<Arc<ManualClock>>,
    accepted: Vec<Posted>,
    /// Every error code answered, in order.
    refused: Vec<i64>,
    /// Requests while down.
    missed: usize,
}

#[derive(Clone)]
struct StandIn {
    addr: SocketAddr,
    robot: Arc<Mutex<Robot>>,
}

const WECOM_KEY: &str = "693a91f6-7xxx";
const DINGTALK_TOKEN: &str = "d1ng";
const FEISHU_HOOK: &str = "f3i5hu";

impl StandIn {
    async fn start(vendor: Vendor, secret: Option<&str>) -> StandIn {
        let robot = Arc::new(Mutex::new(Robot {
            vendor,
            secret: secret.map(str::to_owned),
            up: true,
            clock: None,
            accepted: Vec::new(),
            refused: Vec::new(),
            missed: 0,
        }));
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(robot.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        StandIn { addr, robot }
    }

    /// The webhook address as the vendor shows it to the group's owner.
    fn url(&self) -> String {
        let vendor = self.robot.lock().unwrap().vendor;
        match vendor {
            Vendor::Wecom => format!("http://{}/cgi-bin/webhook/send?key={WECOM_KEY}", self.addr),
            Vendor::Dingtalk => format!(
                "http://{}/robot/send?access_token={DINGTALK_TOKEN}",
                self.addr
            ),
            Vendor::Feishu => format!("http://{}/open-apis/bot/v2/hook/{FEISHU_HOOK}", self.addr),
        }
    }

    fn accepted(&self) -> Vec<Posted> {
        self.robot.lock().unwrap().accepted.clone()
    }

    fn refused(&self) -> Vec<i64> {
        self.robot.lock().unwrap().refused.clone()
    }

    fn set_up(&self, up: bool) {
        self.robot.lock().unwrap().up = up;
    }

    fn follow(&self, clock: &Arc<ManualClock>) {
        self.robot.lock().unwrap().clock = Some(clock.clone());
    }
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> String {
    let mut mac = Hmac::<sha2_hmac::Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Within the hour either side of now that both vendors allow.
fn in_window(at: DateTime<Utc>) -> bool {
    (Utc::now() - at).num_seconds().abs() < 3600
}

/// The vendor's answer: its success, or its error code and message.
fn vendor_answer(vendor: Vendor, code: i64, msg: &str) -> (StatusCode, String) {
    let body = match vendor {
        Vendor::Feishu if code == 0 => json!({"code": 0, "msg": "success", "data": {}}),
        Vendor::Feishu => json!({"code": code, "msg": msg, "data": {}}),
        _ => json!({"errcode": code, "errmsg": msg}),
    };
    (StatusCode::OK, body.to_string())
}

/// What the robot checks: the error code it would answer, if any.
fn check(
    robot: &Robot,
    uri: &Uri,
    query: &HashMap<String, String>,
    body: &Value,
) -> Option<(i64, String)> {
    let fail = |code: i64, msg: &str| Some((code, msg.to_owned()));
    match robot.vendor {
        Vendor::Wecom => {
            if uri.path() != "/cgi-bin/webhook/send"
                || query.get("key").map(String::as_str) != Some(WECOM_KEY)
            {
                return fail(93000, "invalid webhook url");
            }
            let ok = match body["msgtype"].as_str() {
                Some("markdown") => body["markdown"]["content"]
                    .as_str()
                    .is_some_and(|c| !c.is_empty() && c.len() <= 4096),
                Some("text") => {
                    body["text"]["content"]
                        .as_str()
                        .is_some_and(|c| c.len() <= 2048)
                        && body["text"]["mentioned_mobile_list"].is_array()
                }
                _ => false,
            };
            if !ok {
                return fail(40008, "invalid message type");
            }
        }
        Vendor::Dingtalk => {
            if uri.path() != "/robot/send"
                || query.get("access_token").map(String::as_str) != Some(DINGTALK_TOKEN)
            {
                return fail(300001, "token is not exist");
            }
            if let Some(secret) = &robot.secret {
                // timestamp (ms) + "\n" + secret, HMAC-SHA256 keyed with the
                // secret, Base64; the query decoding undoes the URL encoding.
                let Some(ts) = query.get("timestamp").and_then(|t| t.parse::<i64>().ok()) else {
                    return fail(310000, "sign not match, no timestamp");
                };
                let expected = hmac_sha256(secret.as_bytes(), format!("{ts}\n{secret}").as_bytes());
                if query.get("sign") != Some(&expected) {
                    return fail(310000, "sign not match");
                }
                if !DateTime::from_timestamp_millis(ts).is_some_and(in_window) {
                    return fail(310000, "invalid timestamp");
                }
            }
            let ok = body["msgtype"] == "markdown"
                && body["markdown"]["title"]
                    .as_str()
                    .is_some_and(|t| !t.is_empty())
                && body["markdown"]["text"]
                    .as_str()
                    .is_some_and(|t| !t.is_empty());
            if !ok {
                return fail(40035, "缺少参数 json");
            }
        }
        Vendor::Feishu => {
            if uri.path() != format!("/open-apis/bot/v2/hook/{FEISHU_HOOK}") {
                return fail(
                    19001,
                    "param invalid: incoming webhook access token invalid",
                );
            }
            if let Some(secret) = &robot.secret {
                // timestamp (s) + "\n" + secret is the key; the message is empty.
                let ts = body["timestamp"]
                    .as_str()
                    .and_then(|t| t.parse::<i64>().ok());
                let Some(ts) = ts else {
                    return fail(
                        19021,
                        "sign match fail or timestamp is not within one hour from current time",
                    );
                };
                let expected = hmac_sha256(format!("{ts}\n{secret}").as_bytes(), b"");
                if body["sign"].as_str() != Some(expected.as_str())
                    || !DateTime::from_timestamp(ts, 0).is_some_and(in_window)
                {
                    return fail(
                        19021,
                        "sign match fail or timestamp is not within one hour from current time",
                    );
                }
            }
            let ok = body["msg_type"] == "interactive"
                && body["card"]["header"]["title"]["content"].is_string()
                && body["card"]["elements"].is_array();
            if !ok {
                return fail(9499, "Bad Request");
            }
        }
    }
    // 5 a second per 飞书 bot, in real seconds.
    if robot.vendor == Vendor::Feishu {
        let this_second = robot
            .accepted
            .iter()
            .filter(|p| p.came.elapsed() < std::time::Duration::from_secs(1))
            .count();
        if this_second >= 5 {
            return fail(11232, "frequency limited");
        }
    }
    // 20 messages a minute per robot (飞书 100), counted in the service's minutes.
    let per_minute = if robot.vendor == Vendor::Feishu {
        100
    } else {
        20
    };
    let at = robot.clock.as_ref().map(|c| c.now());
    if let Some(at) = at {
        let recent = robot
            .accepted
            .iter()
            .filter(|p| p.at.is_some_and(|t| at - t < chrono::Duration::minutes(1)))
            .count();
        if recent >= per_minute {
            return match robot.vendor {
                Vendor::Wecom => fail(45009, "api freq out of limit"),
                Vendor::Dingtalk => fail(130101, "send too fast, exceed 20 times per minute"),
                Vendor::Feishu => fail(11232, "frequency limited"),
            };
        }
    }
    None
}

async fn answer(
    State(robot): State<Arc<Mutex<Robot>>>,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> (StatusCode, String) {
    let mut robot = robot.lock().unwrap();
    if !robot.up {
        robot.missed += 1;
        return (StatusCode::BAD_GATEWAY, "502 Bad Gateway".into());
    }
    let vendor = robot.vendor;
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        robot.refused.push(40035);
        return vendor_answer(vendor, 40035, "invalid json");
    };
    match check(&robot, &uri, &query, &body) {
        Some((code, msg)) => {
            robot.refused.push(code);
            vendor_answer(vendor, code, &msg)
        }
        None => {
            let at = robot.clock.as_ref().map(|c| c.now());
            robot.accepted.push(Posted {
                at,
                came: std::time::Instant::now(),
                body,
            });
            vendor_answer(vendor, 0, "ok")
        }
    }
}

/// The text a group reads, whatever the vendor's shape.
fn text_of(body: &Value) -> String {
    [
        &body["markdown"]["content"],
        &body["markdown"]["text"],
        &body["text"]["content"],
        &body["card"]["elements"][0]["text"]["content"],
    ]
    .iter()
    .filter_map(|v| v.as_str())
    .collect::<Vec<_>>()
    .join("\n")
}

/// A channel name no other test of this process uses: `/metrics` is one
/// recorder for every server the tests start, and a gauge labelled with a
/// name two tests share is set by both at once.
fn own(name: &str, backend: Backend) -> String {
    format!("{name}-{}", format!("{backend:?}").to_lowercase())
}

fn channel(name: &str, kind: &str, url: &str, extra: &str) -> String {
    format!(
        "[channels.{name}]\nkind = \"{kind}\"\nurl = \"{url}\"\nto = [\"supervisors\"]\n{extra}\n"
    )
}

async fn app_with(backend: Backend, settings: &str, env: &[(&str, &str)]) -> Option<TestApp> {
    spawn_app_with_clock(backend, Some(settings), env, monday_morning()).await
}

/// Tuesday 13:30: every request escalated on Monday is due soon, one alert each.
fn due_soon() -> DateTime<Utc> {
    shanghai(2026, 11, 24, 13, 30)
}

async fn each_vendor_receives_an_alert_as_it_documents(backend: Backend) {
    let wecom = StandIn::start(Vendor::Wecom, None).await;
    let dingtalk = StandIn::start(Vendor::Dingtalk, Some("SEC0ding")).await;
    let feishu = StandIn::start(Vendor::Feishu, Some("lark-secret")).await;
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("dingtalk.secret");
    std::fs::write(&secret_file, "SEC0ding\n").unwrap();
    let settings = [
        channel("district", "wecom", &wecom.url(), ""),
        channel(
            "power",
            "dingtalk",
            &dingtalk.url(),
            &format!(
                "secret_file = {:?}\nmobiles = {{ power = \"13900000000\" }}\nlink = \"https://whistle.example/cases/{{case_id}}\"",
                secret_file.display().to_string()
            ),
        ),
        channel("lark", "feishu", &feishu.url(), "alerts = [\"DUE_SOON\"]"),
    ]
    .concat();
    let Some(app) = app_with(
        backend,
        &settings,
        &[("WHISTLE__CHANNELS__LARK__SECRET", "lark-secret")],
    )
    .await
    else {
        return;
    };
    let case = app.escalate(power_cut("CH-SHAPE-1")).await;
    let reference = case.requests[0].reference.clone();
    assert!(!reference.is_empty());
    app.set_clock(due_soon());
    app.wait_for_alerts(&case.id, 1).await;
    for robot in [&wecom, &dingtalk, &feishu] {
        let posted = eventually("the alert in the group", || async {
            let posted = robot.accepted();
            (!posted.is_empty()).then_some(posted)
        })
        .await;
        assert_eq!(posted.len(), 1, "{posted:?}");
        assert!(robot.refused().is_empty(), "{:?}", robot.refused());
        let text = text_of(&posted[0].body);
        let body = posted[0].body.to_string();
        assert!(text.contains(&reference), "{text}");
        assert!(text.contains("期限将至"), "{text}");
        for private in [
            RESIDENT_NAME,
            RESIDENT_PHONE,
            "杨柳社区5栋频繁停电",
            "停电四次",
        ] {
            assert!(!body.contains(private), "{private} in {body}");
        }
    }
    let ding = &dingtalk.accepted()[0].body;
    assert_eq!(ding["at"]["atMobiles"], json!(["13900000000"]));
    let ding_text = text_of(ding);
    assert!(ding_text.contains("@13900000000"), "{ding_text}");
    assert!(
        ding_text.contains(&format!("(https://whistle.example/cases/{})", case.id)),
        "{ding_text}"
    );
    assert_eq!(wecom.accepted()[0].body["msgtype"], "markdown");
    // Each alert once: the ack-overdue alert on Wednesday is the next post,
    // and the 飞书 group, which hears only DUE_SOON, hears nothing more.
    app.set_clock(shanghai(2026, 11, 25, 0, 0));
    app.wait_for_alerts(&case.id, 2).await;
    eventually("the second alert in the 企业微信 group", || async {
        (wecom.accepted().len() == 2).then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(wecom.accepted().len(), 2);
    assert_eq!(feishu.accepted().len(), 1);
}

async fn a_burst_reaches_a_wecom_group_within_twenty_messages_a_minute(backend: Backend) {
    let wecom = StandIn::start(Vendor::Wecom, None).await;
    let settings = channel("district", "wecom", &wecom.url(), "");
    let Some(app) = app_with(backend, &settings, &[]).await else {
        return;
    };
    let clock = app.clock.clone().expect("a manual clock");
    wecom.follow(&clock);
    let mut references = Vec::new();
    for i in 0..100 {
        let case = app.escalate(power_cut(&format!("CH-BURST-{i}"))).await;
        references.push(case.requests[0].reference.clone());
    }
    app.set_clock(due_soon());
    // What the minute's limit holds back goes when the service's minute has
    // passed: the test moves the clock on whenever the group has been quiet.
    let mut quiet_since = (0, std::time::Instant::now());
    let missing = |posted: &[Posted]| {
        let texts: Vec<String> = posted.iter().map(|p| text_of(&p.body)).collect();
        references
            .iter()
            .filter(|r| !texts.iter().any(|t| t.contains(r.as_str())))
            .count()
    };
    eventually("every alert in some message", || {
        let posted = wecom.accepted();
        let now = std::time::Instant::now();
        if posted.len() != quiet_since.0 {
            quiet_since = (posted.len(), now);
        } else if now - quiet_since.1 > std::time::Duration::from_millis(400) {
            clock.advance(chrono::Duration::seconds(61));
            quiet_since = (posted.len(), now);
        }
        let done = missing(&posted) == 0;
        async move { done.then_some(()) }
    })
    .await;
    let posted = wecom.accepted();
    assert!(wecom.refused().is_empty(), "refused: {:?}", wecom.refused());
    assert!(posted.len() < 100, "merged: {} messages", posted.len());
    // Each alert in exactly one message.
    for r in &references {
        let times = posted
            .iter()
            .filter(|p| text_of(&p.body).contains(r.as_str()))
            .count();
        assert_eq!(times, 1, "{r} posted {times} times");
    }
    for p in &posted {
        let at = p.at.unwrap();
        let in_minute = posted
            .iter()
            .filter(|q| {
                q.at.is_some_and(|t| t <= at && at - t < chrono::Duration::minutes(1))
            })
            .count();
        assert!(
            in_minute <= 20,
            "{in_minute} messages in the minute to {at}"
        );
    }
}

async fn a_robot_that_was_down_gets_the_message_once(backend: Backend) {
    let wecom = StandIn::start(Vendor::Wecom, None).await;
    wecom.set_up(false);
    let name = own("down", backend);
    let label = format!("channel=\"{name}\"");
    let settings = channel(&name, "wecom", &wecom.url(), "");
    let Some(app) = app_with(
        backend,
        &settings,
        &[("WHISTLE__METRICS__LISTEN", "127.0.0.1:0")],
    )
    .await
    else {
        return;
    };
    let case = app.escalate(power_cut("CH-DOWN-1")).await;
    app.set_clock(due_soon());
    app.wait_for_alerts(&case.id, 1).await;
    eventually("a post that found the robot down", || async {
        (wecom.robot.lock().unwrap().missed >= 1).then_some(())
    })
    .await;
    let metrics = format!("http://{}/metrics", app.metrics_addr.unwrap());
    let scrape = || async { reqwest::get(&metrics).await.unwrap().text().await.unwrap() };
    eventually("the failing channel in /metrics", || async {
        let text = scrape().await;
        text.lines()
            .any(|l| {
                l.starts_with("whistle_channel_consecutive_failures")
                    && l.contains(&label)
                    && !l.ends_with(" 0")
            })
            .then_some(())
    })
    .await;
    assert!(wecom.accepted().is_empty());
    wecom.set_up(true);
    // The retry waits for its backoff ([mail.retry], 30 s at first).
    app.clock().advance(chrono::Duration::seconds(31));
    eventually("the message once the robot is back", || async {
        (wecom.accepted().len() == 1).then_some(())
    })
    .await;
    app.clock().advance(chrono::Duration::minutes(10));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let posted = wecom.accepted();
    let reference = &case.requests[0].reference;
    let with_it = posted
        .iter()
        .filter(|p| text_of(&p.body).contains(reference.as_str()))
        .count();
    assert_eq!(with_it, 1, "{posted:?}");
    eventually("the channel healthy again in /metrics", || async {
        let text = scrape().await;
        text.lines()
            .any(|l| {
                l.starts_with("whistle_channel_consecutive_failures")
                    && l.contains(&label)
                    && l.ends_with(" 0")
            })
            .then_some(())
    })
    .await;
}

async fn a_robot_with_another_secret_refuses_and_nothing_is_taken_as_sent(backend: Backend) {
    let dingtalk = StandIn::start(Vendor::Dingtalk, Some("SECright")).await;
    let feishu = StandIn::start(Vendor::Feishu, Some("right")).await;
    let settings = [
        channel("ding", "dingtalk", &dingtalk.url(), "secret = \"SECwrong\""),
        channel("lark", "feishu", &feishu.url(), "secret = \"wrong\""),
    ]
    .concat();
    let Some(app) = app_with(backend, &settings, &[]).await else {
        return;
    };
    let case = app.escalate(power_cut("CH-SIGN-1")).await;
    app.set_clock(due_soon());
    app.wait_for_alerts(&case.id, 1).await;
    eventually("both robots refusing the signature", || async {
        (dingtalk.refused().contains(&310000) && feishu.refused().contains(&19021)).then_some(())
    })
    .await;
    // Refused is not sent: it is tried again after its backoff, and refused again.
    app.clock().advance(chrono::Duration::seconds(31));
    eventually("a second try", || async {
        (dingtalk.refused().len() >= 2 && feishu.refused().len() >= 2).then_some(())
    })
    .await;
    assert!(dingtalk.accepted().is_empty());
    assert!(feishu.accepted().is_empty());
}

async fn the_weekly_digest_reaches_each_robot_once_signed_and_without_residents(backend: Backend) {
    let wecom = StandIn::start(Vendor::Wecom, None).await;
    let dingtalk = StandIn::start(Vendor::Dingtalk, Some("SEC0ding")).await;
    let feishu = StandIn::start(Vendor::Feishu, Some("lark-secret")).await;
    // The robots hear no alert here: only the digest.
    let quiet = "alerts = [\"CHAIN_BROKEN\"]\ndigest = true";
    let mut settings = [
        channel("district", "wecom", &wecom.url(), quiet),
        channel(
            "power",
            "dingtalk",
            &dingtalk.url(),
            &format!("{quiet}\nsecret = \"SEC0ding\""),
        ),
        channel(
            "lark",
            "feishu",
            &feishu.url(),
            &format!("{quiet}\nsecret = \"lark-secret\""),
        ),
    ]
    .concat();
    settings.push_str("\n[digest]\nenabled = true\nweekday = \"MON\"\ntime = \"08:30\"\n");
    let Some(app) = app_with(
        backend,
        &settings,
        &[("WHISTLE__HTTP__PUBLIC_URL", "https://whistle.example/")],
    )
    .await
    else {
        return;
    };
    let case = app.escalate(power_cut("CH-DIGEST-1")).await;
    app.set_clock(shanghai(2026, 11, 29, 23, 0));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for robot in [&wecom, &dingtalk, &feishu] {
        assert!(robot.accepted().is_empty(), "no digest before its time");
    }
    app.set_clock(shanghai(2026, 11, 30, 8, 30));
    for robot in [&wecom, &dingtalk, &feishu] {
        let posted = eventually("the digest in the group", || async {
            let posted = robot.accepted();
            (!posted.is_empty()).then_some(posted)
        })
        .await;
        assert!(robot.refused().is_empty(), "{:?}", robot.refused());
        let text = text_of(&posted[0].body);
        let body = posted[0].body.to_string();
        // The title: in the text, or 飞书's card header.
        assert!(body.contains("【吹哨报到·周报】2026-W48"), "{body}");
        // The week's one case, its one request, per office and department.
        assert!(text.contains("翠屏街道：案件1件，交办1件"), "{text}");
        assert!(text.contains("供电公司：交办1件，超期1件"), "{text}");
        assert!(
            text.contains("https://whistle.example/console/figures?period=week&date=2026-11-23"),
            "{text}"
        );
        for private in [
            RESIDENT_NAME,
            RESIDENT_PHONE,
            "杨柳社区5栋频繁停电",
            "停电四次",
            case.id.as_str(),
            case.requests[0].reference.as_str(),
        ] {
            assert!(!body.contains(private), "{private} in {body}");
        }
    }
    assert_eq!(
        feishu.accepted()[0].body["card"]["header"]["template"],
        "blue"
    );
    // Once per digest: a later look, and the next run's hours, post nothing more.
    app.clock().advance(chrono::Duration::hours(2));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    for robot in [&wecom, &dingtalk, &feishu] {
        assert_eq!(robot.accepted().len(), 1, "{:?}", robot.accepted());
    }
}

async fn a_robot_that_keeps_failing_raises_one_alert_and_one_when_it_recovers(backend: Backend) {
    let flaky = StandIn::start(Vendor::Wecom, None).await;
    let steady = StandIn::start(Vendor::Wecom, None).await;
    flaky.set_up(false);
    let name = own("flaky", backend);
    let settings = [
        channel(&name, "wecom", &flaky.url(), "alert_after_failures = 3"),
        channel("steady", "wecom", &steady.url(), ""),
    ]
    .concat();
    let Some(app) = app_with(
        backend,
        &settings,
        &[("WHISTLE__METRICS__LISTEN", "127.0.0.1:0")],
    )
    .await
    else {
        return;
    };
    let of_kind = |kind: whistle::proto::AlertKind| {
        let mut client = app.supervision();
        async move {
            client
                .list_alerts(whistle::proto::ListAlertsRequest {
                    kind: kind as i32,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .alerts
        }
    };
    let case = app.escalate(power_cut("CH-FAILING-1")).await;
    app.set_clock(due_soon());
    app.wait_for_alerts(&case.id, 1).await;
    // Six failed posts in a row, each retry after its backoff (30 s, then
    // doubled): the spell's alert comes at the third, once.
    for failures in 1..=6 {
        eventually("another failed post", || async {
            (flaky.robot.lock().unwrap().missed >= failures).then_some(())
        })
        .await;
        if failures == 2 {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            assert!(
                of_kind(whistle::proto::AlertKind::ChannelFailing)
                    .await
                    .is_empty(),
                "no alert before the third failure"
            );
        }
        app.clock().advance(chrono::Duration::minutes(20));
    }
    let failing = eventually("the failing channel's alert", || async {
        let alerts = of_kind(whistle::proto::AlertKind::ChannelFailing).await;
        (!alerts.is_empty()).then_some(alerts)
    })
    .await;
    assert_eq!(failing.len(), 1, "one alert per spell: {failing:?}");
    let a = &failing[0];
    assert_eq!(
        (a.level, a.case_id.as_str(), a.office.as_str()),
        (2, "", "")
    );
    assert!(a.summary.contains(&name), "{}", a.summary);
    assert!(a.summary.contains("连续3次"), "{}", a.summary);
    // The other group hears of it; the failing one is not told of itself.
    eventually("the steady group told of the failing one", || async {
        steady
            .accepted()
            .iter()
            .any(|p| text_of(&p.body).contains("群机器人推送失败"))
            .then_some(())
    })
    .await;
    let metrics = format!("http://{}/metrics", app.metrics_addr.unwrap());
    let text = reqwest::get(&metrics).await.unwrap().text().await.unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("whistle_channel_consecutive_failures")
                && l.contains(&format!("channel=\"{name}\""))
                && !l.ends_with(" 0")),
        "{text}"
    );
    // Back: the message goes, and the spell's end is recorded, once.
    flaky.set_up(true);
    app.clock().advance(chrono::Duration::hours(1));
    let recovered = eventually("the recovery alert", || async {
        let alerts = of_kind(whistle::proto::AlertKind::ChannelRecovered).await;
        (!alerts.is_empty()).then_some(alerts)
    })
    .await;
    assert_eq!(recovered.len(), 1, "{recovered:?}");
    app.clock().advance(chrono::Duration::hours(1));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        of_kind(whistle::proto::AlertKind::ChannelFailing)
            .await
            .len(),
        1
    );
    assert_eq!(
        of_kind(whistle::proto::AlertKind::ChannelRecovered)
            .await
            .len(),
        1
    );
    let told = flaky.accepted();
    assert!(
        told.iter()
            .all(|p| !text_of(&p.body).contains("群机器人推送")),
        "{told:?}"
    );
    assert!(
        told.iter().any(|p| text_of(&p.body).contains("期限将至")),
        "{told:?}"
    );
}
