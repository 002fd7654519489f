//! Who is calling, and how often. Every RPC carries `authorization: Bearer KEY`;
//! the key's SHA-256 digest is looked up among the configured principals.
//! Configuration holds only digests, and keys are long random tokens, so a plain
//! digest (no salt, no slow hash) is what fits: a password hash would cost
//! milliseconds on every call. Each principal then draws from its own rate limit,
//! so one runaway client cannot crowd out the others.
//!
//! A caller on the gRPC listener's TLS may instead show a client certificate
//! (`grpc.tls.client_ca_file`): rustls has already checked it against the
//! client CA, and its subject's common name or a name of its subjectAltName
//! picks the principal (`cert_subjects`, `cert_sans`). A call with both a key
//! and a certificate that names a principal is refused unless the two name the
//! same one: a stolen key is no use from another department's system. A
//! certificate that names no principal is no credential, only a way onto the
//! network, and the key decides.
//!
//! Failed authentications are limited per peer address: beyond
//! `grpc.auth_failures_per_minute`, every call from that address that does
//! not authenticate is refused with `RESOURCE_EXHAUSTED` until its allowance
//! refills, so a client trying keys is slowed and its failures cost little.
//! A call that carries a valid key or client certificate is never refused for
//! its address: behind a NAT or a proxy, one broken or hostile client would
//! otherwise lock out everyone behind it. That gives a key-guesser no oracle
//! worth having: keys are 256 random bits (`whistle new-key`), and the digest
//! looked up costs one SHA-256. Failures are logged aggregated (a count and
//! the addresses, never what was sent as a key).

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use sha2::{Digest, Sha256};
use tonic::{Code, Request, Status};
use tonic_types::ErrorDetails;

use super::status::localized;

use crate::domain::Actor;
use crate::settings::PrincipalSettings;
use crate::tls::principals::{CertPrincipals, Unmapped, principal_actor};

/// A principal as one of its keys names it, and when that key is good.
#[derive(Debug, Clone)]
struct Holder {
    actor: Actor,
    not_before: Option<chrono::DateTime<chrono::Utc>>,
    not_after: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Clone)]
pub struct Authenticator {
    by_digest: Arc<HashMap<String, Holder>>,
    /// Principals by the names of their client certificates.
    by_cert: CertPrincipals,
    /// Keyed by principal name; `None` when the limit is off.
    limiter: Option<Arc<DefaultKeyedRateLimiter<String>>>,
    /// Failed authentications per peer address; `None` when the limit is off.
    failures: Option<Arc<DefaultKeyedRateLimiter<IpAddr>>>,
    /// Peers over their allowance of failures, until when.
    blocked: Arc<Mutex<HashMap<IpAddr, Instant>>>,
    failure_log: Arc<Mutex<FailureLog>>,
}

/// Failed authentications since the last log line about them.
#[derive(Debug)]
struct FailureLog {
    since: Instant,
    count: u64,
    peers: BTreeSet<IpAddr>,
}

/// A log line about failures goes out at most this often.
const FAILURE_LOG_EVERY: Duration = Duration::from_secs(60);
/// Peers named in one line about failures, at most.
const FAILURE_LOG_PEERS: usize = 20;
/// Blocked peers remembered at most; beyond, expired entries are dropped.
const BLOCKED_MAX: usize = 10_000;

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("principals", &self.by_digest.len())
            .field("rate_limited", &self.limiter.is_some())
            .finish()
    }
}

/// Calls per second each principal may make, with a burst on top.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// 0 turns the limit off.
    pub per_second: u32,
    pub burst: u32,
}

/// The digest configuration stores for a key.
pub fn key_digest(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

impl Authenticator {
    /// Every key of every principal; a key that is not 64 hex digits, or a
    /// key file that cannot be read, is an error (settings already checked
    /// them once at start-up).
    pub fn new<'a>(
        principals: impl IntoIterator<Item = (&'a String, &'a PrincipalSettings)>,
        limit: RateLimit,
    ) -> anyhow::Result<Self> {
        let mut by_digest = HashMap::new();
        let principals: Vec<_> = principals.into_iter().collect();
        let by_cert = CertPrincipals::new(principals.iter().copied())?;
        for (name, p) in principals {
            // An unknown role: the configuration check refuses it before
            // anything is served.
            let Some(actor) = principal_actor(name, p) else {
                continue;
            };
            for window in p.key_windows(name)? {
                let holder = Holder {
                    actor: actor.clone(),
                    not_before: window.not_before,
                    not_after: window.not_after,
                };
                if by_digest.insert(window.digest, holder).is_some() {
                    anyhow::bail!("principals: two principals share a key (one of {name}'s)");
                }
            }
        }
        let limiter = NonZeroU32::new(limit.per_second).map(|rate| {
            let burst = NonZeroU32::new(limit.burst).unwrap_or(rate);
            Arc::new(DefaultKeyedRateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            ))
        });
        Ok(Self {
            by_digest: Arc::new(by_digest),
            by_cert,
            limiter,
            failures: None,
            blocked: Arc::new(Mutex::new(HashMap::new())),
            failure_log: Arc::new(Mutex::new(FailureLog {
                since: Instant::now() - FAILURE_LOG_EVERY,
                count: 0,
                peers: BTreeSet::new(),
            })),
        })
    }

    /// Allows each peer address this many failed authentications a minute
    /// (with the same burst); 0: no limit.
    pub fn with_failure_limit(mut self, per_minute: u32) -> Self {
        self.failures = NonZeroU32::new(per_minute)
            .map(|n| Arc::new(DefaultKeyedRateLimiter::keyed(Quota::per_minute(n))));
        self
    }

    /// Refuses an unauthenticated call from a peer that failed too often,
    /// until its allowance refills.
    fn check_blocked(&self, peer: Option<IpAddr>) -> Result<(), Status> {
        let Some(peer) = peer else { return Ok(()) };
        let blocked = self.blocked.lock().expect("the blocked peers");
        match blocked.get(&peer) {
            Some(until) if *until > Instant::now() => {
                Err(too_many_failures(*until - Instant::now()))
            }
            _ => Ok(()),
        }
    }

    /// Counts a failure from `peer`, logs failures aggregated, and blocks the
    /// peer once it is over its allowance.
    fn failed(&self, peer: Option<IpAddr>, refusal: Status) -> Status {
        ::metrics::counter!(crate::metrics::AUTH_FAILURES).increment(1);
        {
            let mut log = self.failure_log.lock().expect("the failure log");
            log.count += 1;
            if let Some(peer) = peer
                && log.peers.len() < FAILURE_LOG_PEERS
            {
                log.peers.insert(peer);
            }
            if log.since.elapsed() >= FAILURE_LOG_EVERY {
                let peers: Vec<String> = log.peers.iter().map(IpAddr::to_string).collect();
                tracing::warn!(
                    failures = log.count,
                    peers = %peers.join(", "),
                    reason = refusal.message(),
                    "failed authentications since the last report (at most one report a minute)"
                );
                log.since = Instant::now();
                log.count = 0;
                log.peers.clear();
            }
        }
        let (Some(limiter), Some(peer)) = (&self.failures, peer) else {
            return refusal;
        };
        match limiter.check_key(&peer) {
            Ok(()) => refusal,
            Err(not_until) => {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let mut blocked = self.blocked.lock().expect("the blocked peers");
                if blocked.len() >= BLOCKED_MAX {
                    let now = Instant::now();
                    blocked.retain(|_, until| *until > now);
                }
                if blocked.len() < BLOCKED_MAX {
                    blocked.insert(peer, Instant::now() + wait);
                }
                too_many_failures(wait)
            }
        }
    }

    /// Takes one call from the principal's allowance, or says when to come back.
    fn admit(&self, actor: &Actor) -> Result<(), Status> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.check_key(&actor.name).map_err(|not_until| {
            ::metrics::counter!(crate::metrics::RATE_LIMITED).increment(1);
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let mut details = ErrorDetails::new();
            details.set_retry_info(Some(wait));
            let ms = wait.as_millis().max(1);
            localized(
                Code::ResourceExhausted,
                format!("rate limit exceeded for {}; retry in {ms} ms", actor.name),
                format!("{} 调用过于频繁，请在 {ms} 毫秒后重试", actor.name),
                details,
            )
        })
    }

    /// Whether any principal can be reached by a client certificate.
    pub fn maps_certificates(&self) -> bool {
        self.by_cert.any()
    }

    /// The principal a verified client certificate names, if any.
    fn by_certificate(&self, der: &[u8]) -> Result<Option<Actor>, Status> {
        self.by_cert.of(der).map_err(|unmapped| match unmapped {
            Unmapped::Unreadable => unauthenticated(
                "the client certificate cannot be read",
                "无法读取客户端证书",
            ),
            Unmapped::Ambiguous => unauthenticated(
                "the client certificate names more than one principal",
                "客户端证书对应多个调用方",
            ),
        })
    }

    /// Finds the caller of a request from its metadata and, over TLS with
    /// client certificates, the certificate the client showed (its first, the
    /// client's own, already verified against the client CA).
    pub fn authenticate_call(
        &self,
        metadata: &tonic::metadata::MetadataMap,
        client_cert: Option<&[u8]>,
    ) -> Result<Actor, Status> {
        let by_cert = match client_cert {
            Some(der) => self.by_certificate(der)?,
            None => None,
        };
        match (by_cert, metadata.contains_key("authorization")) {
            (Some(by_cert), true) => {
                let by_key = self.authenticate(metadata)?;
                if by_key.name != by_cert.name {
                    return Err(unauthenticated(
                        "the bearer key and the client certificate belong to different principals",
                        "密钥与客户端证书不属于同一调用方",
                    ));
                }
                Ok(by_key)
            }
            (Some(by_cert), false) => Ok(by_cert),
            (None, false) if client_cert.is_some() && self.maps_certificates() => {
                Err(unauthenticated(
                    "the client certificate belongs to no principal, and no `authorization: Bearer KEY` was sent",
                    "客户端证书不属于任何调用方，且未发送 `authorization: Bearer 密钥`",
                ))
            }
            (None, _) => self.authenticate(metadata),
        }
    }

    /// Finds the caller of a request from its metadata.
    pub fn authenticate(&self, metadata: &tonic::metadata::MetadataMap) -> Result<Actor, Status> {
        let header = metadata.get("authorization").ok_or_else(|| {
            unauthenticated(
                "missing authorization metadata: send `authorization: Bearer KEY`",
                "缺少身份凭证：请发送 `authorization: Bearer 密钥`",
            )
        })?;
        let value = header.to_str().map_err(|_| {
            unauthenticated(
                "authorization metadata is not text",
                "authorization 不是文本",
            )
        })?;
        // The scheme is case-insensitive (RFC 9110 §11.1): `BEARER k` is `Bearer k`.
        let key = value
            .trim_start()
            .split_once(char::is_whitespace)
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, key)| key.trim())
            .ok_or_else(|| {
                unauthenticated(
                    "authorization must be `Bearer KEY`",
                    "authorization 应为 `Bearer 密钥`",
                )
            })?;
        let holder = self
            .by_digest
            .get(&key_digest(key))
            .ok_or_else(|| unauthenticated("unknown key", "密钥无效"))?;
        let now = chrono::Utc::now();
        if holder.not_before.is_some_and(|from| now < from) {
            return Err(unauthenticated(
                "this key is not valid yet",
                "该密钥尚未生效",
            ));
        }
        if holder.not_after.is_some_and(|until| now >= until) {
            return Err(unauthenticated("this key has expired", "该密钥已过期"));
        }
        Ok(holder.actor.clone())
    }

    /// A tonic interceptor that puts the caller into the request's extensions.
    pub fn interceptor(
        &self,
    ) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone + Send + Sync + 'static {
        let this = self.clone();
        move |mut request: Request<()>| {
            let peer = request.remote_addr().map(|a| a.ip());
            let certs = request.peer_certs();
            let client_cert = certs.as_deref().and_then(|c| c.first()).map(|c| c.as_ref());
            // The credential first: a valid one is never held off for what
            // others at the same address sent.
            let actor = this
                .authenticate_call(request.metadata(), client_cert)
                .map_err(|refusal| match this.check_blocked(peer) {
                    Err(held) => held,
                    Ok(()) => this.failed(peer, refusal),
                })?;
            this.admit(&actor)?;
            request.extensions_mut().insert(actor);
            Ok(request)
        }
    }
}

fn too_many_failures(wait: Duration) -> Status {
    let mut details = ErrorDetails::new();
    details.set_retry_info(Some(wait));
    let ms = wait.as_millis().max(1);
    localized(
        Code::ResourceExhausted,
        format!("too many failed authentications from this address; retry in {ms} ms"),
        format!("该地址身份验证失败次数过多，请在 {ms} 毫秒后重试"),
        details,
    )
}

fn unauthenticated(en: &str, zh: &str) -> Status {
    localized(Code::Unauthenticated, en, zh, ErrorDetails::new())
}

/// The caller the interceptor established, recorded on the RPC's span so the
/// access log names who called.
pub fn caller<T>(request: &Request<T>) -> Result<Actor, Status> {
    let actor = request
        .extensions()
        .get::<Actor>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("no caller"))?;
    tracing::Span::current().record("caller", actor.name.as_str());
    Ok(actor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::PrincipalRole;
    use tonic_types::StatusExt;

    fn authenticator(limit: RateLimit) -> Authenticator {
        let principals: HashMap<String, PrincipalSettings> = ["a", "b"]
            .map(|name| {
                let p = PrincipalSettings {
                    role: PrincipalRole::Supervisor,
                    office: None,
                    department: None,
                    key_sha256: Some(key_digest(name)),
                    key_sha256_file: None,
                    keys: Vec::new(),
                    cert_subjects: Vec::new(),
                    cert_sans: Vec::new(),
                    emails: Vec::new(),
                };
                (name.to_owned(), p)
            })
            .into_iter()
            .collect();
        Authenticator::new(&principals, limit).unwrap()
    }

    fn metadata(key: &str) -> tonic::metadata::MetadataMap {
        let mut m = tonic::metadata::MetadataMap::new();
        m.insert("authorization", format!("Bearer {key}").parse().unwrap());
        m
    }

    #[test]
    fn each_key_has_its_own_allowance() {
        let auth = authenticator(RateLimit {
            per_second: 1,
            burst: 3,
        });
        let a = auth.authenticate(&metadata("a")).unwrap();
        let b = auth.authenticate(&metadata("b")).unwrap();
        for _ in 0..3 {
            auth.admit(&a).unwrap();
        }
        let refused = auth.admit(&a).unwrap_err();
        assert_eq!(refused.code(), Code::ResourceExhausted);
        assert!(refused.get_details_retry_info().is_some());
        auth.admit(&b).expect("another key is not affected");
    }

    #[test]
    fn zero_turns_the_limit_off() {
        let auth = authenticator(RateLimit {
            per_second: 0,
            burst: 0,
        });
        let a = auth.authenticate(&metadata("a")).unwrap();
        for _ in 0..1000 {
            auth.admit(&a).unwrap();
        }
    }

    #[test]
    fn unknown_and_malformed_keys_are_unauthenticated() {
        let auth = authenticator(RateLimit {
            per_second: 0,
            burst: 0,
        });
        assert_eq!(
            auth.authenticate(&metadata("c")).unwrap_err().code(),
            Code::Unauthenticated
        );
        let mut m = tonic::metadata::MetadataMap::new();
        m.insert("authorization", "Basic a".parse().unwrap());
        assert_eq!(
            auth.authenticate(&m).unwrap_err().code(),
            Code::Unauthenticated
        );
        assert_eq!(
            auth.authenticate(&tonic::metadata::MetadataMap::new())
                .unwrap_err()
                .code(),
            Code::Unauthenticated
        );
    }

    #[test]
    fn the_scheme_is_matched_without_regard_to_case() {
        let auth = authenticator(RateLimit {
            per_second: 0,
            burst: 0,
        });
        for value in [
            "Bearer a",
            "bearer a",
            "BEARER a",
            "BeArEr   a ",
            "Bearer\ta",
        ] {
            let mut m = tonic::metadata::MetadataMap::new();
            m.insert("authorization", value.parse().unwrap());
            assert_eq!(auth.authenticate(&m).unwrap().name, "a", "{value:?}");
        }
        for value in ["Bearera", "Basic a", "Bearer"] {
            let mut m = tonic::metadata::MetadataMap::new();
            m.insert("authorization", value.parse().unwrap());
            assert!(auth.authenticate(&m).is_err(), "{value:?}");
        }
    }

    #[test]
    fn a_peer_that_fails_too_often_is_held_off_and_others_are_not() {
        let auth = authenticator(RateLimit {
            per_second: 0,
            burst: 0,
        })
        .with_failure_limit(3);
        let bad: IpAddr = "192.0.2.1".parse().unwrap();
        let good: IpAddr = "192.0.2.2".parse().unwrap();
        let refusal = || unauthenticated("unknown key", "密钥无效");
        for _ in 0..3 {
            assert_eq!(
                auth.failed(Some(bad), refusal()).code(),
                Code::Unauthenticated
            );
        }
        let held = auth.failed(Some(bad), refusal());
        assert_eq!(held.code(), Code::ResourceExhausted);
        assert!(held.get_details_retry_info().is_some());
        assert!(auth.check_blocked(Some(bad)).is_err(), "a wrong key waits");
        auth.check_blocked(Some(good))
            .expect("another address is not held");
        assert_eq!(
            auth.failed(Some(good), refusal()).code(),
            Code::Unauthenticated
        );
    }

    #[test]
    fn a_key_is_good_only_between_its_times_so_keys_rotate_without_downtime() {
        use crate::settings::KeySettings;
        let now = chrono::Utc::now().fixed_offset();
        let hour = chrono::Duration::hours(1);
        let key = |name: &str, from: Option<_>, until: Option<_>| KeySettings {
            sha256: key_digest(name),
            not_before: from,
            not_after: until,
        };
        let p = PrincipalSettings {
            role: PrincipalRole::Supervisor,
            office: None,
            department: None,
            key_sha256: None,
            key_sha256_file: None,
            keys: vec![
                key("old", None, Some(now + hour)),
                key("new", Some(now - hour), None),
                key("gone", None, Some(now - hour)),
                key("later", Some(now + hour), None),
            ],
            cert_subjects: Vec::new(),
            cert_sans: Vec::new(),
            emails: Vec::new(),
        };
        let principals: HashMap<String, PrincipalSettings> =
            [("rotating".to_owned(), p)].into_iter().collect();
        let auth = Authenticator::new(
            &principals,
            RateLimit {
                per_second: 0,
                burst: 0,
            },
        )
        .unwrap();
        assert_eq!(
            auth.authenticate(&metadata("old")).unwrap().name,
            "rotating"
        );
        assert_eq!(
            auth.authenticate(&metadata("new")).unwrap().name,
            "rotating"
        );
        let gone = auth.authenticate(&metadata("gone")).unwrap_err();
        assert_eq!(gone.code(), Code::Unauthenticated);
        assert!(gone.message().contains("expired"), "{}", gone.message());
        let later = auth.authenticate(&metadata("later")).unwrap_err();
        assert!(
            later.message().contains("not valid yet"),
            "{}",
            later.message()
        );
    }

    /// A client certificate's DER with this common name and these DNS names
    /// or URIs; who signed it does not matter here, rustls has checked that.
    fn certificate(common_name: &str, sans: &[&str]) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::default();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        params.subject_alt_names = sans
            .iter()
            .map(|san| match san.contains(':') {
                true => rcgen::SanType::URI(san.to_string().try_into().unwrap()),
                false => rcgen::SanType::DnsName(san.to_string().try_into().unwrap()),
            })
            .collect();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    fn with_certificates() -> Authenticator {
        let principal = |department: &str, subjects: &[&str], sans: &[&str]| PrincipalSettings {
            role: PrincipalRole::Department,
            office: None,
            department: Some(department.to_owned()),
            key_sha256: Some(key_digest(department)),
            key_sha256_file: None,
            keys: Vec::new(),
            cert_subjects: subjects.iter().map(|s| s.to_string()).collect(),
            cert_sans: sans.iter().map(|s| s.to_string()).collect(),
            emails: Vec::new(),
        };
        let principals: HashMap<String, PrincipalSettings> = [
            (
                "housing-system",
                principal("housing", &["housing-system"], &[]),
            ),
            (
                "land-system",
                principal("land", &[], &["Land.Example.gov.cn", "spiffe://gov/land"]),
            ),
        ]
        .into_iter()
        .map(|(name, p)| (name.to_owned(), p))
        .collect();
        Authenticator::new(
            &principals,
            RateLimit {
                per_second: 0,
                burst: 0,
            },
        )
        .unwrap()
    }

    #[test]
    fn a_certificate_is_the_principal_its_subject_or_alternative_name_names() {
        let auth = with_certificates();
        let none = tonic::metadata::MetadataMap::new();
        let by = |der: &[u8]| auth.authenticate_call(&none, Some(der));
        assert_eq!(
            by(&certificate("housing-system", &[])).unwrap().name,
            "housing-system"
        );
        assert_eq!(
            by(&certificate("x", &["land.example.gov.cn"]))
                .unwrap()
                .name,
            "land-system",
            "DNS names match without regard to case"
        );
        assert_eq!(
            by(&certificate("x", &["spiffe://gov/land"])).unwrap().name,
            "land-system"
        );
        let unknown = by(&certificate("x", &["spiffe://gov/LAND"])).unwrap_err();
        assert_eq!(unknown.code(), Code::Unauthenticated);
        let both = by(&certificate("housing-system", &["land.example.gov.cn"])).unwrap_err();
        assert!(both.message().contains("more than one"), "{both:?}");
        let unreadable = by(b"not a certificate").unwrap_err();
        assert_eq!(unreadable.code(), Code::Unauthenticated);
    }

    #[test]
    fn a_key_beside_a_certificate_must_be_the_same_principals() {
        let auth = with_certificates();
        let housing = certificate("housing-system", &[]);
        assert_eq!(
            auth.authenticate_call(&metadata("housing"), Some(&housing))
                .unwrap()
                .name,
            "housing-system"
        );
        let other = auth
            .authenticate_call(&metadata("land"), Some(&housing))
            .unwrap_err();
        assert!(
            other.message().contains("different principals"),
            "{other:?}"
        );
        // A certificate of nobody's is only a way in: the key decides.
        assert_eq!(
            auth.authenticate_call(&metadata("land"), Some(&certificate("x", &[])))
                .unwrap()
                .name,
            "land-system"
        );
        assert_eq!(
            auth.authenticate_call(&metadata("land"), None)
                .unwrap()
                .name,
            "land-system"
        );
    }

    #[test]
    fn one_certificate_name_for_two_principals_is_refused_at_start_up() {
        let p = |subject: &str| PrincipalSettings {
            role: PrincipalRole::Supervisor,
            office: None,
            department: None,
            key_sha256: None,
            key_sha256_file: None,
            keys: Vec::new(),
            cert_subjects: vec![subject.to_owned()],
            cert_sans: Vec::new(),
            emails: Vec::new(),
        };
        let principals: HashMap<String, PrincipalSettings> =
            [("a".to_owned(), p("shared")), ("b".to_owned(), p("shared"))]
                .into_iter()
                .collect();
        let error = Authenticator::new(
            &principals,
            RateLimit {
                per_second: 0,
                burst: 0,
            },
        )
        .unwrap_err();
        assert!(error.to_string().contains("\"shared\" is also"), "{error}");
    }

    #[test]
    fn the_demo_key_digest_matches_the_demo_config() {
        assert_eq!(
            key_digest("demo-office-cuiping"),
            "fd2741b444053b5d470314062340926564922a9c1719cb20b0b7eb31ff08e35e"
        );
    }
}
