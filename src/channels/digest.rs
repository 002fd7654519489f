//! The weekly digest's summary as a group reads it: the week's figures per
//! office and per department and what is overdue now, counted, with a link
//! to the console's figures where the console has a public address. Counts
//! only: no case, no title, no resident. Written by the digest
//! (`Whistle::send_digests`) into the channel queue as JSON, one per channel
//! and week, and posted in each vendor's format by the channel worker.

use serde::{Deserialize, Serialize};

use super::Audience;
use super::message::markdown_text;

/// One office's week.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficeLine {
    pub code: String,
    pub name: String,
    /// Cases escalated in the week, and the requests they issued.
    pub cases: u32,
    pub requests: u32,
    /// Requests of the office's cases overdue now.
    pub overdue: u32,
}

/// One department's week.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepartmentLine {
    pub code: String,
    pub name: String,
    /// Requests issued to it in the week.
    pub requests: u32,
    /// Its requests overdue now.
    pub overdue: u32,
}

/// A digest's summary for one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestSummary {
    /// `2026-W48`.
    pub label: String,
    /// The week's first and last days, as a group reads them (`11月23日`).
    pub from: String,
    pub until: String,
    pub offices: Vec<OfficeLine>,
    pub departments: Vec<DepartmentLine>,
    /// The console's figures for the week.
    pub link: Option<String>,
}

/// A group robot that also gets the digest's summary, and whose part of it:
/// every office's and department's (`everything`), or the ones it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestChannel {
    pub name: String,
    pub everything: bool,
    pub offices: Vec<String>,
    pub departments: Vec<String>,
}

/// Where the digest's robots are, and the console's public address their
/// summary links to.
#[derive(Debug, Clone, Default)]
pub struct DigestChannels {
    pub channels: Vec<DigestChannel>,
    pub console_base: Option<String>,
}

/// The robots of `channels` that get the digest, each with its part; the
/// summary links to the console's figures when the console has a public
/// address (`http.public_url`).
pub fn channels(channels: &[super::Channel], public_url: &str) -> DigestChannels {
    let public_url = public_url.trim().trim_end_matches('/');
    DigestChannels {
        channels: channels
            .iter()
            .filter(|c| c.digest)
            .map(|c| {
                let mut robot = DigestChannel {
                    name: c.name.clone(),
                    everything: false,
                    offices: Vec::new(),
                    departments: Vec::new(),
                };
                for a in &c.audience {
                    match a {
                        Audience::Supervisors => robot.everything = true,
                        Audience::Office(code) => robot.offices.push(code.clone()),
                        Audience::Department(code) => robot.departments.push(code.clone()),
                    }
                }
                robot
            })
            .collect(),
        console_base: (!public_url.is_empty()).then(|| public_url.to_owned()),
    }
}

/// Lines listed at most per part: the vendors' 4 KB holds them with room.
const MAX_LINES: usize = 30;

impl DigestSummary {
    /// The part of the district's summary a channel's audience reads: all of
    /// it for the supervisors, else the offices and departments it names.
    pub fn scoped(&self, everything: bool, offices: &[String], departments: &[String]) -> Self {
        let mut scoped = self.clone();
        if !everything {
            scoped.offices.retain(|o| offices.contains(&o.code));
            scoped.departments.retain(|d| departments.contains(&d.code));
        }
        scoped
    }

    pub fn title(&self) -> String {
        format!("【吹哨报到·周报】{}", self.label)
    }

    fn totals(&self) -> String {
        let sum = |f: fn(&OfficeLine) -> u32| self.offices.iter().map(f).sum::<u32>();
        let overdue = if self.offices.is_empty() {
            self.departments.iter().map(|d| d.overdue).sum()
        } else {
            sum(|o| o.overdue)
        };
        let requests = if self.offices.is_empty() {
            self.departments.iter().map(|d| d.requests).sum()
        } else {
            sum(|o| o.requests)
        };
        if self.offices.is_empty() {
            format!("交办{requests}件，当前超期{overdue}件")
        } else {
            format!(
                "新受理案件{}件，交办{requests}件，当前超期{overdue}件",
                sum(|o| o.cases)
            )
        }
    }

    /// Lines, `bullet` before each listed line, names through `name`.
    fn lines(
        &self,
        bullet: &str,
        strong: impl Fn(&str) -> String,
        name: impl Fn(&str) -> String,
    ) -> Vec<String> {
        let mut lines = vec![format!("{}至{}：{}", self.from, self.until, self.totals())];
        if !self.offices.is_empty() {
            lines.push(strong("各街道"));
            for o in self.offices.iter().take(MAX_LINES) {
                lines.push(format!(
                    "{bullet}{}：案件{}件，交办{}件，超期{}件",
                    name(&o.name),
                    o.cases,
                    o.requests,
                    o.overdue
                ));
            }
        }
        if !self.departments.is_empty() {
            lines.push(strong("各部门"));
            let mut departments: Vec<&DepartmentLine> = self.departments.iter().collect();
            // The late first: what the group should look at.
            departments.sort_by(|a, b| b.overdue.cmp(&a.overdue).then(a.code.cmp(&b.code)));
            for d in departments.iter().take(MAX_LINES) {
                lines.push(format!(
                    "{bullet}{}：交办{}件，超期{}件",
                    name(&d.name),
                    d.requests,
                    d.overdue
                ));
            }
            if departments.len() > MAX_LINES {
                lines.push(format!("{bullet}……共{}个部门", departments.len()));
            }
        }
        lines
    }

    /// Markdown, as 企业微信, 钉钉 and 飞书's lark_md read it.
    pub fn markdown_body(&self) -> String {
        let mut out = self
            .lines("- ", |s| format!("**{s}**"), markdown_text)
            .join("\n");
        if let Some(link) = &self.link {
            out.push_str(&format!("\n[查看本周统计]({link})"));
        }
        out.push('\n');
        out
    }

    pub fn markdown(&self) -> String {
        format!("**{}**\n{}", self.title(), self.markdown_body())
    }

    pub fn text(&self) -> String {
        let mut text = self.title();
        for line in self.lines("", |s| format!("{s}："), str::to_owned) {
            text.push('\n');
            text.push_str(&line);
        }
        if let Some(link) = &self.link {
            text.push_str(&format!("\n查看本周统计：{link}"));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> DigestSummary {
        DigestSummary {
            label: "2026-W48".into(),
            from: "11月23日".into(),
            until: "11月29日".into(),
            offices: vec![OfficeLine {
                code: "cuiping".into(),
                name: "翠屏街道".into(),
                cases: 2,
                requests: 3,
                overdue: 1,
            }],
            departments: vec![
                DepartmentLine {
                    code: "power".into(),
                    name: "区供电公司".into(),
                    requests: 1,
                    overdue: 0,
                },
                DepartmentLine {
                    code: "housing".into(),
                    name: "区住建局".into(),
                    requests: 2,
                    overdue: 1,
                },
            ],
            link: Some(
                "https://whistle.example/console/figures?period=week&date=2026-11-23".into(),
            ),
        }
    }

    #[test]
    fn the_summary_counts_per_office_and_department_the_late_first() {
        let md = summary().markdown();
        assert!(md.starts_with("**【吹哨报到·周报】2026-W48**\n"), "{md}");
        assert!(md.contains("新受理案件2件，交办3件，当前超期1件"), "{md}");
        assert!(md.contains("- 翠屏街道：案件2件，交办3件，超期1件"), "{md}");
        let housing = md.find("区住建局").unwrap();
        assert!(housing < md.find("区供电公司").unwrap(), "{md}");
        assert!(md.contains("[查看本周统计](https://whistle.example/console/figures?period=week&date=2026-11-23)"), "{md}");
    }

    #[test]
    fn a_department_reads_only_its_own_line() {
        let own = summary().scoped(false, &[], &["housing".into()]);
        assert!(own.offices.is_empty());
        assert_eq!(own.departments.len(), 1);
        assert!(
            own.text().contains("交办2件，当前超期1件"),
            "{}",
            own.text()
        );
        assert_eq!(summary().scoped(true, &[], &[]), summary());
    }
}
