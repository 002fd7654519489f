//! The figures (GetStatistics) on the wire: departments, offices, the total
//! and the communities with their zones, with the points they were scored by.

use super::timestamp;
use crate::domain::statistics;
use crate::proto;
use crate::service::CalendarCoverage;

pub fn statistics(s: &statistics::Statistics, coverage: &CalendarCoverage) -> proto::Statistics {
    let p = &s.policy;
    proto::Statistics {
        from: Some(timestamp(s.scope.from)),
        to: Some(timestamp(s.scope.to)),
        office: s.scope.office.clone().unwrap_or_default(),
        department: s.scope.department.clone().unwrap_or_default(),
        computed_at: Some(timestamp(s.computed_at)),
        departments: s
            .departments
            .iter()
            .map(|d| proto::DepartmentFigures {
                code: d.code.clone(),
                name: d.name.clone(),
                cases: d.cases,
                requests: Some(request_figures(&d.requests)),
                satisfaction: Some(rate(d.satisfaction)),
                overrides: d.overrides,
                score: Some(score(&d.score)),
                residents: d.residents,
                resident_satisfaction: Some(rate(d.resident_satisfaction)),
            })
            .collect(),
        offices: s.offices.iter().map(office_figures).collect(),
        total: Some(office_figures(&s.total)),
        scoring: Some(proto::ScoringPolicy {
            base: p.base,
            on_time_reply: p.on_time_reply,
            late_acknowledgement: p.late_acknowledgement,
            late_reply: p.late_reply,
            rejected_reply: p.rejected_reply,
            unsatisfied: p.unsatisfied,
            timely_review: p.timely_review,
            late_review: p.late_review,
            override_close: p.override_close,
            review_within_hours: p.review_within_hours,
            min_sample: p.min_sample,
        }),
        calendar: Some(super::coverage(coverage)),
        communities: s.communities.iter().map(community_figures).collect(),
    }
}

fn community_figures(c: &statistics::CommunityFigures) -> proto::CommunityFigures {
    proto::CommunityFigures {
        office: c.office.clone(),
        office_name: c.office_name.clone(),
        community: c.community.clone(),
        zone: c.zone.clone().unwrap_or_default(),
        collector: c.collector.clone().unwrap_or_default(),
        cases: c.cases,
        residents: c.residents,
        closed: c.closed,
        satisfaction: Some(rate(c.satisfaction)),
        rejected_replies: c.rejected_replies,
        overdue_steps: c.overdue_steps,
        unsatisfied: c.unsatisfied,
        difficulty_points: c.difficulty_points,
        additions: c.additions,
        deductions: c.deductions,
        points: c.points(),
        resident_satisfaction: Some(rate(c.resident_satisfaction)),
    }
}

fn office_figures(o: &statistics::OfficeFigures) -> proto::OfficeFigures {
    proto::OfficeFigures {
        code: o.code.clone(),
        name: o.name.clone(),
        cases: o.cases,
        closed: o.closed,
        overrides: o.overrides,
        requests: Some(request_figures(&o.requests)),
        satisfaction: Some(rate(o.satisfaction)),
        to_review: Some(hours(o.to_review)),
        timely_review: Some(rate(o.timely_review)),
        office_hours: o.office_hours,
        score: Some(score(&o.score)),
        residents: o.residents,
        resident_satisfaction: Some(rate(o.resident_satisfaction)),
    }
}

fn request_figures(f: &statistics::RequestFigures) -> proto::RequestFigures {
    proto::RequestFigures {
        requests: f.requests,
        open: f.open,
        overdue_now: f.overdue_now,
        response: Some(rate(f.response)),
        on_time_reply: Some(rate(f.on_time_reply)),
        resolution: Some(rate(f.resolution)),
        to_acknowledge: Some(hours(f.to_acknowledge)),
        to_reply: Some(hours(f.to_reply)),
        rounds: f.rounds,
        rounds_per_request: f.rounds_per_request(),
        rejected_replies: f.rejected_replies,
        returns_asked: f.returns_asked,
        returned: f.returned,
        extensions_asked: f.extensions_asked,
        extensions_approved: f.extensions_approved,
        department_hours: f.department_hours,
        paused_hours: f.paused_hours,
    }
}

fn rate(r: statistics::Rate) -> proto::Rate {
    proto::Rate {
        hits: r.hits,
        of: r.of,
        value: r.value(),
    }
}

fn hours(h: statistics::Hours) -> proto::Hours {
    proto::Hours {
        count: h.count,
        mean: h.mean,
        p90: h.p90,
    }
}

fn score(s: &statistics::Score) -> proto::Score {
    proto::Score {
        points: s.points,
        weight: s.weight,
        rank: s.rank.unwrap_or(0),
        too_few_to_rank: s.too_few_to_rank,
    }
}
