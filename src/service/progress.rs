//! The progress list (进展通报) a street office reads out on its visit day:
//! its cases not closed, each department's latest step and what comes next
//! (`domain::progress`). The office reads its own with the residents to tell;
//! a supervisor may read any office's, without them.

use std::sync::Arc;

use chrono::NaiveDate;

use super::*;
use crate::domain::CaseOrder;
use crate::domain::access::{Action, Grant};
use crate::domain::progress::{self, ProgressDay, ProgressEntry};

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

/// The most cases one progress workbook holds: a street office has a few
/// hundred open; more is a city's, to be narrowed to a community.
const WORKBOOK_CASES: usize = 5_000;

/// The whole of an office's progress list as a workbook.
#[derive(Debug, Clone)]
pub struct ProgressWorkbook {
    /// `翠屏街道进展通报2026-12-08.xlsx`.
    pub file_name: String,
    pub content: Vec<u8>,
    pub cases: usize,
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
        let (org, office, with_residents) = self.progress_reader(actor, &query)?;
        self.progress_page(&org, &office, &query, page, with_residents)
            .await
    }

    /// The whole list of `query` as a workbook, sheet 「进展通报」, one row
    /// per department of each case: to print, or to fill in on the visits.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn progress_workbook(
        &self,
        actor: &Actor,
        query: ProgressQuery,
    ) -> Result<ProgressWorkbook> {
        let (org, office, with_residents) = self.progress_reader(actor, &query)?;
        let (day, entries, more) = self
            .whole_progress_list(&org, &office, &query, with_residents, WORKBOOK_CASES)
            .await?;
        if more {
            return Err(DomainError::invalid(
                "community",
                format!("more than {WORKBOOK_CASES} open cases: narrow the list to a community or a zone"),
                format!("未办结案件超过{WORKBOOK_CASES}件，请按社区或片区分别导出"),
            )
            .into());
        }
        let content = crate::ledger::tables_xlsx(&[progress::table(&entries, org.calendar.tz())])
            .map_err(|e| Error::Internal(e.into()))?;
        let office_name = org
            .office(&office)
            .map_or_else(|| office.clone(), |o| o.name.clone());
        Ok(ProgressWorkbook {
            file_name: format!("{office_name}进展通报{}.xlsx", day.day.format("%Y-%m-%d")),
            content,
            cases: entries.len(),
        })
    }

    /// Whether `actor` may read `query`'s list: the office it is of, and
    /// whether the residents are on it (the office's own list only).
    fn progress_reader(
        &self,
        actor: &Actor,
        query: &ProgressQuery,
    ) -> Result<(Arc<Organisation>, String, bool)> {
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
        Ok((org, office, with_residents))
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

    /// Every case of `query`'s list for `office`, up to `max`; `true` when
    /// there were more.
    pub(super) async fn whole_progress_list(
        &self,
        org: &Organisation,
        office: &str,
        query: &ProgressQuery,
        with_residents: bool,
        max: usize,
    ) -> Result<(ProgressDay, Vec<ProgressEntry>, bool)> {
        let mut page = PageRequest::first(PageRequest::MAX);
        let mut entries = Vec::new();
        loop {
            let report = self
                .progress_page(org, office, query, page.clone(), with_residents)
                .await?;
            entries.extend(report.entries);
            if entries.len() > max {
                entries.truncate(max);
                return Ok((report.day, entries, true));
            }
            match report.next {
                Some(after) => page.after = Some(after),
                None => return Ok((report.day, entries, false)),
            }
        }
    }
}
