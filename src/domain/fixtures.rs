//! The one organisation and case the unit tests share: the seed's street office
//! 翠屏街道 with housing (lead) and land (assisting) for property certificates,
//! plus lighting and power. Tests that need something else change a copy.

use chrono::{DateTime, TimeZone, Utc};

use super::{
    Actor, ActorRole, Case, Category, DeadlinePolicy, Department, Office, Organisation, Petition,
    PetitionInput, Reference,
};

pub fn org() -> Organisation {
    let dept = |code: &str, name: &str| {
        let d = Department {
            code: code.into(),
            name: name.into(),
            policy: DeadlinePolicy::default(),
            show_resident_phone: false,
        };
        (code.to_owned(), d)
    };
    let office = Office {
        code: "cuiping".into(),
        name: "翠屏街道".into(),
        reference_prefix: "翠街哨".into(),
        communities: vec!["杨柳社区".into(), "新南社区".into()],
    };
    let category = Category {
        code: "property-certificate".into(),
        name: "不动产权证办理".into(),
        lead: "housing".into(),
        assisting: vec!["land".into()],
    };
    Organisation {
        offices: [("cuiping".to_owned(), office)].into_iter().collect(),
        departments: [
            dept("housing", "区住建局"),
            dept("land", "区自然资源局"),
            dept("lighting", "区路灯管理所"),
            dept("power", "供电公司"),
        ]
        .into_iter()
        .collect(),
        categories: [("property-certificate".to_owned(), category)]
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
    let mut n = 0;
    Case::open(
        petition,
        &org.offices["cuiping"],
        route,
        &org,
        &office(),
        now(),
        &mut || {
            n += 1;
            format!("id{n}")
        },
    )
}

/// The fixture case with the numbers the store would have drawn.
pub fn stored_case() -> Case {
    let mut case = open_case();
    for (i, r) in case.requests.iter_mut().enumerate() {
        r.reference = Reference::Assigned(Reference::format("翠街哨", 2026, i as i64 + 1));
    }
    case
}
