//! The inbox behind the SMTP listener: reply addresses are `reply+TOKEN@domain`,
//! taken at RCPT only while their link still takes answers; a message is
//! parsed and handed to the use cases as the department's acknowledgement,
//! progress note or reply. What the listener answers is what the sender's mail
//! server tells the sender: a refusal after DATA comes back to them as a
//! bounce naming the reason.

use std::sync::Arc;

use async_trait::async_trait;

use super::listener::{Envelope, Inbox, Refusal};
use super::message::{self, Command, Kind, ParseError};
use crate::domain::{DomainError, MailCommand};
use crate::service::{self, MailAnswer, MailKind, MailOutcome, NewAttachment, Whistle};

#[derive(Debug, Clone)]
pub struct ReplyInbox {
    pub whistle: Whistle,
    /// The domain of reply addresses, lowercase.
    pub domain: String,
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

#[async_trait]
impl Inbox for ReplyInbox {
    async fn recipient(&self, address: &str) -> Result<(), Refusal> {
        let token = token_of(address, &self.domain).ok_or_else(no_such_address)?;
        self.whistle
            .mail_recipient(&token.to_ascii_lowercase())
            .await
            .map_err(refusal)
    }

    async fn deliver(&self, envelope: Envelope, data: Vec<u8>) -> Result<(), Refusal> {
        let parsed = message::parse(&data);
        let answer = match parsed {
            Ok(m) => MailAnswer {
                message_id: m.message_id.unwrap_or_default(),
                sender: m.from.unwrap_or_else(|| envelope.mail_from.to_lowercase()),
                subject: m.subject,
                kind: match m.kind {
                    Kind::Human => MailKind::Human,
                    Kind::AutoReply => MailKind::AutoReply,
                    Kind::Bounce => MailKind::Bounce,
                },
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
                raw: data,
            },
            // Kept and refused by the use case, which says why.
            Err(ParseError::Empty) => MailAnswer {
                message_id: String::new(),
                sender: envelope.mail_from.to_lowercase(),
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
pub fn inbox(whistle: Whistle, domain: &str) -> Arc<dyn Inbox> {
    Arc::new(ReplyInbox {
        whistle,
        domain: domain.trim().to_lowercase(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
