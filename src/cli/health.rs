//! `health`: asks a running server for its gRPC health, for container
//! health checks. Reads the settings only to find where the server listens.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use whistle::settings::Settings;

use super::{Failure, RUNTIME};

// No doc comment: clap would put it over the command's own.
#[derive(clap::Args)]
pub struct HealthArgs {
    /// Where the server listens; `grpc.listen` from the configuration when
    /// omitted (an unspecified address such as 0.0.0.0 means this host).
    #[arg(long, value_name = "HOST:PORT")]
    addr: Option<String>,
    /// The service to ask about; the whole server when omitted.
    #[arg(long, default_value = "")]
    service: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 3)]
    timeout_secs: u64,
    #[command(flatten)]
    tls: HealthTls,
}

/// Exit 0 when the server is SERVING, 1 otherwise. Docker reserves exit
/// code 2, so a health check fails with 1 whatever went wrong.
pub async fn run(args: HealthArgs, config: Option<&Path>) -> Result<ExitCode, Failure> {
    let HealthArgs {
        addr,
        service,
        timeout_secs,
        tls,
    } = args;
    let check = async {
        let addr = match addr {
            Some(addr) => addr,
            None => {
                let settings = Settings::load(config)?;
                if settings.grpc.tls.enabled() && tls.ca_file.is_none() {
                    bail!(
                        "grpc.tls is on: give --ca-file with the CA that signed grpc.tls.cert_file"
                    );
                }
                local_addr(&settings.grpc.listen)
            }
        };
        health(
            &addr,
            &service,
            &tls,
            Duration::from_secs(timeout_secs.max(1)),
        )
        .await
    };
    let status = check.await?;
    println!("{}", status.as_str_name());
    Ok(if status == ServingStatus::Serving {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(RUNTIME)
    })
}

/// How `health` reaches a listener with `grpc.tls` on.
#[derive(clap::Args)]
struct HealthTls {
    /// Speak TLS and trust the CA (PEM) that signed the server's certificate.
    /// Required when the configuration turns `grpc.tls` on.
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// The name the server's certificate is for, when it is not the host
    /// connected to (a container asks 127.0.0.1 for whistle.example.gov.cn).
    #[arg(long, value_name = "NAME", requires = "ca_file")]
    server_name: Option<String>,
    /// A client certificate (PEM), for `grpc.tls.client_auth = "required"`
    /// (with --key-file).
    #[arg(long, value_name = "FILE", requires_all = ["ca_file", "key_file"])]
    cert_file: Option<PathBuf>,
    /// The private key (PEM) of --cert-file.
    #[arg(long, value_name = "FILE", requires = "cert_file")]
    key_file: Option<PathBuf>,
}

/// `grpc.listen` as a client reaches it: a server bound to every interface
/// answers on loopback.
fn local_addr(listen: &str) -> String {
    match listen.parse::<SocketAddr>() {
        Ok(mut addr) if addr.ip().is_unspecified() => {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
            addr.to_string()
        }
        _ => listen.to_owned(),
    }
}

/// One `grpc.health.v1.Health/Check`, all of it within `timeout`.
async fn health(
    addr: &str,
    service: &str,
    tls: &HealthTls,
    timeout: Duration,
) -> anyhow::Result<ServingStatus> {
    let scheme = if tls.ca_file.is_some() {
        "https"
    } else {
        "http"
    };
    let mut endpoint = tonic::transport::Endpoint::from_shared(format!("{scheme}://{addr}"))
        .with_context(|| format!("{addr:?} is not HOST:PORT"))?
        .connect_timeout(timeout);
    if let Some(ca_file) = &tls.ca_file {
        let read = |path: &PathBuf| {
            std::fs::read(path).with_context(|| format!("reading {}", path.display()))
        };
        let mut config = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(read(ca_file)?));
        if let Some(name) = &tls.server_name {
            config = config.domain_name(name.clone());
        }
        if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
            config = config.identity(tonic::transport::Identity::from_pem(
                read(cert)?,
                read(key)?,
            ));
        }
        endpoint = endpoint.tls_config(config).context("setting up TLS")?;
    }
    let check = async {
        let channel = endpoint
            .connect()
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        let answer = HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .map_err(|status| anyhow::anyhow!("{}: {}", status.code(), status.message()))
            .with_context(|| format!("health of {service:?} at {addr}"))?;
        Ok(answer.into_inner().status())
    };
    tokio::time::timeout(timeout, check)
        .await
        .map_err(|_| anyhow::anyhow!("no health answer from {addr} within {timeout:?}"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_on_every_interface_is_asked_on_loopback() {
        assert_eq!(local_addr("0.0.0.0:50051"), "127.0.0.1:50051");
        assert_eq!(local_addr("[::]:50051"), "[::1]:50051");
        assert_eq!(local_addr("10.0.0.5:50051"), "10.0.0.5:50051");
        assert_eq!(local_addr("whistle:50051"), "whistle:50051");
    }
}
