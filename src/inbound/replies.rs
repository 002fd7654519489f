//! The inbox behind the SMTP listener: reply addresses are `reply+TOKEN@domain`,
//! taken at RCPT only while their link still takes answers; a message is
//! parsed and handed to the use cases as the department's acknowledgement,
//! progress note or reply. What the listener answers is what the sender's mail
//! server tells the sender: a refusal after DATA comes back to them as a
//! bounce naming the reason.
//!
//! Each reply address and each envelope sender has an allowance of messages
//! an hour, as the reply page has per link and per address: beyond it a
//! recipient is answered 451 (try later), before the message is sent. An
//! automatic answer or a bounce is kept for the record as its headers and
//! the start of its body, not whole: a robot's mail loop cannot fill the
//! database.

use std::num::NonZeroU32;
use std::sync::Arc;

use async_trait::async_trait;
use governor::{DefaultKeyedRateLimiter, Quota};

use super::listener::{Envelope, Inbox, Refusal};
use super::message::{self, Command, Kind, ParseError};
use crate::domain::reply_sender::SenderEvidence;
use crate::domain::{DomainError, MailCommand};
use crate::service::{self, MailAnswer, MailKind, MailOutcome, NewAttachment, Whistle};

/// What the inbox takes, besides the domain of its addresses.
#[derive(Debug, Clone, Default)]
pub struct InboxPolicy {
    /// The authserv-ids of the organisation's own mail servers, lowercase:
    /// their `Authentication-Results` are believed, and then required.
    pub trusted_authserv_ids: Vec<String>,
    /// Messages an hour through one reply address; 0: no limit.
    pub per_address_per_hour: u32,
    /// Messages an hour from one envelope sender; 0: no limit.
    pub per_sender_per_hour: u32,
}

type Limiter = Option<Arc<DefaultKeyedRateLimiter<String>>>;

fn limiter(per_hour: u32) -> Limiter {
    NonZeroU32::new(per_hour).map(|n| Arc::new(DefaultKeyedRateLimiter::keyed(Quota::per_hour(n))))
}

/// Keys remembered by a limiter before the quiet ones are forgotten.
const LIMITER_KEYS: usize = 10_000;

/// Takes one message from `key`'s allowance; false when it has none left.
fn admit(limiter: &Limiter, key: &str) -> bool {
    let Some(limiter) = limiter else {
        return true;
    };
    if limiter.len() > LIMITER_KEYS {
        limiter.retain_recent();
    }
    limiter.check_key(&key.to_owned()).is_ok()
}

/// Bytes of an automatic answer's body kept after its headers.
pub const AUTOMATIC_BODY_KEPT: usize = 4096;

/// An automatic answer or a bounce as kept: its headers and the first
/// `AUTOMATIC_BODY_KEPT` bytes of its body, under a header that says how much
/// was cut. A message that short is kept whole.
fn cut_automatic(raw: Vec<u8>) -> Vec<u8> {
    let body_at = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| i + 2))
        .unwrap_or(raw.len());
    let body = raw.len() - body_at;
    if body <= AUTOMATIC_BODY_KEPT {
        return raw;
    }
    let mut kept = format!(
        "X-Whistle-Cut: the body is cut to its first {AUTOMATIC_BODY_KEPT} of {body} bytes \
         (an automatic answer)\r\n"
    )
    .into_bytes();
    kept.extend_from_slice(&raw[..body_at + AUTOMATIC_BODY_KEPT]);
    kept
}

#[derive(Clone)]
pub struct ReplyInbox {
    pub whistle: Whistle,
    /// The domain of reply addresses, lowercase.
    pub domain: String,
    pub policy: InboxPolicy,
    per_address: Limiter,
    per_sender: Limiter,
}

impl std::fmt::Debug for ReplyInbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplyInbox")
            .field("domain", &self.domain)
            .field("policy", &self.policy)
            .finish()
    }
}

/// The token of a reply address on our domain, if it is one.
fn token_of<'a>(address: &'a str, domain: &str) -> Option<&'a str> {
    let (local, host) = address.rsplit_once('@')?;
    if !host.eq_ignore_ascii_case(domain) {
        return None;
    }
    let token = local.strip_prefix("reply+")?;
    Some(token)
}

fn no_such_address() -> Refusal {
    Refusal::permanent("5.1.1", "no such reply address")
}

/// A service error as an SMTP answer: the caller's fault is permanent, ours is
/// temporary (the sender's server tries again later).
fn refusal(e: service::Error) -> Refusal {
    match e {
        service::Error::Refused(DomainError::NotFound { .. }) => no_such_address(),
        service::Error::Refused(DomainError::WrongState(m)) => {
            Refusal::permanent("5.7.1", m.en.clone())
        }
        service::Error::Refused(other) => Refusal::permanent("5.7.1", other.to_string()),
        other => {
            tracing::warn!(error = ?other, "reply mail could not be taken now");
            Refusal::temporary("4.3.0", "try again later")
        }
    }
}

impl ReplyInbox {
    /// What the message says about its sender; the organisation's servers'
    /// word only when they are trusted.
    fn evidence(
        &self,
        envelope: &Envelope,
        from: Vec<String>,
        authentication: &[super::auth_results::Vouched],
    ) -> SenderEvidence {
        let trusted = &self.policy.trusted_authserv_ids;
        SenderEvidence {
            from,
            envelope: envelope.mail_from.trim().to_lowercase(),
            vouched: (!trusted.is_empty()).then(|| {
                authentication
                    .iter()
                    .filter(|v| trusted.contains(&v.authserv_id))
                    .flat_map(|v| v.domains.iter().cloned())
                    .collect()
            }),
        }
    }
}

#[async_trait]
impl Inbox for ReplyInbox {
    async fn recipient(&self, mail_from: &str, address: &str) -> Result<(), Refusal> {
        let token = token_of(address, &self.domain)
            .ok_or_else(no_such_address)?
            .to_ascii_lowercase();
        self.whistle.mail_recipient(&token).await.map_err(refusal)?;
        let sender = match mail_from.trim() {
            "" => "<>".to_owned(),
            from => from.to_lowercase(),
        };
        if !admit(&self.per_address, &token) {
            tracing::info!("reply mail over its reply address's allowance");
            return Err(Refusal::temporary(
                "4.7.1",
                "too many messages to this reply address; try again later",
            ));
        }
        if !admit(&self.per_sender, &sender) {
            tracing::info!("reply mail over its sender's allowance");
            return Err(Refusal::temporary(
                "4.7.1",
                "too many messages from this sender; try again later",
            ));
        }
        Ok(())
    }

    async fn deliver(&self, envelope: Envelope, data: Vec<u8>) -> Result<(), Refusal> {
        let parsed = message::parse(&data);
        let answer = match parsed {
            Ok(m) => {
                let evidence = self.evidence(&envelope, m.from_all.clone(), &m.authentication);
                let kind = match m.kind {
                    Kind::Human => MailKind::Human,
                    Kind::AutoReply => MailKind::AutoReply,
                    Kind::Bounce => MailKind::Bounce,
                };
                MailAnswer {
                    message_id: m.message_id.unwrap_or_default(),
                    sender: evidence.reply_to().unwrap_or_default().to_owned(),
                    evidence,
                    subject: m.subject,
                    kind,
                    command: match m.command {
                        Command::Acknowledge => MailCommand::Acknowledge,
                        Command::Progress => MailCommand::Progress(m.text),
                        Command::Reply => MailCommand::Reply(m.text),
                    },
                    attachments: m
                        .attachments
                        .into_iter()
                        .map(|a| NewAttachment {
                            filename: a.filename,
                            content_type: a.content_type,
                            bytes: a.bytes,
                        })
                        .collect(),
                    raw: if kind == MailKind::Human {
                        data
                    } else {
                        cut_automatic(data)
                    },
                }
            }
            // Kept and refused by the use case, which says why.
            Err(ParseError::Empty) => MailAnswer {
                message_id: String::new(),
                sender: envelope.mail_from.to_lowercase(),
                evidence: {
                    let (from, authentication) = message::senders(&data);
                    self.evidence(&envelope, from, &authentication)
                },
                subject: String::new(),
                kind: if envelope.mail_from.is_empty() {
                    MailKind::Bounce
                } else {
                    MailKind::Human
                },
                command: MailCommand::Reply(String::new()),
                attachments: Vec::new(),
                raw: data,
            },
            Err(ParseError::NotMail) => {
                return Err(Refusal::permanent("5.6.0", "not an e-mail message"));
            }
        };
        // One message to several reply addresses answers each of them.
        let mut last = Ok(());
        for address in &envelope.recipients {
            let Some(token) = token_of(address, &self.domain) else {
                continue;
            };
            let outcome = self
                .whistle
                .take_mail(&token.to_ascii_lowercase(), answer.clone())
                .await
                .map_err(refusal)?;
            tracing::info!(outcome = ?outcome_name(&outcome), "reply mail taken");
            if let MailOutcome::Refused(why) = outcome {
                last = Err(Refusal::permanent("5.7.1", why));
            }
        }
        last
    }
}

fn outcome_name(outcome: &MailOutcome) -> &'static str {
    match outcome {
        MailOutcome::Recorded(MailCommand::Acknowledge) => "acknowledged",
        MailOutcome::Recorded(MailCommand::Progress(_)) => "progress noted",
        MailOutcome::Recorded(MailCommand::Reply(_)) => "replied",
        MailOutcome::Ignored(MailKind::Bounce) => "bounce kept",
        MailOutcome::Ignored(_) => "automatic answer kept",
        MailOutcome::Duplicate => "duplicate",
        MailOutcome::Refused(_) => "refused",
    }
}

/// An inbox over the use cases, for the listener.
pub fn inbox(whistle: Whistle, domain: &str, policy: InboxPolicy) -> Arc<dyn Inbox> {
    Arc::new(ReplyInbox {
        whistle,
        domain: domain.trim().to_lowercase(),
        per_address: limiter(policy.per_address_per_hour),
        per_sender: limiter(policy.per_sender_per_hour),
        policy: InboxPolicy {
            trusted_authserv_ids: policy
                .trusted_authserv_ids
                .iter()
                .map(|id| id.trim().to_ascii_lowercase())
                .filter(|id| !id.is_empty())
                .collect(),
            ..policy
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_automatic_answer_is_kept_as_its_headers_and_the_start_of_its_body() {
        let short = b"Subject: Auto\r\n\r\nout of office".to_vec();
        assert_eq!(cut_automatic(short.clone()), short);
        let mut long = b"Subject: Auto\r\nAuto-Submitted: auto-replied\r\n\r\n".to_vec();
        let headers = long.len();
        long.extend(std::iter::repeat_n(b'x', 1 << 20));
        let kept = cut_automatic(long);
        let text = String::from_utf8(kept.clone()).unwrap();
        assert!(
            text.starts_with("X-Whistle-Cut: the body is cut to its first 4096 of 1048576 bytes"),
            "{}",
            &text[..120]
        );
        assert!(text.contains("Auto-Submitted: auto-replied\r\n\r\nxxx"));
        assert!(kept.len() < headers + AUTOMATIC_BODY_KEPT + 200);
    }

    #[test]
    fn only_reply_addresses_on_our_domain_carry_tokens() {
        assert_eq!(
            token_of("reply+abc@Reply.Example", "reply.example"),
            Some("abc")
        );
        assert_eq!(token_of("reply+abc@other.example", "reply.example"), None);
        assert_eq!(token_of("someone@reply.example", "reply.example"), None);
        assert_eq!(token_of("reply+abc", "reply.example"), None);
    }
}
