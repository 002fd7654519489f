//! Group robots: alerts posted where officials already look, the 企业微信,
//! 钉钉 and 飞书 groups of the district's supervisors, an office or a
//! department. A channel is a robot in one group (`[channels.NAME]`); it
//! hears the alerts its audience, kinds and level select (`Channel::hears`).
//! What a message says is one thing (`message`); how each vendor wants it
//! said and signed is its own file (`wecom`, `dingtalk`, `feishu`); the post
//! and the reading of the vendor's answer are `post`. Messages travel by a
//! durable queue (`store::channels`), driven by `workers::channels`.
//!
//! A channel of kind `webhook` is no robot but an office's or a department's
//! own system (`Webhook`, from `webhooks`): it hears what its principal may
//! see, posted as CloudEvents signed per Standard Webhooks (`webhook`) along
//! the feed by `workers::webhooks`.

use std::collections::BTreeMap;

use crate::domain::{Actor, Alert, AlertKind};
use crate::settings::{ChannelSettings, Secret, Settings};
use crate::tls::principals::principal_actor;

pub mod digest;
pub mod dingtalk;
pub mod feishu;
pub mod message;
pub mod post;
pub mod webhook;
pub mod wecom;

/// Which vendor's robot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    Wecom,
    Dingtalk,
    Feishu,
}

impl ChannelKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "wecom" => Some(Self::Wecom),
            "dingtalk" => Some(Self::Dingtalk),
            "feishu" => Some(Self::Feishu),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Wecom => "wecom",
            Self::Dingtalk => "dingtalk",
            Self::Feishu => "feishu",
        }
    }

    /// Messages a robot may post a minute. 企业微信: "每个机器人发送的消息不能
    /// 超过20条/分钟" (https://developer.work.weixin.qq.com/document/path/91770);
    /// 钉钉: "每个机器人每分钟最多发送20条" (https://open.dingtalk.com/document/
    /// orgapp/custom-robot-access); 飞书: "100 次/分钟，5 次/秒" per bot
    /// (https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot,
    /// 使用限制), the second's share kept by `spacing`.
    pub fn per_minute(self) -> u32 {
        match self {
            Self::Wecom | Self::Dingtalk => 20,
            Self::Feishu => 100,
        }
    }

    /// The least time between two posts to one robot: 飞书 takes at most 5
    /// a second; the others count only by the minute.
    pub fn spacing(self) -> std::time::Duration {
        match self {
            Self::Feishu => std::time::Duration::from_millis(200),
            Self::Wecom | Self::Dingtalk => std::time::Duration::ZERO,
        }
    }
}

/// Whose alerts a channel hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// The district's supervisors: every alert.
    Supervisors,
    /// The alerts of this office's cases.
    Office(String),
    /// The alerts about requests to this department.
    Department(String),
}

impl Audience {
    fn parse(s: &str) -> Option<Self> {
        match s.split_once(':') {
            None if s == "supervisors" => Some(Self::Supervisors),
            Some(("office", code)) if !code.is_empty() => Some(Self::Office(code.to_owned())),
            Some(("department", code)) if !code.is_empty() => {
                Some(Self::Department(code.to_owned()))
            }
            _ => None,
        }
    }

    fn hears(&self, alert: &Alert) -> bool {
        match self {
            Self::Supervisors => true,
            Self::Office(code) => alert.office.as_deref() == Some(code.as_str()),
            Self::Department(code) => alert.department.as_deref() == Some(code.as_str()),
        }
    }
}

/// A robot in one group, every setting checked.
#[derive(Debug, Clone)]
pub struct Channel {
    pub name: String,
    pub kind: ChannelKind,
    pub url: reqwest::Url,
    pub secret: Option<Secret>,
    pub audience: Vec<Audience>,
    /// None: every kind.
    pub kinds: Vec<AlertKind>,
    pub min_level: u8,
    /// Department code → the mobile of the official responsible, mentioned
    /// in the group (an official's number, never a resident's).
    pub mobiles: BTreeMap<String, String>,
    /// With `{reference}` and `{case_id}`.
    pub link: Option<String>,
    /// Also the weekly digest's summary.
    pub digest: bool,
    /// Failed posts in a row that raise `CHANNEL_FAILING`.
    pub alert_after_failures: u32,
}

impl Channel {
    /// Whether this channel is told of `alert`.
    pub fn hears(&self, alert: &Alert) -> bool {
        alert.level >= self.min_level
            // A robot's own failing spell is for the others to tell.
            && alert.channel() != Some(self.name.as_str())
            && (self.kinds.is_empty() || self.kinds.contains(&alert.kind))
            && self.audience.iter().any(|a| a.hears(alert))
    }
}

/// The kind of channel that is a principal's own system.
const WEBHOOK: &str = "webhook";

/// A principal's own system, every setting checked.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub name: String,
    pub url: reqwest::Url,
    pub key: webhook::SigningKey,
    /// Whose view it carries.
    pub principal: Actor,
}

/// Every group robot of the settings, or every problem found, each naming
/// its key. Secrets kept in files or the environment are read here.
pub fn channels(settings: &Settings) -> Result<Vec<Channel>, Vec<String>> {
    let mut problems = Vec::new();
    let mut channels = Vec::new();
    for (name, s) in &settings.channels {
        if s.kind.trim() == WEBHOOK {
            continue;
        }
        let before = problems.len();
        let channel = channel(settings, name, s, &mut problems);
        if problems.len() == before {
            channels.extend(channel);
        }
    }
    if problems.is_empty() {
        Ok(channels)
    } else {
        Err(problems)
    }
}

fn channel(
    settings: &Settings,
    name: &str,
    s: &ChannelSettings,
    problems: &mut Vec<String>,
) -> Option<Channel> {
    let key = |field: &str| format!("channels.{name}.{field}");
    let kind = ChannelKind::parse(s.kind.trim());
    if kind.is_none() {
        problems.push(format!(
            "{}: {:?} is not a kind of channel; kinds are \"wecom\", \"dingtalk\", \"feishu\" and \"webhook\"",
            key("kind"),
            s.kind
        ));
    }
    let url = match reqwest::Url::parse(s.url.trim()) {
        Ok(url) if matches!(url.scheme(), "https" | "http") && url.host().is_some() => Some(url),
        Ok(_) | Err(_) => {
            problems.push(format!(
                "{}: {:?} is not the robot's webhook address (https://…)",
                key("url"),
                s.url
            ));
            None
        }
    };
    let secret = secret(s, &key, problems);
    if let (Some(ChannelKind::Wecom), Some(_)) = (kind, &secret) {
        problems.push(format!(
            "{}: a 企业微信 group robot does not sign; its key is in the url",
            key("secret")
        ));
    }
    if s.to.is_empty() {
        problems.push(format!(
            "{}: name whose alerts the channel hears: \"supervisors\", \"office:CODE\" or \"department:CODE\"",
            key("to")
        ));
    }
    let mut audience = Vec::new();
    for to in &s.to {
        match Audience::parse(to.trim()) {
            Some(Audience::Office(code)) if !settings.offices.contains_key(&code) => {
                problems.push(format!("{}: {code:?} is not an office's code", key("to")))
            }
            Some(Audience::Department(code)) if !settings.departments.contains_key(&code) => {
                problems.push(format!(
                    "{}: {code:?} is not a department's code",
                    key("to")
                ))
            }
            Some(a) => audience.push(a),
            None => problems.push(format!(
                "{}: {to:?} is not \"supervisors\", \"office:CODE\" or \"department:CODE\"",
                key("to")
            )),
        }
    }
    let mut kinds = Vec::new();
    for alert in &s.alerts {
        match AlertKind::parse(alert.trim()) {
            Some(k) => kinds.push(k),
            None => problems.push(format!(
                "{}: {alert:?} is not an alert kind; kinds are {}",
                key("alerts"),
                AlertKind::ALL.map(AlertKind::as_str).join(", ")
            )),
        }
    }
    if !(1..=2).contains(&s.min_level) {
        problems.push(format!(
            "{}: {} is not a level; levels are 1 and 2",
            key("min_level"),
            s.min_level
        ));
    }
    for (code, mobile) in &s.mobiles {
        if !settings.departments.contains_key(code) {
            problems.push(format!(
                "{}: {code:?} is not a department's code",
                key("mobiles")
            ));
        }
        if mobile.len() != 11 || !mobile.bytes().all(|b| b.is_ascii_digit()) {
            problems.push(format!(
                "{}: the mobile for {code:?} is not 11 digits",
                key("mobiles")
            ));
        }
    }
    if let Some(link) = &s.link {
        let filled = link.replace("{reference}", "R").replace("{case_id}", "C");
        if reqwest::Url::parse(&filled).is_err() {
            problems.push(format!(
                "{}: {link:?} is not an address once {{reference}} and {{case_id}} are filled in",
                key("link")
            ));
        }
    }
    if s.alert_after_failures == 0 {
        problems.push(format!(
            "{}: 0 failures is no spell; give 1 or more",
            key("alert_after_failures")
        ));
    }
    Some(Channel {
        digest: s.digest,
        alert_after_failures: s.alert_after_failures,
        name: name.to_owned(),
        kind: kind?,
        url: url?,
        secret,
        audience,
        kinds,
        min_level: s.min_level,
        mobiles: s.mobiles.clone(),
        link: s.link.clone(),
    })
}

/// Every webhook of the settings (`kind = "webhook"`), or every problem
/// found, each naming its key.
pub fn webhooks(settings: &Settings) -> Result<Vec<Webhook>, Vec<String>> {
    let mut problems = Vec::new();
    let mut webhooks = Vec::new();
    for (name, s) in &settings.channels {
        if s.kind.trim() != WEBHOOK {
            continue;
        }
        let key = |field: &str| format!("channels.{name}.{field}");
        let url = match reqwest::Url::parse(s.url.trim()) {
            Ok(url) if matches!(url.scheme(), "https" | "http") && url.host().is_some() => {
                Some(url)
            }
            Ok(_) | Err(_) => {
                problems.push(format!(
                    "{}: {:?} is not the endpoint's address (https://…)",
                    key("url"),
                    s.url
                ));
                None
            }
        };
        let signing = match secret(s, &key, &mut problems) {
            Some(secret) => webhook::SigningKey::parse(secret.expose())
                .map_err(|why| problems.push(format!("{}: {why}", key("secret"))))
                .ok(),
            None => {
                problems.push(format!(
                    "{}: a webhook is signed; give its secret (whsec_…) by secret, secret_file or secret_env",
                    key("secret")
                ));
                None
            }
        };
        let principal = match s.to.as_slice() {
            [to] => match to.trim().strip_prefix("principal:").map(|n| {
                settings
                    .principals
                    .get(n)
                    .and_then(|p| principal_actor(n, p))
            }) {
                Some(Some(actor)) => Some(actor),
                Some(None) => {
                    problems.push(format!("{}: {to:?} names no principal", key("to")));
                    None
                }
                None => {
                    problems.push(format!(
                        "{}: a webhook carries what one principal may see: \"principal:NAME\"",
                        key("to")
                    ));
                    None
                }
            },
            _ => {
                problems.push(format!(
                    "{}: a webhook is one principal's; give one \"principal:NAME\"",
                    key("to")
                ));
                None
            }
        };
        if !s.alerts.is_empty() || !s.mobiles.is_empty() || s.link.is_some() || s.digest {
            problems.push(format!(
                "{}: alerts, mobiles, link and digest are for group robots; a webhook carries what its principal may see",
                key("kind")
            ));
        }
        if let (Some(url), Some(key), Some(principal)) = (url, signing, principal) {
            webhooks.push(Webhook {
                name: name.clone(),
                url,
                key,
                principal,
            });
        }
    }
    if problems.is_empty() {
        Ok(webhooks)
    } else {
        Err(problems)
    }
}

/// The secret from wherever the settings keep it: at most one place.
fn secret(
    s: &ChannelSettings,
    key: &dyn Fn(&str) -> String,
    problems: &mut Vec<String>,
) -> Option<Secret> {
    let places = [
        s.secret.is_some(),
        s.secret_file.is_some(),
        s.secret_env.is_some(),
    ];
    if places.iter().filter(|&&p| p).count() > 1 {
        problems.push(format!(
            "{}: give the secret one way: secret, secret_file or secret_env",
            key("secret")
        ));
        return None;
    }
    let read = if let Some(secret) = &s.secret {
        Ok(secret.expose().to_owned())
    } else if let Some(path) = &s.secret_file {
        std::fs::read_to_string(path).map_err(|e| format!("{}: {path}: {e}", key("secret_file")))
    } else if let Some(var) = &s.secret_env {
        std::env::var(var).map_err(|_| {
            format!(
                "{}: the environment variable {var} is not set",
                key("secret_env")
            )
        })
    } else {
        return None;
    };
    match read.map(|s| s.trim().to_owned()) {
        Ok(secret) if !secret.is_empty() => Some(Secret::new(secret)),
        Ok(_) => {
            problems.push(format!("{}: the secret is empty", key("secret")));
            None
        }
        Err(problem) => {
            problems.push(problem);
            None
        }
    }
}

#[cfg(test)]
mod tests;
