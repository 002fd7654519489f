//! Abusive clients: an over-size message, a flood from one key, clients that
//! stall mid-call or never speak HTTP/2. Everyone else is still answered promptly.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::future::join_all;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::{Code, Status};
use whistle::proto::{Case, EscalatePetitionRequest, GetCaseRequest, ListAssignedRequestsRequest};

use super::*;
use crate::helpers::*;

async fn sqlite_app(extra_env: &[(&str, &str)]) -> TestApp {
    spawn_app_with(Backend::Sqlite, None, extra_env)
        .await
        .expect("SQLite is always there")
}

/// A petition whose description alone is 2 MiB, twice `grpc.max_message_bytes`.
fn oversized_petition(petition_id: &str) -> EscalatePetitionRequest {
    EscalatePetitionRequest {
        description: "溢".repeat(2 * 1024 * 1024 / 3 + 1), // 3 bytes each in UTF-8
        ..property_certificate(petition_id)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_petition_is_refused_and_the_server_keeps_answering() {
    let app = sqlite_app(&[]).await;
    let started = Instant::now();
    let status = app
        .office()
        .escalate_petition(oversized_petition("HUGE-1"))
        .await
        .expect_err("a 2 MiB petition is refused");
    assert!(
        status.message().contains("too large"),
        "{:?}: {}",
        status.code(),
        status.message()
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    // The same connection, and a new one, are still served.
    let case = app.escalate(property_certificate("HUGE-2")).await;
    assert_eq!(app.case(&case.id).await.petition_id, "HUGE-2");
    cases_at(&app.addr.to_string(), OFFICE_KEY)
        .get_case(GetCaseRequest {
            case_id: case.id.clone(),
        })
        .await
        .expect("a new connection is served");
    let ledger = whole_ledger(&mut app.office()).await;
    assert_eq!(
        ledger.len(),
        1,
        "nothing of the oversized petition was kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_petition_is_answered_out_of_range() {
    let app = sqlite_app(&[]).await;
    // As the README's table of errors says for grpc.max_message_bytes (tonic's code).
    let status = refused(
        app.office()
            .escalate_petition(oversized_petition("HUGE-1"))
            .await,
        Code::OutOfRange,
    );
    assert!(
        status.message().contains("too large"),
        "{}",
        status.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_one_key_is_throttled_while_other_keys_are_served() {
    let app = sqlite_app(&[
        ("WHISTLE__GRPC__RATE_LIMIT_PER_SECOND", "5"),
        ("WHISTLE__GRPC__RATE_LIMIT_BURST", "10"),
    ])
    .await;
    let case = app.escalate(property_certificate("FLOOD-1")).await;

    let started = Instant::now();
    let flood = (0..50).map(|_| {
        let mut office = app.office();
        let case_id = case.id.clone();
        async move { office.get_case(GetCaseRequest { case_id }).await }
    });
    let department = (0..5).map(|_| {
        let mut housing = app.department("housing");
        async move {
            housing
                .list_assigned_requests(ListAssignedRequestsRequest::default())
                .await
        }
    });
    let (flood, department) = futures::join!(join_all(flood), join_all(department));
    let elapsed = started.elapsed();

    for answer in &department {
        assert!(answer.is_ok(), "another key is served: {answer:?}");
    }
    let ok = flood.iter().filter(|r| r.is_ok()).count();
    let throttled: Vec<&Status> = flood.iter().filter_map(|r| r.as_ref().err()).collect();
    for status in &throttled {
        assert_eq!(
            status.code(),
            Code::ResourceExhausted,
            "{}",
            status.message()
        );
    }
    // The burst (less the escalation), plus what trickled in meanwhile.
    let allowed = 10 + (5.0 * elapsed.as_secs_f64()).ceil() as usize;
    assert!(
        ok >= 5 && ok <= allowed,
        "{ok} of 50 served in {elapsed:?}; at most {allowed} allowed"
    );
    assert!(!throttled.is_empty(), "some of the flood is throttled");

    // A little later the office's allowance is back.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    app.case(&case.id).await;
}

/// The first frames of an HTTP/2 connection: the preface and empty SETTINGS.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// A frame: 24-bit length, type, flags, stream id.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = len.to_be_bytes()[1..].to_vec();
    f.extend([kind, flags]);
    f.extend(stream.to_be_bytes());
    f.extend(payload);
    f
}

/// The request headers of a GetCase call, HPACK-encoded as literals (no
/// indexing, no Huffman) so no encoder is needed.
fn get_case_headers(authority: &str) -> Vec<u8> {
    let bearer = format!("Bearer {OFFICE_KEY}");
    let headers = [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/whistle.v1.CaseService/GetCase"),
        (":authority", authority),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        ("authorization", bearer.as_str()),
    ];
    let mut block = Vec::new();
    for (name, value) in headers {
        assert!(name.len() < 127 && value.len() < 127);
        block.push(0);
        block.push(name.len() as u8);
        block.extend(name.as_bytes());
        block.push(value.len() as u8);
        block.extend(value.as_bytes());
    }
    block
}

/// Opens a connection that starts `streams` GetCase calls, sends the first ten
/// bytes of a hundred-byte message on each, and never sends the rest.
async fn stalled_connection(
    addr: std::net::SocketAddr,
    streams: u32,
) -> std::io::Result<TcpStream> {
    let mut tcp = TcpStream::connect(addr).await?;
    let mut bytes = PREFACE.to_vec();
    let headers = get_case_headers(&addr.to_string());
    let mut partial = vec![0u8, 0, 0, 0, 100];
    partial.extend([0u8; 10]);
    for n in 0..streams {
        let stream = 2 * n + 1;
        bytes.extend(frame(0x1, 0x4, stream, &headers)); // HEADERS, END_HEADERS
        bytes.extend(frame(0x0, 0x0, stream, &partial)); // DATA, not END_STREAM
    }
    tcp.write_all(&bytes).await?;
    Ok(tcp)
}

/// Reads whatever the server sends on `tcp`, so that it never blocks writing,
/// until the server closes the connection; the flag says it did.
fn hold(mut tcp: TcpStream) -> (Arc<AtomicBool>, tokio::task::JoinHandle<()>) {
    let closed = Arc::new(AtomicBool::new(false));
    let flag = closed.clone();
    let task = tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        while let Ok(n) = tcp.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
        flag.store(true, Ordering::SeqCst);
    });
    (closed, task)
}

/// Connections that never get as far as a call: half of them stop halfway
/// through the HTTP/2 preface, half never say a word.
async fn silent_connections(addr: std::net::SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for i in 0..n {
        let mut tcp = TcpStream::connect(addr).await.expect("connecting");
        if i % 2 == 0 {
            tcp.write_all(&PREFACE[..10]).await.unwrap();
        }
        held.push(tcp);
    }
    held
}

/// How many of the held connections the server has closed.
fn closed(held: &[(Arc<AtomicBool>, tokio::task::JoinHandle<()>)]) -> usize {
    held.iter()
        .filter(|(c, _)| c.load(Ordering::SeqCst))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_finish_their_calls_do_not_keep_others_waiting() {
    let app = sqlite_app(&[]).await;
    let case = app.escalate(property_certificate("SLOW-1")).await;

    // 200 calls left hanging on 20 connections, and 100 connections that never
    // get as far as a call.
    let mut held = Vec::new();
    for _ in 0..20 {
        let tcp = stalled_connection(app.addr, 10).await.expect("connecting");
        held.push(hold(tcp));
    }
    held.extend(
        silent_connections(app.addr, 100)
            .await
            .into_iter()
            .map(hold),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A normal office system, on its existing connection and on a new one.
    for round in 0..3 {
        let started = Instant::now();
        app.case(&case.id).await;
        cases_at(&app.addr.to_string(), OFFICE_KEY)
            .get_case(GetCaseRequest {
                case_id: case.id.clone(),
            })
            .await
            .expect("a new connection is served");
        app.escalate(property_certificate(&format!("SLOW-{}", round + 2)))
            .await;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "round {round} took {:?} beside the stalled clients",
            started.elapsed()
        );
    }
    assert_eq!(
        closed(&held),
        0,
        "the stalled clients were all still there while the others were served"
    );
    for (_, task) in held {
        task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_stop_answering_pings_are_closed() {
    let app = sqlite_app(&[
        ("WHISTLE__GRPC__KEEPALIVE_INTERVAL_SECS", "1"),
        ("WHISTLE__GRPC__KEEPALIVE_TIMEOUT_SECS", "1"),
    ])
    .await;
    let mut held = Vec::new();
    for _ in 0..20 {
        let tcp = stalled_connection(app.addr, 10).await.expect("connecting");
        held.push(hold(tcp));
    }
    // A ping after a second, a second to answer it, and some slack.
    let until = Instant::now() + Duration::from_secs(6);
    while closed(&held) < held.len() {
        assert!(
            Instant::now() < until,
            "{} of {} unresponsive connections still open after 6 s",
            held.len() - closed(&held),
            held.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The office system, which answers pings, is still connected and served.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    app.escalate(property_certificate("PING-1")).await;
}

/// Opens a GetCase call whose request message never comes (the stream stays
/// open, empty) and returns how it ended and when.
async fn call_without_its_message(
    app: &TestApp,
) -> (Result<tonic::Response<Case>, Status>, Duration) {
    let mut grpc = tonic::client::Grpc::new(app.channel.clone());
    grpc.ready().await.expect("the channel is ready");
    let mut request = tonic::Request::new(futures::stream::pending::<GetCaseRequest>());
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {OFFICE_KEY}").parse().unwrap(),
    );
    let path = http::uri::PathAndQuery::from_static("/whistle.v1.CaseService/GetCase");
    let codec = tonic_prost::ProstCodec::<GetCaseRequest, Case>::default();
    let started = Instant::now();
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        grpc.client_streaming(request, path, codec),
    )
    .await
    .expect("the server gives up on the call within 10 s");
    (result, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_message_never_arrives_is_cut_off_at_the_request_timeout() {
    let app = sqlite_app(&[("WHISTLE__GRPC__REQUEST_TIMEOUT_SECS", "1")]).await;
    let (result, took) = call_without_its_message(&app).await;
    let status = result.expect_err("the call is not answered OK");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "cut off after {took:?}, expected about 1 s ({:?})",
        status.code()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_cut_off_at_the_request_timeout_is_answered_deadline_exceeded() {
    let app = sqlite_app(&[("WHISTLE__GRPC__REQUEST_TIMEOUT_SECS", "1")]).await;
    let (result, _) = call_without_its_message(&app).await;
    // As the README's table of errors promises for grpc.request_timeout_secs.
    refused(result, Code::DeadlineExceeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_never_speak_http2_are_closed() {
    let app = sqlite_app(&[
        ("WHISTLE__GRPC__HANDSHAKE_TIMEOUT_SECS", "1"),
        ("WHISTLE__GRPC__REQUEST_TIMEOUT_SECS", "1"),
        ("WHISTLE__GRPC__KEEPALIVE_INTERVAL_SECS", "1"),
        ("WHISTLE__GRPC__KEEPALIVE_TIMEOUT_SECS", "1"),
    ])
    .await;
    let held: Vec<_> = silent_connections(app.addr, 20)
        .await
        .into_iter()
        .map(hold)
        .collect();
    // Every timeout the server has is 1 s here; allow several times that.
    let until = Instant::now() + Duration::from_secs(6);
    while closed(&held) < held.len() {
        assert!(
            Instant::now() < until,
            "{} of {} connections that never sent the HTTP/2 preface still open after 6 s",
            held.len() - closed(&held),
            held.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A message whose field 1 is a number where `GetCaseRequest` has a string:
/// bytes that do not decode as the request they are sent as.
#[derive(Clone, PartialEq, prost::Message)]
struct NotAGetCaseRequest {
    #[prost(uint64, tag = "1")]
    case_id: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_that_are_not_the_message_are_invalid_argument_not_internal() {
    let app = sqlite_app(&[]).await;
    let mut grpc = tonic::client::Grpc::new(app.channel.clone());
    grpc.ready().await.expect("the channel is ready");
    let mut request = tonic::Request::new(NotAGetCaseRequest { case_id: 42 });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {OFFICE_KEY}").parse().unwrap(),
    );
    let answer: Result<tonic::Response<whistle::proto::Case>, Status> = grpc
        .unary(
            request,
            http::uri::PathAndQuery::from_static("/whistle.v1.CaseService/GetCase"),
            tonic_prost::ProstCodec::default(),
        )
        .await;
    let status = answer.expect_err("undecodable bytes are refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("decode"), "{}", status.message());
    // The server goes on answering.
    let case = app.escalate(property_certificate("UNDECODABLE-1")).await;
    assert_eq!(app.case(&case.id).await.id, case.id);
}
