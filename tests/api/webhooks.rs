//! Webhooks for office and department systems: what a principal may see,
//! posted as CloudEvents (structured JSON) and signed per Standard Webhooks.
//! The receiver here is a local stand-in that verifies each request as the
//! specification tells receivers to (the signature recomputed from the
//! secret, the timestamp within its tolerance) and can be down for a while.
//! Every event arrives once, in order, whatever the outage; an endpoint that
//! failed too often is paused until the operator resumes it.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;

use crate::helpers::*;

scenarios!(
    an_endpoint_down_for_a_while_gets_every_event_once_in_order,
    a_paused_endpoint_resumes_from_the_last_event_it_took,
);

/// 32 random bytes, as `openssl rand -base64 32` makes them.
const SECRET: &str = "whsec_q6Nc1kTqGq0sLQJ4x1d0Kx3UVmT5k1bq9dMvJ1m0w8E=";
/// The specification's suggested tolerance for the timestamp.
const TOLERANCE_SECS: i64 = 5 * 60;

/// One delivery the receiver accepted.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    event: Value,
}

#[derive(Debug, Default)]
struct Receiver {
    up: bool,
    accepted: Vec<Received>,
    /// Requests refused for a bad signature, type or shape, with why.
    refused: Vec<String>,
    /// Requests while down.
    missed: usize,
}

#[derive(Clone)]
struct Endpoint {
    addr: SocketAddr,
    receiver: Arc<Mutex<Receiver>>,
}

impl Endpoint {
    async fn start() -> Endpoint {
        let receiver = Arc::new(Mutex::new(Receiver {
            up: true,
            ..Receiver::default()
        }));
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Endpoint { addr, receiver }
    }

    fn url(&self) -> String {
        format!("http://{}/hooks/whistle", self.addr)
    }

    fn set_up(&self, up: bool) {
        self.receiver.lock().unwrap().up = up;
    }

    fn accepted(&self) -> Vec<Received> {
        self.receiver.lock().unwrap().accepted.clone()
    }

    fn refused(&self) -> Vec<String> {
        self.receiver.lock().unwrap().refused.clone()
    }

    fn missed(&self) -> usize {
        self.receiver.lock().unwrap().missed
    }
}

/// Verifies as the specification's "Verifying webhook authenticity" says:
/// the key is the Base64 after `whsec_`; the signed content is
/// `{webhook-id}.{webhook-timestamp}.{body}`; the header holds space-separated
/// `v1,{base64}` signatures, any of which may match; an old or future
/// timestamp is refused.
fn verify(headers: &HeaderMap, body: &[u8]) -> Result<(String, Value), String> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or(format!("no {name}"))
    };
    let content_type = header("content-type")?;
    if content_type != "application/cloudevents+json" {
        return Err(format!("content-type {content_type}"));
    }
    let id = header("webhook-id")?;
    let timestamp = header("webhook-timestamp")?;
    let signatures = header("webhook-signature")?;
    let ts: i64 = timestamp.parse().map_err(|_| "timestamp".to_owned())?;
    if (chrono::Utc::now().timestamp() - ts).abs() > TOLERANCE_SECS {
        return Err(format!("timestamp {ts} outside the tolerance"));
    }
    let key = STANDARD
        .decode(SECRET.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<sha2_hmac::Sha256>::new_from_slice(&key).unwrap();
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    let signed = signatures
        .split(' ')
        .filter_map(|s| s.strip_prefix("v1,"))
        .any(|s| s == expected);
    if !signed {
        return Err(format!("signature {signatures}"));
    }
    let event: Value = serde_json::from_slice(body).map_err(|e| format!("json: {e}"))?;
    for attribute in ["id", "source", "type"] {
        if event[attribute].as_str().is_none_or(str::is_empty) {
            return Err(format!("no CloudEvents {attribute}"));
        }
    }
    if event["specversion"] != "1.0" || event["datacontenttype"] != "application/json" {
        return Err(format!("not a CloudEvent 1.0: {event}"));
    }
    Ok((id, event))
}

async fn receive(
    State(receiver): State<Arc<Mutex<Receiver>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut receiver = receiver.lock().unwrap();
    if !receiver.up {
        receiver.missed += 1;
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    match verify(&headers, &body) {
        Ok((id, event)) => {
            receiver.accepted.push(Received { id, event });
            StatusCode::NO_CONTENT
        }
        Err(why) => {
            receiver.refused.push(why);
            StatusCode::BAD_REQUEST
        }
    }
}

fn webhook(name: &str, url: &str, principal: &str) -> String {
    format!(
        "[channels.{name}]\nkind = \"webhook\"\nurl = \"{url}\"\nsecret = \"{SECRET}\"\nto = [\"principal:{principal}\"]\n"
    )
}

/// Waits until the worker has opened the endpoint: it hears what comes after.
async fn opened(app: &TestApp, names: &[&str]) {
    let store = app.store().await;
    eventually("the endpoints opened", || async {
        let open = store.webhook_endpoints().await.unwrap();
        names
            .iter()
            .all(|n| open.iter().any(|e| e.name == *n))
            .then_some(())
    })
    .await;
}

/// Every event of these cases as the office's timeline shows them, in the
/// order they were recorded: (case id, event id, kind).
async fn timeline(app: &TestApp, case_ids: &[&str]) -> Vec<(String, u64, i32)> {
    let mut events = Vec::new();
    for id in case_ids {
        for e in app.case(id).await.events {
            events.push((id.to_string(), e.id, e.kind));
        }
    }
    events.sort_by_key(|(_, id, _)| *id);
    events
}

/// (case id, event id) of each delivery, in the order they came.
fn delivered(received: &[Received]) -> Vec<(String, u64)> {
    received
        .iter()
        .map(|r| {
            (
                r.event["subject"].as_str().unwrap().to_owned(),
                r.event["data"]["event_id"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn assert_once_in_order(received: &[Received], expected: &[(String, u64, i32)]) {
    let ids: Vec<&str> = received.iter().map(|r| r.id.as_str()).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "each message once: {ids:?}");
    let want: Vec<(String, u64)> = expected.iter().map(|(c, e, _)| (c.clone(), *e)).collect();
    assert_eq!(delivered(received), want);
    // Within each case, in its timeline's order.
    let mut seqs: HashMap<String, u64> = HashMap::new();
    for r in received {
        let case = r.event["subject"].as_str().unwrap().to_owned();
        let seq = r.event["data"]["seq"].as_u64().unwrap();
        let last = seqs.insert(case.clone(), seq).unwrap_or(0);
        assert!(seq > last, "{case}: seq {seq} after {last}");
    }
}

async fn an_endpoint_down_for_a_while_gets_every_event_once_in_order(backend: Backend) {
    let office = Endpoint::start().await;
    let power = Endpoint::start().await;
    let settings = [
        webhook("cuiping-system", &office.url(), "cuiping-office"),
        webhook("power-system", &power.url(), "power-dept"),
    ]
    .concat();
    let Some(app) = spawn_app_with_clock(backend, Some(&settings), &[], monday_morning()).await
    else {
        return;
    };
    opened(&app, &["cuiping-system", "power-system"]).await;
    let first = app.escalate(power_cut("WH-ORDER-1")).await;
    let first_events = timeline(&app, &[&first.id]).await;
    eventually("the first case's events", || async {
        (office.accepted().len() == first_events.len()).then_some(())
    })
    .await;

    office.set_up(false);
    power.set_up(false);
    let second = app.escalate(power_cut("WH-ORDER-2")).await;
    let request = &first.requests[0];
    app.acknowledge("power", &request.id).await;
    let third = app.escalate(property_certificate("WH-ORDER-3")).await;
    eventually("a delivery that found the endpoint down", || async {
        (office.missed() >= 1 && power.missed() >= 1).then_some(())
    })
    .await;
    // Tried again after its backoff ([mail.retry], 30 s at first), still down.
    app.clock().advance(chrono::Duration::seconds(31));
    eventually("a second try", || async {
        (office.missed() >= 2).then_some(())
    })
    .await;
    assert_eq!(office.accepted().len(), first_events.len());

    office.set_up(true);
    power.set_up(true);
    app.clock().advance(chrono::Duration::seconds(61));
    let expected = timeline(&app, &[&first.id, &second.id, &third.id]).await;
    eventually("every event once the endpoint is back", || async {
        (office.accepted().len() >= expected.len()).then_some(())
    })
    .await;
    // Nothing more comes later.
    app.clock().advance(chrono::Duration::minutes(10));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(office.refused().is_empty(), "{:?}", office.refused());
    assert_once_in_order(&office.accepted(), &expected);
    let kinds: Vec<String> = office
        .accepted()
        .iter()
        .map(|r| r.event["type"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        kinds
            .iter()
            .any(|k| k == "cn.whistle.case.request_acknowledged"),
        "{kinds:?}"
    );

    // The department hears the issuing of its own requests only: the two
    // power cuts', not the property certificate's (housing and land).
    let issued: Vec<String> = power
        .accepted()
        .iter()
        .map(|r| r.event["data"]["request_id"].as_str().unwrap().to_owned())
        .collect();
    assert!(power.refused().is_empty(), "{:?}", power.refused());
    assert_eq!(
        issued,
        [first.requests[0].id.clone(), second.requests[0].id.clone()]
    );
    for r in power.accepted() {
        assert_eq!(r.event["type"], "cn.whistle.case.request_issued");
        assert!(
            r.event["data"]["reference"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        );
        let body = r.event.to_string();
        for private in [RESIDENT_NAME, RESIDENT_PHONE] {
            assert!(!body.contains(private), "{private} in {body}");
        }
    }
}

async fn a_paused_endpoint_resumes_from_the_last_event_it_took(backend: Backend) {
    let office = Endpoint::start().await;
    let settings = webhook("cuiping-system", &office.url(), "cuiping-office");
    let Some(app) = spawn_app_with_clock(
        backend,
        Some(&settings),
        &[
            ("WHISTLE__MAIL__RETRY__MAX_ATTEMPTS", "2"),
            ("WHISTLE__METRICS__LISTEN", "127.0.0.1:0"),
        ],
        monday_morning(),
    )
    .await
    else {
        return;
    };
    opened(&app, &["cuiping-system"]).await;
    let first = app.escalate(power_cut("WH-PAUSE-1")).await;
    let taken = timeline(&app, &[&first.id]).await;
    eventually("the first case's events", || async {
        (office.accepted().len() == taken.len()).then_some(())
    })
    .await;

    office.set_up(false);
    let second = app.escalate(power_cut("WH-PAUSE-2")).await;
    eventually("a first failure", || async {
        (office.missed() == 1).then_some(())
    })
    .await;
    app.clock().advance(chrono::Duration::seconds(31));
    eventually("a second failure", || async {
        (office.missed() == 2).then_some(())
    })
    .await;
    let metrics = format!("http://{}/metrics", app.metrics_addr.unwrap());
    eventually("the paused endpoint in /metrics", || async {
        let text = reqwest::get(&metrics).await.unwrap().text().await.unwrap();
        text.lines()
            .any(|l| l == "whistle_webhook_paused{channel=\"cuiping-system\"} 1")
            .then_some(())
    })
    .await;

    // Paused: back up, and hours later, nothing is tried.
    office.set_up(true);
    app.clock().advance(chrono::Duration::hours(3));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(office.missed(), 2);
    assert_eq!(office.accepted().len(), taken.len());

    let (code, out) = whistle_cli(&app, &["webhooks", "list"]);
    assert_eq!(code, Some(0), "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("cuiping-system"))
        .unwrap();
    assert!(line.contains("paused"), "{line}");
    assert!(line.contains("HTTP 503"), "{line}");
    let (code, out) = whistle_cli(&app, &["webhooks", "resume", "cuiping-system"]);
    assert_eq!(code, Some(0), "{out}");
    let (code, _) = whistle_cli(&app, &["webhooks", "resume", "cuiping-system"]);
    assert_ne!(code, Some(0), "an active endpoint is not resumed");

    let expected = timeline(&app, &[&first.id, &second.id]).await;
    eventually("the rest after resuming", || async {
        (office.accepted().len() >= expected.len()).then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(office.refused().is_empty(), "{:?}", office.refused());
    assert_once_in_order(&office.accepted(), &expected);
}

/// The operator's command line on the app's database: exit code and output.
fn whistle_cli(app: &TestApp, args: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_whistle"))
        .current_dir(dir.path())
        .env("WHISTLE__DATABASE__URL", &app.settings.database.url)
        .args(args)
        .output()
        .expect("running whistle");
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}
