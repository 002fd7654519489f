//! The organisation whistle serves: street offices, departments, the categories
//! that route a petition to a lead department and its assisting ones, and the
//! deadline policies by urgency, category and department. Built once from
//! configuration and read-only after.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::calendar::{DeadlinePolicy, DeadlineSpans, Deadlines, Span, WorkingCalendar};
use super::error::{DomainError, FieldViolation, Violations, echo};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Office {
    pub code: String,
    pub name: String,
    /// Printed before the year on every letter: `翠街哨〔2026〕0001号`.
    pub reference_prefix: String,
    /// The communities (社区) under the office; empty accepts any community name.
    pub communities: Vec<String>,
    /// Who departments may call about its letters (联系人) and the number.
    pub contact: String,
    pub contact_phone: String,
    /// The zones (片区) its communities are divided into for the weekly
    /// visits; empty accepts any zone and collector a petition names.
    pub zones: Vec<Zone>,
}

/// A zone (片区) of a community: where one leader (片长) and the collectors
/// (民情服务员) under them gather residents' problems each week.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub name: String,
    /// The community it belongs to.
    pub community: String,
    /// 片长.
    pub leader: String,
    /// 民情服务员; empty accepts any collector named with the zone.
    pub collectors: Vec<String>,
}

impl Office {
    pub fn zone(&self, name: &str) -> Option<&Zone> {
        self.zones.iter().find(|z| z.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Department {
    pub code: String,
    pub name: String,
    /// The department's own deadlines; what it leaves unset comes from the
    /// organisation's defaults.
    pub policy: DeadlinePolicy,
    /// Whether the department may see residents' phone numbers unmasked.
    pub show_resident_phone: bool,
    /// Mail domains its replies by e-mail must come from; empty: any.
    pub reply_domains: Vec<String>,
}

impl Department {
    /// Whether a reply mailed from `sender` may be taken for this department.
    pub fn takes_mail_from(&self, sender: &str) -> bool {
        if self.reply_domains.is_empty() {
            return true;
        }
        let Some((_, domain)) = sender.rsplit_once('@') else {
            return false;
        };
        let domain = domain.to_lowercase();
        self.reply_domains.iter().any(|d| {
            domain == *d
                || domain
                    .strip_suffix(d.as_str())
                    .is_some_and(|head| head.ends_with('.'))
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub code: String,
    pub name: String,
    pub lead: String,
    pub assisting: Vec<String>,
}

/// Who answers a case: one lead department (主办) and any assisting ones (协办).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub lead: String,
    pub assisting: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Organisation {
    pub offices: BTreeMap<String, Office>,
    pub departments: BTreeMap<String, Department>,
    pub categories: BTreeMap<String, Category>,
    pub calendar: WorkingCalendar,
    pub deadline_rules: DeadlineRules,
    /// When the watch reminds, repeats and escalates (`[watch]`).
    pub watch: super::watch::WatchPolicy,
    /// How many extensions, and how long a return may wait (`[supervision]`).
    pub decisions: super::decision::DecisionPolicy,
    /// The weighted score's points and the sample needed to rank (`[statistics]`).
    pub scoring: super::statistics::ScoringPolicy,
    /// When a new petition is an open case's problem (`[duplicates]`).
    pub duplicates: super::similarity::SimilarityPolicy,
    /// Whether a new petition is compared with the open cases of its kind
    /// and joins the one it duplicates (`[duplicates] enabled`).
    pub join_duplicates: bool,
    /// Whether a duplicate petition joining an open case sends its
    /// departments a short notice (`[duplicates] further_letter`).
    pub further_letter: bool,
}

/// The deadline policies that are not a department's own: the defaults for ordinary
/// and for urgent petitions, and the categories' policies. They sit apart from
/// [`Category`], which says who answers, because they say how fast, and all the
/// levels of that are resolved in one place, [`Organisation::deadline_spans`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadlineRules {
    /// `[deadlines]`: ordinary petitions, where nothing more specific is set.
    pub ordinary: DeadlineSpans,
    /// `[deadlines.urgent]`: urgent petitions, where nothing more specific is set.
    pub urgent: DeadlineSpans,
    /// `categories.X.deadlines` and `categories.X.deadlines.urgent`, by category code.
    pub categories: BTreeMap<String, CategoryDeadlines>,
}

impl Default for DeadlineRules {
    fn default() -> Self {
        Self {
            ordinary: DeadlineSpans::default(),
            urgent: DeadlineSpans::urgent(),
            categories: BTreeMap::new(),
        }
    }
}

/// One category's deadlines, for its ordinary and for its urgent petitions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CategoryDeadlines {
    pub ordinary: DeadlinePolicy,
    pub urgent: DeadlinePolicy,
}

impl Organisation {
    /// Checks that every code the routing table names exists, so that a broken
    /// configuration stops the service at start-up instead of failing a petition.
    pub fn validate(&self) -> Result<(), String> {
        for category in self.categories.values() {
            for dept in std::iter::once(&category.lead).chain(&category.assisting) {
                if !self.departments.contains_key(dept) {
                    return Err(format!(
                        "category {} routes to unknown department {dept}",
                        category.code
                    ));
                }
            }
            if category.assisting.contains(&category.lead) {
                return Err(format!(
                    "category {} names {} as both lead and assisting",
                    category.code, category.lead
                ));
            }
        }
        for code in self.deadline_rules.categories.keys() {
            if !self.categories.contains_key(code) {
                return Err(format!("deadlines are set for unknown category {code}"));
            }
        }
        Ok(())
    }

    pub fn office(&self, code: &str) -> Option<&Office> {
        self.offices.get(code)
    }

    pub fn department(&self, code: &str) -> Option<&Department> {
        self.departments.get(code)
    }

    /// The deadlines of an ordinary petition's round issued to `department` at
    /// `issued_at`, whatever its category. Kept for the callers that know no
    /// category or urgency yet; see [`Organisation::deadlines_for`].
    pub fn deadlines(&self, department: &str, issued_at: DateTime<Utc>) -> Deadlines {
        self.deadline_spans(department, None, false)
            .deadlines(&self.calendar, issued_at)
    }

    /// The deadlines of a round of a petition of `category`, urgent or not, issued
    /// to `department` at `issued_at`.
    pub fn deadlines_for(
        &self,
        department: &str,
        category: &str,
        urgent: bool,
        issued_at: DateTime<Utc>,
    ) -> Deadlines {
        self.deadline_spans(department, Some(category), urgent)
            .deadlines(&self.calendar, issued_at)
    }

    /// The spans a round gets, each of acknowledge and reply resolved on its own,
    /// most specific first: the category's urgent policy (urgent petitions only),
    /// the category's policy, the department's policy, and last the default for the
    /// petition's urgency. So an urgent petition whose category or department sets
    /// its own ordinary deadlines gets those, unless the category also sets urgent
    /// ones; unknown codes simply contribute nothing.
    pub fn deadline_spans(
        &self,
        department: &str,
        category: Option<&str>,
        urgent: bool,
    ) -> DeadlineSpans {
        let rules = &self.deadline_rules;
        let category = category.and_then(|c| rules.categories.get(c));
        let levels = [
            category.filter(|_| urgent).map(|c| c.urgent),
            category.map(|c| c.ordinary),
            self.departments.get(department).map(|d| d.policy),
        ];
        let base = if urgent { rules.urgent } else { rules.ordinary };
        let pick = |step: fn(&DeadlinePolicy) -> Option<Span>, default: Span| {
            levels.iter().flatten().find_map(step).unwrap_or(default)
        };
        DeadlineSpans {
            ack: pick(|p| p.ack, base.ack),
            reply: pick(|p| p.reply, base.reply),
        }
    }

    /// Routes a petition. Explicit departments override the category's rule: an
    /// explicit lead replaces the whole route (its assisting list is exactly what
    /// the caller gave); explicit assisting departments alone replace only the
    /// category's assisting list.
    pub fn route(
        &self,
        category: &str,
        lead: Option<&str>,
        assisting: &[String],
    ) -> Result<Route, DomainError> {
        let mut violations = Violations::new();
        let indexed: Vec<_> = assisting.iter().cloned().enumerate().collect();
        match self.check_route(category, lead, &indexed, &mut violations) {
            Some(route) if violations.is_empty() => Ok(route),
            _ => Err(violations.into_error()),
        }
    }

    /// As `route`, recording every violation in `violations` (so that a caller
    /// can report them beside the petition's other field errors); `assisting`
    /// holds each department with its index in the caller's list. `None` when
    /// the petition cannot be routed.
    pub fn check_route(
        &self,
        category: &str,
        lead: Option<&str>,
        assisting: &[(usize, String)],
        violations: &mut Violations,
    ) -> Option<Route> {
        let known = |code: &str| self.departments.contains_key(code);
        let mut routable = true;
        if let Some(lead) = lead
            && !known(lead)
        {
            routable = false;
            violations.push(
                FieldViolation::new(
                    "lead_department",
                    format!("unknown department {}", echo(lead)),
                )
                .zh(format!("没有部门 {}", echo(lead))),
            );
        }
        for (i, code) in assisting {
            if !known(code) {
                routable = false;
                violations.push(
                    FieldViolation::new(
                        format!("assisting_departments[{i}]"),
                        format!("unknown department {}", echo(code)),
                    )
                    .zh(format!("没有部门 {}", echo(code))),
                );
            }
        }
        let rule = self.categories.get(category);
        let assisting: Vec<String> = assisting.iter().map(|(_, code)| code.clone()).collect();
        let (lead, mut assisting) =
            match (lead, rule) {
                (Some(lead), _) => (lead.to_owned(), assisting),
                (None, Some(rule)) if !assisting.is_empty() => (rule.lead.clone(), assisting),
                (None, Some(rule)) => (rule.lead.clone(), rule.assisting.clone()),
                (None, None) => {
                    violations.push(
                    FieldViolation::new(
                    "category",
                    format!(
                        "unknown category {category:?} and no lead_department given; known: {}",
                        self.categories
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    )
                    .zh(format!(
                        "没有类别 {category:?}，也未指定主办部门（lead_department）；可选：{}",
                        self.categories.keys().cloned().collect::<Vec<_>>().join("、")
                    )),
                );
                    return None;
                }
            };
        if !routable {
            return None;
        }
        let mut seen = std::collections::BTreeSet::new();
        assisting.retain(|code| code != &lead && seen.insert(code.clone()));
        Some(Route { lead, assisting })
    }
}

/// The organisation, replaceable while the service runs (the calendar is
/// reloaded after the State Council publishes a year). Each use case takes the
/// current one once and works with it throughout.
#[derive(Debug, Clone)]
pub struct OrgCell(Arc<std::sync::RwLock<Arc<Organisation>>>);

impl OrgCell {
    pub fn new(org: Organisation) -> Self {
        Self(Arc::new(std::sync::RwLock::new(Arc::new(org))))
    }

    pub fn current(&self) -> Arc<Organisation> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Puts in a new calendar; requests already issued keep their deadlines.
    pub fn replace_calendar(&self, calendar: WorkingCalendar) {
        let mut org = (*self.current()).clone();
        org.calendar = calendar;
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(org);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::domain::fixtures;

    fn org() -> Organisation {
        fixtures::org()
    }

    /// The fixture with no deadline policy of any department's own.
    fn org_without_policies() -> Organisation {
        let mut o = fixtures::org();
        for d in o.departments.values_mut() {
            d.policy = DeadlinePolicy::default();
        }
        o
    }

    #[test]
    fn a_known_category_routes_by_its_rule() {
        let route = org().route("property-certificate", None, &[]).unwrap();
        assert_eq!(route.lead, "housing");
        assert_eq!(route.assisting, vec!["land"]);
    }

    #[test]
    fn an_explicit_lead_replaces_the_rule() {
        let route = org()
            .route("property-certificate", Some("lighting"), &[])
            .unwrap();
        assert_eq!(route.lead, "lighting");
        assert!(route.assisting.is_empty());
    }

    #[test]
    fn explicit_assisting_replaces_only_the_assisting_list() {
        let route = org()
            .route(
                "property-certificate",
                None,
                &["power".into(), "power".into(), "housing".into()],
            )
            .unwrap();
        assert_eq!(route.lead, "housing");
        assert_eq!(route.assisting, vec!["power"]);
    }

    #[test]
    fn an_unknown_category_needs_an_explicit_lead() {
        let err = org().route("noise", None, &[]).unwrap_err();
        let DomainError::Invalid(v) = err else {
            panic!()
        };
        assert_eq!(v[0].field, "category");
        assert!(org().route("noise", Some("power"), &[]).is_ok());
    }

    #[test]
    fn unknown_departments_are_named_by_field() {
        let err = org()
            .route("noise", Some("police"), &["land".into(), "army".into()])
            .unwrap_err();
        let DomainError::Invalid(v) = err else {
            panic!()
        };
        let fields: Vec<_> = v.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["lead_department", "assisting_departments[1]"]);
    }

    fn days(n: u32) -> Option<Span> {
        Some(Span::WorkingDays(n))
    }

    fn hours(n: u32) -> Option<Span> {
        Some(Span::WorkingHours(n))
    }

    /// Every level set for one step, so each test can see which one wins.
    fn org_with_policies() -> Organisation {
        let mut o = org_without_policies();
        o.departments.get_mut("housing").unwrap().policy = DeadlinePolicy {
            ack: days(3),
            reply: days(13),
        };
        o.deadline_rules.categories.insert(
            "property-certificate".into(),
            CategoryDeadlines {
                ordinary: DeadlinePolicy {
                    ack: None,
                    reply: days(20),
                },
                urgent: DeadlinePolicy {
                    ack: hours(1),
                    reply: None,
                },
            },
        );
        o
    }

    fn spans(ack: Option<Span>, reply: Option<Span>) -> DeadlineSpans {
        DeadlineSpans {
            ack: ack.unwrap(),
            reply: reply.unwrap(),
        }
    }

    #[test]
    fn without_policies_the_defaults_by_urgency_apply() {
        let o = org_without_policies();
        assert_eq!(
            o.deadline_spans("housing", Some("property-certificate"), false),
            DeadlineSpans::default()
        );
        assert_eq!(
            o.deadline_spans("housing", Some("property-certificate"), true),
            DeadlineSpans::urgent()
        );
        assert_eq!(
            o.deadline_spans("housing", None, true),
            spans(hours(2), days(1))
        );
    }

    #[test]
    fn the_most_specific_policy_wins_step_by_step() {
        let o = org_with_policies();
        // Urgent: ack from the category's urgent policy, reply from its ordinary one.
        assert_eq!(
            o.deadline_spans("housing", Some("property-certificate"), true),
            spans(hours(1), days(20))
        );
        // Ordinary: reply from the category, ack from the department.
        assert_eq!(
            o.deadline_spans("housing", Some("property-certificate"), false),
            spans(days(3), days(20))
        );
        // Another category: the department's policy.
        assert_eq!(
            o.deadline_spans("housing", Some("dispute"), false),
            spans(days(3), days(13))
        );
        assert_eq!(
            o.deadline_spans("housing", Some("dispute"), true),
            spans(days(3), days(13))
        );
        // A department without a policy: the defaults for the urgency.
        assert_eq!(
            o.deadline_spans("land", Some("dispute"), true),
            DeadlineSpans::urgent()
        );
        assert_eq!(
            o.deadline_spans("land", Some("property-certificate"), false),
            spans(days(1), days(20))
        );
    }

    #[test]
    fn the_old_deadlines_call_is_an_ordinary_petition_without_category() {
        let o = org_with_policies();
        let issued = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 23, 1, 0, 0).unwrap();
        assert_eq!(
            o.deadlines("housing", issued),
            spans(days(3), days(13)).deadlines(&o.calendar, issued)
        );
        assert_eq!(
            o.deadlines_for("housing", "property-certificate", true, issued),
            spans(hours(1), days(20)).deadlines(&o.calendar, issued)
        );
        // An unknown department gets the organisation's defaults, as before.
        assert_eq!(
            o.deadlines("police", issued),
            DeadlineSpans::default().deadlines(&o.calendar, issued)
        );
    }

    #[test]
    fn validation_catches_deadlines_for_unknown_categories() {
        let mut o = org();
        o.deadline_rules
            .categories
            .insert("noise".into(), CategoryDeadlines::default());
        assert!(o.validate().unwrap_err().contains("noise"));
    }

    #[test]
    fn validation_catches_routes_to_unknown_departments() {
        let mut o = org();
        o.categories
            .get_mut("property-certificate")
            .unwrap()
            .assisting
            .push("army".into());
        assert!(o.validate().unwrap_err().contains("army"));
    }
}
