//! The service side: real gRPC calls through the generated client, as a street
//! office's system makes them, with the demo office's key.
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

use whistle::proto::case_service_client::CaseServiceClient;
use whistle::proto::{EscalatePetitionRequest, GetCaseRequest, Resident};

use crate::load::{Op, Outcome};

const OFFICE_KEY: &str = "Bearer demo-office-cuiping";

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

/// The seed's petition, routed by the demo organisation to housing (lead) and
/// land (assisting): a case, two requests, three events and two letters.
fn petition(petition_id: String) -> EscalatePetitionRequest {
    EscalatePetitionRequest {
        petition_id,
        category: "property-certificate".into(),
        title: "杨柳小区3栋房产证迟迟未能办理".into(),
        description: "居民反映：小区交房已满五年，因开发商欠缴土地出让金，\n业主至今无法办理不动产权证，影响子女入学。".into(),
        resident: Some(Resident {
            name: "张女士".into(),
            phone: "13812345678".into(),
        }),
        address: "翠屏街道杨柳社区3栋2单元".into(),
        community: "杨柳社区".into(),
        difficulty: 3,
        lead_department: String::new(),
        assisting_departments: Vec::new(),
    }
}

/// Worker `w` uses channel `w % channels.len()`.
fn client_of(channels: &[Channel], w: usize) -> CaseServiceClient<Channel> {
    CaseServiceClient::new(channels[w % channels.len()].clone())
}

/// One op per worker, each escalating petitions nobody escalated before.
pub fn escalate_ops(channels: &[Channel], workers: usize, run: &str) -> Vec<Op> {
    let key: MetadataValue<Ascii> = OFFICE_KEY.parse().expect("an ASCII key");
    (0..workers)
        .map(|w| {
            let client = client_of(channels, w);
            let key = key.clone();
            let run = run.to_owned();
            let op: Op = Box::new(move |n| {
                let mut client = client.clone();
                let request = authorised(petition(format!("bench-{run}-{w}-{n}")), &key);
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

/// One op per worker, each reading cases picked at random from `ids`.
pub fn get_ops(channels: &[Channel], workers: usize, ids: Arc<Vec<String>>) -> Vec<Op> {
    let key: MetadataValue<Ascii> = OFFICE_KEY.parse().expect("an ASCII key");
    (0..workers)
        .map(|w| {
            let client = client_of(channels, w);
            let key = key.clone();
            let ids = ids.clone();
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
