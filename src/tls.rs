//! TLS on whistle's own listeners (gRPC and the reply page), so that no proxy
//! is needed in front of them, and client certificates for department systems
//! that prove who they are with one instead of a bearer key, and for people
//! who sign in to the console with one (`principals` says whose it is).
//!
//! Certificates are renewed while the service runs: the certificate and key
//! files are read again every `reload_secs` (and on SIGHUP), and when their
//! contents changed the new pair serves every connection from then on, while
//! connections already open keep the one they started with. A new pair that
//! does not load (a key that does not match, a file half written) is logged at
//! ERROR and the pair in use stays; only at start-up is a bad file fatal.
//!
//! The certificate in use sits behind a rustls `ResolvesServerCert` that hands
//! out whatever was loaded last, so renewing it never rebuilds the acceptor.
//! The client CA file is looked at again at the same times, and a CA that
//! changed and loads builds a whole new `ServerConfig`, which each new
//! connection takes from an `ArcSwap` when it comes in. The verifier is not
//! swapped inside one config because rustls keeps the sessions clients may
//! resume in the config, unverified again on resumption: with a new config, a
//! session verified under a CA since taken out cannot be resumed. The pair
//! and the CA are two sources of one [`Reloading`]: what their files are and
//! what loading them does is each one's own, and the looking again (on the
//! timer and SIGHUP of `crate::reload`), the comparing and the logging is
//! written once.
//!
//! Handshakes run each in their own task under the handshake timeout, so a
//! client that opens a connection and says nothing holds up no one else; the
//! finished connections are handed on through a channel, to tonic as a stream
//! and to axum as a `Listener`.

pub mod principals;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use arc_swap::ArcSwap;
use rustls::RootCertStore;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use crate::settings::ClientAuth;

/// The crypto every TLS listener uses: ring, the provider the mail and
/// database clients already use.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate chain and its key, checked to belong together. The files
/// are named in the messages.
fn certify(
    cert_pem: &[u8],
    key_pem: &[u8],
    cert_file: &Path,
    key_file: &Path,
) -> anyhow::Result<CertifiedKey> {
    let chain = certificates(cert_pem)
        .with_context(|| format!("the certificate {}", cert_file.display()))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| {
        anyhow::anyhow!(
            "the key {}: no PEM private key (PKCS#8, PKCS#1 or SEC1) in it ({e})",
            key_file.display()
        )
    })?;
    CertifiedKey::from_der(chain, key, &provider()).map_err(|e| {
        anyhow::anyhow!(
            "the key {} does not go with the certificate {} ({e})",
            key_file.display(),
            cert_file.display()
        )
    })
}

/// Every certificate in a PEM text, at least one.
fn certificates(pem: &[u8]) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("not PEM certificates ({e})"))?;
    if chain.is_empty() {
        bail!("no PEM CERTIFICATE block in it");
    }
    Ok(chain)
}

/// What a look at the files found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reload {
    /// The files are as they were.
    Unchanged,
    /// What they hold loaded and now serves new connections.
    Reloaded,
    /// The files changed but did not load; what was in use stays.
    Refused,
}

/// Files a TLS listener serves from: the certificate pair, or the client CA.
/// What the files are and what loading them does is each one's own; looking
/// again, comparing with what was seen and saying what happened is
/// [`Reloading`]'s, the same for both.
pub trait Source: Send + Sync + 'static {
    /// What the log calls it: "TLS certificate".
    const WHAT: &'static str;
    /// What a new one changes, for the log: "new connections use it".
    const AFTER_RELOAD: &'static str;
    /// The files' contents, in a fixed order.
    fn read(&self) -> anyhow::Result<Vec<Vec<u8>>>;
    /// Loads what `read` returned and serves it from the next handshake on;
    /// says what was loaded, for the log.
    fn serve(&self, contents: &[Vec<u8>]) -> anyhow::Result<String>;
}

/// A source of a listener's TLS, read again when its files change.
pub struct Reloading<S> {
    /// The settings section, for messages (`grpc.tls`).
    section: &'static str,
    source: S,
    /// The files' contents as last read, loaded or not: unchanged files are
    /// not parsed again, and broken ones are reported once, not every poll.
    seen: Mutex<Vec<Vec<u8>>>,
}

impl<S: fmt::Debug> fmt::Debug for Reloading<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reloading")
            .field("section", &self.section)
            .field("source", &self.source)
            .finish()
    }
}

impl<S: Source> Reloading<S> {
    /// `source`, already serving what `contents` hold.
    fn serving(section: &'static str, source: S, contents: Vec<Vec<u8>>) -> Arc<Self> {
        Arc::new(Self {
            section,
            source,
            seen: Mutex::new(contents),
        })
    }

    /// Reads the files again and, when they changed and load, serves what
    /// they hold from the next handshake on.
    pub fn check(&self) -> Reload {
        let section = self.section;
        let contents = match self.source.read() {
            Ok(contents) => contents,
            Err(e) => {
                // Not remembered as seen: a file being replaced may be back at
                // the next look, and until then each look says it is missing.
                tracing::error!(
                    section,
                    error = format!("{e:#}"),
                    "{} not reloaded; keeping the one in use",
                    S::WHAT
                );
                return Reload::Refused;
            }
        };
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if *seen == contents {
            return Reload::Unchanged;
        }
        let outcome = match self.source.serve(&contents) {
            Ok(loaded) => {
                tracing::info!(section, %loaded, "{} reloaded; {}", S::WHAT, S::AFTER_RELOAD);
                Reload::Reloaded
            }
            Err(e) => {
                tracing::error!(
                    section,
                    error = format!("{e:#}"),
                    "{} not reloaded; keeping the one in use",
                    S::WHAT
                );
                Reload::Refused
            }
        };
        *seen = contents;
        outcome
    }

    /// Looks at the files every `every` (never when zero) and on SIGHUP until
    /// `shutdown` fires.
    pub async fn watch(self: Arc<Self>, every: Duration, shutdown: CancellationToken) {
        crate::reload::watch(every, shutdown, move || {
            self.check();
        })
        .await
    }
}

/// The certificate a listener serves and its key, from their files.
pub struct CertPair {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: ArcSwap<CertifiedKey>,
}

impl fmt::Debug for CertPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertPair")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .finish()
    }
}

impl Source for CertPair {
    const WHAT: &'static str = "TLS certificate";
    const AFTER_RELOAD: &'static str = "new connections use it";

    fn read(&self) -> anyhow::Result<Vec<Vec<u8>>> {
        read_pair(&self.cert_file, &self.key_file)
    }

    fn serve(&self, contents: &[Vec<u8>]) -> anyhow::Result<String> {
        let certified = certify(&contents[0], &contents[1], &self.cert_file, &self.key_file)?;
        let loaded = describe(&certified);
        self.current.store(Arc::new(certified));
        Ok(loaded)
    }
}

fn read_pair(cert_file: &Path, key_file: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let cert_pem = std::fs::read(cert_file)
        .with_context(|| format!("reading the certificate {}", cert_file.display()))?;
    let key_pem = std::fs::read(key_file)
        .with_context(|| format!("reading the key {}", key_file.display()))?;
    Ok(vec![cert_pem, key_pem])
}

/// The certificate a listener serves, read again from its files when they change.
pub type ReloadingCert = Reloading<CertPair>;

impl ReloadingCert {
    /// Loads the pair; any problem with the files is an error naming the
    /// setting, for start-up to refuse.
    pub fn load(
        section: &'static str,
        cert_file: &str,
        key_file: &str,
    ) -> anyhow::Result<Arc<Self>> {
        if key_file.trim().is_empty() {
            bail!("{section}.key_file: set the private key that goes with {section}.cert_file");
        }
        let cert_file = PathBuf::from(cert_file.trim());
        let key_file = PathBuf::from(key_file.trim());
        let contents = read_pair(&cert_file, &key_file).with_context(|| section.to_owned())?;
        let certified = certify(&contents[0], &contents[1], &cert_file, &key_file)
            .with_context(|| section.to_owned())?;
        tracing::info!(
            section,
            certificate = %describe(&certified),
            "TLS certificate loaded"
        );
        let pair = CertPair {
            cert_file,
            key_file,
            current: ArcSwap::from_pointee(certified),
        };
        Ok(Self::serving(section, pair, contents))
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.source.current.load_full())
    }
}

/// The served certificate in a log line: subject, serial and expiry.
fn describe(certified: &CertifiedKey) -> String {
    let Some(leaf) = certified.cert.first() else {
        return "an empty chain".to_owned();
    };
    match x509_parser::parse_x509_certificate(leaf) {
        Ok((_, cert)) => format!(
            "subject {}, serial {}, valid until {}",
            cert.subject(),
            cert.raw_serial_as_string(),
            cert.validity().not_after
        ),
        Err(_) => "a certificate x509-parser cannot read".to_owned(),
    }
}

/// The verifier of client certificates signed by the CA(s) in `pem`.
fn client_verifier(pem: &[u8], auth: ClientAuth) -> anyhow::Result<Arc<dyn ClientCertVerifier>> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(pem)? {
        roots.add(cert).context("it holds no usable CA")?;
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
    let builder = match auth {
        ClientAuth::Optional => builder.allow_unauthenticated(),
        ClientAuth::Required => builder,
    };
    Ok(builder.build()?)
}

/// The handshakes of a listener: each new connection takes the `ServerConfig`
/// in use when it comes in, and keeps it for as long as it is open.
#[derive(Clone)]
pub struct Acceptor {
    inner: Arc<Configs>,
}

/// What a listener's `ServerConfig` is built from, and the one built last.
struct Configs {
    cert: Arc<ReloadingCert>,
    alpn: Vec<Vec<u8>>,
    current: ArcSwap<ServerConfig>,
}

/// A `ServerConfig` serving `cert`, asking for client certificates when a
/// verifier is given, offering `alpn`.
fn server_config(
    cert: &Arc<ReloadingCert>,
    clients: Option<Arc<dyn ClientCertVerifier>>,
    alpn: &[Vec<u8>],
) -> anyhow::Result<ServerConfig> {
    let builder =
        ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let builder = match clients {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(cert.clone());
    config.alpn_protocols = alpn.to_vec();
    Ok(config)
}

impl Acceptor {
    /// The acceptor for the next connection.
    pub fn current(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.inner.current.load_full())
    }

    /// Serves new connections with `clients` as the verifier of client
    /// certificates. The new config starts with no sessions to resume.
    fn verify_clients_with(&self, clients: Arc<dyn ClientCertVerifier>) -> anyhow::Result<()> {
        let config = server_config(&self.inner.cert, Some(clients), &self.inner.alpn)?;
        self.inner.current.store(Arc::new(config));
        Ok(())
    }
}

/// An acceptor serving `cert`, asking for client certificates when a
/// verifier is given, offering `alpn` (`h2` for gRPC).
pub fn acceptor(
    cert: Arc<ReloadingCert>,
    clients: Option<Arc<dyn ClientCertVerifier>>,
    alpn: &[&[u8]],
) -> anyhow::Result<Acceptor> {
    let alpn: Vec<Vec<u8>> = alpn.iter().map(|p| p.to_vec()).collect();
    let config = server_config(&cert, clients, &alpn)?;
    Ok(Acceptor {
        inner: Arc::new(Configs {
            cert,
            alpn,
            current: ArcSwap::from_pointee(config),
        }),
    })
}

/// The CA that signs client certificates, from its file, and the acceptor
/// of the listener that asks for them.
pub struct ClientCa {
    ca_file: PathBuf,
    auth: ClientAuth,
    acceptor: Acceptor,
}

impl fmt::Debug for ClientCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCa")
            .field("ca_file", &self.ca_file)
            .field("auth", &self.auth)
            .finish()
    }
}

impl Source for ClientCa {
    const WHAT: &'static str = "TLS client CA";
    const AFTER_RELOAD: &'static str = "new connections are verified with it";

    fn read(&self) -> anyhow::Result<Vec<Vec<u8>>> {
        let pem = std::fs::read(&self.ca_file)
            .with_context(|| format!("reading {}", self.ca_file.display()))?;
        Ok(vec![pem])
    }

    fn serve(&self, contents: &[Vec<u8>]) -> anyhow::Result<String> {
        let verifier = client_verifier(&contents[0], self.auth)
            .with_context(|| self.ca_file.display().to_string())?;
        self.acceptor.verify_clients_with(verifier)?;
        Ok(describe_cas(&contents[0]))
    }
}

/// The client CA, read again from its file when it changes, and the acceptor
/// of the listener that asks for certificates it signed.
pub type ReloadingClientCa = Reloading<ClientCa>;

impl ReloadingClientCa {
    /// Loads the CA in `ca_file` and builds the acceptor serving `cert` that
    /// asks for certificates it signed; a file that does not load is an error
    /// naming the setting, for start-up to refuse.
    pub fn load(
        section: &'static str,
        ca_file: &str,
        auth: ClientAuth,
        cert: Arc<ReloadingCert>,
        alpn: &[&[u8]],
    ) -> anyhow::Result<Arc<Self>> {
        let ca_file = PathBuf::from(ca_file.trim());
        let setting = || format!("{section}.client_ca_file: {}", ca_file.display());
        let pem = std::fs::read(&ca_file)
            .with_context(|| format!("{section}.client_ca_file: reading {}", ca_file.display()))?;
        let verifier = client_verifier(&pem, auth).with_context(setting)?;
        let acceptor = acceptor(cert, Some(verifier), alpn)?;
        tracing::info!(section, ca = %describe_cas(&pem), "TLS client CA loaded");
        let ca = ClientCa {
            ca_file,
            auth,
            acceptor,
        };
        Ok(Self::serving(section, ca, vec![pem]))
    }

    /// The listener's acceptor, which asks for certificates of the CA in use.
    pub fn acceptor(&self) -> Acceptor {
        self.source.acceptor.clone()
    }
}

/// The CAs of a client CA file in a log line: their subjects.
fn describe_cas(pem: &[u8]) -> String {
    CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .map(|der| match x509_parser::parse_x509_certificate(&der) {
            Ok((_, cert)) => cert.subject().to_string(),
            Err(_) => "a certificate x509-parser cannot read".to_owned(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A connection whose handshake finished.
pub struct Accepted {
    pub stream: TlsStream<TcpStream>,
    pub peer: SocketAddr,
    /// When the TCP connection came in: what follows the handshake (the HTTP/2
    /// preface) counts its deadline from here.
    pub since: Instant,
}

/// Takes connections on `listener` and shakes hands with each in a task of
/// its own, `handshake` at most; the finished ones come out of the receiver.
/// Stops when `shutdown` fires or the receiver is dropped. A failed handshake
/// (a plain-text client, a certificate the CA did not sign) is logged at
/// DEBUG: scanners would fill the log at any level above.
pub fn accept(
    listener: TcpListener,
    acceptor: Acceptor,
    handshake: Duration,
    shutdown: CancellationToken,
) -> mpsc::Receiver<Accepted> {
    let (sender, receiver) = mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let (tcp, peer) = tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = sender.closed() => return,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors, most likely: give the
                        // connections being served a moment to close.
                        tracing::warn!(error = %e, "accepting a TLS connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let since = Instant::now();
            let _ = tcp.set_nodelay(true);
            // Taken now: a client CA reloaded during the handshake is for the
            // connections after this one.
            let acceptor = acceptor.current();
            let sender = sender.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(handshake, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let _ = sender
                            .send(Accepted {
                                stream,
                                peer,
                                since,
                            })
                            .await;
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "no TLS handshake within the timeout"),
                }
            });
        }
    });
    receiver
}

/// Finished TLS connections as axum takes them.
pub struct TlsListener {
    receiver: mpsc::Receiver<Accepted>,
    local: SocketAddr,
}

impl TlsListener {
    pub fn new(
        listener: TcpListener,
        acceptor: Acceptor,
        handshake: Duration,
        shutdown: CancellationToken,
    ) -> io::Result<Self> {
        let local = listener.local_addr()?;
        Ok(Self {
            receiver: accept(listener, acceptor, handshake, shutdown),
            local,
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.receiver.recv().await {
            Some(accepted) => (accepted.stream, accepted.peer),
            // Only after shutdown, when axum has stopped accepting anyway.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// What a client certificate says of its holder, for matching principals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertNames {
    /// The subject's common names (CN).
    pub common_names: Vec<String>,
    /// The DNS names of its subjectAltName, lowercased.
    pub dns_names: Vec<String>,
    /// The URIs of its subjectAltName.
    pub uris: Vec<String>,
    /// The e-mail addresses (rfc822Name) of its subjectAltName.
    pub emails: Vec<String>,
    /// The subject's distinguished name, as RFC 4514 writes it (`CN=…`).
    pub subject: String,
}

impl CertNames {
    /// The names in a DER certificate; `None` when it cannot be read.
    pub fn of(der: &[u8]) -> Option<CertNames> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let mut names = CertNames {
            common_names: cert
                .subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok().map(str::to_owned))
                .collect(),
            subject: cert.subject().to_string(),
            ..CertNames::default()
        };
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    x509_parser::extensions::GeneralName::DNSName(dns) => {
                        names.dns_names.push(dns.to_ascii_lowercase())
                    }
                    x509_parser::extensions::GeneralName::URI(uri) => {
                        names.uris.push((*uri).to_owned())
                    }
                    x509_parser::extensions::GeneralName::RFC822Name(email) => {
                        names.emails.push((*email).to_owned())
                    }
                    _ => {}
                }
            }
        }
        Some(names)
    }

    /// Who holds the certificate, as a timeline names a person: its first
    /// e-mail address, else its subject. Angle brackets are dropped, since
    /// the timeline writes `principal <holder>`.
    pub fn holder(&self) -> String {
        let holder = self.emails.first().unwrap_or(&self.subject);
        holder.replace(['<', '>'], "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        let (c, k) = (
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }

    fn served(cert: &ReloadingCert) -> Vec<String> {
        CertNames::of(&cert.source.current.load().cert[0])
            .unwrap()
            .dns_names
    }

    #[test]
    fn a_renewed_pair_is_served_and_a_broken_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let (cert_file, key_file) = pair(dir.path(), "old.example");
        let cert = ReloadingCert::load(
            "grpc.tls",
            cert_file.to_str().unwrap(),
            key_file.to_str().unwrap(),
        )
        .unwrap();
        assert_eq!(cert.check(), Reload::Unchanged);

        let (new_cert, new_key) = pair(dir.path(), "new.example");
        std::fs::copy(&new_cert, &cert_file).unwrap();
        std::fs::copy(&new_key, &key_file).unwrap();
        assert_eq!(cert.check(), Reload::Reloaded);
        assert_eq!(served(&cert), ["new.example"]);

        // A certificate with the key of another: refused, the last good pair stays.
        let (other_cert, _) = pair(dir.path(), "other.example");
        std::fs::copy(&other_cert, &cert_file).unwrap();
        assert_eq!(cert.check(), Reload::Refused);
        assert_eq!(cert.check(), Reload::Unchanged, "reported once");
        assert_eq!(served(&cert), ["new.example"]);

        std::fs::write(&cert_file, "not a certificate").unwrap();
        assert_eq!(cert.check(), Reload::Refused);
        assert_eq!(served(&cert), ["new.example"]);
    }

    /// On a paused clock: time moves only when every task waits, and not while
    /// a look at the files is being taken off the runtime.
    #[tokio::test(start_paused = true)]
    async fn the_files_are_looked_at_again_every_reload_secs() {
        let dir = tempfile::tempdir().unwrap();
        let (cert_file, key_file) = pair(dir.path(), "old.example");
        let cert = ReloadingCert::load(
            "grpc.tls",
            cert_file.to_str().unwrap(),
            key_file.to_str().unwrap(),
        )
        .unwrap();
        let shutdown = CancellationToken::new();
        let watching = tokio::spawn(
            cert.clone()
                .watch(Duration::from_secs(60), shutdown.clone()),
        );
        let (new_cert, new_key) = pair(dir.path(), "new.example");
        std::fs::copy(&new_cert, &cert_file).unwrap();
        std::fs::copy(&new_key, &key_file).unwrap();
        tokio::time::sleep(Duration::from_secs(59)).await;
        assert_eq!(served(&cert), ["old.example"], "not before reload_secs");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(served(&cert), ["new.example"]);
        shutdown.cancel();
        watching.await.unwrap();
    }

    /// A CA certificate, self-signed, PEM.
    fn ca(name: &str) -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.self_signed(&key).unwrap().pem()
    }

    fn config(ca: &ReloadingClientCa) -> Arc<ServerConfig> {
        ca.source.acceptor.inner.current.load_full()
    }

    #[test]
    fn a_new_client_ca_builds_a_new_config_and_a_broken_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let (cert_file, key_file) = pair(dir.path(), "server.example");
        let cert = ReloadingCert::load(
            "grpc.tls",
            cert_file.to_str().unwrap(),
            key_file.to_str().unwrap(),
        )
        .unwrap();
        let ca_file = dir.path().join("clients.crt");
        std::fs::write(&ca_file, ca("old CA")).unwrap();
        let clients = ReloadingClientCa::load(
            "grpc.tls",
            ca_file.to_str().unwrap(),
            ClientAuth::Optional,
            cert,
            &[b"h2"],
        )
        .unwrap();
        let first = config(&clients);
        assert_eq!(first.alpn_protocols, [b"h2".to_vec()]);
        assert_eq!(clients.check(), Reload::Unchanged);
        assert!(Arc::ptr_eq(&first, &config(&clients)));

        std::fs::write(&ca_file, ca("new CA")).unwrap();
        assert_eq!(clients.check(), Reload::Reloaded);
        let second = config(&clients);
        assert!(!Arc::ptr_eq(&first, &second), "a config of its own");
        assert_eq!(second.alpn_protocols, [b"h2".to_vec()]);

        std::fs::write(&ca_file, "not a certificate").unwrap();
        assert_eq!(clients.check(), Reload::Refused);
        assert_eq!(clients.check(), Reload::Unchanged, "reported once");
        assert!(
            Arc::ptr_eq(&second, &config(&clients)),
            "the CA in use stays"
        );

        std::fs::remove_file(&ca_file).unwrap();
        assert_eq!(clients.check(), Reload::Refused);
        assert_eq!(clients.check(), Reload::Refused, "missing at every look");
        assert!(Arc::ptr_eq(&second, &config(&clients)));
    }

    #[test]
    fn a_client_ca_file_that_does_not_load_stops_start_up_naming_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let (cert_file, key_file) = pair(dir.path(), "server.example");
        let cert = ReloadingCert::load(
            "grpc.tls",
            cert_file.to_str().unwrap(),
            key_file.to_str().unwrap(),
        )
        .unwrap();
        let error = |ca_file: &Path| {
            format!(
                "{:#}",
                ReloadingClientCa::load(
                    "grpc.tls",
                    ca_file.to_str().unwrap(),
                    ClientAuth::Required,
                    cert.clone(),
                    &[b"h2"],
                )
                .unwrap_err()
            )
        };
        let text = error(&dir.path().join("missing.crt"));
        assert!(
            text.starts_with("grpc.tls.client_ca_file: reading"),
            "{text}"
        );
        assert!(text.contains("missing.crt"), "{text}");
        let text = error(&key_file);
        assert!(text.starts_with("grpc.tls.client_ca_file: "), "{text}");
        assert!(text.contains("no PEM CERTIFICATE"), "{text}");
    }

    #[test]
    fn start_up_names_the_setting_and_the_file_that_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let (cert_file, key_file) = pair(dir.path(), "a.example");
        let (other_cert, _) = pair(dir.path(), "b.example");
        let error = |cert: &Path, key: &Path| {
            format!(
                "{:#}",
                ReloadingCert::load("http.tls", cert.to_str().unwrap(), key.to_str().unwrap())
                    .unwrap_err()
            )
        };
        let missing = dir.path().join("missing.crt");
        let text = error(&missing, &key_file);
        assert!(
            text.starts_with("http.tls: reading the certificate"),
            "{text}"
        );
        assert!(text.contains("missing.crt"), "{text}");
        let text = error(&key_file, &key_file);
        assert!(text.contains("no PEM CERTIFICATE"), "{text}");
        let text = error(&cert_file, &cert_file);
        assert!(text.contains("no PEM private key"), "{text}");
        let text = error(&other_cert, &key_file);
        assert!(text.contains("does not go with the certificate"), "{text}");
    }
}
