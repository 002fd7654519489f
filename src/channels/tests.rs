use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};

use super::message::{Message, Notice};
use super::post::{Answer, answer, messages, request};
use super::*;
use crate::domain::ActorRole;
use crate::domain::{Due, RaisedAlert, fixtures};
use crate::settings::testing::load_with_file;

fn overdue(id: i64, level: u8) -> RaisedAlert {
    let org = fixtures::org();
    let case = fixtures::stored_case();
    let r = &case.requests[0];
    let effect = crate::domain::Effect::Overdue {
        request_id: r.id.clone(),
        round: 1,
        due: Due::Reply,
        due_at: r.reply_due_at,
        slot: crate::domain::AlertSlot { level, repeat: 0 },
        at: r.reply_due_at + chrono::Duration::hours(30),
    };
    let alert = crate::domain::alert::for_effects(&org, &case, &[effect]).remove(0);
    RaisedAlert { id, alert }
}

fn channel(kind: ChannelKind, secret: Option<&str>) -> Channel {
    Channel {
        name: "g".into(),
        kind,
        url: "https://robot.example/send?key=k".parse().unwrap(),
        secret: secret.map(|s| Secret::new(s.into())),
        audience: vec![Audience::Supervisors],
        kinds: Vec::new(),
        min_level: 1,
        mobiles: BTreeMap::new(),
        link: Some("https://console.example/cases/{case_id}".into()),
        digest: false,
        alert_after_failures: 5,
    }
}

#[test]
fn dingtalk_signs_as_its_documentation_computes() {
    // Python's hmac over the documented string, for these inputs.
    assert_eq!(
        dingtalk::sign("SECabc", 1_700_000_000_000),
        "jcUpW0QmtKduN03n4JqQ0PBosVjqnM8gU7fIIvsDmCM="
    );
    let at = Utc.timestamp_millis_opt(1_700_000_000_000).unwrap();
    let one = Message {
        notices: vec![Notice::of(
            &channel(ChannelKind::Dingtalk, None),
            &fixtures::org(),
            &overdue(1, 1),
        )],
        digest: None,
    };
    let r = request(&channel(ChannelKind::Dingtalk, Some("SECabc")), &one, at);
    assert_eq!(
        r.url.as_str(),
        "https://robot.example/send?key=k&timestamp=1700000000000&sign=jcUpW0QmtKduN03n4JqQ0PBosVjqnM8gU7fIIvsDmCM%3D"
    );
    assert_eq!(r.body["msgtype"], "markdown");
}

#[test]
fn feishu_signs_with_the_timestamp_and_secret_as_the_key() {
    assert_eq!(
        feishu::sign("SECabc", 1_700_000_000),
        "XprR1de+0SSBnwWyU/4k6x2TL+Q2SJlM5NNEdAv7MWg="
    );
    let at = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
    let one = Message {
        notices: vec![Notice::of(
            &channel(ChannelKind::Feishu, None),
            &fixtures::org(),
            &overdue(1, 2),
        )],
        digest: None,
    };
    let r = request(&channel(ChannelKind::Feishu, Some("SECabc")), &one, at);
    assert_eq!(r.body["timestamp"], "1700000000");
    assert_eq!(
        r.body["sign"],
        "XprR1de+0SSBnwWyU/4k6x2TL+Q2SJlM5NNEdAv7MWg="
    );
    assert_eq!(r.body["msg_type"], "interactive");
    assert_eq!(r.body["card"]["header"]["template"], "red");
}

#[test]
fn a_message_names_no_resident_and_no_title() {
    let case = fixtures::stored_case();
    let alert = overdue(7, 2);
    let mut ch = channel(ChannelKind::Wecom, None);
    let notice = Notice::of(&ch, &fixtures::org(), &alert);
    let m = Message {
        notices: vec![notice],
        digest: None,
    };
    let body = request(&ch, &m, Utc::now()).body.to_string();
    assert!(!body.contains(&case.title), "{body}");
    assert!(!alert.alert.summary.is_empty() && !body.contains(&alert.alert.summary));
    assert!(body.contains("答复逾期"), "{body}");
    assert!(body.contains("区住建局"), "{body}");
    assert!(
        body.contains(&format!("https://console.example/cases/{}", case.id)),
        "{body}"
    );
    assert_eq!(request(&ch, &m, Utc::now()).body["msgtype"], "markdown");
    // A mention of the official responsible goes as text, the only kind
    // that carries mentioned_mobile_list.
    ch.mobiles.insert("housing".into(), "13800000000".into());
    let m = Message {
        notices: vec![Notice::of(&ch, &fixtures::org(), &alert)],
        digest: None,
    };
    let r = request(&ch, &m, Utc::now());
    assert_eq!(r.body["msgtype"], "text");
    assert_eq!(r.body["text"]["mentioned_mobile_list"][0], "13800000000");
}

#[test]
fn a_burst_is_merged_into_messages_within_the_size_limit() {
    let ch = channel(ChannelKind::Wecom, None);
    let notices: Vec<Notice> = (1..=100)
        .map(|id| Notice::of(&ch, &fixtures::org(), &overdue(id, 1)))
        .collect();
    let merged = messages(&ch, notices);
    assert!(merged.len() < 20, "{} messages", merged.len());
    assert!(merged.len() > 1);
    let ids: Vec<i64> = merged
        .iter()
        .flat_map(|m| m.notices.iter().map(|n| n.alert_id))
        .collect();
    assert_eq!(ids, (1..=100).collect::<Vec<_>>());
    for m in &merged {
        assert!(m.markdown().len() <= wecom::MARKDOWN_MAX_BYTES);
        assert!(m.title().contains("条督办提醒") || m.notices.len() == 1);
    }
}

#[test]
fn vendors_answers_are_read_by_their_codes() {
    use ChannelKind::*;
    assert_eq!(
        answer(Wecom, 200, r#"{"errcode":0,"errmsg":"ok"}"#),
        Answer::Delivered
    );
    assert!(matches!(
        answer(
            Wecom,
            200,
            r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#
        ),
        Answer::RateLimited(_)
    ));
    assert!(matches!(
        answer(
            Dingtalk,
            200,
            r#"{"errcode":130101,"errmsg":"send too fast"}"#
        ),
        Answer::RateLimited(_)
    ));
    assert!(matches!(
        answer(Dingtalk, 200, r#"{"errcode":310000,"errmsg":"sign not match"}"#),
        Answer::Failed(e) if e.contains("310000")
    ));
    assert_eq!(
        answer(Feishu, 200, r#"{"code":0,"msg":"success","data":{}}"#),
        Answer::Delivered
    );
    assert!(matches!(
        answer(Feishu, 200, r#"{"code":19021,"msg":"sign match fail"}"#),
        Answer::Failed(_)
    ));
    assert!(matches!(answer(Feishu, 429, ""), Answer::RateLimited(_)));
    assert!(matches!(
        answer(Wecom, 502, "bad gateway"),
        Answer::Failed(_)
    ));
}

#[test]
fn a_channel_hears_its_audience_kinds_and_level() {
    let alert = overdue(1, 1).alert;
    let mut ch = channel(ChannelKind::Wecom, None);
    assert!(ch.hears(&alert));
    ch.min_level = 2;
    assert!(!ch.hears(&alert));
    ch.min_level = 1;
    ch.kinds = vec![AlertKind::ExtensionRequested];
    assert!(!ch.hears(&alert));
    ch.kinds = vec![AlertKind::ReplyOverdue];
    ch.audience = vec![Audience::Department("land".into())];
    assert!(!ch.hears(&alert));
    ch.audience = vec![Audience::Department("housing".into())];
    assert!(ch.hears(&alert));
    ch.audience = vec![Audience::Office(alert.office.clone().unwrap())];
    assert!(ch.hears(&alert));
}

#[test]
fn channel_settings_are_checked_naming_each_field() {
    let settings = load_with_file(
        r#"
[channels.bad]
kind = "slack"
url = "not a url"
secret = "s"
secret_env = "NOPE"
to = ["everyone", "department:nowhere"]
alerts = ["LATE"]
min_level = 3
mobiles = { nowhere = "123" }
"#,
        &[],
    )
    .unwrap();
    let problems = channels(&settings).unwrap_err().join("; ");
    for field in [
        "channels.bad.kind",
        "channels.bad.url",
        "channels.bad.secret:",
        "channels.bad.to: \"everyone\"",
        "channels.bad.to: \"nowhere\"",
        "channels.bad.alerts",
        "channels.bad.min_level",
        "channels.bad.mobiles",
    ] {
        assert!(problems.contains(field), "{field} in {problems}");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret");
    std::fs::write(&file, "SECfromfile\n").unwrap();
    let settings = load_with_file(
        &format!(
            r#"
[channels.ok]
kind = "dingtalk"
url = "https://oapi.dingtalk.com/robot/send?access_token=t"
secret_file = {file:?}
to = ["supervisors", "department:power"]
alerts = ["REPLY_OVERDUE"]
"#
        ),
        &[],
    )
    .unwrap();
    let ok = channels(&settings).unwrap();
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].secret.as_ref().unwrap().expose(), "SECfromfile");
    assert_eq!(ok[0].kinds, [AlertKind::ReplyOverdue]);
    assert_eq!(ok[0].min_level, 1);
}

#[test]
fn webhook_settings_are_checked_and_name_a_principal() {
    let settings = load_with_file(
        r#"
[channels.nosecret]
kind = "webhook"
url = "https://oa.example/hooks"
to = ["principal:cuiping-office"]

[channels.badsecret]
kind = "webhook"
url = "https://oa.example/hooks"
secret = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
to = ["principal:nobody"]

[channels.robotish]
kind = "webhook"
url = "ftp://oa.example"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
to = ["supervisors"]
mobiles = { power = "13900000000" }
"#,
        &[],
    )
    .unwrap();
    let problems = webhooks(&settings).unwrap_err().join("; ");
    for field in [
        "channels.nosecret.secret: a webhook is signed",
        "channels.badsecret.secret: a webhook secret starts with whsec_",
        "channels.badsecret.to: \"principal:nobody\" names no principal",
        "channels.robotish.url",
        "channels.robotish.to",
        "channels.robotish.kind: alerts, mobiles, link and digest are for group robots",
    ] {
        assert!(problems.contains(field), "{field} in {problems}");
    }
    // A webhook is none of the robots.
    assert!(channels(&settings).unwrap().is_empty());
    let settings = load_with_file(
        r#"
[channels.housing-system]
kind = "webhook"
url = "https://oa.housing.example/hooks"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
to = ["principal:housing-dept"]

[principals.housing-dept]
role = "department"
department = "housing"
key_sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
"#,
        &[],
    )
    .unwrap();
    let ok = webhooks(&settings).unwrap();
    assert_eq!(ok.len(), 1);
    assert_eq!(
        ok[0].principal,
        Actor {
            name: "housing-dept".into(),
            role: ActorRole::Department("housing".into()),
        }
    );
}
