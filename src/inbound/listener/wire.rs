//! The listener's wire: bounded reads of command lines and message data, and the
//! reply lines we write back. Kept apart from the conversation so what reaches
//! memory and what reaches the client can be read in one place.

use std::io;

use smtp_proto::request::receiver::DataReceiver;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use super::Refusal;

/// Longest command line we buffer. RFC 5321 allows 512 octets plus extension
/// parameters; 4 KiB is generous and keeps a hostile client from growing memory.
pub(super) const MAX_COMMAND_LINE: usize = 4096;

/// One line read from the client, bounded.
pub(super) enum Line {
    Complete(Vec<u8>),
    /// Longer than [`MAX_COMMAND_LINE`]; its bytes were read and dropped.
    TooLong,
    Closed,
}

/// What the DATA phase produced.
pub(super) enum Data {
    Complete(Vec<u8>),
    /// Over the limit; read to the final dot but not kept.
    TooBig,
    Closed,
}

/// The reply line for an inbox's refusal. Its text goes on the wire, so it is
/// kept to one printable line (no reply injection), and its codes are made
/// well formed so the sender retries or gives up as the inbox meant.
pub(super) fn refusal_line(refusal: &Refusal) -> String {
    let text: String = refusal
        .message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if !(400..600).contains(&refusal.code) {
        return format!("451 4.3.0 {text}\r\n");
    }
    let class = if refusal.code >= 500 { "5." } else { "4." };
    let enhanced = if is_enhanced_code(&refusal.enhanced) && refusal.enhanced.starts_with(class) {
        refusal.enhanced.clone()
    } else {
        format!("{class}0.0")
    };
    format!("{} {enhanced} {text}\r\n", refusal.code)
}

/// Whether `code` looks like "class.subject.detail" (RFC 3463).
fn is_enhanced_code(code: &str) -> bool {
    let parts: Vec<&str> = code.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

/// The reply to a line `smtp-proto` could not parse.
pub(super) fn parse_error_reply(error: &smtp_proto::Error) -> (u16, &'static str, String) {
    use smtp_proto::Error;
    match error {
        Error::UnknownCommand => (500, "5.5.2", "command unrecognized".into()),
        Error::InvalidSenderAddress => (501, "5.1.7", "bad sender address".into()),
        Error::InvalidRecipientAddress => (501, "5.1.3", "bad recipient address".into()),
        Error::SyntaxError { syntax } => (501, "5.5.4", format!("syntax: {syntax}")),
        Error::InvalidParameter { param } => (501, "5.5.4", format!("invalid {param}")),
        Error::UnsupportedParameter { .. } => (555, "5.5.4", "unsupported parameter".into()),
        // A whole line that still "needs more data" is malformed.
        _ => (500, "5.5.2", "syntax error".into()),
    }
}

/// Reads one line up to LF, dropping (not buffering) lines over
/// [`MAX_COMMAND_LINE`].
pub(super) async fn read_line<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> io::Result<Line> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(Line::Closed);
        }
        let (chunk, complete) = match available.iter().position(|&b| b == b'\n') {
            Some(end) => (&available[..=end], true),
            None => (available, false),
        };
        let used = chunk.len();
        if !too_long {
            if line.len() + chunk.len() > MAX_COMMAND_LINE {
                too_long = true;
                line = Vec::new();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        reader.consume(used);
        if complete {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Complete(line)
            });
        }
    }
}

/// Reads message data to the final dot, unstuffed; stops keeping it once over
/// `max` so a large message costs at most `max` plus one read buffer.
pub(super) async fn read_data<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    max: usize,
) -> io::Result<Data> {
    let mut receiver = DataReceiver::new();
    // The receiver looks for CRLF "." to unstuff and to end; the CRLF that
    // ended the DATA command counts, so a first line "." or ".." is seen too.
    receiver.ingest(&mut b"\r\n".iter(), &mut Vec::new());
    let mut body = Vec::new();
    let mut too_big = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(Data::Closed);
        }
        let mut bytes = available.iter();
        let done = receiver.ingest(&mut bytes, &mut body);
        let used = available.len() - bytes.as_slice().len();
        reader.consume(used);
        if body.len() > max {
            too_big = true;
            body = Vec::new();
        }
        if done {
            return Ok(if too_big {
                Data::TooBig
            } else {
                Data::Complete(body)
            });
        }
    }
}

/// An address fit for the log: the local part of a reply address carries a
/// secret token, so only its tag before `+` and the domain are kept.
pub(super) fn redact(address: &str) -> String {
    let (local, domain) = address.rsplit_once('@').unwrap_or((address, ""));
    let tag = local.split_once('+').map(|(tag, _)| tag);
    match (tag, domain.is_empty()) {
        (Some(tag), false) => format!("{tag}+…@{domain}"),
        (Some(tag), true) => format!("{tag}+…"),
        (None, false) => format!("…@{domain}"),
        (None, true) if address.is_empty() => "<>".into(),
        (None, true) => "…".into(),
    }
}
