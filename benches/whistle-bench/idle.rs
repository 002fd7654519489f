//! The idle-streams phase: the server's CPU while nothing happens, first with
//! no stream open, then while the demo supervisor holds `--idle-streams`
//! WatchAlerts streams open over a few connections (as many as the default
//! `grpc.max_concurrent_streams` needs). An idle stream should cost nothing:
//! the instance polls the feeds once for all of them, not once per stream.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use tonic::Request;
use whistle::proto::WatchAlertsRequest;
use whistle::proto::supervision_service_client::SupervisionServiceClient;

use crate::server::Server;

/// Streams one connection carries (under `grpc.max_concurrent_streams`).
const PER_CONNECTION: usize = 200;
const SUPERVISOR_KEY: &str = "Bearer demo-supervisor";

pub struct IdleRun {
    pub streams: usize,
    pub connections: usize,
    pub window: Duration,
    /// Share of one core the server used over the window, without and with
    /// the streams open.
    pub without: f64,
    pub with: f64,
}

/// Starts the server on `database_url`, measures it idle for `window`, opens
/// `streams` streams and measures it again.
pub async fn run(
    binary: &Path,
    config: &Path,
    database_url: &str,
    dir: &Path,
    streams: usize,
    window: Duration,
) -> anyhow::Result<IdleRun> {
    let limit = streams.to_string();
    let env = [
        ("WHISTLE__GRPC__STREAM_MAX_PER_PRINCIPAL", limit.clone()),
        ("WHISTLE__GRPC__STREAM_MAX_TOTAL", limit),
    ];
    let mut server = Server::start(binary, config, database_url, dir, &env).await?;
    // Start-up work (migrations, the first scans) out of the way.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let without = cpu_share(server.pid(), window).await?;

    let connections = streams.div_ceil(PER_CONNECTION).max(1);
    let channels = crate::grpc::channels(&server.addr, connections).await?;
    let key: tonic::metadata::MetadataValue<_> = SUPERVISOR_KEY.parse()?;
    let mut open = Vec::with_capacity(streams);
    for n in 0..streams {
        let mut client = SupervisionServiceClient::new(channels[n % connections].clone());
        let mut request = Request::new(WatchAlertsRequest {
            after_alert_id: 0,
            min_level: 0,
        });
        request.metadata_mut().insert("authorization", key.clone());
        let stream = client
            .watch_alerts(request)
            .await
            .with_context(|| format!("opening idle stream {}", n + 1))?;
        open.push(stream.into_inner());
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let with = cpu_share(server.pid(), window).await?;
    server.check_alive()?;
    drop(open);
    drop(channels);
    server.stop().await;
    Ok(IdleRun {
        streams,
        connections,
        window,
        without,
        with,
    })
}

/// The share of one core `pid` used (user and system, all threads) over `window`.
async fn cpu_share(pid: u32, window: Duration) -> anyhow::Result<f64> {
    let before = cpu_ticks(pid)?;
    tokio::time::sleep(window).await;
    let after = cpu_ticks(pid)?;
    Ok(after.saturating_sub(before) as f64 / clock_ticks() / window.as_secs_f64())
}

/// utime + stime of a process, from /proc/PID/stat (Linux), in clock ticks.
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .context("reading the server's CPU time (Linux only)")?;
    // The command name (field 2) may hold spaces; the fields after it do not.
    let rest = stat.rsplit_once(')').context("a /proc stat line")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line: 11 and 12 counted
    // from 0 after ')', where field 3 (state) comes first.
    let field = |i: usize| -> anyhow::Result<u64> {
        Ok(fields.get(i).context("a /proc stat field")?.parse()?)
    };
    Ok(field(11)? + field(12)?)
}

/// Clock ticks a second (`getconf CLK_TCK`; 100 on every Linux we run).
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}
