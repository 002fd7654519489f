//! The organisation whistle serves: street offices, departments, the categories
//! that route a petition to a lead department and its assisting ones, and each
//! department's deadline policy. Built once from configuration and read-only after.

use std::collections::BTreeMap;

use super::calendar::{DeadlinePolicy, Deadlines, WorkingCalendar};
use super::error::{DomainError, FieldViolation, Violations};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Office {
    pub code: String,
    pub name: String,
    /// Printed before the year on every letter: `翠街哨〔2026〕0001号`.
    pub reference_prefix: String,
    /// The communities (社区) under the office; empty accepts any community name.
    pub communities: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Department {
    pub code: String,
    pub name: String,
    pub policy: DeadlinePolicy,
    /// Whether the department may see residents' phone numbers unmasked.
    pub show_resident_phone: bool,
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
        Ok(())
    }

    pub fn office(&self, code: &str) -> Option<&Office> {
        self.offices.get(code)
    }

    pub fn department(&self, code: &str) -> Option<&Department> {
        self.departments.get(code)
    }

    /// The deadlines of a round issued to `department` at `issued_at`.
    pub fn deadlines(&self, department: &str, issued_at: DateTime<Utc>) -> Deadlines {
        self.departments
            .get(department)
            .map(|d| d.policy)
            .unwrap_or_default()
            .deadlines(&self.calendar, issued_at)
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
            violations.push(FieldViolation::new(
                "lead_department",
                format!("unknown department {lead:?}"),
            ));
        }
        for (i, code) in assisting {
            if !known(code) {
                routable = false;
                violations.push(FieldViolation::new(
                    format!("assisting_departments[{i}]"),
                    format!("unknown department {code:?}"),
                ));
            }
        }
        let rule = self.categories.get(category);
        let assisting: Vec<String> = assisting.iter().map(|(_, code)| code.clone()).collect();
        let (lead, mut assisting) = match (lead, rule) {
            (Some(lead), _) => (lead.to_owned(), assisting),
            (None, Some(rule)) if !assisting.is_empty() => (rule.lead.clone(), assisting),
            (None, Some(rule)) => (rule.lead.clone(), rule.assisting.clone()),
            (None, None) => {
                violations.push(FieldViolation::new(
                    "category",
                    format!(
                        "unknown category {category:?} and no lead_department given; known: {}",
                        self.categories
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::domain::fixtures::org;

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
