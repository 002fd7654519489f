//! Building and running the service: assemble what the settings describe
//! (`assemble`: the calendar, the organisation, the policies), bind the
//! listeners (or take ones already bound; port 0 works, and the bound
//! addresses are reported so tests can start the real thing), then connect
//! and migrate the store, start the workers on the given clock, serve until
//! the shutdown token fires, and let in-flight RPCs finish and every worker
//! finish its unit of work. With `grpc.tls` and `http.tls` the listeners speak
//! TLS (see `tls`), their certificates read again while the service runs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::assemble::Parts;
use crate::clock::{Clock, SystemClock};
use crate::grpc::access_log::AccessLogLayer;
use crate::grpc::auth::{Authenticator, RateLimit};
use crate::grpc::cases::Cases;
use crate::grpc::departments::Departments;
use crate::grpc::limits::{DeadlineLayer, PrefaceDeadline};
use crate::grpc::streams::{StreamLimits, Streams};
use crate::grpc::supervision::Supervision;
use crate::mail;
use crate::mail::transport::Transport;
use crate::metrics::Ready;
use crate::proto;
use crate::proto::case_service_server::CaseServiceServer;
use crate::proto::department_service_server::DepartmentServiceServer;
use crate::proto::supervision_service_server::SupervisionServiceServer;
use crate::service::{OrgCell, Wakes, Whistle};
use crate::settings::{ClientAuth, Settings};
use crate::store::{self, PoolOptions, Store};
use crate::tls::principals::CertPrincipals;
use crate::tls::{self, ReloadingCert, ReloadingClientCa};
use crate::workers::alert_mail::AlertMailer;
use crate::workers::deadlines::DeadlineWatch;
use crate::workers::outbox::{OutboxPolicy, OutboxWorker};
use chrono::Datelike;

pub struct Application {
    grpc_addr: SocketAddr,
    http_addr: Option<SocketAddr>,
    smtp_addr: Option<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    server: JoinHandle<Result<(), tonic::transport::Error>>,
    /// Background tasks; each finishes its unit of work when the token fires.
    workers: Vec<JoinHandle<()>>,
    store: Store,
    /// How long calls may take to finish once the token fired.
    drain: Duration,
    /// Turned NOT_SERVING when the service starts to stop.
    health: Health,
    /// How long the service keeps serving, NOT_SERVING, once told to stop.
    notice: Duration,
    /// Stops the gRPC server; fired after the notice.
    stop_serving: CancellationToken,
    /// The listeners' TLS certificates, gRPC's first, when they speak TLS.
    tls_certs: Vec<Arc<ReloadingCert>>,
    /// The gRPC listener's client CA, when it asks for client certificates.
    tls_client_ca: Option<Arc<ReloadingClientCa>>,
}

/// Opens the configured store and applies its migrations.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let store = store::connect(&settings.database.url, &pool_options(settings))
        .await
        .with_context(|| format!("opening database {}", redact(&settings.database.url)))?;
    store.migrate().await.context("migrating the database")?;
    Ok(store)
}

/// Opens the configured database as it is: no migration, and a SQLite file
/// that does not exist is an error rather than a new empty database. For
/// tools that only read it, such as `whistle backup`.
pub async fn open_existing_store(settings: &Settings) -> anyhow::Result<Store> {
    store::connect_existing(&settings.database.url, &pool_options(settings))
        .await
        .with_context(|| format!("opening database {}", redact(&settings.database.url)))
}

/// The use cases over an opened store, for the command line's operator
/// tools (`outbox`, `verify`, `ledger`): no listener, no worker, the system
/// clock. They act as `service::operator::operator()`.
pub fn operator_whistle(
    settings: &Settings,
    parts: Parts,
    store: Store,
) -> anyhow::Result<Whistle> {
    let letters = Arc::new(mail::letters(settings)?);
    Ok(Whistle::new(
        store,
        OrgCell::new(parts.organisation),
        Arc::new(SystemClock),
        letters,
        Wakes::default(),
    )
    .with_reply_policy(parts.replies))
}

fn pool_options(settings: &Settings) -> PoolOptions {
    PoolOptions {
        max_connections: settings.database.max_connections,
        acquire_timeout: Duration::from_secs(settings.database.acquire_timeout_secs),
    }
}

/// Hides a password in a database URL before it reaches a log.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// What an application is built from beside its settings: the clock, the
/// listeners, and what the settings describe when the caller assembled it
/// already. By default the system clock, listeners bound to the configured
/// addresses and parts assembled at start; tests pass a `ManualClock` and
/// listeners bound to port 0.
pub struct Builder<'a> {
    settings: &'a Settings,
    /// What the settings describe, when the caller checked them already.
    parts: Option<Parts>,
    clock: Arc<dyn Clock>,
    grpc_listener: Option<TcpListener>,
    http_listener: Option<TcpListener>,
    smtp_listener: Option<TcpListener>,
    metrics_listener: Option<TcpListener>,
}

impl<'a> Builder<'a> {
    /// Build on these parts, assembled from the same settings, instead of
    /// assembling them again: `main` checks the configuration first, to
    /// tell a mistake in it (exit 2) from a failure while starting.
    pub fn parts(mut self, parts: Parts) -> Self {
        self.parts = Some(parts);
        self
    }

    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Serve gRPC on this already-bound listener instead of `grpc.listen`.
    pub fn grpc_listener(mut self, listener: TcpListener) -> Self {
        self.grpc_listener = Some(listener);
        self
    }

    /// Serve the reply page on this listener instead of `http.listen` (which
    /// may then be empty).
    pub fn http_listener(mut self, listener: TcpListener) -> Self {
        self.http_listener = Some(listener);
        self
    }

    /// Take reply mail on this listener instead of `inbound_mail.listen`.
    pub fn smtp_listener(mut self, listener: TcpListener) -> Self {
        self.smtp_listener = Some(listener);
        self
    }

    /// Serve metrics and probes on this listener instead of `metrics.listen`.
    pub fn metrics_listener(mut self, listener: TcpListener) -> Self {
        self.metrics_listener = Some(listener);
        self
    }

    /// Checks the settings, binds what is not bound yet, opens the store,
    /// starts the server and the workers, and reports where it listens.
    /// Addresses and certificates come before the store: a wrong one stops
    /// start-up before a database is opened (or a SQLite file created).
    pub async fn start(self) -> anyhow::Result<Application> {
        let settings = self.settings;
        let parts = match self.parts {
            Some(parts) => parts,
            None => Parts::of(settings)?,
        };
        log_calendar(&parts);
        if settings.demo {
            tracing::warn!(
                "the demo organisation is active and its public demo keys are accepted; \
                 configure your own offices, departments and principals before real use"
            );
        }
        let listener = match self.grpc_listener {
            Some(listener) => listener,
            None => TcpListener::bind(&settings.grpc.listen)
                .await
                .with_context(|| format!("binding gRPC to {}", settings.grpc.listen))?,
        };
        let grpc_addr = listener.local_addr()?;
        let (grpc_tls, grpc_client_ca) = match grpc_tls(settings)? {
            Some((cert, client_ca, acceptor)) => (Some((cert, acceptor)), client_ca),
            None => (None, None),
        };
        let http_listener = match self.http_listener {
            Some(listener) => Some(listener),
            None if settings.http.listen.trim().is_empty() => None,
            None => Some(
                TcpListener::bind(settings.http.listen.trim())
                    .await
                    .with_context(|| {
                        format!("binding the reply page to {}", settings.http.listen)
                    })?,
            ),
        };
        let http_addr = http_listener
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?;
        let smtp_listener = match self.smtp_listener {
            Some(listener) => Some(listener),
            None if settings.inbound_mail.listen.trim().is_empty() => None,
            None => Some(
                TcpListener::bind(settings.inbound_mail.listen.trim())
                    .await
                    .with_context(|| {
                        format!("binding inbound mail to {}", settings.inbound_mail.listen)
                    })?,
            ),
        };
        let smtp_addr = smtp_listener
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?;
        let metrics_listener = match self.metrics_listener {
            Some(listener) => Some(listener),
            None if settings.metrics.listen.trim().is_empty() => None,
            None => Some(
                TcpListener::bind(settings.metrics.listen.trim())
                    .await
                    .with_context(|| format!("binding metrics to {}", settings.metrics.listen))?,
            ),
        };
        let metrics_addr = metrics_listener
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?;
        let (http_tls, http_client_ca) = match &http_listener {
            Some(_) => match page_tls(settings)? {
                Some((cert, client_ca, acceptor)) => (Some((cert, acceptor)), client_ca),
                None => (None, None),
            },
            None => (None, None),
        };
        let reply_domain = settings.inbound_mail.domain.trim().to_lowercase();
        if smtp_listener.is_some() && reply_domain.is_empty() {
            anyhow::bail!(
                "inbound_mail.domain: set the domain of reply addresses (the one your mail server \
                 forwards to inbound_mail.listen)"
            );
        }
        let store = open_store(settings).await?;
        let sheet_columns = parts.import.clone();
        let org = OrgCell::new(parts.organisation);

        let clock = self.clock;
        let letters = Arc::new(mail::letters(settings)?.with_reply_channels(
            http_addr.map(|bound| settings.http.public_base(bound)),
            smtp_listener.as_ref().map(|_| reply_domain.clone()),
        ));
        let wakes = Wakes::default();
        let transport =
            Transport::from_settings(&settings.mail).context("setting up mail delivery")?;
        let worker = OutboxWorker::new(
            store.clone(),
            org.clone(),
            letters.clone(),
            transport,
            OutboxPolicy::from(&settings.mail),
            clock.clone(),
            wakes.mail.clone(),
        );
        let org_for_reload = org.clone();
        let whistle = Whistle::new(store.clone(), org, clock.clone(), letters, wakes.clone())
            .with_reply_policy(parts.replies)
            .with_digest_channels(crate::channels::digest::channels(
                &parts.channels,
                &settings.http.public_url,
            ));
        let alert_mailer = AlertMailer::new(
            whistle.clone(),
            clock.clone(),
            parts.alert_mail,
            Duration::from_secs(settings.watch.idle_secs.max(1)),
            Duration::from_millis(settings.grpc.stream_poll_ms.max(10)),
        );
        let digest_mailer = crate::workers::digest::DigestMailer::new(
            whistle.clone(),
            clock.clone(),
            parts.digest,
            Duration::from_secs(settings.watch.idle_secs.max(1)),
        );
        let retry = &settings.mail.retry;
        let channel_policy = crate::workers::channels::ChannelPolicy {
            max_attempts: retry.max_attempts.max(1),
            initial_backoff: chrono::Duration::seconds(retry.initial_backoff_secs.max(1) as i64),
            max_backoff: chrono::Duration::seconds(retry.max_backoff_secs.max(1) as i64),
            lease: chrono::Duration::minutes(5),
            idle: Duration::from_secs(settings.watch.idle_secs.max(1)),
            poll: Duration::from_millis(settings.grpc.stream_poll_ms.max(10)),
        };
        let channel_worker = (!parts.channels.is_empty()).then(|| {
            crate::workers::channels::ChannelWorker::new(
                store.clone(),
                org_for_reload.clone(),
                parts.channels.clone(),
                clock.clone(),
                channel_policy,
            )
        });
        let webhook_worker = crate::workers::webhooks::WebhookWorker::new(
            whistle.clone(),
            store.clone(),
            parts.webhooks.clone(),
            clock.clone(),
            channel_policy,
        );
        let webhook_feed = whistle.feed();
        let channel_feed = whistle.feed();
        let watch = DeadlineWatch::new(
            whistle.clone(),
            clock,
            settings.watch.batch,
            Duration::from_secs(settings.watch.idle_secs.max(1)),
            wakes.watch.clone(),
        );
        let shutdown = CancellationToken::new();
        let mut workers: Vec<JoinHandle<()>> = Vec::new();
        let grpc = &settings.grpc;
        let streams = Streams::new(
            whistle.clone(),
            StreamLimits {
                buffer: grpc.stream_buffer.max(1),
                stall: Duration::from_secs(grpc.stream_stall_secs.max(1)),
                poll: Duration::from_millis(grpc.stream_poll_ms.max(10)),
                batch: 100,
                per_principal: grpc.stream_max_per_principal,
                total: grpc.stream_max_total,
            },
            shutdown.clone(),
        );
        let auth = Authenticator::new(
            &settings.principals,
            RateLimit {
                per_second: grpc.rate_limit_per_second,
                burst: grpc.rate_limit_burst,
            },
        )?
        .with_failure_limit(grpc.auth_failures_per_minute);
        let limit = settings.grpc.max_message_bytes;
        let cases = CaseServiceServer::new(Cases {
            whistle: whistle.clone(),
            streams: streams.clone(),
        })
        .max_decoding_message_size(limit);
        let departments = DepartmentServiceServer::new(Departments {
            whistle: whistle.clone(),
            streams: streams.clone(),
        })
        .max_decoding_message_size(limit);
        let mut tls_certs = Vec::new();
        if let Some((cert, _)) = &grpc_tls {
            tls_certs.push(cert.clone());
            workers.push(tokio::spawn(cert.clone().watch(
                Duration::from_secs(settings.grpc.tls.reload_secs),
                shutdown.clone(),
            )));
        }
        let tls_client_ca = grpc_client_ca;
        if let Some(ca) = &tls_client_ca {
            workers.push(tokio::spawn(ca.clone().watch(
                Duration::from_secs(settings.grpc.tls.reload_secs),
                shutdown.clone(),
            )));
        }
        if let Some((cert, _)) = &http_tls {
            tls_certs.push(cert.clone());
            workers.push(tokio::spawn(cert.clone().watch(
                Duration::from_secs(settings.http.tls.reload_secs),
                shutdown.clone(),
            )));
        }
        if let Some(ca) = &http_client_ca {
            workers.push(tokio::spawn(ca.clone().watch(
                Duration::from_secs(settings.http.tls.reload_secs),
                shutdown.clone(),
            )));
        }
        if auth.maps_certificates() && settings.grpc.tls.client_ca_file.trim().is_empty() {
            tracing::warn!(
                "principals name client certificates (cert_subjects, cert_sans) but \
                 grpc.tls.client_ca_file is empty: no certificate is asked for, so none matches"
            );
        }
        if let Some((listener, bound)) = http_listener.zip(http_addr) {
            // The console asks the rule gRPC asks: a certificate is the
            // principal its names map to.
            let certificates = match &http_client_ca {
                Some(_) => Some(CertPrincipals::new(&settings.principals)?),
                None => None,
            };
            if certificates.as_ref().is_some_and(|c| !c.any()) {
                tracing::warn!(
                    "http.tls.client_ca_file is set but no principal names client certificates \
                     (cert_subjects, cert_sans): no certificate signs in to the console"
                );
            }
            let console = crate::http::console::Console::new(
                crate::http::console::People::of(&settings.principals)?,
                certificates,
                settings.http.public_base(bound),
                http_tls.is_some(),
                &settings.http.console,
            )?
            .with_visit_sheet(sheet_columns.clone());
            // One handshake timeout for both listeners: the page's TLS handshake
            // is no different from gRPC's.
            let handshake = Duration::from_secs(settings.grpc.handshake_timeout_secs.max(1));
            let page: futures::future::BoxFuture<'static, anyhow::Result<()>> = match &http_tls {
                Some((_, acceptor)) => Box::pin(crate::http::serve_tls(
                    tls::TlsListener::new(listener, acceptor.clone(), handshake, shutdown.clone())?,
                    whistle.clone(),
                    settings.http.clone(),
                    console,
                    shutdown.clone(),
                )),
                None => Box::pin(crate::http::serve(
                    listener,
                    whistle.clone(),
                    settings.http.clone(),
                    console,
                    shutdown.clone(),
                )),
            };
            workers.push(tokio::spawn(async move {
                if let Err(e) = page.await {
                    tracing::error!(error = ?e, "the reply page stopped");
                }
            }));
        }
        if let Some(listener) = smtp_listener {
            workers.push(tokio::spawn(crate::inbound::serve(
                listener,
                whistle.clone(),
                &settings.inbound_mail,
                shutdown.clone(),
            )));
        }
        let supervision = SupervisionServiceServer::new(Supervision {
            whistle: whistle.clone(),
            streams,
        })
        .max_decoding_message_size(limit);

        let (reporter, health_service) = tonic_health::server::health_reporter();
        let health = Health {
            reporter,
            ready: Ready::default(),
        };
        health.set(true).await;
        if let Some(listener) = metrics_listener {
            let probes = crate::metrics::serve(
                listener,
                crate::metrics::handle(),
                health.ready.clone(),
                shutdown.clone(),
            );
            workers.push(tokio::spawn(async move {
                if let Err(e) = probes.await {
                    tracing::error!(error = ?e, "the metrics server stopped");
                }
            }));
            workers.push(tokio::spawn(crate::metrics::refresh(
                whistle,
                METRICS_REFRESH,
                shutdown.clone(),
            )));
        }
        workers.push(tokio::spawn(watch_database(
            store.clone(),
            health.clone(),
            Duration::from_secs(grpc.health_check_secs.max(1)),
            shutdown.clone(),
        )));
        let stop_serving = CancellationToken::new();
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            // google.rpc.Status and BadRequest/RetryInfo/LocalizedMessage, so a
            // generic client (grpcurl, grpcui, Postman) can decode error details.
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()?;

        let handshake = Duration::from_secs(grpc.handshake_timeout_secs.max(1));
        let router = Server::builder()
            .layer(AccessLogLayer)
            .layer(DeadlineLayer {
                limit: Duration::from_secs(grpc.request_timeout_secs.max(1)),
            })
            .max_concurrent_streams(grpc.max_concurrent_streams.max(1))
            .http2_keepalive_interval(Some(Duration::from_secs(
                grpc.keepalive_interval_secs.max(1),
            )))
            .http2_keepalive_timeout(Some(Duration::from_secs(
                grpc.keepalive_timeout_secs.max(1),
            )))
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(InterceptedService::new(cases, auth.interceptor()))
            .add_service(InterceptedService::new(departments, auth.interceptor()))
            .add_service(InterceptedService::new(supervision, auth.interceptor()));
        let stopped = stop_serving.clone().cancelled_owned();
        let server = match &grpc_tls {
            None => {
                let incoming = TcpListenerStream::new(listener).map(move |accepted| {
                    accepted.map(|stream| PrefaceDeadline::new(stream, handshake))
                });
                tokio::spawn(router.serve_with_incoming_shutdown(incoming, stopped))
            }
            Some((_, acceptor)) => {
                // The handshake and the HTTP/2 preface share one deadline.
                let accepted =
                    tls::accept(listener, acceptor.clone(), handshake, stop_serving.clone());
                let incoming = ReceiverStream::new(accepted).map(move |a| {
                    Ok::<_, std::io::Error>(PrefaceDeadline::until(a.stream, a.since + handshake))
                });
                tokio::spawn(router.serve_with_incoming_shutdown(incoming, stopped))
            }
        };
        // 0 workers: this instance writes letters but leaves delivery to others.
        workers.extend(
            (0..settings.mail.workers)
                .map(|_| tokio::spawn(worker.another().run(shutdown.clone()))),
        );
        workers.push(tokio::spawn(crate::year_files::reload(
            settings.calendar.clone(),
            org_for_reload,
            shutdown.clone(),
        )));
        // 0 watchers: this instance leaves the deadline watch to others.
        workers.extend(
            (0..settings.watch.workers).map(|_| tokio::spawn(watch.clone().run(shutdown.clone()))),
        );
        // Alert mail goes out from the instances that watch the deadlines.
        if settings.watch.workers > 0 && !settings.alert_mail.to.is_empty() {
            workers.push(tokio::spawn(alert_mailer.run(shutdown.clone())));
        }
        // So do the group robots' messages.
        if let (true, Some(channels)) = (settings.watch.workers > 0, channel_worker) {
            workers.push(tokio::spawn(channels.run(channel_feed, shutdown.clone())));
        }
        // And the webhooks.
        if let (true, Some(webhooks)) = (settings.watch.workers > 0, webhook_worker) {
            workers.push(tokio::spawn(webhooks.run(webhook_feed, shutdown.clone())));
        }
        // So does the weekly digest.
        if settings.watch.workers > 0 && settings.digest.enabled {
            workers.push(tokio::spawn(digest_mailer.run(shutdown.clone())));
        }
        let letters_go = match settings.mail.transport {
            crate::settings::TransportKind::File => {
                format!("as .eml files into {}", settings.mail.file_dir)
            }
            crate::settings::TransportKind::Smtp => format!(
                "by SMTP to {}{} ({:?})",
                settings.mail.smtp.host,
                settings
                    .mail
                    .smtp
                    .port
                    .map(|p| format!(":{p}"))
                    .unwrap_or_default(),
                settings.mail.smtp.tls
            ),
        };
        tracing::info!(
            organisation = if settings.demo { "demo" } else { "configured" },
            offices = settings.offices.len(),
            departments = settings.departments.len(),
            categories = settings.categories.len(),
            principals = settings.principals.len(),
            "organisation"
        );
        tracing::info!(
            mail_workers = settings.mail.workers,
            watch_workers = settings.watch.workers,
            alert_mail = if settings.alert_mail.to.is_empty() {
                "off".to_owned()
            } else {
                format!(
                    "{:?} to {} supervisor(s)",
                    settings.alert_mail.mode,
                    settings.alert_mail.to.len()
                )
            },
            weekly_digest = if settings.digest.enabled {
                format!("{} {}", settings.digest.weekday, settings.digest.time)
            } else {
                "off".to_owned()
            },
            "letters go {letters_go}"
        );
        tracing::info!(
            %grpc_addr,
            grpc_tls = match (&grpc_tls, settings.grpc.tls.client_ca_file.trim().is_empty()) {
                (None, _) => "off".to_owned(),
                (Some(_), true) => "on".to_owned(),
                (Some(_), false) => format!(
                    "on, client certificates {:?}",
                    settings.grpc.tls.client_auth
                )
                .to_lowercase(),
            },
            reply_page_tls = match (&http_tls, &http_client_ca) {
                (None, _) => "off",
                (Some(_), None) => "on",
                (Some(_), Some(_)) => "on, client certificates optional",
            },
            reply_page = %http_addr.map_or_else(|| "off".to_owned(), |a| a.to_string()),
            reply_mail = %smtp_addr.map_or_else(|| "off".to_owned(), |a| format!("{a} for {reply_domain}")),
            metrics = %metrics_addr.map_or_else(|| "off".to_owned(), |a| a.to_string()),
            database = %redact(&settings.database.url),
            "whistle is listening"
        );
        Ok(Application {
            grpc_addr,
            http_addr,
            smtp_addr,
            metrics_addr,
            shutdown,
            server,
            workers,
            store,
            drain: Duration::from_secs(settings.grpc.drain_secs),
            health,
            notice: Duration::from_secs(settings.grpc.shutdown_notice_secs),
            stop_serving,
            tls_certs,
            tls_client_ca,
        })
    }
}

/// A listener's certificate, its client CA and its acceptor.
type ListenerTls = (
    Arc<ReloadingCert>,
    Option<Arc<ReloadingClientCa>>,
    tls::Acceptor,
);

/// The gRPC listener's certificate, client CA (when it asks for client
/// certificates) and acceptor when `grpc.tls` turns TLS on; any file that is
/// missing or wrong stops start-up with the setting named.
fn grpc_tls(settings: &Settings) -> anyhow::Result<Option<ListenerTls>> {
    let tls = &settings.grpc.tls;
    if !tls.enabled() {
        if !tls.client_ca_file.trim().is_empty() {
            anyhow::bail!(
                "grpc.tls.client_ca_file: client certificates need TLS; set grpc.tls.cert_file \
                 and grpc.tls.key_file too"
            );
        }
        return Ok(None);
    }
    let cert = ReloadingCert::load("grpc.tls", &tls.cert_file, &tls.key_file)?;
    if tls.client_ca_file.trim().is_empty() {
        let acceptor = tls::acceptor(cert.clone(), None, &[b"h2"])?;
        return Ok(Some((cert, None, acceptor)));
    }
    let client_ca = ReloadingClientCa::load(
        "grpc.tls",
        &tls.client_ca_file,
        tls.client_auth,
        cert.clone(),
        &[b"h2"],
    )?;
    let acceptor = client_ca.acceptor();
    Ok(Some((cert, Some(client_ca), acceptor)))
}

/// The page's listener's certificate, client CA (when it asks for client
/// certificates, always optionally: the reply page opens without one) and
/// acceptor when `http.tls` turns TLS on.
fn page_tls(settings: &Settings) -> anyhow::Result<Option<ListenerTls>> {
    let tls = &settings.http.tls;
    if !tls.enabled() {
        if !tls.client_ca_file.trim().is_empty() {
            anyhow::bail!(
                "http.tls.client_ca_file: client certificates need TLS; set http.tls.cert_file \
                 and http.tls.key_file too"
            );
        }
        return Ok(None);
    }
    let alpn: &[&[u8]] = &[b"h2", b"http/1.1"];
    let cert = ReloadingCert::load("http.tls", &tls.cert_file, &tls.key_file)?;
    if tls.client_ca_file.trim().is_empty() {
        let acceptor = tls::acceptor(cert.clone(), None, alpn)?;
        return Ok(Some((cert, None, acceptor)));
    }
    let client_ca = ReloadingClientCa::load(
        "http.tls",
        &tls.client_ca_file,
        ClientAuth::Optional,
        cert.clone(),
        alpn,
    )?;
    let acceptor = client_ca.acceptor();
    Ok(Some((cert, Some(client_ca), acceptor)))
}

/// How often the outbox and pool gauges are read.
const METRICS_REFRESH: Duration = Duration::from_secs(5);

/// What the service says of its health: the gRPC health status and, for
/// `/readyz`, the same as a flag.
#[derive(Clone)]
struct Health {
    reporter: HealthReporter,
    ready: Ready,
}

impl Health {
    /// Every service's health, and the server's as a whole (`""`).
    async fn set(&self, serving: bool) {
        let status = if serving {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        for service in [
            "",
            <CaseServiceServer<Cases> as NamedService>::NAME,
            <DepartmentServiceServer<Departments> as NamedService>::NAME,
            <SupervisionServiceServer<Supervision> as NamedService>::NAME,
        ] {
            self.reporter.set_service_status(service, status).await;
        }
        self.ready.store(serving, Ordering::Relaxed);
    }
}

/// Asks the database every `every` whether it answers, and says so in the
/// health status: NOT_SERVING while it cannot be reached, SERVING again once
/// it can. Each change is logged once.
async fn watch_database(
    store: Store,
    health: Health,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut serving = true;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let up = match store.ping().await {
            Ok(()) => true,
            Err(e) => {
                if serving {
                    tracing::warn!(error = %e, "the database cannot be reached: health is NOT_SERVING");
                }
                false
            }
        };
        if up && !serving {
            tracing::info!("the database answers again: health is SERVING");
        }
        // Once stopping has begun, health stays NOT_SERVING.
        if up != serving && !shutdown.is_cancelled() {
            health.set(up).await;
            serving = up;
        }
    }
}

/// Says what the deadlines count on: which years are the State Council's, and
/// warns when this year or the next is not.
fn log_calendar(parts: &Parts) {
    tracing::info!(years = %parts.calendar.describe_years(), "working calendar");
    let calendar = &parts.organisation.calendar;
    let year = chrono::Utc::now().with_timezone(&calendar.tz()).year();
    let uncovered = calendar.uncovered_years(year, year + 1);
    if !uncovered.is_empty() {
        tracing::warn!(
            ?uncovered,
            "no State Council calendar for these years: deadlines in them count only weekends and \
             the fixed-date holidays; add calendar files (calendar/README.md) when the notice is out"
        );
    }
}

impl Application {
    /// The application these settings describe, on the system clock and the
    /// configured addresses.
    pub async fn build(settings: &Settings) -> anyhow::Result<Application> {
        Self::builder(settings).start().await
    }

    pub fn builder(settings: &Settings) -> Builder<'_> {
        Builder {
            settings,
            parts: None,
            clock: Arc::new(SystemClock),
            grpc_listener: None,
            http_listener: None,
            smtp_listener: None,
            metrics_listener: None,
        }
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// Where the reply page listens, when it is on.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// Where reply mail is taken, when it is on.
    pub fn smtp_addr(&self) -> Option<SocketAddr> {
        self.smtp_addr
    }

    /// The certificates of the listeners that speak TLS, gRPC's first. `check`
    /// on one reads its files again at once, as the periodic look and SIGHUP do.
    pub fn tls_certificates(&self) -> Vec<Arc<ReloadingCert>> {
        self.tls_certs.clone()
    }

    /// The gRPC listener's client CA, when it asks for client certificates.
    /// `check` on it reads its file again at once, as the periodic look and
    /// SIGHUP do.
    pub fn tls_client_ca(&self) -> Option<Arc<ReloadingClientCa>> {
        self.tls_client_ca.clone()
    }

    /// Where metrics and probes are served, when they are.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Firing it stops the server (after in-flight RPCs) and every worker.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Serves until the shutdown token fires, then closes the store.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let mut server = self.server;
        let result = tokio::select! {
            ended = &mut server => ended.context("gRPC server task")?,
            _ = self.shutdown.cancelled() => {
                // Load balancers that watch health stop sending calls here
                // while the calls they already sent are still answered.
                self.health.set(false).await;
                if !self.notice.is_zero() {
                    tracing::info!(notice_secs = self.notice.as_secs(), "stopping: health is NOT_SERVING; still serving calls for the notice");
                    tokio::time::sleep(self.notice).await;
                }
                self.stop_serving.cancel();
                // A client that stops reading a stream would hold the graceful
                // stop for ever (HTTP/2 waits to deliver what it never reads):
                // calls get `grpc.drain_secs`, then their connections are closed.
                match tokio::time::timeout(self.drain, &mut server).await {
                    Ok(ended) => ended.context("gRPC server task")?,
                    Err(_) => {
                        tracing::warn!(drain_secs = self.drain.as_secs(), "calls still open after the drain time; closing their connections");
                        server.abort();
                        Ok(())
                    }
                }
            }
        };
        // The server stops on the token; make sure the workers hear it too even
        // when the server ended on its own.
        self.shutdown.cancel();
        for worker in self.workers {
            worker.await.context("background worker")?;
        }
        self.store.close().await;
        result.context("gRPC server")?;
        tracing::info!("whistle stopped");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_never_reach_the_log() {
        assert_eq!(
            super::redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(super::redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact("sqlite:data/w.db"), "sqlite:data/w.db");
    }
}
