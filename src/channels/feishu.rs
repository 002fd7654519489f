//! 飞书 custom bot (自定义机器人), as documented at
//! https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot
//! (自定义机器人使用指南: 签名校验, 发送消息卡片).
//!
//! - A POST of JSON to the webhook address.
//! - Signed, when the bot has 签名校验 on: the timestamp in seconds, a
//!   newline and the secret are the HMAC-SHA256 *key*, and the message
//!   signed is empty; the Base64 of it and the timestamp (a string) go in
//!   the body as `sign` and `timestamp`. The vendor refuses a timestamp more
//!   than an hour from its own time.
//! - `msg_type = "interactive"` with a `card`: a header (title, colour) and
//!   one `div` of `lark_md`. Mentions want an account id (`<at id=…>`), not a
//!   mobile, so a 飞书 message mentions no one.
//! - The answer is `{"code":0,"msg":"success","data":{}}`; 11232 is the rate
//!   limit (100 a minute, 5 a second); 19021 a bad signature or a timestamp
//!   out of its window; 19024 a keyword missing.

use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;

use super::Channel;
use super::message::Message;
use super::post::{Answer, Request};

pub const RATE_LIMITED: i64 = 11232;
pub const SIGNATURE_REFUSED: i64 = 19021;
/// Cards may be larger (30 KB); kept to the size of the other vendors'.
pub const MAX_BYTES: usize = 4096;

/// The signature for `timestamp_s`.
pub fn sign(secret: &str, timestamp_s: i64) -> String {
    let key = format!("{timestamp_s}\n{secret}");
    let mac = Hmac::<sha2_hmac::Sha256>::new_from_slice(key.as_bytes())
        .expect("HMAC takes a key of any length");
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

pub fn body(message: &Message) -> serde_json::Value {
    let lines = message.markdown_body();
    let template = if message.digest.is_some() {
        "blue"
    } else if message.level() >= 2 {
        "red"
    } else {
        "orange"
    };
    json!({
        "msg_type": "interactive",
        "card": {
            "header": {
                "title": {"tag": "plain_text", "content": message.title()},
                "template": template,
            },
            "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": lines}}],
        },
    })
}

pub fn size(message: &Message) -> (usize, usize) {
    (message.markdown().len(), MAX_BYTES)
}

pub fn request(channel: &Channel, message: &Message, now: DateTime<Utc>) -> Request {
    let mut body = body(message);
    if let Some(secret) = &channel.secret {
        let timestamp = now.timestamp();
        body["timestamp"] = json!(timestamp.to_string());
        body["sign"] = json!(sign(secret.expose(), timestamp));
    }
    Request {
        url: channel.url.clone(),
        body,
    }
}

pub fn answer(status: u16, body: &str) -> Answer {
    super::post::errcode_answer(status, body, "code", "msg", &[RATE_LIMITED, 9499])
}
