//! `[channels.NAME]`: group robots that hear about alerts where officials
//! already look (企业微信, 钉钉 and 飞书 groups). Plain data; the
//! application checks the values and reads the secrets (`crate::assemble`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Secret;

/// One robot in one group.
#[derive(Debug, Clone, Deserialize)]
pub struct ChannelSettings {
    /// `wecom`, `dingtalk`, `feishu`, or `webhook` (a principal's own system).
    pub kind: String,
    /// The robot's webhook address, as the vendor shows it; a webhook's endpoint.
    pub url: String,
    /// The signing secret, where the kind signs (钉钉 and 飞书 with 加签 /
    /// 签名校验 on). Better kept out of the file: `secret_file` or
    /// `secret_env`, or `WHISTLE__CHANNELS__NAME__SECRET`. A webhook's is
    /// `whsec_` and Base64 (Standard Webhooks).
    #[serde(default)]
    pub secret: Option<Secret>,
    /// A file that holds the secret (surrounding blanks are dropped).
    #[serde(default)]
    pub secret_file: Option<String>,
    /// The name of an environment variable that holds the secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// Whose alerts: `supervisors` (every alert), `office:CODE` (the alerts
    /// of that office's cases), `department:CODE` (those about requests to
    /// that department); a webhook's `principal:NAME` (what that principal
    /// may see).
    #[serde(default)]
    pub to: Vec<String>,
    /// Alert kinds (`REPLY_OVERDUE`, …); none: every kind.
    #[serde(default)]
    pub alerts: Vec<String>,
    /// Only alerts of at least this level (1 or 2).
    #[serde(default = "first_level")]
    pub min_level: u8,
    /// The mobile numbers of the officials responsible, by department code:
    /// an alert about that department mentions them (@) in the group.
    #[serde(default)]
    pub mobiles: BTreeMap<String, String>,
    /// Where a message's reference links to, with `{reference}` and
    /// `{case_id}` filled in; none: the reference is plain text.
    #[serde(default)]
    pub link: Option<String>,
    /// Also the weekly digest's summary (`[digest]`), once a week.
    #[serde(default)]
    pub digest: bool,
    /// Failed posts in a row after which the robot's failing is itself an
    /// alert (`CHANNEL_FAILING`), once per spell.
    #[serde(default = "five")]
    pub alert_after_failures: u32,
}

fn five() -> u32 {
    5
}

fn first_level() -> u8 {
    1
}
