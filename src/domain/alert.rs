//! Alerts: what supervisors and the issuing office are told about, decided from
//! the effects of a change. Each alert has a key naming its cause (the request,
//! the round, the deadline, the level, the repetition; the rejected reply; the
//! undeliverable letter), and the store keeps one alert per key, so an alert is
//! raised exactly once however often its cause is looked at.
//!
//! Level 1 concerns the issuing street office; level 2 the district's
//! supervisors: overdue requests after `watch.escalate_after`, requests sent
//! out for the third time or more, and timelines whose hash chain is broken.

use chrono::{DateTime, Utc};

use super::case::Case;
use super::effects::{Effect, Issued, Reminded};
use super::organisation::Organisation;
use super::watch::Due;
use super::wording::{Language, deadline, span_zh};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertKind {
    DueSoon,
    AckOverdue,
    ReplyOverdue,
    ReplyRejected,
    RepeatedRounds,
    CaseReopened,
    LetterFailed,
    ExtensionRequested,
    ReturnRequested,
    /// A case's timeline no longer holds its hash chain (`audit_chain`).
    ChainBroken,
    /// A group robot kept refusing or missing its posts; of no case.
    ChannelFailing,
    /// A robot that was failing took a post again; of no case.
    ChannelRecovered,
}

impl AlertKind {
    pub const ALL: [AlertKind; 12] = [
        Self::DueSoon,
        Self::AckOverdue,
        Self::ReplyOverdue,
        Self::ReplyRejected,
        Self::RepeatedRounds,
        Self::CaseReopened,
        Self::LetterFailed,
        Self::ExtensionRequested,
        Self::ReturnRequested,
        Self::ChainBroken,
        Self::ChannelFailing,
        Self::ChannelRecovered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::DueSoon => "DUE_SOON",
            Self::AckOverdue => "ACK_OVERDUE",
            Self::ReplyOverdue => "REPLY_OVERDUE",
            Self::ReplyRejected => "REPLY_REJECTED",
            Self::RepeatedRounds => "REPEATED_ROUNDS",
            Self::CaseReopened => "CASE_REOPENED",
            Self::LetterFailed => "LETTER_FAILED",
            Self::ExtensionRequested => "EXTENSION_REQUESTED",
            Self::ReturnRequested => "RETURN_REQUESTED",
            Self::ChainBroken => "CHAIN_BROKEN",
            Self::ChannelFailing => "CHANNEL_FAILING",
            Self::ChannelRecovered => "CHANNEL_RECOVERED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// As a supervisor's list names it.
    pub fn zh(self) -> &'static str {
        match self {
            Self::DueSoon => "期限将至",
            Self::AckOverdue => "签收逾期",
            Self::ReplyOverdue => "答复逾期",
            Self::ReplyRejected => "答复被退回",
            Self::RepeatedRounds => "多轮交办",
            Self::CaseReopened => "群众不满意重办",
            Self::LetterFailed => "函件投递失败",
            Self::ExtensionRequested => "延期申请待审批",
            Self::ReturnRequested => "退单申请待决定",
            Self::ChainBroken => "案件记录校验不通过",
            Self::ChannelFailing => "群机器人推送失败",
            Self::ChannelRecovered => "群机器人推送恢复",
        }
    }

    fn overdue(due: Due) -> Self {
        match due {
            Due::Acknowledge => Self::AckOverdue,
            Due::Reply => Self::ReplyOverdue,
        }
    }
}

/// Rounds from which a request is a matter for the district's supervisors.
pub const REPEATED_ROUNDS_FROM: u32 = 3;

/// An alert as raised, before the store numbers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// The cause; unique among all alerts.
    pub key: String,
    pub kind: AlertKind,
    pub level: u8,
    /// None for an alert about whistle itself (a channel failing).
    pub case_id: Option<String>,
    pub request_id: Option<String>,
    /// None with the case.
    pub office: Option<String>,
    pub department: Option<String>,
    pub reference: Option<String>,
    pub round: u32,
    /// The deadline concerned, for reminders and overdue alerts.
    pub due_at: Option<DateTime<Utc>>,
    pub raised_at: DateTime<Utc>,
    /// One line in Chinese for a console or a letter.
    pub summary: String,
}

/// An alert as stored: numbered in the order alerts became visible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaisedAlert {
    pub id: i64,
    pub alert: Alert,
}

/// Who is told about a request: its reference, department and title, as a
/// summary begins.
struct About<'a> {
    reference: &'a str,
    department: String,
    title: &'a str,
}

fn about<'a>(
    org: &Organisation,
    case: &'a Case,
    request_id: &str,
) -> Option<(About<'a>, &'a super::DepartmentRequest)> {
    let request = case.requests.iter().find(|r| r.id == request_id)?;
    let department = org
        .department(&request.department)
        .map_or_else(|| request.department.clone(), |d| d.name.clone());
    Some((
        About {
            reference: request.reference.as_str(),
            department,
            title: &case.title,
        },
        request,
    ))
}

/// How late a step is, as an overdue alert says it. The watch wakes at the
/// deadline itself, so the first alert of every deadline comes less than a
/// minute after it: that one says 已逾期 (overdue) rather than 逾期0分钟.
fn late_by(span: chrono::Duration) -> String {
    if span < chrono::Duration::minutes(1) {
        "已逾期".to_owned()
    } else {
        format!("逾期{}", span_zh(span))
    }
}

/// The alerts the effects of a change to `case` raise.
pub fn for_effects(org: &Organisation, case: &Case, effects: &[Effect]) -> Vec<Alert> {
    let tz = org.calendar.tz();
    let base =
        |key: String, kind, level, request: Option<&super::DepartmentRequest>, at, summary| Alert {
            key,
            kind,
            level,
            case_id: Some(case.id.clone()),
            request_id: request.map(|r| r.id.clone()),
            office: Some(case.office.clone()),
            department: request.map(|r| r.department.clone()),
            reference: request
                .map(|r| r.reference.as_str().to_owned())
                .filter(|r| !r.is_empty()),
            round: request.map_or(0, |r| r.round),
            due_at: None,
            raised_at: at,
            summary,
        };
    let mut alerts = Vec::new();
    for effect in effects {
        match effect {
            Effect::RequestIssued(Issued {
                request_id,
                round,
                at,
                ..
            }) if *round >= REPEATED_ROUNDS_FROM => {
                let Some((a, r)) = about(org, case, request_id) else {
                    continue;
                };
                let summary = format!(
                    "{} {} 第{round}次交办：{}",
                    a.reference, a.department, a.title
                );
                let key = format!("repeated-rounds:{request_id}:r{round}");
                alerts.push(base(
                    key,
                    AlertKind::RepeatedRounds,
                    2,
                    Some(r),
                    *at,
                    summary,
                ));
            }
            // Rulings are the supervisors' own doing: nothing to alert them of.
            Effect::RequestIssued(_) | Effect::Ruled(_) => {}
            Effect::Reminder(Reminded {
                request_id,
                round,
                due,
                due_at,
                at,
                ..
            }) => {
                let Some((a, r)) = about(org, case, request_id) else {
                    continue;
                };
                let summary = format!(
                    "{} {} {}期限{}将至：{}",
                    a.reference,
                    a.department,
                    due.zh(),
                    deadline(*due_at, tz, Language::Zh),
                    a.title
                );
                let key = format!(
                    "due-soon:{request_id}:r{round}:{}",
                    due.as_str().to_lowercase()
                );
                let mut alert = base(key, AlertKind::DueSoon, 1, Some(r), *at, summary);
                alert.due_at = Some(*due_at);
                alerts.push(alert);
            }
            Effect::Overdue {
                request_id,
                round,
                due,
                due_at,
                slot,
                at,
            } => {
                let Some((a, r)) = about(org, case, request_id) else {
                    continue;
                };
                let escalated = if slot.level >= 2 {
                    "，已报区督办"
                } else {
                    ""
                };
                let summary = format!(
                    "{} {} {}{}（期限{}）{escalated}：{}",
                    a.reference,
                    a.department,
                    due.zh(),
                    late_by(*at - *due_at),
                    deadline(*due_at, tz, Language::Zh),
                    a.title
                );
                let key = format!(
                    "{}-overdue:{request_id}:r{round}:l{}:n{}",
                    due.as_str().to_lowercase(),
                    slot.level,
                    slot.repeat
                );
                let mut alert = base(
                    key,
                    AlertKind::overdue(*due),
                    slot.level,
                    Some(r),
                    *at,
                    summary,
                );
                alert.due_at = Some(*due_at);
                alerts.push(alert);
            }
            Effect::ReplyRejected {
                request_id,
                round,
                reason,
                at,
            } => {
                let Some((a, r)) = about(org, case, request_id) else {
                    continue;
                };
                let summary = format!(
                    "{} {} 第{round}轮答复被退回：{reason}",
                    a.reference, a.department
                );
                let key = format!("reply-rejected:{request_id}:r{round}");
                let mut alert = base(key, AlertKind::ReplyRejected, 1, Some(r), *at, summary);
                alert.round = *round;
                alerts.push(alert);
            }
            Effect::CaseReopened { seq, comment, at } => {
                let office = org
                    .office(&case.office)
                    .map_or(case.office.as_str(), |o| o.name.as_str());
                let why = if comment.is_empty() {
                    String::new()
                } else {
                    format!("（{comment}）")
                };
                let summary = format!("{office} 群众不满意{why}，案件重新办理：{}", case.title);
                let key = format!("case-reopened:{}:e{seq}", case.id);
                alerts.push(base(key, AlertKind::CaseReopened, 1, None, *at, summary));
            }
            // Rulings are the district's supervisors' to give: level 2.
            Effect::ExtensionRequested {
                request_id,
                extension_id,
                new_due_at,
                reason,
                at,
            } => {
                let Some((a, r)) = about(org, case, request_id) else {
                    continue;
                };
                let summary = format!(
                    "{} {} 申请延期至{}（{reason}）：{}",
                    a.reference,
                    a.department,
                    deadline(*new_due_at, tz, Language::Zh),
                    a.title
                );
                let key = format!("extension-requested:{extension_id}");
                let mut alert = base(key, AlertKind::ExtensionRequested, 2, Some(r), *at, summary);
                alert.due_at = Some(*new_due_at);
                alerts.push(alert);
            }
            Effect::ReturnRequested {
                request_id,
                round,
                reason,
                at,
            } => {
                let Some((a, r)) = about(org, case, request_id) else {
                    continue;
                };
                let summary = format!(
                    "{} {} 申请退单（{reason}）：{}",
                    a.reference, a.department, a.title
                );
                let key = format!("return-requested:{request_id}:r{round}");
                alerts.push(base(
                    key,
                    AlertKind::ReturnRequested,
                    2,
                    Some(r),
                    *at,
                    summary,
                ));
            }
            // Notices go to departments; nothing is wrong for supervisors.
            Effect::Notice(_) => {}
        }
    }
    alerts
}

/// A case whose timeline does not hold its hash chain: rows were changed
/// behind the service's back, which is for the district's supervisors (level
/// 2). One alert per break found: the key names the event and the problem.
pub fn chain_broken(
    case_id: &str,
    office: &str,
    title: &str,
    found: &super::audit_chain::Break,
    at: DateTime<Utc>,
) -> Alert {
    let title: String = title.chars().take(100).collect();
    let summary = format!(
        "案件记录校验不通过：第{}条事件{}，须核查数据库是否被改动：{title}",
        found.seq,
        found.problem.zh()
    );
    Alert {
        key: format!(
            "chain-broken:{case_id}:s{}:{}",
            found.seq,
            found.problem.as_str().to_lowercase()
        ),
        kind: AlertKind::ChainBroken,
        level: 2,
        case_id: Some(case_id.to_owned()),
        request_id: None,
        office: Some(office.to_owned()),
        department: None,
        reference: None,
        round: 0,
        due_at: None,
        raised_at: at,
        summary,
    }
}

/// A letter the outbox gave up on: the office should reach the department
/// another way.
pub fn letter_failed(
    org: &Organisation,
    case: &Case,
    request_id: Option<&str>,
    mail_id: &str,
    error: &str,
    at: DateTime<Utc>,
) -> Alert {
    let request = request_id.and_then(|id| case.requests.iter().find(|r| r.id == id));
    let department = request.map(|r| {
        org.department(&r.department)
            .map_or_else(|| r.department.clone(), |d| d.name.clone())
    });
    let error: String = error.chars().take(200).collect();
    let summary = format!(
        "致{}的函{}投递失败：{error}",
        department.as_deref().unwrap_or("部门"),
        request.map_or("", |r| r.reference.as_str())
    );
    Alert {
        key: format!("letter-failed:{mail_id}"),
        kind: AlertKind::LetterFailed,
        level: 1,
        case_id: Some(case.id.clone()),
        request_id: request.map(|r| r.id.clone()),
        office: Some(case.office.clone()),
        department: request.map(|r| r.department.clone()),
        reference: request.map(|r| r.reference.as_str().to_owned()),
        round: request.map_or(0, |r| r.round),
        due_at: None,
        raised_at: at,
        summary,
    }
}

/// What a channel's failing alerts are keyed by, so that a channel is not
/// told of its own spell.
const CHANNEL_KEY: &str = "channel-";

/// A channel whose posts failed `failures` times in a row since `since`: one
/// alert per spell (the key names the spell's start), for the district's
/// supervisors (level 2), who mend it or have the operator do so.
pub fn channel_failing(
    channel: &str,
    failures: u32,
    error: &str,
    since: DateTime<Utc>,
    at: DateTime<Utc>,
) -> Alert {
    let error: String = error.chars().take(200).collect();
    operational(
        format!(
            "{CHANNEL_KEY}failing:{channel}:{}",
            since.timestamp_millis()
        ),
        AlertKind::ChannelFailing,
        format!("群机器人 {channel} 连续{failures}次推送失败，提醒暂未送达该群：{error}"),
        at,
    )
}

/// The channel of the spell that began at `since` takes posts again.
pub fn channel_recovered(channel: &str, since: DateTime<Utc>, at: DateTime<Utc>) -> Alert {
    operational(
        format!(
            "{CHANNEL_KEY}recovered:{channel}:{}",
            since.timestamp_millis()
        ),
        AlertKind::ChannelRecovered,
        format!("群机器人 {channel} 已恢复推送，积压的提醒将陆续送达"),
        at,
    )
}

fn operational(key: String, kind: AlertKind, summary: String, at: DateTime<Utc>) -> Alert {
    Alert {
        key,
        kind,
        level: 2,
        case_id: None,
        request_id: None,
        office: None,
        department: None,
        reference: None,
        round: 0,
        due_at: None,
        raised_at: at,
        summary,
    }
}

impl Alert {
    /// The channel an alert about a channel concerns.
    pub fn channel(&self) -> Option<&str> {
        let rest = self.key.strip_prefix(CHANNEL_KEY)?;
        let (_, rest) = rest.split_once(':')?;
        rest.rsplit_once(':').map(|(name, _)| name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::{ctx, ctx_in};
    use crate::domain::watch::AlertSlot;
    use crate::domain::{ReplyText, ReviewDecision, fixtures};
    use chrono::Duration;

    #[test]
    fn an_overdue_alert_names_the_request_the_delay_and_the_deadline() {
        let case = fixtures::stored_case();
        let r = &case.requests[0];
        let at = r.ack_due_at + Duration::hours(27);
        let effect = Effect::Overdue {
            request_id: r.id.clone(),
            round: 1,
            due: Due::Acknowledge,
            due_at: r.ack_due_at,
            slot: AlertSlot {
                level: 2,
                repeat: 1,
            },
            at,
        };
        let alerts = for_effects(&fixtures::org(), &case, &[effect]);
        assert_eq!(alerts.len(), 1);
        let a = &alerts[0];
        assert_eq!((a.kind, a.level), (AlertKind::AckOverdue, 2));
        assert_eq!(a.key, "acknowledge-overdue:id2:r1:l2:n1");
        assert_eq!(
            a.summary,
            "翠街哨〔2026〕0001号 区住建局 签收逾期1天3小时（期限2026年11月24日（星期二）24:00），已报区督办：房产证<迟迟>未办"
        );
        assert_eq!(
            (
                a.office.as_deref(),
                a.department.as_deref(),
                a.reference.as_deref()
            ),
            (
                Some("cuiping"),
                Some("housing"),
                Some("翠街哨〔2026〕0001号")
            )
        );
    }

    #[test]
    fn the_alert_at_the_deadline_itself_says_overdue_without_a_zero_delay() {
        let case = fixtures::stored_case();
        let r = &case.requests[0];
        let effect = |at| Effect::Overdue {
            request_id: r.id.clone(),
            round: 1,
            due: Due::Reply,
            due_at: r.reply_due_at,
            slot: AlertSlot {
                level: 1,
                repeat: 0,
            },
            at,
        };
        let summary = |at| {
            for_effects(&fixtures::org(), &case, &[effect(at)])
                .remove(0)
                .summary
        };
        let on_time = summary(r.reply_due_at + Duration::seconds(30));
        assert!(on_time.contains(" 答复已逾期（期限"), "{on_time}");
        assert!(!on_time.contains("0分钟"), "{on_time}");
        let later = summary(r.reply_due_at + Duration::minutes(40));
        assert!(later.contains(" 答复逾期40分钟（期限"), "{later}");
    }

    #[test]
    fn a_failing_channel_is_one_alert_per_spell_of_no_case() {
        let since = fixtures::now();
        let a = channel_failing(
            "ops:east",
            5,
            "HTTP 502",
            since,
            since + Duration::minutes(9),
        );
        let again = channel_failing("ops:east", 6, "HTTP 502", since, since + Duration::hours(1));
        assert_eq!(a.key, again.key, "one key per spell");
        assert_ne!(
            a.key,
            channel_failing("ops:east", 5, "x", since + Duration::days(1), since).key
        );
        assert_eq!(
            (a.case_id.as_deref(), a.office.as_deref(), a.level),
            (None, None, 2)
        );
        assert_eq!(a.channel(), Some("ops:east"));
        assert_eq!(
            channel_recovered("ops:east", since, since).channel(),
            Some("ops:east")
        );
        assert!(a.summary.contains("连续5次"), "{}", a.summary);
        let case = fixtures::stored_case();
        assert_eq!(
            letter_failed(&fixtures::org(), &case, None, "m", "e", since).channel(),
            None
        );
    }

    #[test]
    fn a_rejection_and_a_third_round_are_alerts() {
        let org = fixtures::org();
        let mut case = fixtures::stored_case();
        let housing = fixtures::dept("housing");
        let office = fixtures::office();
        for round in 1..=2 {
            let now = fixtures::now() + Duration::days(round);
            case.acknowledge(&ctx(&housing, now), "id2").unwrap();
            let text = ReplyText::parse("text", "办理中").unwrap();
            case.submit_reply(&ctx(&housing, now), "id2", text).unwrap();
            let reject = ReviewDecision::parse(false, "未说明时限").unwrap();
            let caused = case
                .review_reply(&ctx_in(&org, &office, now), "id2", reject)
                .unwrap();
            let alerts = for_effects(&org, &case, &caused);
            let kinds: Vec<_> = alerts.iter().map(|a| (a.kind, a.level, a.round)).collect();
            let expected = if round == 1 {
                vec![(AlertKind::ReplyRejected, 1, 1)]
            } else {
                vec![
                    (AlertKind::ReplyRejected, 1, 2),
                    (AlertKind::RepeatedRounds, 2, 3),
                ]
            };
            assert_eq!(kinds, expected);
            assert!(
                alerts[0].summary.contains("答复被退回：未说明时限"),
                "{}",
                alerts[0].summary
            );
        }
    }
}
