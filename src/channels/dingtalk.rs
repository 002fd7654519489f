//! 钉钉 custom robot (自定义机器人), as documented at
//! https://open.dingtalk.com/document/robots/custom-robot-access (发送消息,
//! 消息类型 markdown) and https://open.dingtalk.com/document/robots/customize-robot-security-settings
//! (安全设置: 加签).
//!
//! - A POST of JSON to the webhook address (`access_token` in its query).
//! - Signed, when the robot has 加签 on: the string to sign is the
//!   timestamp in milliseconds, a newline and the secret; the signature is
//!   HMAC-SHA256 keyed with the secret over that string, Base64 encoded and
//!   then URL encoded; both go in the query as `timestamp` and `sign`. The
//!   vendor refuses a timestamp more than an hour from its own time.
//! - `msgtype = "markdown"` with `markdown.title` (what the conversation list
//!   shows) and `markdown.text`; mentions go in `at.atMobiles`, and the text
//!   must also carry `@mobile` for the mention to show.
//! - The answer is `{"errcode":0,"errmsg":"ok"}`; 130101 is the rate limit
//!   (20 messages a minute per robot); 310000 a bad signature, a timestamp
//!   out of its window, a missing keyword or an address not allowed.

use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;

use super::Channel;
use super::message::Message;
use super::post::{Answer, Request};

pub const RATE_LIMITED: i64 = 130101;
pub const SIGNATURE_REFUSED: i64 = 310000;
/// The vendor's markdown text limit is generous (20,000 bytes); messages are
/// kept to 企业微信's size so the two read alike.
pub const MAX_BYTES: usize = 4096;

/// The signature for `timestamp_ms`, before URL encoding.
pub fn sign(secret: &str, timestamp_ms: i64) -> String {
    let mut mac = Hmac::<sha2_hmac::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(format!("{timestamp_ms}\n{secret}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

pub fn body(message: &Message) -> serde_json::Value {
    let mobiles = message.mobiles();
    let mut text = message.markdown();
    if !mobiles.is_empty() {
        let at: Vec<String> = mobiles.iter().map(|m| format!("@{m}")).collect();
        text.push_str(&at.join(" "));
        text.push('\n');
    }
    json!({
        "msgtype": "markdown",
        "markdown": {"title": message.title(), "text": text},
        "at": {"atMobiles": mobiles, "isAtAll": false},
    })
}

pub fn size(message: &Message) -> (usize, usize) {
    (
        message.markdown().len() + 16 * message.mobiles().len(),
        MAX_BYTES,
    )
}

pub fn request(channel: &Channel, message: &Message, now: DateTime<Utc>) -> Request {
    let mut url = channel.url.clone();
    if let Some(secret) = &channel.secret {
        let timestamp = now.timestamp_millis();
        // `query_pairs_mut` URL-encodes the Base64 (`+`, `/`, `=`) as the
        // documentation's urlEncode step asks.
        url.query_pairs_mut()
            .append_pair("timestamp", &timestamp.to_string())
            .append_pair("sign", &sign(secret.expose(), timestamp));
    }
    Request {
        url,
        body: body(message),
    }
}

pub fn answer(status: u16, body: &str) -> Answer {
    super::post::errcode_answer(status, body, "errcode", "errmsg", &[RATE_LIMITED])
}
