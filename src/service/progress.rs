//! The progress list (进展通报) a street office reads out on its visit day:
//! its cases not closed, each department's latest step and what comes next
//! (`domain::progress`). The office reads its own with the residents to tell;
//! a supervisor may read any office's, without them.

use chrono::{DateTime, NaiveDate, Utc};

use super::*;
use crate::domain::CaseOrder;
use crate::domain::access::{Action, Grant};
use crate::domain::progress::{ProgressDay, ProgressEntry};

/// Which office's list, narrowed how, and for which day.
#[derive(Debug, Clone, Default)]
pub struct ProgressQuery {
    /// The office; an office caller always reads its own.
    pub office: Option<String>,
    pub community: Option<String>,
    pub zone: Option<String>,
    /// The local day the list is made for; none: today.
    pub day: Option<NaiveDate>,
}

/// A page of an office's progress list.
#[derive(Debug, Clone)]
pub struct ProgressReport {
    pub office: String,
    pub day: ProgressDay,
    /// Oldest case first.
    pub entries: Vec<ProgressEntry>,
    /// The cursor of the next page, if any.
    pub next: Option<String>,
}

impl Whistle {
    /// A page of `query`'s list, as of the end of its day or of now,
    /// whichever comes first: a list made on Monday for Tuesday's visits says
    /// what stands on Monday.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn progress_report(
        &self,
        actor: &Actor,
        query: ProgressQuery,
        page: PageRequest,
    ) -> Result<ProgressReport> {
        let permit = access::permit(actor, Action::ReadCases)?;
        let Some(office) = permit.office_scope(query.office.clone())? else {
            return Err(DomainError::invalid(
                "office",
                "a supervisor names the office whose list to make",
                "督办须指明街道",
            )
            .into());
        };
        let org = self.org.current();
        if org.office(&office).is_none() {
            return Err(DomainError::invalid(
                "office",
                format!("no office {office:?} is configured"),
                format!("未配置街道“{office}”"),
            )
            .into());
        }
        let with_residents = matches!(permit.grant(), Grant::Office(_));
        self.progress_page(&org, &office, &query, page, with_residents)
            .await
    }

    /// What `progress_report` answers, for a caller already let in; the
    /// weekly digest reads the office's list through it too.
    pub(super) async fn progress_page(
        &self,
        org: &Organisation,
        office: &str,
        query: &ProgressQuery,
        page: PageRequest,
        with_residents: bool,
    ) -> Result<ProgressReport> {
        let now = self.clock.now();
        let tz = org.calendar.tz();
        let day = query
            .day
            .unwrap_or_else(|| now.with_timezone(&tz).date_naive());
        let Some(day) = ProgressDay::of(day, tz, now) else {
            return Err(DomainError::invalid("as_of", "not a day", "日期无效").into());
        };
        let filter = CaseFilter {
            office: Some(office.to_owned()),
            community: query.community.clone(),
            zone: query.zone.clone(),
            open_at: Some(day.until),
            order: CaseOrder::Oldest,
            ..CaseFilter::default()
        };
        let found = self
            .store
            .list_cases_with_timelines(&filter, &page, now)
            .await?;
        let entries = found
            .items
            .iter()
            .filter_map(|case| ProgressEntry::of(case, &day, org))
            .map(|e| {
                if with_residents {
                    e
                } else {
                    e.without_residents()
                }
            })
            .collect();
        Ok(ProgressReport {
            office: office.to_owned(),
            day,
            entries,
            next: found.next,
        })
    }

    /// Every case of `office`'s list as of `now`, up to `max`; `true` when
    /// there were more.
    pub(super) async fn whole_progress_list(
        &self,
        org: &Organisation,
        office: &str,
        now: DateTime<Utc>,
        max: usize,
    ) -> Result<(Vec<ProgressEntry>, bool)> {
        let tz = org.calendar.tz();
        let query = ProgressQuery {
            day: Some(now.with_timezone(&tz).date_naive()),
            ..ProgressQuery::default()
        };
        let mut page = PageRequest::first(PageRequest::MAX);
        let mut entries = Vec::new();
        loop {
            let report = self
                .progress_page(org, office, &query, page.clone(), true)
                .await?;
            entries.extend(report.entries);
            if entries.len() > max {
                entries.truncate(max);
                return Ok((entries, true));
            }
            match report.next {
                Some(after) => page.after = Some(after),
                None => return Ok((entries, false)),
            }
        }
    }
}
