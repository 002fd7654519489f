//! The service side: real gRPC calls through the generated client, as street
//! offices' systems make them, each client with the key of the office it plays.
//!
//! Each worker gets its own channel (its own HTTP/2 connection) unless told to
//! share fewer: on one connection every call of every worker goes through one
//! client-side connection task and one server-side connection task, which caps
//! throughput at what one core can frame, and a load generator that bottlenecks
//! itself would blame the service for it. Many offices each holding a connection
//! is also what the service meets in production.

use std::sync::Arc;

use anyhow::Context;
use tonic::Request;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};

use whistle::proto::GetCaseRequest;
use whistle::proto::case_service_client::CaseServiceClient;

use crate::load::{Op, Outcome};
use crate::workload::{self, Caller};

/// `n` connected channels to `addr`.
pub async fn channels(addr: &str, n: usize) -> anyhow::Result<Vec<Channel>> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))?.tcp_nodelay(true);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(
            endpoint
                .connect()
                .await
                .with_context(|| format!("connecting to whistle at {addr}"))?,
        );
    }
    Ok(out)
}

fn authorised<T>(message: T, key: &MetadataValue<Ascii>) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert("authorization", key.clone());
    request
}

fn code(status: &tonic::Status) -> String {
    format!("{:?}", status.code())
}

/// The `authorization` header of a caller.
pub fn bearer(caller: &Caller) -> MetadataValue<Ascii> {
    format!("Bearer {}", caller.key)
        .parse()
        .expect("bench keys are ASCII")
}

/// Worker `w` uses channel `w % channels.len()`.
fn client_of(channels: &[Channel], w: usize) -> CaseServiceClient<Channel> {
    CaseServiceClient::new(channels[w % channels.len()].clone())
}

/// One op per worker, each escalating petitions nobody escalated before;
/// worker `w` plays `callers[w % len]`.
pub fn escalate_ops(
    channels: &[Channel],
    workers: usize,
    run: &str,
    callers: &[Caller],
) -> Vec<Op> {
    (0..workers)
        .map(|w| {
            let client = client_of(channels, w);
            let key = bearer(&callers[w % callers.len()]);
            let run = run.to_owned();
            let op: Op = Box::new(move |n| {
                let mut client = client.clone();
                let request = authorised(workload::petition(format!("bench-{run}-{w}-{n}")), &key);
                Box::pin(async move {
                    let outcome: Outcome = match client.escalate_petition(request).await {
                        Ok(case) => Ok(Some(case.into_inner().id)),
                        Err(status) => Err(code(&status)),
                    };
                    outcome
                })
            });
            op
        })
        .collect()
}

/// One op per worker; worker `w` plays `callers[w % len]` and reads cases
/// picked at random from `ids[w % len]`, those its office escalated (an office
/// sees only its own).
pub fn get_ops(
    channels: &[Channel],
    workers: usize,
    callers: &[Caller],
    ids: &[Arc<Vec<String>>],
) -> Vec<Op> {
    (0..workers)
        .map(|w| {
            let client = client_of(channels, w);
            let key = bearer(&callers[w % callers.len()]);
            let ids = ids[w % callers.len()].clone();
            let mut rng = fastrand::Rng::new();
            let op: Op = Box::new(move |_| {
                let mut client = client.clone();
                let case_id = ids[rng.usize(..ids.len())].clone();
                let request = authorised(GetCaseRequest { case_id }, &key);
                Box::pin(async move {
                    let outcome: Outcome = match client.get_case(request).await {
                        Ok(_) => Ok(None),
                        Err(status) => Err(code(&status)),
                    };
                    outcome
                })
            });
            op
        })
        .collect()
}
