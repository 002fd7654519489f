//! Webhooks for office and department systems: each event a principal may
//! see, posted to its endpoint as a CloudEvent and signed as the Standard
//! Webhooks specification says.
//!
//! - CloudEvents 1.0, JSON format, structured content mode
//!   (https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md,
//!   formats/json-format.md, bindings/http-protocol-binding.md §3.2): the
//!   whole event is the body, `Content-Type: application/cloudevents+json`;
//!   `specversion`, `id`, `source`, `type` required; `subject`, `time`,
//!   `datacontenttype` and `data` as used here; the W3C trace context rides
//!   in the `traceparent` extension attribute (extensions/distributed-tracing.md).
//! - Standard Webhooks (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md):
//!   headers `webhook-id` (the message id, the same on every retry, for the
//!   receiver's de-duplication), `webhook-timestamp` (seconds since the
//!   epoch) and `webhook-signature`, `v1,` and the Base64 of HMAC-SHA256 over
//!   `{id}.{timestamp}.{body}`, keyed with the Base64-decoded part of the
//!   secret after `whsec_`. Any 2xx is success; 410 Gone asks the sender to
//!   stop, which pauses the endpoint; anything else is retried.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};

pub const CONTENT_TYPE: &str = "application/cloudevents+json";
const SECRET_PREFIX: &str = "whsec_";

/// One event as a CloudEvent. `id` is unique within `source`.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudEvent {
    pub id: String,
    pub source: String,
    /// The CloudEvents `type`, reverse-DNS prefixed (`cn.whistle.case.request_issued`).
    pub kind: String,
    /// The case the event is about.
    pub subject: String,
    pub time: DateTime<Utc>,
    pub data: Value,
    /// `00-{trace id}-{span id}-01`: the trace of the change that caused it.
    pub traceparent: Option<String>,
}

impl CloudEvent {
    pub fn to_json(&self) -> Value {
        let mut event = json!({
            "specversion": "1.0",
            "id": self.id,
            "source": self.source,
            "type": self.kind,
            "subject": self.subject,
            "time": self.time.to_rfc3339_opts(SecondsFormat::Millis, true),
            "datacontenttype": "application/json",
            "data": self.data,
        });
        if let Some(tp) = &self.traceparent {
            event["traceparent"] = json!(tp);
        }
        event
    }

    /// The message id of Standard Webhooks: the CloudEvent's id in its source.
    pub fn message_id(&self) -> String {
        let source = self.source.rsplit(':').next().unwrap_or_default();
        format!("{source}_{}", self.id)
    }
}

/// The signing key of an endpoint, from its `whsec_…` secret.
#[derive(Clone)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(…)")
    }
}

impl SigningKey {
    /// `whsec_` and the Base64 of 24 to 64 random bytes, as the
    /// specification recommends; the reason when it is not.
    pub fn parse(secret: &str) -> Result<Self, String> {
        let Some(encoded) = secret.strip_prefix(SECRET_PREFIX) else {
            return Err("a webhook secret starts with whsec_".into());
        };
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| "the part after whsec_ is not Base64".to_owned())?;
        if !(24..=64).contains(&key.len()) {
            return Err(format!(
                "the secret holds {} bytes; make one of 24 to 64 random bytes (`whsec_` and `openssl rand -base64 32`)",
                key.len()
            ));
        }
        Ok(Self(key))
    }

    /// `v1,` and the signature of `{id}.{timestamp}.{body}`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &str) -> String {
        let mut mac = Hmac::<sha2_hmac::Sha256>::new_from_slice(&self.0)
            .expect("HMAC takes a key of any length");
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body.as_bytes());
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// What is posted: the headers besides the content type, and the body.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// The signed request for `event`, at `now` (the moment signed).
pub fn request(key: &SigningKey, event: &CloudEvent, now: DateTime<Utc>) -> Request {
    let body = event.to_json().to_string();
    let id = event.message_id();
    let timestamp = now.timestamp();
    let signature = key.sign(&id, timestamp, &body);
    let mut headers = vec![
        ("webhook-id", id),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature),
    ];
    if let Some(tp) = &event.traceparent {
        headers.push(("traceparent", tp.clone()));
    }
    Request { headers, body }
}

/// What the endpoint's answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Delivered,
    /// 410 Gone: the receiver asks to be sent nothing more.
    Gone,
    Failed(String),
}

pub fn answer(status: u16) -> Answer {
    match status {
        200..=299 => Answer::Delivered,
        410 => Answer::Gone,
        status => Answer::Failed(format!("HTTP {status}")),
    }
}

/// Posts signed events, one client for every endpoint.
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

    pub async fn post(
        &self,
        url: &reqwest::Url,
        key: &SigningKey,
        event: &CloudEvent,
        now: DateTime<Utc>,
    ) -> Answer {
        let request = request(key, event, now);
        let mut post = self
            .client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE);
        for (name, value) in request.headers {
            post = post.header(name, value);
        }
        match post.body(request.body).send().await {
            Ok(response) => answer(response.status().as_u16()),
            Err(e) => Answer::Failed(format!("not posted: {}", e.without_url())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the specification's reference libraries
    /// (standard-webhooks, libraries/javascript/src/index.test.ts).
    #[test]
    fn a_signature_is_the_specifications() {
        let key = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signature = key.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_secret_is_whsec_and_base64_of_enough_bytes() {
        assert!(SigningKey::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(SigningKey::parse("whsec_not base64!").is_err());
        assert!(SigningKey::parse("whsec_c2hvcnQ=").is_err());
    }

    #[test]
    fn an_event_is_structured_cloudevents_json() {
        let event = CloudEvent {
            id: "42".into(),
            source: "urn:whistle:events".into(),
            kind: "cn.whistle.case.request_issued".into(),
            subject: "c-1".into(),
            time: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            data: json!({"seq": 2}),
            traceparent: None,
        };
        let v = event.to_json();
        assert_eq!(v["specversion"], "1.0");
        assert_eq!(v["time"], "2023-11-14T22:13:20.000Z");
        assert_eq!(v["data"]["seq"], 2);
        assert!(v.get("traceparent").is_none());
        assert_eq!(event.message_id(), "events_42");
        let key = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let r = request(
            &key,
            &event,
            DateTime::from_timestamp(1_700_000_100, 0).unwrap(),
        );
        assert_eq!(r.headers[0], ("webhook-id", "events_42".to_owned()));
        assert_eq!(r.headers[1], ("webhook-timestamp", "1700000100".to_owned()));
        assert_eq!(
            r.headers[2].1,
            key.sign("events_42", 1_700_000_100, &r.body)
        );
    }
}
