//! 企业微信 group robot (群机器人), as documented at
//! https://developer.work.weixin.qq.com/document/path/91770 (群机器人配置说明).
//!
//! - A POST of JSON to the webhook address, whose `key` query parameter is
//!   the robot's only credential: the robot does not sign.
//! - `msgtype = "markdown"`, `markdown.content` at most 4096 bytes of UTF-8.
//! - Mentions by mobile (`mentioned_mobile_list`) belong to the `text`
//!   message type only (markdown has no such field, and its `<@userid>`
//!   wants an account id, not a mobile): a message that mentions the
//!   official responsible is sent as text, at most 2048 bytes.
//! - The answer is `{"errcode":0,"errmsg":"ok"}`; 45009 is the rate limit
//!   (20 messages a minute per robot); 93000 an invalid webhook address.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::Channel;
use super::message::Message;
use super::post::{Answer, Request};

pub const MARKDOWN_MAX_BYTES: usize = 4096;
pub const TEXT_MAX_BYTES: usize = 2048;
pub const RATE_LIMITED: i64 = 45009;
pub const INVALID_WEBHOOK: i64 = 93000;

/// The body of one message: markdown, or text when it mentions someone.
pub fn body(message: &Message) -> serde_json::Value {
    let mobiles = message.mobiles();
    if mobiles.is_empty() {
        json!({"msgtype": "markdown", "markdown": {"content": message.markdown()}})
    } else {
        json!({
            "msgtype": "text",
            "text": {"content": message.text(), "mentioned_mobile_list": mobiles},
        })
    }
}

/// The bytes of the content the vendor counts against its limit, and the
/// limit itself for this message.
pub fn size(message: &Message) -> (usize, usize) {
    if message.mobiles().is_empty() {
        (message.markdown().len(), MARKDOWN_MAX_BYTES)
    } else {
        (message.text().len(), TEXT_MAX_BYTES)
    }
}

pub fn request(channel: &Channel, message: &Message, _now: DateTime<Utc>) -> Request {
    Request {
        url: channel.url.clone(),
        body: body(message),
    }
}

pub fn answer(status: u16, body: &str) -> Answer {
    super::post::errcode_answer(status, body, "errcode", "errmsg", &[RATE_LIMITED])
}
