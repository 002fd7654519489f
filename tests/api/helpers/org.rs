//! The organisations, keys and petitions the scenarios use.

use whistle::proto::{EscalatePetitionRequest, Resident};

pub const OFFICE_KEY: &str = "demo-office-cuiping";
pub const SUPERVISOR_KEY: &str = "demo-supervisor";
/// The second office of `TWO_OFFICES`; the demo organisation has only one.
pub const XINNAN_KEY: &str = "test-office-xinnan-8f3a";

/// The resident of the standard petition, as the office recorded her.
pub const RESIDENT_NAME: &str = "张女士";
pub const RESIDENT_PHONE: &str = "13812345678";
pub const RESIDENT_PHONE_MASKED: &str = "138****5678";

/// Two offices, the demo departments and categories, and the demo keys (plus
/// one for the second office). Keys are stored as digests, as in production.
/// Two departments differ from the demo: land may see residents' phones, and
/// power has two working days to reply instead of five.
pub fn two_offices() -> String {
    use whistle::grpc::auth::key_digest;
    let mut toml = String::from(
        r#"
[offices.cuiping]
name = "翠屏街道"
reference_prefix = "翠街哨"
communities = ["杨柳社区", "新南社区"]
[[offices.cuiping.zones]]
name = "杨柳一片区"
community = "杨柳社区"
leader = "李片长"
collectors = ["陈服务员", "刘服务员"]
[[offices.cuiping.zones]]
name = "新南一片区"
community = "新南社区"
leader = "赵片长"

[offices.xinnan]
name = "西外街道"
reference_prefix = "西街哨"
communities = ["滨河社区"]

[departments.housing]
name = "区住房和城乡建设局"
[departments.land]
name = "区自然资源局"
# Land staff call residents back themselves.
show_resident_phone = true
[departments.education]
name = "区教育局"
[departments.lighting]
name = "区路灯管理所"
[departments.power]
name = "国网达州供电公司"
# Power cuts cannot wait a working week.
reply_working_days = 2

[categories.property-certificate]
name = "不动产权证办理"
lead = "housing"
assisting = ["land"]
[categories.street-lighting]
name = "路灯维修"
lead = "lighting"
assisting = ["power"]
[categories.power-supply]
name = "供电故障"
lead = "power"
"#,
    );
    let principals = [
        (
            "cuiping-office",
            "role = \"office\"\noffice = \"cuiping\"",
            OFFICE_KEY,
        ),
        (
            "xinnan-office",
            "role = \"office\"\noffice = \"xinnan\"",
            XINNAN_KEY,
        ),
        ("supervisor", "role = \"supervisor\"", SUPERVISOR_KEY),
    ];
    for (name, role, key) in principals {
        // Each principal's person in the console: `cuiping-office` is
        // `cuiping@whistle.localhost`, as in the demo organisation.
        let email = format!("{}@whistle.localhost", name.trim_end_matches("-office"));
        toml.push_str(&format!(
            "\n[principals.{name}]\n{role}\nkey_sha256 = \"{}\"\nemails = [\"{email}\"]\n",
            key_digest(key)
        ));
    }
    for dept in ["housing", "land", "education", "lighting", "power"] {
        toml.push_str(&format!(
            "\n[principals.{dept}-dept]\nrole = \"department\"\ndepartment = \"{dept}\"\nkey_sha256 = \"{}\"\nemails = [\"{dept}@whistle.localhost\"]\n",
            key_digest(&department_key(dept))
        ));
    }
    toml
}

/// The demo key of a department: `demo-dept-housing`, …
pub fn department_key(code: &str) -> String {
    format!("demo-dept-{code}")
}

/// The seed's typical petition: a property certificate that cannot be issued,
/// which routes to housing (lead) and land (assisting).
pub fn property_certificate(petition_id: &str) -> EscalatePetitionRequest {
    EscalatePetitionRequest {
        petition_id: petition_id.into(),
        category: "property-certificate".into(),
        title: "杨柳小区3栋房产证迟迟未能办理".into(),
        description: "居民反映：小区交房已满五年，因开发商欠缴土地出让金，\n业主至今无法办理不动产权证，影响子女入学。".into(),
        resident: Some(Resident {
            name: RESIDENT_NAME.into(),
            phone: RESIDENT_PHONE.into(),
        }),
        address: "翠屏街道杨柳社区3栋2单元".into(),
        community: "杨柳社区".into(),
        difficulty: 3,
        lead_department: String::new(),
        assisting_departments: Vec::new(),
        urgent: false,
        zone: String::new(),
        collector: String::new(),
    }
}

/// A broken street light: lighting (lead) and power (assisting).
pub fn street_lighting(petition_id: &str) -> EscalatePetitionRequest {
    EscalatePetitionRequest {
        category: "street-lighting".into(),
        title: "新南社区滨江路路灯连续一周不亮".into(),
        description: "夜间行人摔倒两次，居民要求尽快维修。".into(),
        resident: Some(Resident {
            name: "李先生".into(),
            phone: "0818-2345678".into(),
        }),
        address: "翠屏街道新南社区滨江路".into(),
        community: "新南社区".into(),
        difficulty: 2,
        ..property_certificate(petition_id)
    }
}

/// A petition routed to one department only (power), for races on one request.
pub fn power_cut(petition_id: &str) -> EscalatePetitionRequest {
    EscalatePetitionRequest {
        category: "power-supply".into(),
        title: "杨柳社区5栋频繁停电".into(),
        description: "近一个月停电四次。".into(),
        difficulty: 1,
        ..property_certificate(petition_id)
    }
}
