//! One post to a robot and what its answer means. The vendors answer HTTP
//! 200 with an error code in the body; 0 is success, a rate-limit code
//! means "later, without counting it a failure", anything else is a failure
//! to retry with backoff (a bad signature, a missing keyword, an address
//! gone: the operator's to mend, and it shows in the metrics meanwhile).

use chrono::{DateTime, Utc};

use super::message::{Message, Notice, pack};
use super::{Channel, ChannelKind, dingtalk, feishu, wecom};

/// What is posted.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub url: reqwest::Url,
    pub body: serde_json::Value,
}

/// What the vendor's answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Delivered,
    RateLimited(String),
    Failed(String),
}

/// The request for `message` to `channel` at `now` (the moment signed).
pub fn request(channel: &Channel, message: &Message, now: DateTime<Utc>) -> Request {
    match channel.kind {
        ChannelKind::Wecom => wecom::request(channel, message, now),
        ChannelKind::Dingtalk => dingtalk::request(channel, message, now),
        ChannelKind::Feishu => feishu::request(channel, message, now),
    }
}

/// The notices merged into as few messages as the vendor's size allows.
pub fn messages(channel: &Channel, notices: Vec<Notice>) -> Vec<Message> {
    let size = |m: &Message| match channel.kind {
        ChannelKind::Wecom => wecom::size(m),
        ChannelKind::Dingtalk => dingtalk::size(m),
        ChannelKind::Feishu => feishu::size(m),
    };
    // A little room below the limit for what the vendor may count otherwise.
    pack(notices, |m| {
        let (bytes, max) = size(m);
        bytes + 64 > max
    })
}

pub fn answer(kind: ChannelKind, status: u16, body: &str) -> Answer {
    match kind {
        ChannelKind::Wecom => wecom::answer(status, body),
        ChannelKind::Dingtalk => dingtalk::answer(status, body),
        ChannelKind::Feishu => feishu::answer(status, body),
    }
}

/// Reads `{code_field: 0, msg_field: "…"}`.
pub(super) fn errcode_answer(
    status: u16,
    body: &str,
    code_field: &str,
    msg_field: &str,
    rate_limited: &[i64],
) -> Answer {
    if status == 429 {
        return Answer::RateLimited(format!("HTTP 429: {}", clip(body)));
    }
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let code = parsed
        .as_ref()
        .and_then(|v| v.get(code_field))
        .and_then(serde_json::Value::as_i64);
    let msg = parsed
        .as_ref()
        .and_then(|v| v.get(msg_field))
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    match code {
        Some(0) if (200..300).contains(&status) => Answer::Delivered,
        Some(code) if rate_limited.contains(&code) => {
            Answer::RateLimited(format!("{code_field} {code}: {}", clip(msg)))
        }
        Some(code) => Answer::Failed(format!("{code_field} {code}: {}", clip(msg))),
        None => Answer::Failed(format!("HTTP {status}: {}", clip(body))),
    }
}

fn clip(s: &str) -> String {
    s.chars().take(200).collect()
}

/// Posts over HTTPS, one client for every channel.
#[derive(Debug, Clone)]
pub struct Poster {
    client: reqwest::Client,
}

impl Poster {
    pub fn new(timeout: std::time::Duration) -> Self {
        Self {
            client: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .unwrap_or_default(),
        }
    }

    /// Posts `message` to `channel`, signed at `now`.
    pub async fn post(&self, channel: &Channel, message: &Message, now: DateTime<Utc>) -> Answer {
        let request = request(channel, message, now);
        let sent = self
            .client
            .post(request.url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/json; charset=utf-8",
            )
            .body(request.body.to_string())
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => return Answer::Failed(format!("not posted: {}", e.without_url())),
        };
        let status = response.status().as_u16();
        match response.text().await {
            Ok(body) => answer(channel.kind, status, &body),
            Err(e) => Answer::Failed(format!("HTTP {status}, answer unread: {}", e.without_url())),
        }
    }
}
