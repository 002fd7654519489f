use super::*;

fn scored(code: &str, points: Option<f64>, too_few: bool) -> (String, Score) {
    (
        code.to_owned(),
        Score {
            points,
            weight: 1,
            rank: None,
            too_few_to_rank: too_few,
        },
    )
}

#[test]
fn equal_points_share_a_rank_and_the_next_rank_skips() {
    let ranked = rank(
        vec![
            scored("d", Some(90.0), false),
            scored("a", Some(99.999), false),
            scored("c", Some(100.001), false),
            scored("b", Some(120.0), true),
            scored("e", None, false),
            scored("f", Some(80.0), false),
        ],
        |(_, s)| s,
        |(code, _)| code,
    );
    let got: Vec<(&str, Option<u32>)> = ranked.iter().map(|(c, s)| (c.as_str(), s.rank)).collect();
    assert_eq!(
        got,
        [
            ("a", Some(1)),
            ("c", Some(1)),
            ("d", Some(3)),
            ("f", Some(4)),
            ("b", None),
            ("e", None)
        ]
    );
}

#[test]
fn p90_is_the_nearest_rank() {
    let h = Hours::of(vec![5.0, 1.0, 3.0, 2.0, 4.0, 6.0, 7.0, 8.0, 9.0, 10.0]);
    assert_eq!((h.count, h.mean, h.p90), (10, 5.5, 9.0));
    let h = Hours::of(vec![2.0, 1.0]);
    assert_eq!(h.p90, 2.0);
    assert_eq!(Hours::of(vec![4.0]).p90, 4.0);
    assert_eq!(Hours::of(Vec::new()), Hours::default());
}

#[test]
fn a_rate_without_anything_to_judge_has_no_value() {
    let mut r = Rate::default();
    assert_eq!(r.value(), None);
    r.judge(None);
    assert_eq!(r.value(), None);
    r.judge(Some(true));
    r.judge(Some(false));
    assert_eq!((r.hits, r.of, r.value()), (1, 2, Some(0.5)));
}

/// A case three residents raised (one joined as a duplicate, one with the
/// case merged into it by hand), two of whom gave a verdict; and the case
/// merged away.
fn three_residents_and_a_merged_case() -> (Organisation, Case, Case) {
    use crate::domain::fixtures::{office, open_case, org, petition_input};
    use crate::domain::{Ctx, Petition, PetitionInput, SeededIds};
    let org = org();
    let ids = SeededIds::starting_at(50);
    let office = office();
    let ctx = Ctx::new(&office, &org, now(), &ids);
    let petition = |id: &str| {
        let input = PetitionInput {
            petition_id: id.into(),
            resident_name: format!("居民{id}"),
            resident_phone: "13900001111".into(),
            ..petition_input()
        };
        Petition::admit(&input, &org.offices["cuiping"], &org)
            .unwrap()
            .0
    };
    let mut kept = open_case();
    kept.link_resident(&ctx, &petition("P2"), false).unwrap();
    let mut other = open_case();
    other.id = "other".into();
    other.residents[0].petition_id = "P3".into();
    kept.absorb(&ctx, &mut other).unwrap();
    kept.residents[0].verdict = Some(Verdict::Satisfied);
    kept.residents[1].verdict = Some(Verdict::Unsatisfied);
    // In the case's zone 一片, 王五 gathered the first two and 赵六 the third.
    kept.zone = "一片".into();
    for (r, (zone, collector)) in
        kept.residents
            .iter_mut()
            .zip([("一片", "王五"), ("一片", "王五"), ("", "赵六")])
    {
        r.zone = zone.into();
        r.collector = collector.into();
    }
    (org, kept, other)
}

fn now() -> DateTime<Utc> {
    crate::domain::fixtures::now()
}

#[test]
fn residents_count_beside_cases_and_a_merged_case_counts_nowhere() {
    let (org, kept, merged) = three_residents_and_a_merged_case();
    let scope = Scope {
        from: now() - Duration::days(1),
        to: now() + Duration::days(1),
        office: None,
        department: None,
    };
    let policy = ScoringPolicy::default();
    let s = compute(&[kept, merged], &scope, &org, &policy, now());
    let t = &s.total;
    assert_eq!((t.cases, t.residents), (1, 3), "the merged case left out");
    assert_eq!(
        t.resident_satisfaction,
        Rate { hits: 1, of: 2 },
        "each resident by their own verdict"
    );
    assert_eq!(
        t.requests.requests, 2,
        "the merged case's requests left out"
    );
    let housing = s.departments.iter().find(|d| d.code == "housing").unwrap();
    assert_eq!((housing.cases, housing.residents), (1, 3));
    assert_eq!(housing.resident_satisfaction, Rate { hits: 1, of: 2 });
    let rows: Vec<_> = s
        .communities
        .iter()
        .map(|c| {
            (
                c.zone.as_deref(),
                c.collector.as_deref(),
                c.cases,
                c.residents,
                c.resident_satisfaction,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (None, None, 1, 3, Rate { hits: 1, of: 2 }),
            (Some("一片"), None, 1, 3, Rate { hits: 1, of: 2 }),
            (Some("一片"), Some("王五"), 1, 2, Rate { hits: 1, of: 2 }),
            (Some("一片"), Some("赵六"), 1, 1, Rate::default()),
        ],
        "the community, its zone, the collectors of its cases"
    );
    let points: Vec<f64> = s.communities.iter().map(|c| c.points()).collect();
    assert!(
        points.windows(2).all(|w| w[0] == w[1]),
        "each row scores the case alike: {points:?}"
    );
}

#[test]
fn a_kept_part_keeps_its_residents_and_whether_it_was_merged() {
    let (org, kept, merged) = three_residents_and_a_merged_case();
    let policy = ScoringPolicy::default();
    for case in [&kept, &merged] {
        let part = CaseFigures::of(case, &org.calendar, &policy, now());
        assert_eq!(CaseFigures::decode(&part.encode()), Some(part));
    }
    let part = CaseFigures::of(&merged, &org.calendar, &policy, now());
    assert!(part.merged);
    assert_eq!(part.residents, 0);
}

/// Long past every deadline, a case whose land request was never
/// acknowledged and whose housing reply waits for the office, and one whose
/// land clock stands for a ruling: nothing is left to judge, but hours still
/// count. Their parts settle with the hours running, and counted on they are
/// the cases' parts at any later moment, to the bit.
#[test]
fn a_part_whose_hours_still_count_is_counted_on_to_the_part_of_any_later_moment() {
    use crate::domain::ReplyText;
    use crate::domain::case::EventKind;
    use crate::domain::fixtures::{ctx_in, dept, office, open_case, org};
    let org = org();
    let policy = ScoringPolicy::default();
    let housing = dept("housing");
    let mut waiting = open_case();
    let (reply_to, land) = (
        waiting.requests[0].id.clone(),
        waiting.requests[1].id.clone(),
    );
    let at = now() + Duration::hours(1);
    waiting
        .acknowledge(&ctx_in(&org, &housing, at), &reply_to)
        .unwrap();
    waiting
        .submit_reply(
            &ctx_in(&org, &housing, at + Duration::hours(2)),
            &reply_to,
            ReplyText::parse("text", "已办结").unwrap(),
        )
        .unwrap();
    let mut paused = open_case();
    paused.record(
        EventKind::ClockPaused,
        &office(),
        now() + Duration::days(3),
        Some(&land),
        String::new(),
    );
    let from = now() + Duration::days(60);
    for case in [&waiting, &paused] {
        let (early, settled) = CaseFigures::at(case, &org.calendar, &policy, at);
        assert!(!settled && early.runs(), "deadlines still to come");
        let (part, settled) = CaseFigures::at(case, &org.calendar, &policy, from);
        assert!(settled && part.runs(), "only hours left to count");
        let kept = CaseFigures::decode(&part.encode()).expect("decoded");
        assert_eq!(kept, part);
        for days in [0, 1, 9, 75, 400] {
            let later = from + Duration::days(days) + Duration::nanoseconds(37_000_000_123);
            let counted = kept
                .clone()
                .counted_to(&org.calendar, later)
                .expect("counted on");
            assert_eq!(
                counted,
                CaseFigures::of(case, &org.calendar, &policy, later)
            );
        }
        assert_eq!(
            kept.clone()
                .counted_to(&org.calendar, from - Duration::seconds(1)),
            None,
            "before the moment it was counted at"
        );
    }
}
