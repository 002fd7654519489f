//! A petition as the street office sends it, parsed once at the edge: after
//! `Petition::parse` every field is known to be present where required, within its
//! length limit and free of characters the databases cannot store (`text`).

use sha2::{Digest, Sha256};

use super::error::{DomainError, FieldViolation, Violations, echo};
use super::organisation::{Office, Organisation, Route, Zone};
use super::text::{
    ADDRESS_MAX, COMMUNITY_MAX, DESCRIPTION_MAX, NAME_MAX, PETITION_ID_MAX, TITLE_MAX, code, line,
    text,
};

/// The longest zone (片区) name.
pub const ZONE_MAX: usize = 100;

/// A Chinese phone number: a mobile (11 digits starting 13–19, optionally +86) or
/// a landline with its area code (0818-2345678). Kept normalised: a mobile as
/// its eleven digits, a landline as `AREA-NUMBER`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Phone(String);

/// The most departments one petition may name as assisting: more is a
/// mistake, and each would be a letter.
pub const ASSISTING_MAX: usize = 20;

/// The longest phone input looked at, separators included.
const PHONE_INPUT_MAX: usize = 30;

impl Phone {
    pub fn parse(field: &str, value: &str) -> Result<Phone, FieldViolation> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(Phone::default());
        }
        // However it is spaced, a number is short: bound what is looked at
        // before anything else (a million spaces is not a phone).
        let len = value.chars().count();
        if len > PHONE_INPUT_MAX {
            return Err(FieldViolation::new(
                field,
                format!("is {len} characters long; the limit is {PHONE_INPUT_MAX}"),
            )
            .zh(format!("长度为{len}个字符，上限为{PHONE_INPUT_MAX}个")));
        }
        let bad = || {
            FieldViolation::new(
                field,
                "must be a mobile number (13812345678, +86 allowed) or a landline with area code (0818-2345678)",
            )
            .zh("应为手机号（13812345678，可带 +86）或带区号的固定电话（0818-2345678）")
        };
        let rest = value.strip_prefix("+86").unwrap_or(value);
        if rest
            .chars()
            .any(|c| !(c.is_ascii_digit() || c == '-' || c == ' '))
        {
            return Err(bad());
        }
        let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
        let mobile = digits.len() == 11
            && digits.starts_with('1')
            && matches!(digits.as_bytes()[1], b'3'..=b'9');
        let landline = digits.starts_with('0') && (10..=12).contains(&digits.len());
        if mobile {
            // Stored as the national number alone: `+86 139 8765 4321` and
            // `139-8765-4321` are one phone.
            Ok(Phone(digits))
        } else if landline {
            // The area code as the office separated it, the rest run together:
            // `0818 234 5678` → `0818-2345678`.
            let area: String = rest
                .trim()
                .split(['-', ' '])
                .next()
                .unwrap_or_default()
                .to_owned();
            if area.len() < digits.len() && (3..=4).contains(&area.len()) {
                Ok(Phone(format!("{area}-{}", &digits[area.len()..])))
            } else {
                Ok(Phone(digits))
            }
        } else {
            Err(bad())
        }
    }

    /// Restores a number read back from storage, where it was validated on the way in.
    pub fn from_stored(value: String) -> Phone {
        Phone(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The masked number as a phone of its own, for a view of the resident.
    pub fn masked_phone(&self) -> Phone {
        Phone(self.masked())
    }

    /// `138****5678`: enough for staff to recognise a resident, not to call them.
    /// The national number is masked: a country code kept by an older version
    /// (`+86 139…`) is left out.
    pub fn masked(&self) -> String {
        let mut digits: Vec<char> = self.0.chars().filter(char::is_ascii_digit).collect();
        if digits.len() == 13 && self.0.trim_start().starts_with("+86") {
            digits.drain(..2);
        }
        if digits.len() < 8 {
            return "*".repeat(digits.len());
        }
        let (head, tail) = (3, 4);
        let mut out: String = digits[..head].iter().collect();
        out.push_str(&"*".repeat(digits.len() - head - tail));
        out.extend(&digits[digits.len() - tail..]);
        out
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resident {
    pub name: String,
    pub phone: Phone,
}

/// The raw fields of an escalation, before parsing.
#[derive(Debug, Clone, Default)]
pub struct PetitionInput {
    pub petition_id: String,
    pub category: String,
    pub title: String,
    pub description: String,
    pub resident_name: String,
    pub resident_phone: String,
    pub address: String,
    pub community: String,
    pub difficulty: i32,
    pub lead_department: String,
    pub assisting_departments: Vec<String>,
    pub urgent: bool,
    /// 片区, optional.
    pub zone: String,
    /// Who collected it (收集人/民情服务员), optional.
    pub collector: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Petition {
    pub petition_id: String,
    pub category: String,
    pub title: String,
    pub description: String,
    pub resident: Resident,
    pub address: String,
    pub community: String,
    /// 1–5, the weight (分值权重) of the case.
    pub difficulty: u8,
    pub lead_department: Option<String>,
    pub assisting_departments: Vec<String>,
    /// Urgent petitions get the shorter deadlines of the urgent policy.
    pub urgent: bool,
    /// The zone (片区) it was collected in; empty when not said.
    pub zone: String,
    /// Who collected it; empty when not said.
    pub collector: String,
}

impl Petition {
    /// Parses every field and reports every violation together.
    pub fn parse(input: &PetitionInput) -> Result<Petition, DomainError> {
        let mut v = Violations::new();
        match Self::parse_into(input, &mut v) {
            Some(petition) if v.is_empty() => Ok(petition),
            _ => Err(v.into_error()),
        }
    }

    /// Admits a petition from `office`: its fields, its route and its community,
    /// every violation of all three reported at once, so a caller fixes
    /// everything in one round trip.
    pub fn admit(
        input: &PetitionInput,
        office: &Office,
        org: &Organisation,
    ) -> Result<(Petition, Route), DomainError> {
        let mut v = Violations::new();
        let petition = Self::parse_into(input, &mut v);
        // Route on what parsed: a field already refused is not reported twice.
        let category = code("category", &input.category, true).ok();
        let lead = code("lead_department", &input.lead_department, false).ok();
        let assisting: Vec<(usize, String)> = input
            .assisting_departments
            .iter()
            .take(ASSISTING_MAX)
            .enumerate()
            .filter_map(|(i, d)| code("", d, true).ok().map(|d| (i, d)))
            .collect();
        let route = match (category, lead) {
            (Some(category), Some(lead)) => org.check_route(
                &category,
                (!lead.is_empty()).then_some(lead.as_str()),
                &assisting,
                &mut v,
            ),
            _ => None,
        };
        if let Ok(community) = text("community", &input.community, COMMUNITY_MAX, false)
            && !office.communities.is_empty()
            && !office.communities.contains(&community)
        {
            v.push(
                FieldViolation::new(
                    "community",
                    format!(
                        "{} is not a community of {}; known: {}",
                        echo(&community),
                        office.code,
                        office.communities.join(", ")
                    ),
                )
                .zh(format!(
                    "{} 不是{}的社区；可选：{}",
                    echo(&community),
                    office.name,
                    office.communities.join("、")
                )),
            );
        }
        if let Some(petition) = &petition {
            check_zone(petition, office, &mut v);
        }
        match (petition, route) {
            (Some(petition), Some(route)) if v.is_empty() => Ok((petition, route)),
            _ => Err(v.into_error()),
        }
    }

    /// Parses every field into `v`; `None` when any was refused.
    fn parse_into(input: &PetitionInput, v: &mut Violations) -> Option<Petition> {
        let petition_id = v.check(line(
            "petition_id",
            &input.petition_id,
            PETITION_ID_MAX,
            true,
        ));
        let category = v.check(code("category", &input.category, true));
        let title = v.check(line("title", &input.title, TITLE_MAX, true));
        let description = v.check(text(
            "description",
            &input.description,
            DESCRIPTION_MAX,
            false,
        ));
        let name = v.check(line("resident.name", &input.resident_name, NAME_MAX, false));
        let phone = v.check(Phone::parse("resident.phone", &input.resident_phone));
        let address = v.check(line("address", &input.address, ADDRESS_MAX, false));
        let community = v.check(line("community", &input.community, COMMUNITY_MAX, false));
        let difficulty = v.check(match input.difficulty {
            d @ 1..=5 => Ok(d as u8),
            d => Err(
                FieldViolation::new("difficulty", format!("is {d}; must be 1 to 5"))
                    .zh(format!("为{d}；应为1到5")),
            ),
        });
        let lead = v.check(code("lead_department", &input.lead_department, false));
        let zone = v.check(line("zone", &input.zone, ZONE_MAX, false));
        let collector = v.check(line("collector", &input.collector, NAME_MAX, false));
        let count = input.assisting_departments.len();
        if count > ASSISTING_MAX {
            v.push(
                FieldViolation::new(
                    "assisting_departments",
                    format!("{count} departments; at most {ASSISTING_MAX} may assist"),
                )
                .zh(format!("共{count}个部门；协办部门最多{ASSISTING_MAX}个")),
            );
        }
        let assisting: Vec<_> = input
            .assisting_departments
            .iter()
            .take(ASSISTING_MAX)
            .enumerate()
            .filter_map(|(i, d)| v.check(code(&format!("assisting_departments[{i}]"), d, true)))
            .collect();
        // Every field parsed exactly when no violation was recorded; the match
        // says so without a promise the compiler cannot check.
        match (
            petition_id,
            category,
            title,
            description,
            name,
            phone,
            address,
            community,
            difficulty,
            lead,
            zone,
            collector,
        ) {
            (
                Some(petition_id),
                Some(category),
                Some(title),
                Some(description),
                Some(name),
                Some(phone),
                Some(address),
                Some(community),
                Some(difficulty),
                Some(lead),
                Some(zone),
                Some(collector),
            ) => Some(Petition {
                petition_id,
                category,
                title,
                description,
                resident: Resident { name, phone },
                address,
                community,
                difficulty,
                lead_department: (!lead.is_empty()).then_some(lead),
                assisting_departments: assisting,
                urgent: input.urgent,
                zone,
                collector,
            }),
            _ => None,
        }
    }

    /// A digest of everything the office said, so that a retried escalation can be
    /// told apart from a different petition reusing the same id.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        let mut field = |s: &str| {
            h.update((s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        };
        field(&self.category);
        field(&self.title);
        field(&self.description);
        field(&self.resident.name);
        field(self.resident.phone.as_str());
        field(&self.address);
        field(&self.community);
        field(&self.difficulty.to_string());
        field(self.lead_department.as_deref().unwrap_or(""));
        for d in &self.assisting_departments {
            field(d);
        }
        // Only when set, so that petitions escalated before urgency existed keep
        // their digest and a retry of them is still recognised.
        if self.urgent {
            field("urgent");
        }
        // The same for the zone and collector, which came later still.
        if !self.zone.is_empty() || !self.collector.is_empty() {
            field("zone");
            field(&self.zone);
            field(&self.collector);
        }
        hex::encode(h.finalize())
    }
}

/// The zone and collector named, against `office`'s zones: the zone must be
/// one of them and of the petition's community, the collector one of the
/// zone's (or, with no zone named, of any zone of the community). An office
/// without zones takes any names, as one without communities takes any
/// community.
fn check_zone(petition: &Petition, office: &Office, v: &mut Violations) {
    if office.zones.is_empty() {
        return;
    }
    fn of_community<'a>(office: &'a Office, community: &str) -> Vec<&'a Zone> {
        office
            .zones
            .iter()
            .filter(|z| community.is_empty() || z.community == community)
            .collect()
    }
    fn names<'a>(zones: &[&'a Zone]) -> Vec<&'a str> {
        zones.iter().map(|z| z.name.as_str()).collect()
    }
    let zone = if petition.zone.is_empty() {
        None
    } else {
        match office.zone(&petition.zone) {
            Some(zone) if petition.community.is_empty() || zone.community == petition.community => {
                Some(zone)
            }
            _ => {
                let known = names(&of_community(office, &petition.community));
                v.push(
                    FieldViolation::new(
                        "zone",
                        format!(
                            "{} is not a zone of {} {}; known: {}",
                            echo(&petition.zone),
                            office.code,
                            petition.community,
                            known.join(", ")
                        ),
                    )
                    .zh(format!(
                        "{} 不是{}{}的片区；可选：{}",
                        echo(&petition.zone),
                        office.name,
                        petition.community,
                        known.join("、")
                    )),
                );
                return;
            }
        }
    };
    if petition.collector.is_empty() {
        return;
    }
    let candidates: Vec<_> = match zone {
        Some(zone) => vec![zone],
        None => of_community(office, &petition.community),
    };
    let open = candidates.iter().any(|z| z.collectors.is_empty());
    let known = candidates
        .iter()
        .any(|z| z.collectors.contains(&petition.collector));
    if !open && !known {
        let listed: Vec<&str> = candidates
            .iter()
            .flat_map(|z| z.collectors.iter().map(String::as_str))
            .collect();
        v.push(
            FieldViolation::new(
                "collector",
                format!(
                    "{} does not collect in {}; known: {}",
                    echo(&petition.collector),
                    names(&candidates).join(", "),
                    listed.join(", ")
                ),
            )
            .zh(format!(
                "{} 不是{}的民情服务员；可选：{}",
                echo(&petition.collector),
                names(&candidates).join("、"),
                listed.join("、")
            )),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> PetitionInput {
        PetitionInput {
            petition_id: "CP-2026-0001".into(),
            category: "property-certificate".into(),
            title: "  房产证办理受阻  ".into(),
            description: "居民反映小区房产证迟迟未能办理。".into(),
            resident_name: "张女士".into(),
            resident_phone: "138 1234 5678".into(),
            address: "翠屏街道杨柳社区3栋".into(),
            community: "杨柳社区".into(),
            difficulty: 3,
            ..Default::default()
        }
    }

    #[test]
    fn a_good_petition_parses_and_keeps_chinese_text() {
        let p = Petition::parse(&input()).unwrap();
        assert_eq!(p.title, "房产证办理受阻");
        assert_eq!(p.resident.phone.masked(), "138****5678");
        assert_eq!(p.lead_department, None);
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut i = input();
        i.title = " ".into();
        i.difficulty = 6;
        i.resident_phone = "12345".into();
        i.description = "字".repeat(DESCRIPTION_MAX + 1);
        let DomainError::Invalid(v) = Petition::parse(&i).unwrap_err() else {
            panic!()
        };
        let fields: Vec<_> = v.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            ["title", "description", "resident.phone", "difficulty"]
        );
    }

    #[test]
    fn titles_are_counted_in_characters() {
        let mut i = input();
        i.title = "字".repeat(TITLE_MAX);
        assert!(Petition::parse(&i).is_ok());
        i.title.push('字');
        assert!(Petition::parse(&i).is_err());
    }

    #[test]
    fn nul_is_refused() {
        let mut i = input();
        i.address = "a\0b".into();
        assert!(Petition::parse(&i).is_err());
    }

    #[test]
    fn phones() {
        for ok in [
            "13812345678",
            "+86 138-1234-5678",
            "0818-2345678",
            "010 12345678",
            "",
        ] {
            assert!(Phone::parse("p", ok).is_ok(), "{ok}");
        }
        for bad in [
            "12345",
            "12812345678",
            "1381234567",
            "138123456789",
            "abc",
            "0818-23",
        ] {
            assert!(Phone::parse("p", bad).is_err(), "{bad}");
        }
        assert_eq!(
            Phone::parse("p", "0818-2345678").unwrap().masked(),
            "081****5678"
        );
    }

    #[test]
    fn phones_are_stored_normalised_bounded_and_masked_by_their_national_number() {
        let stored = |v: &str| Phone::parse("p", v).unwrap().as_str().to_owned();
        assert_eq!(stored("+86 139 8765 4321"), "13987654321");
        assert_eq!(stored("139-8765-4321"), "13987654321");
        assert_eq!(stored("0818 234 5678"), "0818-2345678");
        assert_eq!(stored("010-12345678"), "010-12345678");
        assert_eq!(stored("01012345678"), "01012345678");
        assert_eq!(
            Phone::parse("p", "+86 139 8765 4321").unwrap().masked(),
            "139****4321"
        );
        // A number an older version kept with its country code.
        assert_eq!(
            Phone::from_stored("+86 139 8765 4321".into()).masked(),
            "139****4321"
        );
        let spaced = format!("138{}12345678", " ".repeat(1_000_000));
        let refused = Phone::parse("resident.phone", &spaced).unwrap_err();
        assert!(
            refused.description.contains("limit is 30"),
            "{}",
            refused.description
        );
    }

    fn admitted(zone: &str, collector: &str, community: &str) -> Result<Petition, Vec<String>> {
        let org = crate::domain::fixtures::org();
        let mut i = input();
        i.category = "street-lighting".into();
        i.zone = zone.into();
        i.collector = collector.into();
        i.community = community.into();
        Petition::admit(&i, &org.offices["cuiping"], &org)
            .map(|(p, _)| p)
            .map_err(|e| match e {
                DomainError::Invalid(v) => v.iter().map(|v| v.field.clone()).collect(),
                other => vec![other.to_string()],
            })
    }

    #[test]
    fn a_zone_and_collector_are_checked_against_the_office() {
        let p = admitted("杨柳一片区", "陈服务员", "杨柳社区").unwrap();
        assert_eq!(
            (p.zone.as_str(), p.collector.as_str()),
            ("杨柳一片区", "陈服务员")
        );
        // Neither is required, and a collector may be named without the zone.
        assert!(admitted("", "", "杨柳社区").is_ok());
        assert!(admitted("", "刘服务员", "杨柳社区").is_ok());
        // A zone whose collectors are not listed takes anyone.
        assert!(admitted("新南一片区", "任何人", "新南社区").is_ok());
        assert_eq!(admitted("七片区", "", "杨柳社区").unwrap_err(), ["zone"]);
        assert_eq!(
            admitted("新南一片区", "", "杨柳社区").unwrap_err(),
            ["zone"]
        );
        assert_eq!(
            admitted("杨柳一片区", "王五", "杨柳社区").unwrap_err(),
            ["collector"]
        );
        // Another office without zones takes any names.
        let org = crate::domain::fixtures::org();
        let mut i = input();
        i.category = "street-lighting".into();
        i.zone = "随便".into();
        i.collector = "谁".into();
        assert!(Petition::admit(&i, &org.offices["dongcheng"], &org).is_ok());
    }

    #[test]
    fn the_fingerprint_changes_with_content_only() {
        let a = Petition::parse(&input()).unwrap();
        let b = Petition::parse(&input()).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        let mut i = input();
        i.title = "别的事".into();
        assert_ne!(a.fingerprint(), Petition::parse(&i).unwrap().fingerprint());
        let mut i = input();
        i.collector = "陈服务员".into();
        assert_ne!(a.fingerprint(), Petition::parse(&i).unwrap().fingerprint());
    }
}
