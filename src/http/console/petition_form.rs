//! The new-petition form (吹哨): a street office escalates one petition from
//! the browser through the use case EscalatePetition calls, so the checks are
//! the same ones. When the use case refuses the petition, the form comes back
//! with what was typed and each violation beside its field, in Chinese.

use std::collections::BTreeMap;

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Serialize;

use super::{Signed, error_page, forbidden, same_token, signed_in};
use crate::domain::{DomainError, FieldViolation, Organisation, PetitionInput};
use crate::http::PageState;
use crate::service::Error;

/// The form's fields, in the order the page shows them.
const FIELDS: &[&str] = &[
    "petition_id",
    "title",
    "category",
    "community",
    "zone",
    "collector",
    "address",
    "resident_name",
    "resident_phone",
    "description",
    "difficulty",
    "lead_department",
    "assisting_departments",
    "urgent",
];

/// What was typed, to show again.
#[derive(Debug, Default, Serialize)]
struct Typed {
    fields: BTreeMap<&'static str, String>,
    assisting: Vec<String>,
}

impl Typed {
    fn of(pairs: &[(String, String)]) -> Self {
        let mut typed = Typed::default();
        for (name, value) in pairs {
            if name == "assisting_departments" {
                if !value.trim().is_empty() {
                    typed.assisting.push(value.clone());
                }
            } else if let Some(field) = FIELDS.iter().find(|f| **f == name) {
                typed.fields.insert(field, value.clone());
            }
        }
        typed
    }

    fn get(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }

    fn input(&self) -> PetitionInput {
        PetitionInput {
            petition_id: self.get("petition_id").to_owned(),
            category: self.get("category").to_owned(),
            title: self.get("title").to_owned(),
            description: self.get("description").to_owned(),
            resident_name: self.get("resident_name").to_owned(),
            resident_phone: self.get("resident_phone").to_owned(),
            address: self.get("address").to_owned(),
            community: self.get("community").to_owned(),
            // Not a number (or nothing chosen) is 0, which the petition's own
            // check refuses beside the field.
            difficulty: self.get("difficulty").trim().parse().unwrap_or(0),
            lead_department: self.get("lead_department").to_owned(),
            assisting_departments: self.assisting.clone(),
            urgent: !self.get("urgent").is_empty(),
            zone: self.get("zone").to_owned(),
            collector: self.get("collector").to_owned(),
        }
    }
}

/// The form field a violation belongs beside: `resident.phone` is the
/// `resident_phone` input, each `assisting_departments[i]` the one group of
/// boxes. `None`: shown above the form.
fn field_of(violation: &FieldViolation) -> Option<&'static str> {
    let field = violation.field.as_str();
    let field = match field {
        "resident.name" => "resident_name",
        "resident.phone" => "resident_phone",
        f if f.starts_with("assisting_departments") => "assisting_departments",
        f => f,
    };
    FIELDS.iter().find(|f| **f == field).copied()
}

/// What the page calls each field, for the summary above the form.
fn label(field: &str) -> &'static str {
    match field {
        "petition_id" => "诉求编号",
        "title" => "诉求事项",
        "category" => "类别",
        "community" => "社区",
        "zone" => "片区",
        "collector" => "收集人",
        "address" => "地址",
        "resident_name" => "群众姓名",
        "resident_phone" => "联系电话",
        "description" => "诉求内容",
        "difficulty" => "难度",
        "lead_department" => "主办部门",
        "assisting_departments" => "协办部门",
        "urgent" => "紧急",
        _ => "其他",
    }
}

#[derive(Debug, Serialize)]
struct Problem {
    field: &'static str,
    label: &'static str,
    text: String,
}

fn render(
    state: &PageState,
    signed: &Signed,
    office: &str,
    typed: &Typed,
    problems: &[Problem],
    general: Option<String>,
    status: StatusCode,
) -> Response {
    let org = state.whistle.organisation();
    let mut errors: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for p in problems {
        errors.entry(p.field).or_default().push(&p.text);
    }
    state.console.render(
        "petition.html",
        status,
        context! {
            who => signed.view(),
            typed => typed,
            errors => errors,
            problems => problems,
            general => general,
            categories => options(&org, Choice::Categories),
            departments => options(&org, Choice::Departments),
            communities => org.office(office).map(|o| o.communities.clone()).unwrap_or_default(),
            difficulties => [1, 2, 3, 4, 5],
        },
    )
}

enum Choice {
    Categories,
    Departments,
}

fn options(org: &Organisation, choice: Choice) -> Vec<(String, String)> {
    match choice {
        Choice::Categories => org
            .categories
            .values()
            .map(|c| (c.code.clone(), c.name.clone()))
            .collect(),
        Choice::Departments => org
            .departments
            .values()
            .map(|d| (d.code.clone(), d.name.clone()))
            .collect(),
    }
}

/// The office the person may escalate for, asked of the use cases' own
/// check (a department or supervisor is refused here as it would be there).
fn escalating(state: &PageState, signed: &Signed) -> Result<String, Error> {
    let org = state.whistle.organisation();
    crate::service::intake::check(&org, &signed.actor(), &[])?;
    match &signed.person.role {
        crate::domain::ActorRole::Office(code) => Ok(code.clone()),
        _ => Err(DomainError::denied("only offices escalate", "只有街道可以吹哨").into()),
    }
}

/// `GET /console/cases/new`.
pub async fn form(State(state): State<PageState>, headers: HeaderMap) -> Response {
    let signed = match signed_in(&state, &headers).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let office = match escalating(&state, &signed) {
        Ok(office) => office,
        Err(e) => return error_page(&state, e, Some(&signed)),
    };
    let mut typed = Typed::default();
    typed.fields.insert("difficulty", "1".to_owned());
    render(&state, &signed, &office, &typed, &[], None, StatusCode::OK)
}

/// `POST /console/cases/new`: escalates, then shows the new case; or the
/// form again with every violation beside its field.
pub async fn escalate(
    State(state): State<PageState>,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let signed = match signed_in(&state, &headers).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let csrf = pairs
        .iter()
        .find(|(name, _)| name == "csrf")
        .map_or("", |(_, v)| v.as_str());
    if !same_token(&signed.csrf, csrf) {
        return forbidden(&state.console, Some(&signed));
    }
    let office = match escalating(&state, &signed) {
        Ok(office) => office,
        Err(e) => return error_page(&state, e, Some(&signed)),
    };
    let typed = Typed::of(&pairs);
    let refusal = match state.whistle.escalate(&signed.actor(), typed.input()).await {
        Ok(case) => {
            return Redirect::to(&format!("/console/cases/{}?done=escalated", case.id))
                .into_response();
        }
        Err(Error::Refused(refusal)) => refusal,
        Err(other) => return error_page(&state, other, Some(&signed)),
    };
    match refusal {
        DomainError::Invalid(violations) => {
            let mut general = Vec::new();
            let problems: Vec<Problem> = violations
                .iter()
                .filter_map(|v| match field_of(v) {
                    Some(field) => Some(Problem {
                        field,
                        label: label(field),
                        text: v.description_zh().to_owned(),
                    }),
                    None => {
                        general.push(format!("{}：{}", v.field, v.description_zh()));
                        None
                    }
                })
                .collect();
            let general = (!general.is_empty()).then(|| general.join("；"));
            render(
                &state,
                &signed,
                &office,
                &typed,
                &problems,
                general,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
        // The petition id was used for another petition: said beside the id.
        DomainError::AlreadyExists(message) => render(
            &state,
            &signed,
            &office,
            &typed,
            &[Problem {
                field: "petition_id",
                label: label("petition_id"),
                text: message.zh,
            }],
            None,
            StatusCode::CONFLICT,
        ),
        other => error_page(&state, Error::Refused(other), Some(&signed)),
    }
}
