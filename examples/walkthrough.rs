//! The seed's first story, played against a running whistle with the demo keys:
//! a resident of 杨柳社区 cannot get her property certificate; the street office
//! escalates, housing (住建) acknowledges and replies, the office accepts, and after
//! the follow-up visit the resident is satisfied.
//!
//!     whistle                                   # in one terminal (or target/release/whistle)
//!     cargo run --example walkthrough           # in another
//!
//! WHISTLE_ADDR overrides the address (default http://127.0.0.1:50051).

#![forbid(unsafe_code)]

use tonic::Request;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;
use whistle::proto::case_service_client::CaseServiceClient;
use whistle::proto::department_service_client::DepartmentServiceClient;
use whistle::proto::{
    AcknowledgeRequestRequest, EscalatePetitionRequest, GetCaseRequest, RecordFeedbackRequest,
    Resident, ReviewReplyRequest, SubmitReplyRequest, Verdict,
};

/// Wraps a message with the caller's bearer key.
fn as_caller<T>(key: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    let value: MetadataValue<_> = format!("Bearer {key}").parse().expect("ascii key");
    request.metadata_mut().insert("authorization", value);
    request
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::var("WHISTLE_ADDR").unwrap_or_else(|_| "http://127.0.0.1:50051".into());
    let channel = Channel::from_shared(addr)?.connect().await?;
    let mut office = CaseServiceClient::new(channel.clone());
    let mut departments = DepartmentServiceClient::new(channel);
    const OFFICE: &str = "demo-office-cuiping";
    const HOUSING: &str = "demo-dept-housing";
    const LAND: &str = "demo-dept-land";

    // 1. The street office escalates (吹哨). Re-running with the same petition_id
    //    returns the same case: escalation is idempotent.
    let petition_id =
        std::env::var("PETITION_ID").unwrap_or_else(|_| format!("CP-{}", std::process::id()));
    let case = office
        .escalate_petition(as_caller(
            OFFICE,
            EscalatePetitionRequest {
                petition_id,
                category: "property-certificate".into(),
                title: "杨柳社区3栋居民房产证迟迟未办".into(),
                description: "张女士2019年购房，开发商未完成竣工验收备案，房产证至今未能办理。社区多次协调未果。".into(),
                resident: Some(Resident {
                    name: "张女士".into(),
                    phone: "13812345678".into(),
                }),
                address: "翠屏街道杨柳社区3栋2单元".into(),
                community: "杨柳社区".into(),
                difficulty: 3,
                ..Default::default()
            },
        ))
        .await?
        .into_inner();
    println!("case {} opened, status {:?}", case.id, case.status());
    for r in &case.requests {
        println!(
            "  {} → {} ({:?}), round {}",
            r.reference,
            r.department,
            r.role(),
            r.round
        );
    }

    // 2. Every department reports (报到): acknowledge, then reply.
    for (key, reply) in [
        (
            HOUSING,
            "已约谈开发商，竣工验收备案将于两周内完成，随后由不动产登记中心集中办证。",
        ),
        (
            LAND,
            "不动产登记中心已开通绿色通道，材料齐全后五个工作日内发证。",
        ),
    ] {
        let request = case
            .requests
            .iter()
            .find(|r| key.ends_with(&r.department))
            .expect("routed to housing and land");
        departments
            .acknowledge_request(as_caller(
                key,
                AcknowledgeRequestRequest {
                    request_id: request.id.clone(),
                },
            ))
            .await?;
        let replied = departments
            .submit_reply(as_caller(
                key,
                SubmitReplyRequest {
                    request_id: request.id.clone(),
                    text: reply.into(),
                    ..Default::default()
                },
            ))
            .await?
            .into_inner();
        println!("  {} replied: {:?}", replied.department, replied.status());

        // 3. The street office reviews the reply and accepts it.
        office
            .review_reply(as_caller(
                OFFICE,
                ReviewReplyRequest {
                    request_id: request.id.clone(),
                    accept: true,
                    reason: String::new(),
                },
            ))
            .await?;
    }

    // 4. After the follow-up visit (回访) the resident is satisfied: the case closes.
    let case = office
        .record_feedback(as_caller(
            OFFICE,
            RecordFeedbackRequest {
                case_id: case.id.clone(),
                verdict: Verdict::Satisfied as i32,
                comment: "房产证已拿到，非常满意".into(),
                reissue_request_ids: vec![],
                ..Default::default()
            },
        ))
        .await?
        .into_inner();
    println!("case {} is {:?}", case.id, case.status());

    let case = office
        .get_case(as_caller(OFFICE, GetCaseRequest { case_id: case.id }))
        .await?
        .into_inner();
    println!("timeline:");
    for e in &case.events {
        println!(
            "  {:>2} {:<28} {:<14} {}",
            e.seq,
            format!("{:?}", e.kind()),
            e.actor,
            e.detail
        );
    }
    Ok(())
}
