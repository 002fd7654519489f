//! Where whistle listens, and how: `[grpc]` (with `[grpc.tls]`), `[http]` (the
//! reply page, with `[http.tls]`), `[inbound_mail]` (reply mail) and
//! `[metrics]`. Plain data: the application binds and secures the listeners.

use serde::Deserialize;

/// `[grpc]`: the API street offices, departments and supervisors call.
#[derive(Debug, Clone, Deserialize)]
pub struct GrpcSettings {
    pub listen: String,
    pub max_message_bytes: usize,
    /// Calls per second per principal (0: no limit), and the burst above it.
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
    /// Failed authentications a minute one peer address may make (0: no
    /// limit); beyond, its calls are refused until the allowance refills.
    pub auth_failures_per_minute: u32,
    /// A call still unanswered after this long is cancelled (DEADLINE_EXCEEDED
    /// for the client), which also frees what a stalled client holds.
    pub request_timeout_secs: u64,
    /// A new connection that has not sent its HTTP/2 preface by then is closed.
    pub handshake_timeout_secs: u64,
    /// Streams one connection may have open at once.
    pub max_concurrent_streams: u32,
    /// Pings idle connections; one that does not answer within the timeout is closed.
    pub keepalive_interval_secs: u64,
    pub keepalive_timeout_secs: u64,
    /// Items at most waiting for a slow reader of a live stream.
    pub stream_buffer: usize,
    /// How long a stream reader may take nothing before it is cut off.
    pub stream_stall_secs: u64,
    /// The longest a live stream waits before looking for what other instances
    /// committed.
    pub stream_poll_ms: u64,
    /// Live streams one principal may hold open at once.
    pub stream_max_per_principal: usize,
    /// Live streams one instance serves at once.
    pub stream_max_total: usize,
    /// On shutdown, how long calls may take to finish before their connections
    /// are closed.
    pub drain_secs: u64,
    /// On shutdown, how long the service keeps serving with its health
    /// NOT_SERVING before it stops taking calls.
    pub shutdown_notice_secs: u64,
    /// How often the health status asks whether the database answers.
    pub health_check_secs: u64,
    /// TLS and client certificates; off while `cert_file` is empty.
    pub tls: GrpcTlsSettings,
}

/// `[grpc.tls]`: TLS on the gRPC listener, and client certificates.
#[derive(Debug, Clone, Deserialize)]
pub struct GrpcTlsSettings {
    /// PEM: the server's certificate, then its intermediates. Empty: plain text.
    pub cert_file: String,
    /// PEM: the certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: String,
    /// PEM: the CA(s) that sign client certificates. Empty: none asked for.
    pub client_ca_file: String,
    /// Whether a client must show a certificate signed by `client_ca_file`.
    pub client_auth: ClientAuth,
    /// How often the certificate and key files are read again (0: only on SIGHUP).
    pub reload_secs: u64,
}

impl GrpcTlsSettings {
    pub fn enabled(&self) -> bool {
        !self.cert_file.trim().is_empty()
    }
}

/// `[http.tls]`: TLS on the reply page's listener.
#[derive(Debug, Clone, Deserialize)]
pub struct HttpTlsSettings {
    /// As `grpc.tls.cert_file` and `key_file`; empty: plain HTTP.
    pub cert_file: String,
    pub key_file: String,
    /// PEM: the CA(s) that sign client certificates, which then sign in to
    /// the console. Asked for, never required: the reply page opens without.
    /// Empty: none asked for.
    pub client_ca_file: String,
    pub reload_secs: u64,
}

impl HttpTlsSettings {
    pub fn enabled(&self) -> bool {
        !self.cert_file.trim().is_empty()
    }
}

/// `[http]`: the reply page departments open from their letters.
#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    /// Where the page is served; empty: no page, and letters carry no link to it.
    pub listen: String,
    /// The address letters link to (`https://whistle.example.gov.cn`); empty:
    /// `http://` and the address it listens on.
    pub public_url: String,
    /// Requests per minute one client address may make, and one reply link.
    pub rate_limit_per_ip_per_minute: u32,
    pub rate_limit_per_link_per_minute: u32,
    /// A request unanswered after this long is cut off.
    pub request_timeout_secs: u64,
    /// HTTPS; off while `cert_file` is empty.
    pub tls: HttpTlsSettings,
    /// The console (工作台) at `/console/`.
    pub console: ConsoleSettings,
}

/// `[http.console]`: signing in to the console and its sessions.
#[derive(Debug, Clone, Deserialize)]
pub struct ConsoleSettings {
    /// A session unused this long ends.
    pub idle_timeout_minutes: u64,
    /// A session ends this long after it began, however busy.
    pub lifetime_hours: u64,
    /// Sign-in letters one address may ask for in an hour, and sign-in
    /// requests one client address may make; 0: no limit.
    pub sign_ins_per_address_per_hour: u32,
    pub sign_ins_per_ip_per_hour: u32,
}

impl HttpSettings {
    /// The base of the links in letters, given where the page is bound.
    pub fn public_base(&self, bound: std::net::SocketAddr) -> String {
        if self.public_url.trim().is_empty() {
            let scheme = if self.tls.enabled() { "https" } else { "http" };
            format!("{scheme}://{bound}")
        } else {
            self.public_url.trim().trim_end_matches('/').to_owned()
        }
    }
}

/// `[metrics]`: Prometheus metrics and the liveness and readiness probes.
#[derive(Debug, Clone, Deserialize)]
pub struct MetricsSettings {
    /// Where `/metrics`, `/livez` and `/readyz` are served; empty: nowhere.
    /// Kept apart from the reply page, which faces departments: metrics are
    /// for the operator's network only.
    pub listen: String,
}

/// `[inbound_mail]`: replies by e-mail to `reply+TOKEN@domain`.
#[derive(Debug, Clone, Deserialize)]
pub struct InboundMailSettings {
    /// Where the SMTP listener takes mail; empty: none, and letters carry no
    /// reply address.
    pub listen: String,
    /// The domain of reply addresses; the organisation's mail server forwards
    /// it to `listen`. Required when `listen` is set.
    pub domain: String,
    /// The name the listener greets with.
    pub hostname: String,
    pub max_message_bytes: usize,
    pub max_connections: usize,
    pub command_timeout_secs: u64,
    pub data_timeout_secs: u64,
    /// The authserv-ids of the organisation's own mail servers, whose
    /// `Authentication-Results` are believed and then required of a reply
    /// from a department with `reply_domains`; empty: none believed.
    pub trusted_authserv_ids: Vec<String>,
    /// Messages an hour through one reply address, and from one envelope
    /// sender; beyond, 451 at RCPT. 0: no limit.
    pub max_messages_per_address_per_hour: u32,
    pub max_messages_per_sender_per_hour: u32,
}

/// `grpc.tls.client_auth`: whether a client must show a certificate signed
/// by the client CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// A certificate is asked for; a client without one may still connect
    /// and call with a bearer key. One that shows a certificate the CA did not
    /// sign is refused at the handshake.
    Optional,
    /// No connection without a certificate signed by the client CA.
    Required,
}
