//! The one organisation and case the unit tests share (domain, letters, the
//! store suite): the seed's street office 翠屏街道 and a second office 东城街道;
//! housing (lead) and land (assisting) for property certificates, lighting for
//! street lights, and power; each department with its own deadline policy.
//! Tests that need something else change a copy.

use chrono::{DateTime, TimeZone, Utc};

use std::sync::LazyLock;

use super::access::Acting;
use super::context::{Ctx, OsIds, SeededIds};
use super::text::ReasonText;
use super::{
    Actor, ActorRole, Case, Category, DeadlinePolicy, Department, DomainError, Office,
    Organisation, Petition, PetitionInput, Reference, Zone,
};

pub fn org() -> Organisation {
    let dept = |code: &str, name: &str, reply_working_days: u32| {
        let d = Department {
            code: code.into(),
            name: name.into(),
            policy: DeadlinePolicy::working_days(1, reply_working_days),
            show_resident_phone: false,
            reply_domains: Vec::new(),
        };
        (code.to_owned(), d)
    };
    let office = |code: &str, name: &str, prefix: &str, communities: &[&str]| {
        let o = Office {
            code: code.into(),
            name: name.into(),
            reference_prefix: prefix.into(),
            communities: communities.iter().map(|c| c.to_string()).collect(),
            contact: "王主任".into(),
            contact_phone: "0818-2345678".into(),
            zones: Vec::new(),
        };
        (code.to_owned(), o)
    };
    let category = |code: &str, name: &str, lead: &str, assisting: &[&str]| {
        let c = Category {
            code: code.into(),
            name: name.into(),
            lead: lead.into(),
            assisting: assisting.iter().map(|a| a.to_string()).collect(),
        };
        (code.to_owned(), c)
    };
    let mut cuiping = office("cuiping", "翠屏街道", "翠街哨", &["杨柳社区", "新南社区"]);
    cuiping.1.zones = vec![
        Zone {
            name: "杨柳一片区".into(),
            community: "杨柳社区".into(),
            leader: "李片长".into(),
            collectors: vec!["陈服务员".into(), "刘服务员".into()],
        },
        Zone {
            name: "新南一片区".into(),
            community: "新南社区".into(),
            leader: "赵片长".into(),
            collectors: Vec::new(),
        },
    ];
    Organisation {
        offices: [cuiping, office("dongcheng", "东城街道", "东街哨", &[])]
            .into_iter()
            .collect(),
        departments: [
            dept("housing", "区住建局", 5),
            dept("land", "区自然资源局", 10),
            dept("lighting", "区路灯管理所", 3),
            dept("power", "供电公司", 5),
        ]
        .into_iter()
        .collect(),
        categories: [
            category(
                "property-certificate",
                "不动产权证办理",
                "housing",
                &["land"],
            ),
            category("street-lighting", "路灯维修", "lighting", &[]),
        ]
        .into_iter()
        .collect(),
        ..Default::default()
    }
}

pub fn office() -> Actor {
    Actor {
        name: "cuiping-office".into(),
        role: ActorRole::Office("cuiping".into()),
    }
}

pub fn dept(code: &str) -> Actor {
    Actor {
        name: format!("{code}-dept"),
        role: ActorRole::Department(code.into()),
    }
}

pub fn supervisor() -> Actor {
    Actor {
        name: "supervisor".into(),
        role: ActorRole::Supervisor,
    }
}

/// `who` acting at `at` under the fixtures' organisation.
pub fn ctx(who: &dyn Acting, at: DateTime<Utc>) -> Ctx<'_> {
    static ORG: LazyLock<Organisation> = LazyLock::new(org);
    Ctx::new(who, &ORG, at, &OsIds)
}

/// `who` acting at `at` under `org`, a copy a test changed.
pub fn ctx_in<'a>(org: &'a Organisation, who: &'a dyn Acting, at: DateTime<Utc>) -> Ctx<'a> {
    Ctx::new(who, org, at, &OsIds)
}

/// Monday 2026-11-23, 10:00 in Shanghai.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()
}

pub fn petition_input() -> PetitionInput {
    PetitionInput {
        petition_id: "P1".into(),
        category: "property-certificate".into(),
        title: "房产证<迟迟>未办".into(),
        description: "开发商未完成备案 & 其他".into(),
        resident_name: "张女士".into(),
        resident_phone: "13812345678".into(),
        community: "杨柳社区".into(),
        difficulty: 3,
        ..Default::default()
    }
}

/// A freshly escalated case with ids `id1` (the case), `id2` and `id3` (housing,
/// land), its references still pending as the store receives it.
pub fn open_case() -> Case {
    let org = org();
    let (petition, route) = Petition::admit(&petition_input(), &org.offices["cuiping"], &org)
        .expect("the fixture petition is valid");
    Case::open(
        &Ctx::new(&office(), &org, now(), &SeededIds::default()),
        petition,
        &org.offices["cuiping"],
        route,
    )
    .0
}

/// The fixture case with the numbers the store would have drawn.
pub fn stored_case() -> Case {
    let mut case = open_case();
    for (i, r) in case.requests.iter_mut().enumerate() {
        r.reference = Reference::Assigned(Reference::format("翠街哨", 2026, i as i64 + 1));
    }
    case
}

/// A reason as a supervisor or department would give it.
pub fn reason(text: &str) -> ReasonText {
    ReasonText::parse("reason", text).unwrap()
}

/// Asserts a refusal for the state it names.
pub fn wrong_state_naming(err: DomainError, state: &str) {
    match err {
        DomainError::WrongState(m) => assert!(m.contains(state), "{m}"),
        other => panic!("{other:?}"),
    }
}
