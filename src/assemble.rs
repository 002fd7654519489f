//! From settings to what the application runs on: the working calendar (read
//! from the year files), the organisation the domain works with, and the
//! policies of the use cases and workers. Settings are plain data; this is
//! where their values are checked, each problem named with its key and every
//! problem at once, before anything touches the database. [`Parts::of`] is
//! the configuration check every command runs; [`organisation`] builds the
//! organisation from settings and a calendar already read, and reads no file.

use std::collections::BTreeMap;

use anyhow::bail;

use crate::domain::calendar::WorkingCalendar;
use crate::domain::similarity::SimilarityPolicy;
use crate::domain::statistics::{CommunityPoints, ScoringPolicy};
use crate::domain::{
    self, CategoryDeadlines, DeadlinePolicy, DeadlineRules, DeadlineSpans, DecisionPolicy,
    Organisation, Span, WatchPolicy,
};
use crate::service::{AlertMailPolicy, DigestPolicy, ReplyPolicy};
use crate::settings::ImportSettings;
use crate::settings::{
    AlertMailMode, AlertMailSettings, DigestSettings, DuplicateSettings, OfficeSettings,
    PrincipalRole, ReplySettings, Settings, SpanSettings, StatisticsSettings, SupervisionSettings,
    WatchSettings,
};
use crate::visit_sheet::{Column, SheetColumns};
use crate::year_files::{self, LoadedCalendar};

/// What the settings describe, every value checked.
#[derive(Debug, Clone)]
pub struct Parts {
    /// The working calendar, and where each of its years came from.
    pub calendar: LoadedCalendar,
    /// Built on `calendar.calendar`.
    pub organisation: Organisation,
    pub replies: ReplyPolicy,
    pub alert_mail: AlertMailPolicy,
    pub digest: DigestPolicy,
    /// The visit sheet's headers (`whistle import`).
    pub import: SheetColumns,
    /// Group robots, their secrets read.
    pub channels: Vec<crate::channels::Channel>,
    /// Office and department systems told by signed webhooks.
    pub webhooks: Vec<crate::channels::Webhook>,
}

impl Parts {
    /// Reads the year files and builds everything else from the settings.
    /// Fails naming every problem found, each with its key; the key files of
    /// principals are read to be checked.
    pub fn of(settings: &Settings) -> anyhow::Result<Parts> {
        let mut problems = Problems::default();
        let calendar = problems.check(year_files::build(&settings.calendar).map_err(Into::into));
        let organisation = checked_organisation(
            settings,
            calendar.as_ref().map(|c| c.calendar.clone()),
            &mut problems,
        );
        check_principals(settings, &mut problems);
        let alert_mail = problems.check(alert_mail_policy(&settings.alert_mail));
        let digest = problems.check(digest_policy(&settings.digest));
        let import = problems.check(sheet_columns(&settings.import));
        check_listen_addresses(settings, &mut problems);
        let channels = crate::channels::channels(settings)
            .map_err(|found| problems.0.extend(found))
            .ok();
        let webhooks = crate::channels::webhooks(settings)
            .map_err(|found| problems.0.extend(found))
            .ok();
        match (
            calendar,
            organisation,
            alert_mail,
            digest,
            import,
            channels.zip(webhooks),
        ) {
            (
                Some(calendar),
                Some(organisation),
                Some(alert_mail),
                Some(digest),
                Some(import),
                Some((channels, webhooks)),
            ) if problems.is_empty() => Ok(Parts {
                calendar,
                organisation,
                replies: reply_policy(&settings.replies),
                alert_mail,
                digest,
                import,
                channels,
                webhooks,
            }),
            _ => Err(problems.into_error()),
        }
    }
}

/// The organisation the domain works with, on `calendar`, checked for
/// consistency. Reads no file: the calendar comes from the year files
/// already read (`year_files::build`).
pub fn organisation(
    settings: &Settings,
    calendar: WorkingCalendar,
) -> anyhow::Result<Organisation> {
    let mut problems = Problems::default();
    match checked_organisation(settings, Some(calendar), &mut problems) {
        Some(org) if problems.is_empty() => Ok(org),
        _ => Err(problems.into_error()),
    }
}

/// Problems found while checking, each naming its key.
#[derive(Debug, Default)]
struct Problems(Vec<String>);

impl Problems {
    /// The value, or `None` with its problem noted.
    fn check<T>(&mut self, result: anyhow::Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.0.push(format!("{e:#}"));
                None
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// One line naming them all, in the order found.
    fn into_error(self) -> anyhow::Error {
        if self.0.is_empty() {
            return anyhow::anyhow!("the configuration could not be checked");
        }
        anyhow::anyhow!("{}", self.0.join("; "))
    }
}

/// Builds the organisation when `calendar` is there and nothing is wrong;
/// notes every problem of its parts either way, so that a broken year file
/// does not hide a misspelt span.
fn checked_organisation(
    settings: &Settings,
    calendar: Option<WorkingCalendar>,
    problems: &mut Problems,
) -> Option<Organisation> {
    let offices = settings
        .offices
        .iter()
        .map(|(code, o)| {
            let office = domain::Office {
                code: code.clone(),
                name: o.name.clone(),
                reference_prefix: o.reference_prefix.clone().unwrap_or_else(|| o.name.clone()),
                communities: o.communities.clone(),
                contact: o.contact.clone(),
                contact_phone: o.contact_phone.clone(),
                zones: zones(code, o, problems),
            };
            (code.clone(), office)
        })
        .collect();
    let departments: BTreeMap<String, domain::Department> = settings
        .departments
        .iter()
        .filter_map(|(code, d)| {
            let policy = problems.check(policy(
                &format!("departments.{code}"),
                (&d.ack, d.ack_working_days),
                (&d.reply, d.reply_working_days),
            ))?;
            let department = domain::Department {
                code: code.clone(),
                name: d.name.clone(),
                policy,
                show_resident_phone: d.show_resident_phone,
                reply_domains: d
                    .reply_domains
                    .iter()
                    .map(|domain| domain.trim().to_lowercase())
                    .collect(),
            };
            Some((code.clone(), department))
        })
        .collect();
    let categories = settings
        .categories
        .iter()
        .map(|(code, c)| {
            let category = domain::Category {
                code: code.clone(),
                name: c.name.clone(),
                lead: c.lead.clone(),
                assisting: c.assisting.clone(),
            };
            (code.clone(), category)
        })
        .collect();
    let deadline_rules = deadline_rules(settings, problems);
    let watch = problems.check(watch_policy(&settings.watch));
    let decisions = problems.check(decision_policy(&settings.supervision));
    let scoring = problems.check(scoring_policy(&settings.statistics));
    let duplicates = problems.check(similarity_policy(&settings.duplicates));
    let (
        Some(calendar),
        Some(deadline_rules),
        Some(watch),
        Some(decisions),
        Some(scoring),
        Some(duplicates),
    ) = (
        calendar,
        deadline_rules,
        watch,
        decisions,
        scoring,
        duplicates,
    )
    else {
        return None;
    };
    if departments.len() != settings.departments.len() {
        return None;
    }
    let org = Organisation {
        offices,
        departments,
        categories,
        calendar,
        deadline_rules,
        watch,
        decisions,
        scoring,
        duplicates,
        join_duplicates: settings.duplicates.enabled,
        further_letter: settings.duplicates.further_letter,
    };
    problems.check(org.validate().map_err(anyhow::Error::msg))?;
    Some(org)
}

/// The organisation-wide and the categories' deadline policies, with every
/// span parsed and every key that is wrong named.
fn deadline_rules(settings: &Settings, problems: &mut Problems) -> Option<DeadlineRules> {
    let d = &settings.deadlines;
    let ordinary = problems.check(policy(
        "deadlines",
        (&d.ack, d.ack_working_days),
        (&d.reply, d.reply_working_days),
    ));
    let urgent = problems.check(urgent_policy("deadlines", &d.urgent));
    let mut categories = BTreeMap::new();
    let mut complete = true;
    for (code, c) in &settings.categories {
        let Some(d) = &c.deadlines else { continue };
        let key = format!("categories.{code}.deadlines");
        let ordinary = problems.check(policy(
            &key,
            (&d.ack, d.ack_working_days),
            (&d.reply, d.reply_working_days),
        ));
        let urgent = problems.check(urgent_policy(&key, &d.urgent));
        match (ordinary, urgent) {
            (Some(ordinary), Some(urgent)) => {
                categories.insert(code.clone(), CategoryDeadlines { ordinary, urgent });
            }
            _ => complete = false,
        }
    }
    let (Some(ordinary), Some(urgent), true) = (ordinary, urgent, complete) else {
        return None;
    };
    Some(DeadlineRules {
        ordinary: filled(ordinary, DeadlineSpans::default()),
        urgent: filled(urgent, DeadlineSpans::urgent()),
        categories,
    })
}

fn urgent_policy(parent: &str, urgent: &Option<SpanSettings>) -> anyhow::Result<DeadlinePolicy> {
    let Some(u) = urgent else {
        return Ok(DeadlinePolicy::default());
    };
    policy(
        &format!("{parent}.urgent"),
        (&u.ack, u.ack_working_days),
        (&u.reply, u.reply_working_days),
    )
}

/// One level's policy from its keys: `ack`/`reply` spans, or the older whole-day
/// `ack_working_days`/`reply_working_days`, but not both for one step, since
/// which should win would be a guess.
fn policy(
    key: &str,
    (ack, ack_days): (&Option<String>, Option<u32>),
    (reply, reply_days): (&Option<String>, Option<u32>),
) -> anyhow::Result<DeadlinePolicy> {
    let step = |name: &str, span: &Option<String>, days: Option<u32>| match (span, days) {
        (Some(_), Some(_)) => {
            bail!("{key}: both {name} and {name}_working_days are set; keep one")
        }
        (Some(text), None) => text
            .parse::<Span>()
            .map(Some)
            .map_err(|e| anyhow::anyhow!("{key}.{name}: {e}")),
        (None, Some(n)) => Ok(Some(Span::WorkingDays(n))),
        (None, None) => Ok(None),
    };
    Ok(DeadlinePolicy {
        ack: step("ack", ack, ack_days)?,
        reply: step("reply", reply, reply_days)?,
    })
}

fn filled(policy: DeadlinePolicy, defaults: DeadlineSpans) -> DeadlineSpans {
    DeadlineSpans {
        ack: policy.ack.unwrap_or(defaults.ack),
        reply: policy.reply.unwrap_or(defaults.reply),
    }
}

fn watch_policy(watch: &WatchSettings) -> anyhow::Result<WatchPolicy> {
    let span = |key: &str, value: &str| -> anyhow::Result<Span> {
        value.parse().map_err(|e| {
            anyhow::anyhow!(
                "watch.{key}: {value:?} is not a span of working time ({e}); write e.g. \"4h\" or \"1d\""
            )
        })
    };
    Ok(WatchPolicy {
        reminder_lead: span("reminder_lead", &watch.reminder_lead)?,
        repeat_every: span("repeat_every", &watch.repeat_every)?,
        escalate_after: span("escalate_after", &watch.escalate_after)?,
    })
}

fn decision_policy(supervision: &SupervisionSettings) -> anyhow::Result<DecisionPolicy> {
    let return_window = supervision.return_window.parse().map_err(|e| {
        anyhow::anyhow!(
            "supervision.return_window: {:?} is not a span of working time ({e}); write e.g. \"2h\" or \"1d\"",
            supervision.return_window
        )
    })?;
    Ok(DecisionPolicy {
        max_extensions: supervision.max_extensions,
        return_window,
    })
}

fn scoring_policy(statistics: &StatisticsSettings) -> anyhow::Result<ScoringPolicy> {
    let (p, c) = (&statistics.points, &statistics.community);
    for (name, value) in [
        ("points.base", p.base),
        ("points.on_time_reply", p.on_time_reply),
        ("points.late_acknowledgement", p.late_acknowledgement),
        ("points.late_reply", p.late_reply),
        ("points.rejected_reply", p.rejected_reply),
        ("points.unsatisfied", p.unsatisfied),
        ("points.timely_review", p.timely_review),
        ("points.late_review", p.late_review),
        ("points.override_close", p.override_close),
        ("community.per_difficulty", c.per_difficulty),
        ("community.satisfied", c.satisfied),
        ("community.rejected_reply", c.rejected_reply),
        ("community.overdue_step", c.overdue_step),
        ("community.unsatisfied", c.unsatisfied),
    ] {
        if !value.is_finite() || value < 0.0 {
            bail!(
                "statistics.{name}: {value} must be a number of points, 0 or more (deductions are written as positive numbers)"
            );
        }
    }
    Ok(ScoringPolicy {
        base: p.base,
        on_time_reply: p.on_time_reply,
        late_acknowledgement: p.late_acknowledgement,
        late_reply: p.late_reply,
        rejected_reply: p.rejected_reply,
        unsatisfied: p.unsatisfied,
        timely_review: p.timely_review,
        late_review: p.late_review,
        override_close: p.override_close,
        review_within_hours: statistics.review_within_hours,
        min_sample: statistics.min_sample,
        community: CommunityPoints {
            per_difficulty: c.per_difficulty,
            satisfied: c.satisfied,
            rejected_reply: c.rejected_reply,
            overdue_step: c.overdue_step,
            unsatisfied: c.unsatisfied,
        },
    })
}

/// An office's zones, each named once and in one of its communities.
fn zones(code: &str, office: &OfficeSettings, problems: &mut Problems) -> Vec<domain::Zone> {
    let mut seen = std::collections::BTreeSet::new();
    for (i, z) in office.zones.iter().enumerate() {
        let key = format!("offices.{code}.zones[{i}]");
        if z.name.trim().is_empty() {
            problems.0.push(format!("{key}.name is empty"));
        } else if !seen.insert(z.name.trim()) {
            problems.0.push(format!(
                "{key}.name: {:?} names two zones of the office",
                z.name
            ));
        }
        if !office.communities.is_empty() && !office.communities.contains(&z.community) {
            problems.0.push(format!(
                "{key}.community: {:?} is not one of offices.{code}.communities ({})",
                z.community,
                office.communities.join(", ")
            ));
        }
    }
    office
        .zones
        .iter()
        .map(|z| domain::Zone {
            name: z.name.trim().to_owned(),
            community: z.community.clone(),
            leader: z.leader.clone(),
            collectors: z.collectors.iter().map(|c| c.trim().to_owned()).collect(),
        })
        .collect()
}

fn similarity_policy(duplicates: &DuplicateSettings) -> anyhow::Result<SimilarityPolicy> {
    let mut problems = Vec::new();
    for (name, value) in [
        ("threshold", duplicates.threshold),
        ("address_bonus", duplicates.address_bonus),
    ] {
        if !(0.0..=1.0).contains(&value) {
            problems.push(format!(
                "duplicates.{name}: {value} must be a score from 0 to 1"
            ));
        }
    }
    if duplicates.threshold == 0.0 {
        problems.push(
            "duplicates.threshold: 0 would join every petition to an open case of its kind".into(),
        );
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("; "));
    }
    Ok(SimilarityPolicy {
        threshold: duplicates.threshold,
        address_bonus: duplicates.address_bonus,
    })
}

fn reply_policy(replies: &ReplySettings) -> ReplyPolicy {
    ReplyPolicy {
        max_attachment_bytes: replies.max_attachment_bytes,
        max_attachments: replies.max_attachments,
        attachment_types: replies
            .attachment_types
            .iter()
            .map(|t| t.trim().trim_start_matches('.').to_lowercase())
            .collect(),
    }
}

/// A time of day as settings write it, `HH:MM`.
fn time_of_day(key: &str, value: &str) -> anyhow::Result<chrono::NaiveTime> {
    chrono::NaiveTime::parse_from_str(value.trim(), "%H:%M")
        .map_err(|_| anyhow::anyhow!("{key}: {value:?} is not a time of day such as \"08:30\""))
}

fn alert_mail_policy(alert_mail: &AlertMailSettings) -> anyhow::Result<AlertMailPolicy> {
    let digest_at = time_of_day("alert_mail.digest_time", &alert_mail.digest_time)?;
    if alert_mail.min_level > 2 {
        bail!(
            "alert_mail.min_level: {} is not a level; levels are 1 and 2",
            alert_mail.min_level
        );
    }
    Ok(AlertMailPolicy {
        mode: match alert_mail.mode {
            AlertMailMode::Each => crate::service::AlertMailMode::Each,
            AlertMailMode::Digest => crate::service::AlertMailMode::Digest,
        },
        digest_at,
        min_level: alert_mail.min_level,
    })
}

fn digest_policy(digest: &DigestSettings) -> anyhow::Result<DigestPolicy> {
    let weekday = day_of_week("digest.weekday", &digest.weekday)?;
    let visit_day = day_of_week("digest.visit_day", &digest.visit_day)?;
    let at = time_of_day("digest.time", &digest.time)?;
    Ok(DigestPolicy {
        weekday,
        at,
        visit_day,
    })
}

fn day_of_week(field: &str, value: &str) -> anyhow::Result<chrono::Weekday> {
    Ok(match value.trim().to_ascii_uppercase().as_str() {
        "MON" => chrono::Weekday::Mon,
        "TUE" => chrono::Weekday::Tue,
        "WED" => chrono::Weekday::Wed,
        "THU" => chrono::Weekday::Thu,
        "FRI" => chrono::Weekday::Fri,
        "SAT" => chrono::Weekday::Sat,
        "SUN" => chrono::Weekday::Sun,
        _ => bail!(
            "{field}: {value:?} is not a day of the week; write MON, TUE, WED, THU, FRI, SAT or SUN"
        ),
    })
}

/// The visit sheet's headers: each column goes by at least one, no header
/// names two columns (a cell would be read twice), and the default
/// difficulty is one a petition may have.
fn sheet_columns(import: &ImportSettings) -> anyhow::Result<SheetColumns> {
    let lists = |column: Column| match column {
        Column::ResidentName => &import.resident_name,
        Column::ResidentPhone => &import.resident_phone,
        Column::Community => &import.community,
        Column::Zone => &import.zone,
        Column::Address => &import.address,
        Column::Category => &import.category,
        Column::Description => &import.description,
        Column::VisitDate => &import.visit_date,
        Column::Collector => &import.collector,
        Column::Difficulty => &import.difficulty,
    };
    let mut headers: Vec<(Column, Vec<String>)> = Vec::new();
    for column in Column::ALL {
        let names: Vec<String> = lists(column).iter().map(|h| h.trim().to_owned()).collect();
        if names.is_empty() || names.iter().any(String::is_empty) {
            bail!(
                "import.{}: give the column's header, e.g. [\"{}\"]",
                column.key(),
                column.key()
            );
        }
        for name in &names {
            if let Some((other, _)) = headers.iter().find(|(_, n)| n.contains(name)) {
                bail!(
                    "import.{}: {name:?} is also a header of import.{}",
                    column.key(),
                    other.key()
                );
            }
        }
        headers.push((column, names));
    }
    if !(1..=5).contains(&import.default_difficulty) {
        bail!(
            "import.default_difficulty: {} is not a difficulty from 1 to 5",
            import.default_difficulty
        );
    }
    Ok(SheetColumns {
        headers,
        default_difficulty: import.default_difficulty,
    })
}

/// Every principal's keys (its key file read), its role, and the office or
/// department it acts for: a code left as `new-key`'s placeholder
/// (`DEPARTMENT`) is named with the codes that exist, one problem per
/// principal.
fn check_principals(settings: &Settings, problems: &mut Problems) {
    for (name, p) in &settings.principals {
        problems.check(p.key_windows(name));
        let (key, code, codes, what, table) = match &p.role {
            PrincipalRole::Office => (
                "office",
                &p.office,
                settings.offices.keys().collect::<Vec<_>>(),
                "an office",
                "[offices]",
            ),
            PrincipalRole::Department => (
                "department",
                &p.department,
                settings.departments.keys().collect(),
                "a department",
                "[departments]",
            ),
            PrincipalRole::Supervisor => continue,
            PrincipalRole::Unknown(role) => {
                problems.0.push(format!(
                    "principals.{name}.role: {role:?} is not a role; write office, department or supervisor"
                ));
                continue;
            }
        };
        let what = format!("{what} of {table}");
        let known = if codes.is_empty() {
            format!("{table} has none yet")
        } else {
            let codes: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
            format!("write one of: {}", codes.join(", "))
        };
        match code {
            Some(code) if codes.contains(&code) => {}
            Some(code) => problems.0.push(format!(
                "principals.{name}.{key}: {code:?} is not {what}; {known}"
            )),
            None => problems.0.push(format!(
                "principals.{name}.{key}: set the code of {what} it acts for; {known}"
            )),
        }
    }
}

/// Every listener's address, so that a wrong one stops start-up before the
/// database is opened (and a SQLite file created). An address is HOST:PORT;
/// the host may be a name, resolved when the listener is bound.
fn check_listen_addresses(settings: &Settings, problems: &mut Problems) {
    for (key, value, example) in [
        ("grpc.listen", &settings.grpc.listen, "127.0.0.1:50051"),
        ("http.listen", &settings.http.listen, "127.0.0.1:8080"),
        (
            "inbound_mail.listen",
            &settings.inbound_mail.listen,
            "0.0.0.0:2525",
        ),
        ("metrics.listen", &settings.metrics.listen, "127.0.0.1:9090"),
    ] {
        let value = value.trim();
        // Only gRPC must listen; the others are off while empty.
        if value.is_empty() && key != "grpc.listen" {
            continue;
        }
        let port = value
            .parse::<http::uri::Authority>()
            .ok()
            .filter(|a| !a.host().is_empty() && !value.contains('@'))
            .and_then(|a| a.port_u16());
        if port.is_none() {
            problems.0.push(format!(
                "{key}: {value:?} is not an address to listen on; write HOST:PORT, such as {example}"
            ));
        }
    }
}

#[cfg(test)]
mod tests;
