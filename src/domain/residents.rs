//! Duplicate petitions (重复诉求): every resident who raised a case's problem.
//! Ten residents reporting one broken street light are one case with ten
//! residents, not ten letters to the same department. A case's residents are
//! its petitioner first, then each petition the office escalated later that
//! `similarity` found to be the same problem of an open case of the same
//! office, category and community; the office may also split a resident off
//! (`unlink_resident`) or join a second case into the first by hand
//! (`absorb`). The case is struck from the ledger only when every resident is
//! satisfied (不销账 per resident, in `Case::record_feedback`).

use chrono::{DateTime, Utc};

use super::access::Action;
use super::case::{Case, CaseAction, CaseStatus, EventKind, Verdict, case_transition};
use super::context::Ctx;
use super::effects::{Effect, Notice, NoticeKind};
use super::error::{DomainError, echo};
use super::organisation::Office;
use super::petition::{Petition, PetitionInput, Resident};
use super::similarity::{Shingles, SimilarityPolicy};

/// One resident of a case: their petition as the office escalated it, and
/// their own latest verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResident {
    /// 1 for the petitioner, then in the order they joined.
    pub seq: u32,
    pub petition_id: String,
    /// Digest of the petition as escalated (`Petition::fingerprint`): a retry
    /// of it is told from a different petition under the same id.
    pub fingerprint: String,
    pub resident: Resident,
    pub title: String,
    pub description: String,
    pub address: String,
    pub zone: String,
    pub collector: String,
    pub difficulty: u8,
    pub urgent: bool,
    /// The departments the petition itself named, kept so that a resident
    /// split off is escalated as their own petition would have been.
    pub lead_department: Option<String>,
    pub assisting_departments: Vec<String>,
    /// When they joined the case (the petitioner: when it was opened).
    pub linked_at: DateTime<Utc>,
    /// Their latest verdict after the follow-up visit, and when.
    pub verdict: Option<Verdict>,
    pub verdict_at: Option<DateTime<Utc>>,
}

impl CaseResident {
    /// The resident a parsed petition brings, joining as the `seq`th.
    pub fn of(petition: &Petition, seq: u32, at: DateTime<Utc>) -> CaseResident {
        CaseResident {
            seq,
            petition_id: petition.petition_id.clone(),
            fingerprint: petition.fingerprint(),
            resident: petition.resident.clone(),
            title: petition.title.clone(),
            description: petition.description.clone(),
            address: petition.address.clone(),
            zone: petition.zone.clone(),
            collector: petition.collector.clone(),
            difficulty: petition.difficulty,
            urgent: petition.urgent,
            lead_department: petition.lead_department.clone(),
            assisting_departments: petition.assisting_departments.clone(),
            linked_at: at,
            verdict: None,
            verdict_at: None,
        }
    }

    /// Their petition as the office sent it, under the case's category and
    /// community: what a split-off resident is escalated with.
    pub fn petition_input(&self, case: &Case) -> PetitionInput {
        PetitionInput {
            petition_id: self.petition_id.clone(),
            category: case.category.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            resident_name: self.resident.name.clone(),
            resident_phone: self.resident.phone.as_str().to_owned(),
            address: self.address.clone(),
            community: case.community.clone(),
            difficulty: i32::from(self.difficulty),
            lead_department: self.lead_department.clone().unwrap_or_default(),
            assisting_departments: self.assisting_departments.clone(),
            urgent: self.urgent,
            zone: self.zone.clone(),
            collector: self.collector.clone(),
        }
    }

    /// Whether their latest verdict lets the case be struck from the ledger.
    pub fn satisfied(&self) -> bool {
        matches!(
            self.verdict,
            Some(Verdict::Satisfied | Verdict::BasicallySatisfied)
        )
    }
}

/// An open case a new petition may be the problem of, as the store reads it
/// for the comparison: no more than the comparison needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub case_id: String,
    pub title: String,
    pub description: String,
    pub address: String,
}

/// What a petition's text is compared by: its title and description as one
/// text, and its address.
pub fn shingles(title: &str, description: &str, address: &str) -> Shingles {
    Shingles::of(&format!("{title}\n{description}"), address)
}

/// The open case a petition (its `shingles`) is the problem of, if any: of
/// the open cases given with their shingles, the best-scoring at or above
/// the threshold (the earliest case on a tie, so the answer does not depend
/// on the order they were read in).
pub fn best_match<'a>(
    policy: &SimilarityPolicy,
    petition: &Shingles,
    open: impl IntoIterator<Item = (&'a str, &'a Shingles)>,
) -> Option<&'a str> {
    open.into_iter()
        .map(|(id, case)| (policy.score(petition, case), id))
        .filter(|(score, _)| *score >= policy.threshold)
        .max_by(|(a, x), (b, y)| a.total_cmp(b).then_with(|| y.cmp(x)))
        .map(|(_, id)| id)
}

impl Case {
    /// How many residents raised this case's problem.
    pub fn residents_count(&self) -> usize {
        self.residents.len()
    }

    /// The resident whose petition this is.
    pub fn resident_of(&self, petition_id: &str) -> Option<&CaseResident> {
        self.residents.iter().find(|r| r.petition_id == petition_id)
    }

    /// Whether `petition_id` is a resident joined to the case rather than
    /// the petition it was opened for.
    pub fn is_further_resident(&self, petition_id: &str) -> bool {
        petition_id != self.petition_id && self.resident_of(petition_id).is_some()
    }

    fn next_resident_seq(&self) -> u32 {
        self.residents.iter().map(|r| r.seq).max().unwrap_or(0) + 1
    }

    /// A further resident raised this open case's problem: they join it,
    /// nothing is issued again. With `notify`, each department with an
    /// outstanding request is told by a short notice.
    pub fn link_resident(
        &mut self,
        ctx: &Ctx<'_>,
        petition: &Petition,
        notify: bool,
    ) -> Result<Vec<Effect>, DomainError> {
        let now = ctx.now;
        let permit = ctx.who.permit(Action::Escalate)?;
        let actor = permit.actor();
        permit.case(self)?;
        if self.status != CaseStatus::Open {
            return Err(DomainError::wrong_state(
                format!(
                    "case is {}: only an OPEN case takes further residents",
                    self.status
                ),
                format!(
                    "案件当前为「{}」：只有办理中的案件可以并入重复诉求",
                    self.status.zh()
                ),
            ));
        }
        if petition.category != self.category || petition.community != self.community {
            return Err(DomainError::Inconsistent(format!(
                "petition {} is not of case {}'s category and community",
                petition.petition_id, self.id
            )));
        }
        let seq = self.next_resident_seq();
        self.residents.push(CaseResident::of(petition, seq, now));
        let detail = format!(
            "petition {} joined as a further resident; {} residents raised this",
            petition.petition_id,
            self.residents.len()
        );
        self.record(EventKind::ResidentLinked, actor, now, None, detail);
        Ok(if notify {
            self.notices(NoticeKind::ResidentJoined, now)
        } else {
            Vec::new()
        })
    }

    /// The office splits a further resident off: their petition is escalated
    /// as a case of its own (routed under the organisation as it is now),
    /// and they leave this one. The petitioner stays: the case is theirs.
    /// Answers the new case and the issue of its requests.
    pub fn unlink_resident(
        &mut self,
        ctx: &Ctx<'_>,
        petition_id: &str,
        office: &Office,
    ) -> Result<(Case, Vec<Effect>), DomainError> {
        let now = ctx.now;
        let permit = ctx.who.permit(Action::LinkResidents)?;
        let actor = permit.actor();
        permit.case(self)?;
        self.refuse_closed()?;
        let Some(i) = self
            .residents
            .iter()
            .position(|r| r.petition_id == petition_id)
        else {
            return Err(DomainError::invalid(
                "petition_id",
                format!("{} is not a resident of this case", echo(petition_id)),
                format!("{} 不是本案件的诉求人", echo(petition_id)),
            ));
        };
        if petition_id == self.petition_id {
            return Err(DomainError::wrong_state(
                format!(
                    "petition {petition_id} is the one the case was opened for; only residents joined later are split off"
                ),
                format!("诉求 {petition_id} 是本案件的原始诉求；只能拆分后并入的诉求人"),
            ));
        }
        let input = self.residents[i].petition_input(self);
        let (petition, route) = Petition::admit(&input, office, ctx.org)?;
        let (mut split, caused) = Case::open(ctx, petition, office, route);
        split.record(
            EventKind::ResidentUnlinked,
            actor,
            now,
            None,
            format!("petition {petition_id} split off from case {}", self.id),
        );
        self.residents.remove(i);
        let detail = format!(
            "petition {petition_id} split off as case {}; {} residents raised this",
            split.id,
            self.residents.len()
        );
        self.record(EventKind::ResidentUnlinked, actor, now, None, detail);
        // The one who left may have been the last not yet satisfied.
        self.close_if_all_satisfied(actor, now)?;
        Ok((split, caused))
    }

    /// The office joins `other`, a second case of the same problem, into this
    /// one by hand: its residents become this case's, and `other` closes as
    /// merged, its outstanding requests withdrawn with a notice to their
    /// departments. Only while `other` is OPEN and no department has replied
    /// to it: a reply is work done on that case, which its own review and
    /// verdict must judge. Answers the effects on `other`.
    pub fn absorb(&mut self, ctx: &Ctx<'_>, other: &mut Case) -> Result<Vec<Effect>, DomainError> {
        let now = ctx.now;
        let permit = ctx.who.permit(Action::LinkResidents)?;
        let actor = permit.actor();
        permit.case(self)?;
        permit.case(other)?;
        if other.id == self.id {
            return Err(DomainError::invalid(
                "duplicate_case_id",
                "is the case itself",
                "不能与案件自身合并",
            ));
        }
        if other.category != self.category || other.community != self.community {
            return Err(DomainError::invalid(
                "duplicate_case_id",
                format!(
                    "case {} is of {} in {}; only a case of {} in {} joins this one",
                    other.id, other.category, other.community, self.category, self.community
                ),
                format!(
                    "案件 {} 属于{}（{}）；只有同类别、同社区（{}，{}）的案件可以并入",
                    other.id, other.category, other.community, self.category, self.community
                ),
            ));
        }
        self.refuse_closed()?;
        if other.status != CaseStatus::Open {
            return Err(DomainError::wrong_state(
                format!(
                    "case {} is {}: only an OPEN case joins another",
                    other.id, other.status
                ),
                format!(
                    "案件 {} 当前为「{}」：只有办理中的案件可以并入",
                    other.id,
                    other.status.zh()
                ),
            ));
        }
        if let Some(r) = other.requests.iter().find(|r| !r.replies.is_empty()) {
            return Err(DomainError::wrong_state(
                format!(
                    "case {} has a reply from {} (request {}): a case a department answered is reviewed on its own",
                    other.id, r.department, r.id
                ),
                format!(
                    "案件 {} 已有{}的答复（请求 {}）：已答复的案件应单独审核",
                    other.id, r.department, r.id
                ),
            ));
        }
        let mut joined = Vec::new();
        for mut resident in std::mem::take(&mut other.residents) {
            resident.seq = self.next_resident_seq();
            resident.linked_at = now;
            joined.push(resident.petition_id.clone());
            self.residents.push(resident);
        }
        other.status = case_transition(other.status, CaseAction::Merged)?;
        other.merged_into = Some(self.id.clone());
        let withdrawn = other.notices(NoticeKind::Withdrawn, now);
        // Nothing more is asked of its departments: their clocks stop for
        // good, as when a supervisor closes a case.
        for r in &mut other.requests {
            if !r.status.is_done() && r.paused_since.is_none() {
                r.paused_since = Some(now);
            }
        }
        other.record(
            EventKind::CaseMerged,
            actor,
            now,
            None,
            format!("joined into case {}", self.id),
        );
        let detail = format!(
            "case {} joined (petitions {}); {} residents raised this",
            other.id,
            joined.join(", "),
            self.residents.len()
        );
        self.record(EventKind::CasesLinked, actor, now, None, detail);
        Ok(withdrawn)
    }

    /// A notice of `kind` to the department of each outstanding request.
    fn notices(&self, kind: NoticeKind, now: DateTime<Utc>) -> Vec<Effect> {
        self.requests
            .iter()
            .filter(|r| !r.status.is_done())
            .map(|r| {
                Effect::Notice(Notice {
                    kind,
                    request_id: r.id.clone(),
                    department: r.department.clone(),
                    round: r.round,
                    residents: self.residents.len() as u32,
                    other_case: self.merged_into.clone().unwrap_or_default(),
                    at: now,
                })
            })
            .collect()
    }

    /// Closes a case awaiting feedback once every resident is satisfied.
    pub(super) fn close_if_all_satisfied(
        &mut self,
        actor: &super::Actor,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        if self.status == CaseStatus::AwaitingFeedback
            && !self.residents.is_empty()
            && self.residents.iter().all(CaseResident::satisfied)
        {
            self.status = case_transition(self.status, CaseAction::Satisfied)?;
            self.record(EventKind::CaseClosed, actor, now, None, String::new());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures::{self, dept, now, office, open_case, org, petition_input};
    use crate::domain::{ActorRole, Comment, ReplyText, ReviewDecision, SeededIds, Verdict};

    fn petition(id: &str, title: &str) -> Petition {
        let org = org();
        let input = PetitionInput {
            petition_id: id.into(),
            title: title.into(),
            description: String::new(),
            resident_name: format!("居民{id}"),
            resident_phone: "13900001111".into(),
            ..petition_input()
        };
        Petition::admit(&input, &org.offices["cuiping"], &org)
            .unwrap()
            .0
    }

    /// The office's context; the office is leaked, as tests are short.
    fn ctx<'a>(org: &'a crate::domain::Organisation, ids: &'a SeededIds) -> Ctx<'a> {
        let who: &'static crate::domain::Actor = Box::leak(Box::new(office()));
        Ctx::new(who, org, now(), ids)
    }

    /// The fixture case with a second resident, P2, joined.
    fn with_two_residents(org: &crate::domain::Organisation) -> Case {
        let ids = SeededIds::starting_at(90);
        let mut case = open_case();
        case.link_resident(&ctx(org, &ids), &petition("P2", "房产证办不下来"), false)
            .unwrap();
        case
    }

    fn accept_all(case: &mut Case) {
        let org = org();
        for i in 0..case.requests.len() {
            let id = case.requests[i].id.clone();
            let d = dept(&case.requests[i].department.clone());
            case.acknowledge(&fixtures::ctx(&d, now()), &id).unwrap();
            let text = ReplyText::parse("text", "已办结").unwrap();
            case.submit_reply(&fixtures::ctx(&d, now()), &id, text)
                .unwrap();
            case.review_reply(
                &fixtures::ctx_in(&org, &office(), now()),
                &id,
                ReviewDecision::Accept,
            )
            .unwrap();
        }
    }

    #[test]
    fn the_best_open_case_at_the_threshold_is_chosen_and_nothing_below_it() {
        let policy = SimilarityPolicy::default();
        let light = shingles("路灯不亮", "", "");
        let drain = shingles("下水道堵了", "", "");
        let lamp = shingles("晚上巷子里灯坏了没人修", "", "");
        assert_eq!(
            best_match(&policy, &light, [("a", &drain), ("b", &lamp)]),
            Some("b")
        );
        assert!(best_match(&policy, &light, [("a", &drain)]).is_none());
        assert!(best_match(&policy, &light, []).is_none());
    }

    #[test]
    fn on_a_tie_the_earliest_case_is_chosen() {
        let policy = SimilarityPolicy::default();
        let light = shingles("路灯不亮", "", "");
        assert_eq!(
            best_match(&policy, &light, [("b", &light), ("a", &light)]),
            Some("a")
        );
    }

    #[test]
    fn a_further_resident_joins_without_a_letter_unless_configured() {
        let org = org();
        let ids = SeededIds::starting_at(100);
        let mut case = open_case();
        let events = case.events.len();
        let caused = case
            .link_resident(&ctx(&org, &ids), &petition("P2", "房产证办不下来"), false)
            .unwrap();
        assert!(caused.is_empty());
        assert_eq!(case.residents_count(), 2);
        assert_eq!(case.residents[1].seq, 2);
        let event = &case.events[events];
        assert_eq!(event.kind, EventKind::ResidentLinked);
        assert!(event.detail.contains("P2") && !event.detail.contains("居民P2"));
        let caused = case
            .link_resident(&ctx(&org, &ids), &petition("P3", "房产证办不下来"), true)
            .unwrap();
        assert_eq!(caused.len(), case.requests.len());
        assert!(caused.iter().all(|e| matches!(
            e,
            Effect::Notice(Notice {
                kind: NoticeKind::ResidentJoined,
                residents: 3,
                ..
            })
        )));
        assert!(case.is_further_resident("P3") && !case.is_further_resident("P1"));
    }

    #[test]
    fn a_case_with_two_residents_closes_only_when_both_are_satisfied() {
        let org = org();
        let ids = SeededIds::starting_at(100);
        let mut case = with_two_residents(&org);
        accept_all(&mut case);
        assert_eq!(case.status, CaseStatus::AwaitingFeedback);
        let record = |case: &mut Case, who: Option<&str>, verdict| {
            case.record_feedback(
                &ctx(&org, &ids),
                who,
                verdict,
                None,
                Comment::default(),
                &[],
            )
        };
        match record(&mut case, None, Verdict::Satisfied) {
            Err(DomainError::Invalid(v)) => assert_eq!(v[0].field, "petition_id"),
            other => panic!("{other:?}"),
        }
        match record(&mut case, Some("P7"), Verdict::Satisfied) {
            Err(DomainError::Invalid(v)) => assert_eq!(v[0].field, "petition_id"),
            other => panic!("{other:?}"),
        }
        record(&mut case, Some("P1"), Verdict::Satisfied).unwrap();
        assert_eq!(case.status, CaseStatus::AwaitingFeedback);
        record(&mut case, Some("P2"), Verdict::BasicallySatisfied).unwrap();
        assert_eq!(case.status, CaseStatus::Closed);
        assert_eq!(case.events.last().unwrap().kind, EventKind::CaseClosed);
    }

    #[test]
    fn an_unsatisfied_resident_reopens_the_case_as_before() {
        let org = org();
        let ids = SeededIds::starting_at(100);
        let mut case = with_two_residents(&org);
        accept_all(&mut case);
        let caused = case
            .record_feedback(
                &ctx(&org, &ids),
                Some("P2"),
                Verdict::Unsatisfied,
                None,
                Comment::default(),
                &[],
            )
            .unwrap();
        assert_eq!(case.status, CaseStatus::Open);
        assert!(matches!(caused[0], Effect::CaseReopened { .. }));
        assert_eq!(caused.len(), 1 + case.requests.len());
    }

    #[test]
    fn a_resident_split_off_gets_a_case_of_their_own_and_the_petitioner_stays() {
        let org = org();
        let ids = SeededIds::starting_at(100);
        let mut case = with_two_residents(&org);
        let cuiping = &org.offices["cuiping"];
        let refused = case.unlink_resident(&ctx(&org, &ids), "P1", cuiping);
        assert!(matches!(refused, Err(DomainError::WrongState(_))));
        let refused = case.unlink_resident(&ctx(&org, &ids), "P8", cuiping);
        assert!(matches!(refused, Err(DomainError::Invalid(v)) if v[0].field == "petition_id"));
        let (split, caused) = case
            .unlink_resident(&ctx(&org, &ids), "P2", cuiping)
            .unwrap();
        assert_eq!(case.residents_count(), 1);
        assert_eq!(split.petition_id, "P2");
        assert_eq!(
            split.residents[0].fingerprint,
            petition("P2", "房产证办不下来").fingerprint()
        );
        assert_eq!(caused.len(), split.requests.len());
        assert!(case.events.last().unwrap().detail.contains(&split.id));
        assert!(split.events.last().unwrap().detail.contains(&case.id));
    }

    #[test]
    fn a_case_joins_another_only_while_no_department_has_replied() {
        let org = org();
        let ids = SeededIds::starting_at(100);
        let mut keep = open_case();
        let (mut other, _) = Case::open(
            &ctx(&org, &ids),
            petition("P5", "房产证办不下来"),
            &org.offices["cuiping"],
            crate::domain::Route {
                lead: "housing".into(),
                assisting: Vec::new(),
            },
        );
        let mut answered = other.clone();
        let id = answered.requests[0].id.clone();
        answered
            .acknowledge(&fixtures::ctx(&dept("housing"), now()), &id)
            .unwrap();
        answered
            .submit_reply(
                &fixtures::ctx(&dept("housing"), now()),
                &id,
                ReplyText::parse("text", "在办").unwrap(),
            )
            .unwrap();
        let refused = keep.absorb(&ctx(&org, &ids), &mut answered);
        assert!(matches!(refused, Err(DomainError::WrongState(m)) if m.en.contains(&id)));
        let stranger = crate::domain::Actor {
            name: "x".into(),
            role: ActorRole::Office("other".into()),
        };
        let refused = keep.absorb(&Ctx::new(&stranger, &org, now(), &ids), &mut other);
        assert!(matches!(refused, Err(DomainError::NotFound { .. })));
        let withdrawn = keep.absorb(&ctx(&org, &ids), &mut other).unwrap();
        assert_eq!(keep.residents_count(), 2);
        assert_eq!(keep.residents[1].petition_id, "P5");
        assert_eq!(other.status, CaseStatus::Closed);
        assert_eq!(other.merged_into.as_deref(), Some(keep.id.as_str()));
        assert!(other.residents.is_empty());
        assert!(other.requests.iter().all(|r| r.paused_since.is_some()));
        assert!(matches!(
            &withdrawn[..],
            [Effect::Notice(Notice { kind: NoticeKind::Withdrawn, other_case, .. })] if *other_case == keep.id
        ));
    }
}
