//! The `Authentication-Results` headers (RFC 8601) a message carries: which
//! server wrote each (its authserv-id) and which domains it vouches for.
//! Only the organisation's own mail server is believed (the replies' inbox
//! keeps the headers whose authserv-id is trusted), and such a server removes
//! any header with its own id that arrived from outside.
//!
//! The header is read by the `msg-auth-status` crate, which parses the SPF
//! and DKIM results with their properties. It does not read `dmarc=` results
//! (they come back as unknown), and none is needed: a DMARC pass is an SPF
//! or DKIM pass for the author's domain, which is what is read here.

use msg_auth_status::alloc_yes::AuthenticationResults;
use msg_auth_status::dkim::DkimResultCode;
use msg_auth_status::mail_parser::HeaderValue;
use msg_auth_status::spf::SpfResultCode;

/// What one `Authentication-Results` header vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vouched {
    /// The server that wrote it, lowercase.
    pub authserv_id: String,
    /// Domains with a pass: the envelope sender's for SPF, the signer's
    /// (`header.d`) for DKIM; lowercase.
    pub domains: Vec<String>,
}

/// Headers read at most: a message with more is someone's game.
const MAX_HEADERS: usize = 20;

/// The longest header value read.
const MAX_VALUE: usize = 4096;

/// What each of `values` (the headers' raw values, unfolded) vouches for;
/// one that does not parse vouches for nothing.
pub fn read<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Vouched> {
    values
        .into_iter()
        .take(MAX_HEADERS)
        .filter(|v| v.len() <= MAX_VALUE)
        .filter_map(one)
        .collect()
}

fn one(value: &str) -> Option<Vouched> {
    let value = HeaderValue::Text(value.trim().into());
    let parsed = AuthenticationResults::from(&value);
    let host = parsed.host.as_ref()?;
    // A header that did not parse whole may have been cut where a pass was
    // made up: it vouches for nothing.
    if !parsed.errors.is_empty() {
        return None;
    }
    let spf = parsed
        .spf_result
        .iter()
        .filter(|r| r.code == SpfResultCode::Pass)
        .filter_map(|r| r.smtp_mailfrom)
        .filter_map(|from| from.rsplit_once('@').map(|(_, d)| d).or(Some(from)));
    let dkim = parsed
        .dkim_result
        .iter()
        .filter(|r| r.code == DkimResultCode::Pass)
        .filter_map(|r| r.header_d);
    let domains = spf
        .chain(dkim)
        .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .collect();
    Some(Vouched {
        authserv_id: host.host.trim().to_ascii_lowercase(),
        domains,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_name_their_domains_and_fails_none() {
        let read = read([
            "mx.zjj.example.gov.cn; spf=pass smtp.mailfrom=liu@ZJJ.example.gov.cn; \
             dkim=pass header.d=zjj.example.gov.cn header.s=s1; dmarc=pass header.from=zjj.example.gov.cn",
            "mx.zjj.example.gov.cn;\r\n\tspf=fail (not allowed) smtp.mailfrom=x@evil.example;\r\n\t\
             dkim=fail header.d=evil.example; dmarc=fail header.from=zjj.example.gov.cn",
            "Other.Example; spf=pass (other.example: designates 192.0.2.1) smtp.mailfrom=a@b.example",
            "mx.zjj.example.gov.cn 1; none",
        ]);
        let found: Vec<(&str, Vec<&str>)> = read
            .iter()
            .map(|v| {
                (
                    v.authserv_id.as_str(),
                    v.domains.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                (
                    "mx.zjj.example.gov.cn",
                    vec!["zjj.example.gov.cn", "zjj.example.gov.cn"]
                ),
                ("mx.zjj.example.gov.cn", vec![]),
                ("other.example", vec!["b.example"]),
                ("mx.zjj.example.gov.cn", vec![]),
            ]
        );
    }

    #[test]
    fn what_does_not_parse_vouches_for_nothing() {
        assert!(
            read(["garbage ;;; = =", "", ";"])
                .iter()
                .all(|v| v.domains.is_empty())
        );
        let long = format!(
            "mx.example; spf=pass smtp.mailfrom=a@b.example; {}",
            "x".repeat(5000)
        );
        assert!(read([long.as_str()]).is_empty());
    }
}
