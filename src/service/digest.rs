//! The weekly digest (周报): at a configured weekday and time, one letter to
//! each office that has addresses (its past week's figures, its overdue
//! requests, its week's ledger attached) and one to the supervisors (the same
//! for every office). It is a job (`weekly_digest`): the instance that claims
//! its row writes the letters and moves the schedule on in one transaction,
//! so each week's digest is written once however many instances run.
//! Group robots with `digest = true` get the week's summary in the same
//! transaction, queued for the channel worker (`DigestChannel`), counts only.
//!
//! "The past week" is the seven days before the digest's day, local time:
//! with the digest on Monday, the ISO week just ended.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

use super::ledger::build_ledger;
use super::progress::ProgressQuery;
use super::*;
use crate::channels::digest::{DepartmentLine, DigestSummary, OfficeLine};
use crate::domain::ledger::{LedgerFormat, LedgerRange};
use crate::domain::progress;
use crate::mail::letters::{
    AttachedFile, OVERDUE_LINES, OverdueLine, PROGRESS_LINES, ProgressCase, ProgressDepartment,
    ProgressSection, WeeklyDigestLetter,
};
use std::collections::BTreeMap;

/// The figures' columns a digest prints: what fits a mail client's width.
/// The attached workbook holds every column.
const DIGEST_COLUMNS: &[&str] = &[
    "排名",
    "部门",
    "街道",
    "社区",
    "片区",
    "案件数",
    "群众数",
    "交办件数",
    "当前超期",
    "响应率",
    "按时办结率",
    "解决率",
    "满意率",
    "及时审核率",
    "得分",
    "备注",
];

/// When the weekly digest goes out, in the organisation's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestPolicy {
    pub weekday: Weekday,
    pub at: NaiveTime,
    /// The offices' visit day: an office's digest carries its progress list
    /// for the next one (`visit_after`).
    pub visit_day: Weekday,
}

impl DigestPolicy {
    /// The first digest moment at or after `t` (`inclusive`), or after it.
    pub fn next(&self, t: DateTime<Utc>, tz: Tz, inclusive: bool) -> DateTime<Utc> {
        let local = t.with_timezone(&tz).date_naive();
        (0..=14)
            .filter_map(|n| {
                let day = local + Duration::days(n);
                (day.weekday() == self.weekday)
                    .then(|| tz.from_local_datetime(&day.and_time(self.at)).earliest())
                    .flatten()
                    .map(|at| at.with_timezone(&Utc))
            })
            .find(|at| if inclusive { *at >= t } else { *at > t })
            .unwrap_or(t + Duration::days(7))
    }

    /// The visit day a digest due at `due` prepares: its own day if that is
    /// a visit day, else the next one.
    pub fn visit_after(&self, due: DateTime<Utc>, tz: Tz) -> NaiveDate {
        let day = due.with_timezone(&tz).date_naive();
        let ahead =
            (7 + self.visit_day.num_days_from_monday() - day.weekday().num_days_from_monday()) % 7;
        day + Duration::days(i64::from(ahead))
    }

    /// The week a digest due at `due` reports: the seven days before its day.
    pub fn week(&self, due: DateTime<Utc>, tz: Tz) -> Option<LedgerRange> {
        let day = due.with_timezone(&tz).date_naive();
        LedgerRange::days(day - Duration::days(7), day - Duration::days(1), tz)
    }
}

/// The job that writes the weekly digests.
const DIGEST_JOB: &str = "weekly_digest";

impl Whistle {
    /// Writes the weekly digests due at `now`, once across instances, and
    /// says when to come back; `None` when nobody receives them.
    #[tracing::instrument(skip_all)]
    pub async fn send_digests(
        &self,
        policy: &DigestPolicy,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        let (offices, supervisors) = self.letters.digest_readers();
        if offices.is_empty() && !supervisors && self.digest_channels.channels.is_empty() {
            return Ok(None);
        }
        let org = self.org.current();
        let tz = org.calendar.tz();
        let mut tx = self.store.begin().await?;
        let Some(mut job) = tx.claim_job(DIGEST_JOB).await? else {
            // Another instance is writing them now.
            tx.rollback().await?;
            return Ok(Some(now + Duration::seconds(30)));
        };
        // The first run waits for the first digest moment from now on; one
        // that falls right now is due at once.
        let due = job
            .next_run_at
            .unwrap_or_else(|| policy.next(now, tz, true));
        if now < due {
            job.next_run_at = Some(due);
            tx.finish_job(DIGEST_JOB, &job).await?;
            tx.commit().await?;
            return Ok(Some(due));
        }
        let Some(week) = policy.week(due, tz) else {
            return Err(Error::Internal(anyhow::anyhow!(
                "no week before the digest of {due}"
            )));
        };
        let key = week.label(tz);
        let mut mail = Vec::new();
        let readers = offices
            .iter()
            .map(|code| Some(code.as_str()))
            .chain(supervisors.then_some(None));
        for office in readers {
            let file =
                build_ledger(&self.store, &org, office, week, LedgerFormat::Xlsx, now).await?;
            let filter = OverdueFilter {
                office: office.map(str::to_owned),
                department: None,
                within: None,
            };
            let overdue = self
                .store
                .list_overdue(&filter, &PageRequest::first(OVERDUE_LINES), now)
                .await?;
            let name = |code: &str, of: &dyn Fn(&str) -> Option<String>| {
                of(code).unwrap_or_else(|| code.to_owned())
            };
            let lines = overdue
                .items
                .iter()
                .filter_map(|a| {
                    let o = a.request.overdue(now)?;
                    Some(OverdueLine {
                        reference: a.request.reference.as_str().to_owned(),
                        department_name: name(&a.request.department, &|c| {
                            org.department(c).map(|d| d.name.clone())
                        }),
                        office_name: name(&a.case.office, &|c| {
                            org.office(c).map(|o| o.name.clone())
                        }),
                        title: a.case.title.clone(),
                        due: o.due,
                        due_at: o.due_at,
                        late_seconds: o.by.num_seconds(),
                    })
                })
                .collect();
            let progress = match office {
                Some(code) => Some(
                    self.digest_progress(&org, code, policy.visit_after(due, tz), now)
                        .await?,
                ),
                None => None,
            };
            use base64::Engine;
            let letter = WeeklyDigestLetter {
                to: Vec::new(),
                office_name: office
                    .map(|code| name(code, &|c| org.office(c).map(|o| o.name.clone()))),
                label: key.clone(),
                from: week.from,
                until: week.to,
                made_at: now,
                timezone: tz.name().to_owned(),
                cases: file.cases as u32,
                requests: file.rows as u32,
                overdue: lines,
                overdue_more: overdue.next.is_some(),
                figures: file
                    .figures
                    .iter()
                    .map(|t| t.select(DIGEST_COLUMNS))
                    .collect(),
                attachment: AttachedFile {
                    file_name: file.file_name,
                    content_type: file.content_type.to_owned(),
                    content: base64::engine::general_purpose::STANDARD.encode(&file.content),
                },
                progress,
            };
            mail.extend(
                self.letters
                    .plan_weekly_digest(office, letter, &key)
                    .map_err(|e| Error::Internal(e.into()))?,
            );
        }
        // Missed weeks (every instance down) are not made up: the next digest
        // is the next moment from now.
        let next = policy.next(now.max(due), tz, false);
        job.next_run_at = Some(next);
        let robots = self.digest_summaries(&org, week, &key, now).await?;
        tx.queue_channel_digests(&robots, now).await?;
        tx.queue_mail(&mail).await?;
        tx.finish_job(DIGEST_JOB, &job).await?;
        tx.commit().await?;
        if !mail.is_empty() {
            self.wakes.mail.notify_one();
        }
        tracing::info!(week = %key, letters = mail.len(), robots = robots.len(), "weekly digest written");
        Ok(Some(next))
    }

    /// The summary each digest robot gets, as (channel, key, JSON): the
    /// week's cases and requests per office and department, and what is
    /// overdue now.
    async fn digest_summaries(
        &self,
        org: &Organisation,
        week: LedgerRange,
        label: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, String, String)>> {
        let robots = &self.digest_channels;
        if robots.channels.is_empty() {
            return Ok(Vec::new());
        }
        let tz = org.calendar.tz();
        let mut offices: BTreeMap<&str, OfficeLine> = org
            .offices
            .iter()
            .map(|(code, o)| {
                let line = OfficeLine {
                    code: code.clone(),
                    name: o.name.clone(),
                    cases: 0,
                    requests: 0,
                    overdue: 0,
                };
                (code.as_str(), line)
            })
            .collect();
        let department = |code: &str| DepartmentLine {
            code: code.to_owned(),
            name: org
                .department(code)
                .map_or_else(|| code.to_owned(), |d| d.name.clone()),
            requests: 0,
            overdue: 0,
        };
        let mut lines: BTreeMap<String, DepartmentLine> = BTreeMap::new();
        for case in self.store.cases_escalated(None, week.from, week.to).await? {
            if let Some(o) = offices.get_mut(case.office.as_str()) {
                o.cases += 1;
                o.requests += case.requests.len() as u32;
            }
            for r in &case.requests {
                lines
                    .entry(r.department.clone())
                    .or_insert_with(|| department(&r.department))
                    .requests += 1;
            }
        }
        let all = OverdueFilter {
            office: None,
            department: None,
            within: None,
        };
        let mut page = PageRequest::first(PageRequest::MAX);
        loop {
            let overdue = self.store.list_overdue(&all, &page, now).await?;
            for a in &overdue.items {
                if a.request.overdue(now).is_none() {
                    continue;
                }
                if let Some(o) = offices.get_mut(a.case.office.as_str()) {
                    o.overdue += 1;
                }
                let code = &a.request.department;
                lines
                    .entry(code.clone())
                    .or_insert_with(|| department(code))
                    .overdue += 1;
            }
            match overdue.next {
                Some(after) => page.after = Some(after),
                None => break,
            }
        }
        let day = |t: DateTime<Utc>| {
            let d = t.with_timezone(&tz);
            format!("{}月{}日", d.month(), d.day())
        };
        let first_day = week.from.with_timezone(&tz).date_naive();
        let district = DigestSummary {
            label: label.to_owned(),
            from: day(week.from),
            until: day(week.to - Duration::days(1)),
            offices: offices.into_values().collect(),
            departments: lines.into_values().collect(),
            link: robots
                .console_base
                .as_ref()
                .map(|base| format!("{base}/console/figures?period=week&date={first_day}")),
        };
        let key = format!("weekly:{label}");
        robots
            .channels
            .iter()
            .map(|c| {
                let summary = district.scoped(c.everything, &c.offices, &c.departments);
                serde_json::to_string(&summary)
                    .map(|json| (c.name.clone(), key.clone(), json))
                    .map_err(|e| Error::Internal(e.into()))
            })
            .collect()
    }
}

impl Whistle {
    /// `office`'s progress list for the visit day after `due`, as it stands
    /// at `now`, for its digest: worded, and as a workbook.
    async fn digest_progress(
        &self,
        org: &Organisation,
        office: &str,
        visit_day: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<ProgressSection> {
        let tz = org.calendar.tz();
        let today = ProgressQuery {
            day: Some(now.with_timezone(&tz).date_naive()),
            ..ProgressQuery::default()
        };
        let (_, entries, more) = self
            .whole_progress_list(org, office, &today, true, PROGRESS_LINES)
            .await?;
        let date = |t: DateTime<Utc>| {
            let d = t.with_timezone(&tz);
            format!("{}月{}日", d.month(), d.day())
        };
        let cases = entries
            .iter()
            .map(|e| ProgressCase {
                petition_id: e.petition_id.clone(),
                title: e.title.clone(),
                community: e.community.clone(),
                zone: e.zone.clone(),
                residents: e
                    .residents
                    .iter()
                    .map(|r| format!("{} {}", r.name, r.phone.as_str()))
                    .collect::<Vec<_>>()
                    .join("、"),
                next: e.next.zh().to_owned(),
                departments: e
                    .requests
                    .iter()
                    .map(|r| ProgressDepartment {
                        name: r.department_name.clone(),
                        latest: r
                            .latest
                            .as_ref()
                            .map(|s| format!("{} {}", date(s.at), s.text))
                            .unwrap_or_default(),
                        new: r.latest.as_ref().is_some_and(|s| s.new),
                        next: r.next_step.clone(),
                    })
                    .collect(),
            })
            .collect();
        let content = crate::ledger::tables_xlsx(&[progress::table(&entries, tz)])
            .map_err(|e| Error::Internal(e.into()))?;
        use base64::Engine;
        let office_name = org
            .office(office)
            .map_or_else(|| office.to_owned(), |o| o.name.clone());
        Ok(ProgressSection {
            visit_day: format!(
                "{}月{}日（{}）",
                visit_day.month(),
                visit_day.day(),
                crate::domain::wording::weekday_zh(visit_day.weekday())
            ),
            cases,
            more,
            attachment: AttachedFile {
                file_name: format!("{office_name}进展通报{}.xlsx", visit_day.format("%Y-%m-%d")),
                content_type: LedgerFormat::Xlsx.content_type().to_owned(),
                content: base64::engine::general_purpose::STANDARD.encode(content),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(2026, 11, d, h, m, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn the_digest_moment_is_the_next_weekday_at_its_local_time() {
        let tz = chrono_tz::Asia::Shanghai;
        let p = DigestPolicy {
            weekday: Weekday::Mon,
            at: NaiveTime::from_hms_opt(8, 30, 0).unwrap(),
            visit_day: Weekday::Tue,
        };
        // Friday 27 November: Monday 30th.
        assert_eq!(p.next(at(27, 12, 0), tz, true), at(30, 8, 30));
        // At the moment itself: now when inclusive, next week when not.
        assert_eq!(p.next(at(30, 8, 30), tz, true), at(30, 8, 30));
        assert_eq!(
            p.next(at(30, 8, 30), tz, false),
            at(30, 8, 30) + Duration::days(7)
        );
        let week = p.week(at(30, 8, 30), tz).unwrap();
        assert_eq!((week.from, week.to), (at(23, 0, 0), at(30, 0, 0)));
        assert_eq!(week.label(tz), "2026-W48");
        // Monday's digest prepares Tuesday's visits; a Tuesday digest, that
        // day's; a Wednesday one, next Tuesday's.
        let tuesday = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        assert_eq!(p.visit_after(at(30, 8, 30), tz), tuesday(1));
        assert_eq!(
            p.visit_after(at(30, 8, 30) + Duration::days(1), tz),
            tuesday(1)
        );
        assert_eq!(
            p.visit_after(at(30, 8, 30) + Duration::days(2), tz),
            tuesday(8)
        );
    }
}
