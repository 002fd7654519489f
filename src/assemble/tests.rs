//! The configuration check: what settings build, and every way they are
//! refused, named by key.

use super::*;
use crate::domain::DeadlineSpans;
use crate::settings::testing::{env, load_with_file};

/// The problems `Parts::of` finds in the demo settings with these
/// environment variables, as one line.
fn problems(vars: &[(&str, &str)]) -> String {
    let s = Settings::load_with(None, env(vars)).unwrap();
    format!("{:#}", Parts::of(&s).unwrap_err())
}

fn spans(ack: &str, reply: &str) -> DeadlineSpans {
    DeadlineSpans {
        ack: ack.parse().unwrap(),
        reply: reply.parse().unwrap(),
    }
}

#[test]
fn the_demo_organisation_routes_street_lighting_to_the_lighting_office() {
    let s = Settings::load_with(None, env(&[])).unwrap();
    let org = Parts::of(&s).unwrap().organisation;
    assert_eq!(org.offices["cuiping"].name, "翠屏街道");
    for d in ["housing", "land", "education", "lighting", "power"] {
        assert!(org.departments.contains_key(d), "{d}");
    }
    let route = org.route("street-lighting", None, &[]).unwrap();
    assert_eq!(
        (route.lead.as_str(), route.assisting.as_slice()),
        ("lighting", &["power".to_string()][..])
    );
}

#[test]
fn a_deadline_from_the_environment_reaches_the_organisation() {
    let s = Settings::load_with(
        None,
        env(&[("WHISTLE__DEADLINES__REPLY_WORKING_DAYS", "7")]),
    )
    .unwrap();
    assert_eq!(
        Parts::of(&s)
            .unwrap()
            .organisation
            .deadline_spans("housing", None, false)
            .reply,
        Span::WorkingDays(7)
    );
}

#[test]
fn an_own_organisation_replaces_the_demo_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("whistle.toml");
    std::fs::write(
        &path,
        r#"
[offices.east]
name = "东城街道"
[departments.roads]
name = "道路所"
reply_working_days = 10
[categories.pothole]
name = "坑洼"
lead = "roads"
[principals.east]
role = "office"
office = "east"
key_sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
"#,
    )
    .unwrap();
    let s = Settings::load_with(Some(&path), env(&[])).unwrap();
    assert!(!s.demo);
    let org = Parts::of(&s).unwrap().organisation;
    assert_eq!(org.offices.keys().collect::<Vec<_>>(), ["east"]);
    assert_eq!(org.offices["east"].reference_prefix, "东城街道");
    assert_eq!(
        org.deadline_spans("roads", None, false),
        DeadlineSpans {
            ack: Span::WorkingDays(1),
            reply: Span::WorkingDays(10)
        }
    );
}

#[test]
fn a_principal_may_be_known_by_its_client_certificate_alone() {
    let extra = r#"
[principals.roads-system]
role = "department"
department = "roads"
cert_subjects = ["roads-system"]
cert_sans = ["spiffe://gov.example/roads"]
"#;
    let s = load_with_file(extra, &[]).unwrap();
    Parts::of(&s).unwrap();
    let p = &s.principals["roads-system"];
    assert!(p.key_windows("roads-system").unwrap().is_empty());
    assert!(p.has_cert_names());
    assert!(
        !s.grpc.tls.enabled() && !s.http.tls.enabled(),
        "TLS is off by default"
    );
}

#[test]
fn a_principal_may_hold_several_keys_with_their_times_and_a_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("roads.sha256");
    let a = "a".repeat(64);
    let b = "B".repeat(64);
    std::fs::write(&file, format!("# rotated monthly\n{a}\n\n{b}  # next\n")).unwrap();
    let c = "c".repeat(64);
    let extra = format!(
        r#"
[principals.roads-dept]
role = "department"
department = "roads"
key_sha256_file = "{}"
[[principals.roads-dept.keys]]
sha256 = "{c}"
not_before = "2026-12-01T00:00:00+08:00"
not_after = "2027-01-01T00:00:00+08:00"
"#,
        file.display()
    );
    let s = load_with_file(&extra, &[]).unwrap();
    Parts::of(&s).unwrap();
    let windows = s.principals["roads-dept"]
        .key_windows("roads-dept")
        .unwrap();
    let digests: Vec<_> = windows.iter().map(|w| w.digest.as_str()).collect();
    assert_eq!(digests, [a.as_str(), &"b".repeat(64), c.as_str()]);
    assert_eq!(
        windows[2].not_before.unwrap().to_rfc3339(),
        "2026-11-30T16:00:00+00:00"
    );

    for (bad, says) in [
        (
            "[principals.p]\nrole = \"supervisor\"\n",
            "principals.p: no key",
        ),
        (
            "[principals.p]\nrole = \"supervisor\"\n[[principals.p.keys]]\nsha256 = \"abc\"\n",
            "principals.p.keys[0].sha256 must be 64 hex digits",
        ),
        (
            "[principals.p]\nrole = \"supervisor\"\nkey_sha256_file = \"/nonexistent\"\n",
            "principals.p.key_sha256_file: reading /nonexistent",
        ),
    ] {
        let err = load_with_file(bad, &[])
            .and_then(|s| Parts::of(&s).map(|_| ()))
            .unwrap_err();
        assert!(format!("{err:#}").contains(says), "{err:#}");
    }
    let misspelt = "[principals.p]\nrole = \"supervisor\"\n[[principals.p.keys]]\nsha256 = \"{}\"\nnot_afte = \"2027-01-01T00:00:00Z\"\n";
    let err = load_with_file(&misspelt.replace("{}", &a), &[])
        .and_then(|s| Parts::of(&s).map(|_| ()))
        .unwrap_err();
    assert!(format!("{err:#}").contains("not_afte"), "{err:#}");
}

#[test]
fn a_route_to_an_unknown_department_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[departments.roads]\nname='r'\n[categories.x]\nname='x'\nlead='nobody'\n",
    )
    .unwrap();
    let s = Settings::load_with(Some(&path), env(&[])).unwrap();
    let err = Parts::of(&s).unwrap_err();
    assert!(format!("{err:#}").contains("nobody"), "{err:#}");
}

#[test]
fn the_weekly_digest_day_and_time_are_checked_at_start_up() {
    let s = load_with_file("", &[]).unwrap();
    assert!(!s.digest.enabled);
    let p = Parts::of(&s).unwrap().digest;
    assert_eq!(
        (p.weekday, p.at),
        (
            chrono::Weekday::Mon,
            chrono::NaiveTime::from_hms_opt(8, 30, 0).unwrap()
        )
    );
    let s = load_with_file("", &[("WHISTLE__DIGEST__WEEKDAY", "fri")]).unwrap();
    assert_eq!(Parts::of(&s).unwrap().digest.weekday, chrono::Weekday::Fri);
    let err = problems(&[("WHISTLE__DIGEST__WEEKDAY", "Monday")]);
    assert!(err.contains("digest.weekday"), "{err}");
    let err = problems(&[("WHISTLE__DIGEST__TIME", "8.30")]);
    assert!(err.contains("digest.time"), "{err}");
}

#[test]
fn the_defaults_give_the_state_council_calendar_and_both_default_policies() {
    let org = Parts::of(&Settings::load_with(None, env(&[])).unwrap())
        .unwrap()
        .organisation;
    assert_eq!(org.deadline_rules.ordinary, spans("1d", "5d"));
    assert_eq!(org.deadline_rules.urgent, spans("2h", "1d"));
    assert!(org.calendar.covers(2025) && org.calendar.covers(2026));
    assert!(
        !org.calendar
            .is_working_day(chrono::NaiveDate::from_ymd_opt(2026, 10, 5).unwrap())
    );
    assert_eq!(
        org.calendar.office_hours().to_string(),
        "09:00-12:00, 13:30-17:30"
    );
}

#[test]
fn deadline_keys_at_every_level() {
    let s = load_with_file(
        r#"
[deadlines]
ack = "4h"
reply_working_days = 4
[deadlines.urgent]
reply = "6h"
[departments.lighting]
name = "路灯所"
ack_working_days = 0
reply = "3d"
[categories.power-supply]
name = "供电故障"
lead = "power"
deadlines = { reply = "2d", urgent = { ack = "1h", reply = "4h" } }
"#,
        &[],
    )
    .unwrap();
    let org = Parts::of(&s).unwrap().organisation;
    assert_eq!(org.deadline_rules.ordinary, spans("4h", "4d"));
    assert_eq!(org.deadline_rules.urgent, spans("2h", "6h"));
    assert_eq!(
        org.deadline_spans("lighting", None, false),
        spans("0d", "3d")
    );
    assert_eq!(
        org.deadline_spans("roads", Some("pothole"), true),
        spans("2h", "6h")
    );
    assert_eq!(
        org.deadline_spans("power", Some("power-supply"), false),
        spans("4h", "2d")
    );
    assert_eq!(
        org.deadline_spans("power", Some("power-supply"), true),
        spans("1h", "4h")
    );
}

#[test]
fn deadline_keys_from_the_environment() {
    let s = load_with_file(
        "",
        &[
            ("WHISTLE__DEADLINES__URGENT__ACK", "1h"),
            ("WHISTLE__DEADLINES__ACK_WORKING_DAYS", "2"),
        ],
    )
    .unwrap();
    let org = Parts::of(&s).unwrap().organisation;
    assert_eq!(org.deadline_rules.urgent, spans("1h", "1d"));
    assert_eq!(org.deadline_rules.ordinary, spans("2d", "5d"));
}

#[test]
fn wrong_deadline_keys_are_named() {
    let dent = "[categories.dent]\nname = \"d\"\nlead = \"roads\"\n";
    for (extra, expected) in [
        (
            "[deadlines]\nack = \"1d\"\nack_working_days = 1".to_owned(),
            "deadlines: both ack and ack_working_days are set",
        ),
        (
            format!("{dent}[categories.dent.deadlines.urgent]\nreply = \"soon\""),
            "categories.dent.deadlines.urgent.reply: \"soon\" is not a deadline span",
        ),
        (
            format!("{dent}[categories.dent.deadlines]\nurgent_ack = \"1h\""),
            "unknown configuration key `categories.dent.deadlines.urgent_ack`",
        ),
        (
            "[departments.bridges]\nname = \"b\"\nreplay = \"3d\"".to_owned(),
            "unknown configuration key `departments.bridges.replay`",
        ),
        (
            "[departments.bridges]\nname = \"b\"\nreply = \"2\"".to_owned(),
            "departments.bridges.reply: \"2\" is not a deadline span",
        ),
    ] {
        let err = load_with_file(&extra, &[])
            .and_then(|s| Parts::of(&s).map(|_| ()))
            .unwrap_err();
        assert!(format!("{err:#}").contains(expected), "{extra}: {err:#}");
    }
}

#[test]
fn a_calendar_folder_adds_years() {
    let dir = tempfile::tempdir().unwrap();
    let year = "year = 2027\nnotice = \"n\"\n\
                [[holiday]]\nname = \"元旦\"\nfrom = 2027-01-01\nto = 2027-01-03\n\
                [[holiday]]\nname = \"劳动节\"\nfrom = 2027-05-01\nto = 2027-05-05\n\
                [[holiday]]\nname = \"国庆节\"\nfrom = 2027-10-01\nto = 2027-10-07\n";
    std::fs::write(dir.path().join("2027.toml"), year).unwrap();
    let dir_var = ("WHISTLE__CALENDAR__DIR", dir.path().to_str().unwrap());
    let org = Parts::of(&Settings::load_with(None, env(&[dir_var])).unwrap())
        .unwrap()
        .organisation;
    assert!(org.calendar.covers(2027));
    assert!(!org.calendar.covers(2028));

    std::fs::write(
        dir.path().join("2027.toml"),
        year.replace("2027-10-07", "2027-10-70"),
    )
    .unwrap();
    let err = Parts::of(&Settings::load_with(None, env(&[dir_var])).unwrap()).unwrap_err();
    assert!(
        format!("{err:#}").contains("2027.toml: line 14: invalid date"),
        "{err:#}"
    );
    let err = problems(&[("WHISTLE__CALENDAR__DIR", "/nonexistent")]);
    assert!(
        err.contains("calendar.dir: cannot read /nonexistent"),
        "{err}"
    );
}

#[test]
fn placeholders_left_from_new_key_are_all_named_readably_at_once() {
    let extra = r#"
[offices.east]
name = "东城街道"
[principals.roads-system]
role = "department"
department = "DEPARTMENT"  # the code of its [departments.…] table
key_sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
[principals.east-system]
role = "office"
office = "OFFICE"
key_sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
[principals.lost]
role = "department"
key_sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
[principals.nobody]
role = "ROLE"              # office, department or supervisor
key_sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
"#;
    let s = load_with_file(extra, &[]).unwrap();
    let err = format!("{:#}", Parts::of(&s).unwrap_err());
    assert!(
        err.contains(
            "principals.roads-system.department: \"DEPARTMENT\" is not a department of \
             [departments]; write one of: power, roads"
        ),
        "{err}"
    );
    assert!(
        err.contains(
            "principals.east-system.office: \"OFFICE\" is not an office of [offices]; \
             write one of: east"
        ),
        "{err}"
    );
    assert!(
        err.contains("principals.lost.department: set the code of a department"),
        "{err}"
    );
    assert!(
        err.contains(
            "principals.nobody.role: \"ROLE\" is not a role; write office, department or supervisor"
        ),
        "{err}"
    );
    assert!(!err.contains("Some("), "no Rust debug forms: {err}");
    assert!(!err.contains("variant"), "no serde wording: {err}");
}

#[test]
fn every_listener_address_is_checked_with_the_other_problems() {
    let err = problems(&[
        ("WHISTLE__GRPC__LISTEN", "57052"),
        ("WHISTLE__METRICS__LISTEN", "localhost"),
        ("WHISTLE__HTTP__LISTEN", "127.0.0.1:8080"),
        ("WHISTLE__INBOUND_MAIL__LISTEN", "[::]:99999"),
        ("WHISTLE__WATCH__REPEAT_EVERY", "often"),
    ]);
    for says in [
        "grpc.listen: \"57052\" is not an address to listen on; write HOST:PORT, such as 127.0.0.1:50051",
        "metrics.listen: \"localhost\" is not an address",
        "inbound_mail.listen: \"[::]:99999\" is not an address",
        "watch.repeat_every: \"often\" is not a span of working time",
    ] {
        assert!(err.contains(says), "{says}: {err}");
    }
    assert!(!err.contains("http.listen"), "{err}");
    for fine in [
        "0.0.0.0:50051",
        "[::]:50051",
        "whistle:50051",
        "127.0.0.1:0",
    ] {
        let s = Settings::load_with(None, env(&[("WHISTLE__GRPC__LISTEN", fine)])).unwrap();
        Parts::of(&s).unwrap_or_else(|e| panic!("{fine}: {e:#}"));
    }
}

#[test]
fn the_organisation_is_built_from_a_calendar_already_read_and_reads_no_file() {
    let extra = r#"
[principals.roads-system]
role = "department"
department = "roads"
key_sha256_file = "/nonexistent/roads.sha256"
"#;
    let s = load_with_file(extra, &[("WHISTLE__CALENDAR__DIR", "/nonexistent")]).unwrap();
    let calendar = Parts::of(&Settings::load_with(None, env(&[])).unwrap())
        .unwrap()
        .calendar
        .calendar;
    let org = organisation(&s, calendar).unwrap();
    assert!(org.calendar.covers(2026));
    assert_eq!(org.departments.len(), 2);
    let err = format!("{:#}", Parts::of(&s).unwrap_err());
    assert!(
        err.contains("calendar.dir: cannot read /nonexistent"),
        "{err}"
    );
    assert!(
        err.contains("principals.roads-system.key_sha256_file: reading /nonexistent/roads.sha256"),
        "{err}"
    );
}

#[test]
fn the_visit_sheet_headers_are_checked_by_key() {
    let s = Settings::load_with(None, env(&[])).unwrap();
    let columns = Parts::of(&s).unwrap().import;
    assert_eq!(columns.default_difficulty, 2);
    let mut import = s.import.clone();
    import.zone = vec!["社区".into()];
    import.default_difficulty = 0;
    let e = format!("{:#}", sheet_columns(&import).unwrap_err());
    assert!(
        e.contains("import.zone: \"社区\" is also a header of import.community"),
        "{e}"
    );
    import.zone = vec![" ".into()];
    let e = format!("{:#}", sheet_columns(&import).unwrap_err());
    assert!(
        e.starts_with("import.zone: give the column's header"),
        "{e}"
    );
    import.zone = vec!["片区".into()];
    let e = format!("{:#}", sheet_columns(&import).unwrap_err());
    assert!(e.contains("import.default_difficulty: 0"), "{e}");
    assert!(
        problems(&[("WHISTLE__IMPORT__DEFAULT_DIFFICULTY", "9")])
            .contains("import.default_difficulty: 9")
    );
}

#[test]
fn an_office_lists_its_zones_each_once_and_in_its_communities() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("whistle.toml");
    let write = |zones: &str| {
        std::fs::write(
            &path,
            format!(
                r#"
[offices.east]
name = "东城街道"
communities = ["杨柳社区", "新南社区"]
{zones}
[departments.roads]
name = "道路所"
[categories.pothole]
name = "坑洼"
lead = "roads"
"#
            ),
        )
        .unwrap();
        Parts::of(&Settings::load_with(Some(&path), env(&[])).unwrap())
    };
    let org = write(
        r#"
[[offices.east.zones]]
name = "一片区"
community = "杨柳社区"
leader = "李片长"
collectors = ["陈服务员", "刘服务员"]
[[offices.east.zones]]
name = "二片区"
community = "新南社区"
"#,
    )
    .unwrap()
    .organisation;
    let east = &org.offices["east"];
    assert_eq!(east.zones.len(), 2);
    assert_eq!(east.zone("一片区").unwrap().leader, "李片长");
    assert!(east.zone("二片区").unwrap().collectors.is_empty());

    let err = format!(
        "{:#}",
        write(
            r#"
[[offices.east.zones]]
name = "一片区"
community = "幸福社区"
[[offices.east.zones]]
name = "一片区"
community = "杨柳社区"
"#,
        )
        .unwrap_err()
    );
    assert!(
        err.contains(
            "offices.east.zones[0].community: \"幸福社区\" is not one of offices.east.communities"
        ) && err.contains("offices.east.zones[1].name: \"一片区\" names two zones of the office"),
        "{err}"
    );
}

#[test]
fn a_duplicate_threshold_outside_0_to_1_stops_start_up() {
    let err = problems(&[
        ("WHISTLE__DUPLICATES__THRESHOLD", "1.5"),
        ("WHISTLE__DUPLICATES__ADDRESS_BONUS", "-0.1"),
    ]);
    assert!(
        err.contains("duplicates.threshold: 1.5 must be a score from 0 to 1")
            && err.contains("duplicates.address_bonus: -0.1 must be a score from 0 to 1"),
        "{err}"
    );
}
