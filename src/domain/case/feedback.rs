//! The follow-up visit (回访): the resident's verdict on a case, how the
//! office reached them, and the command that records it, which closes the
//! case once every resident is satisfied or re-opens it and sends the named
//! requests out again.

use chrono::{DateTime, Utc};

use super::{Case, CaseAction, EventKind, case_transition};
use crate::domain::access::Action;
use crate::domain::context::Ctx;
use crate::domain::effects::Effect;
use crate::domain::error::{DomainError, FieldViolation, Violations, echo};
use crate::domain::request::{RequestAction, RequestStatus, transition};
use crate::domain::text::Comment;

/// The most request ids an unsatisfied verdict may name.
pub const REISSUE_IDS_MAX: usize = 50;

/// The resident's verdict after the follow-up visit (回访).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    Satisfied,
    BasicallySatisfied,
    Unsatisfied,
}

impl Verdict {
    pub const ALL: [Verdict; 3] = [Self::Satisfied, Self::BasicallySatisfied, Self::Unsatisfied];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Satisfied => "SATISFIED",
            Self::BasicallySatisfied => "BASICALLY_SATISFIED",
            Self::Unsatisfied => "UNSATISFIED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// How the office reached the resident for the follow-up visit (回访).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisitMethod {
    /// 电话回访.
    Phone,
    /// 上门回访.
    Visit,
}

impl VisitMethod {
    pub const ALL: [VisitMethod; 2] = [Self::Phone, Self::Visit];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Phone => "PHONE",
            Self::Visit => "VISIT",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn zh(self) -> &'static str {
        match self {
            Self::Phone => "电话回访",
            Self::Visit => "上门回访",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feedback {
    pub verdict: Verdict,
    /// How the visit was made; `None` where the office did not say.
    pub method: Option<VisitMethod>,
    pub comment: String,
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

impl Case {
    /// Records a resident's verdict. Unsatisfied re-opens the case and
    /// re-issues the named requests (all of them when none are named);
    /// satisfied (or basically satisfied) closes it once every resident's
    /// latest verdict is (不销账 while any resident is not). A case with
    /// several residents must be told whose verdict it is (`petition_id`).
    pub fn record_feedback(
        &mut self,
        ctx: &Ctx<'_>,
        petition_id: Option<&str>,
        verdict: Verdict,
        method: Option<VisitMethod>,
        comment: Comment,
        reissue_request_ids: &[String],
    ) -> Result<Vec<Effect>, DomainError> {
        let Ctx { org, now, .. } = *ctx;
        let permit = ctx.who.permit(Action::RecordFeedback)?;
        let actor = permit.actor();
        permit.case(self)?;
        let comment = comment.into_string();
        let action = match verdict {
            Verdict::Satisfied | Verdict::BasicallySatisfied => CaseAction::Satisfied,
            Verdict::Unsatisfied => CaseAction::Unsatisfied,
        };
        let next = case_transition(self.status, action)?;
        let whose = self.whose_verdict(petition_id)?;
        let mut reissue = Vec::new();
        if reissue_request_ids.len() > REISSUE_IDS_MAX {
            return Err(DomainError::invalid(
                "reissue_request_ids",
                format!(
                    "{} ids; a case has far fewer requests (at most {REISSUE_IDS_MAX} are taken)",
                    reissue_request_ids.len()
                ),
                format!(
                    "共{}个编号；一个案件的请求远少于此（最多{REISSUE_IDS_MAX}个）",
                    reissue_request_ids.len()
                ),
            ));
        }
        if action == CaseAction::Unsatisfied {
            let mut violations = Violations::new();
            for (n, id) in reissue_request_ids.iter().enumerate() {
                match self.requests.iter().position(|r| r.id == *id) {
                    Some(i) if !reissue.contains(&i) => reissue.push(i),
                    Some(_) => {}
                    None => violations.push(
                        FieldViolation::new(
                            format!("reissue_request_ids[{n}]"),
                            format!("{} is not a request of this case", echo(id)),
                        )
                        .zh(format!("{} 不是本案件的请求", echo(id))),
                    ),
                }
            }
            violations.into_result()?;
            if reissue.is_empty() {
                // A request returned to a supervisor and reassigned is done.
                reissue = (0..self.requests.len())
                    .filter(|&i| self.requests[i].status != RequestStatus::Returned)
                    .collect();
            }
        } else if !reissue_request_ids.is_empty() {
            return Err(DomainError::invalid(
                "reissue_request_ids",
                "only an UNSATISFIED verdict re-issues requests",
                "只有「不满意」的回访结果才会重新交办请求",
            ));
        }
        self.feedback = Some(Feedback {
            verdict,
            method,
            comment: comment.clone(),
            recorded_by: actor.name.clone(),
            recorded_at: now,
        });
        let several = self.residents.len() > 1;
        let mut detail = verdict.as_str().to_owned();
        if let Some(i) = whose {
            let resident = &mut self.residents[i];
            resident.verdict = Some(verdict);
            resident.verdict_at = Some(now);
            if several {
                // The petition id, not the resident: the timeline is read
                // by more people than the resident's details are.
                detail = format!("petition {}: {detail}", resident.petition_id);
            }
        }
        if let Some(method) = method {
            detail = format!("{detail} ({})", method.as_str());
        }
        if !comment.is_empty() {
            detail = format!("{detail}: {comment}");
        }
        self.record(EventKind::FeedbackRecorded, actor, now, None, detail);
        if action == CaseAction::Satisfied {
            if whose.is_none() {
                // A case read without its residents: the verdict is the one.
                self.status = next;
                self.record(EventKind::CaseClosed, actor, now, None, String::new());
            } else {
                self.close_if_all_satisfied(actor, now)?;
            }
            return Ok(Vec::new());
        }
        self.status = next;
        self.record(EventKind::CaseReopened, actor, now, None, String::new());
        let mut caused = vec![Effect::CaseReopened {
            seq: self.events.len() as u32,
            comment: comment.clone(),
            at: now,
        }];
        let reason = if comment.is_empty() {
            "resident not satisfied".to_owned()
        } else {
            format!("resident not satisfied: {comment}")
        };
        for i in reissue {
            let request = &mut self.requests[i];
            request.status = transition(request.status, RequestAction::Reissue)?;
            caused.push(self.reissue(i, reason.clone(), actor, org, now));
        }
        Ok(caused)
    }

    /// The resident a verdict is for: the one named, or the only one.
    fn whose_verdict(&self, petition_id: Option<&str>) -> Result<Option<usize>, DomainError> {
        match petition_id.filter(|p| !p.is_empty()) {
            Some(id) => match self.residents.iter().position(|r| r.petition_id == id) {
                Some(i) => Ok(Some(i)),
                None => Err(DomainError::invalid(
                    "petition_id",
                    format!("{} is not a resident of this case", echo(id)),
                    format!("{} 不是本案件的诉求人", echo(id)),
                )),
            },
            None if self.residents.len() > 1 => Err(DomainError::invalid(
                "petition_id",
                format!(
                    "{} residents raised this case; name whose verdict it is",
                    self.residents.len()
                ),
                format!(
                    "本案件有{}位诉求人；请注明是哪一位的回访结果",
                    self.residents.len()
                ),
            )),
            None => Ok((!self.residents.is_empty()).then_some(0)),
        }
    }
}
