//! Metrics and probes, as an operator's Prometheus and orchestrator see them:
//! the calls a client makes are counted by method and code, the outbox and the
//! pools are measured, and the service says it is alive and ready.

use reqwest::StatusCode;
use whistle::proto::GetCaseRequest;

use crate::helpers::*;

scenarios!(prometheus_sees_the_calls_the_outbox_and_the_probes);

async fn prometheus_sees_the_calls_the_outbox_and_the_probes(backend: Backend) {
    let Some(app) = spawn_app_with(
        backend,
        None,
        &[("WHISTLE__METRICS__LISTEN", "127.0.0.1:0")],
    )
    .await
    else {
        return;
    };
    let base = format!("http://{}", app.metrics_addr.expect("metrics are on"));
    let case = app.escalate(property_certificate("metrics-1")).await;
    app.case(&case.id).await;
    let refused = app
        .cases_as("not-a-key")
        .get_case(GetCaseRequest {
            case_id: case.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);

    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("{base}{path}")).send();
    let metrics = get("/metrics").await.unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    let text = metrics.text().await.unwrap();
    let has = |needle: &str| {
        assert!(
            text.lines().any(|l| l.starts_with(needle)),
            "no line starting {needle:?} in:\n{text}"
        )
    };
    has("whistle_rpc_requests_total{method=\"CaseService/GetCase\",code=\"OK\"}");
    has("whistle_rpc_requests_total{method=\"CaseService/GetCase\",code=\"UNAUTHENTICATED\"}");
    has("whistle_rpc_duration_seconds_bucket{method=\"CaseService/EscalatePetition\",le=");
    has("whistle_auth_failures_total ");
    has("whistle_outbox_pending ");
    has("whistle_outbox_failed ");
    has("whistle_outbox_oldest_pending_age_seconds ");
    has("whistle_db_pool_connections{state=\"idle\"}");
    has("whistle_db_pool_connections{state=\"in_use\"}");
    // The escalation was a write: how long it waited for the writer and held it.
    for histogram in [
        "whistle_db_write_wait_seconds",
        "whistle_db_write_held_seconds",
    ] {
        has(&format!("{histogram}_bucket{{le=\"0.001\"}}"));
        let count = text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{histogram}_count ")))
            .and_then(|n| n.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {histogram}_count in:\n{text}"));
        assert!(count >= 1.0, "{histogram} counted no write");
    }

    assert_eq!(get("/livez").await.unwrap().status(), StatusCode::OK);
    assert_eq!(get("/readyz").await.unwrap().status(), StatusCode::OK);
}
