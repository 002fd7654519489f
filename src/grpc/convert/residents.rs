//! A case's residents (重复诉求) on the wire: each as the caller may see
//! them (the case was masked for the caller before it came here), and what a
//! batch answers for a petition that joined an open case.

use super::{timestamp, verdict_out};
use crate::domain::{Case, CaseResident};
use crate::proto;

pub fn residents(c: &Case) -> Vec<proto::CaseResident> {
    c.residents.iter().map(resident).collect()
}

fn resident(r: &CaseResident) -> proto::CaseResident {
    proto::CaseResident {
        petition_id: r.petition_id.clone(),
        resident: Some(super::resident(&r.resident)),
        address: r.address.clone(),
        description: r.description.clone(),
        zone: r.zone.clone(),
        collector: r.collector.clone(),
        linked_at: Some(timestamp(r.linked_at)),
        verdict: r.verdict.map_or(proto::Verdict::Unspecified, verdict_out) as i32,
        title: r.title.clone(),
    }
}

pub fn linked(c: &Case) -> proto::LinkedPetition {
    proto::LinkedPetition {
        case_id: c.id.clone(),
        status: super::case_status(c.status) as i32,
        residents_count: c.residents_count() as u32,
    }
}
