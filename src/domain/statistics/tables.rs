//! The figures as a reader reads them: tables of departments, offices and
//! communities, for the ledger's sheets and the weekly digest.

use super::*;

impl Statistics {
    /// The figures as a reader's tables: the departments ranked, then the
    /// offices ranked with the total as their last row, then the communities
    /// each followed by its zones. The ledger writes
    /// each as a sheet; the weekly digest prints them.
    pub fn tables(&self) -> Vec<Table> {
        let rate = |r: Rate| Cell::Percent(r.value());
        let hours = |h: f64| Cell::Number((h * 100.0).round() / 100.0);
        let mean = |h: &Hours| {
            if h.count == 0 {
                Cell::Empty
            } else {
                hours(h.mean)
            }
        };
        let p90 = |h: &Hours| {
            if h.count == 0 {
                Cell::Empty
            } else {
                hours(h.p90)
            }
        };
        let rank = |s: &Score| match s.rank {
            Some(n) => Cell::Int(i64::from(n)),
            None => Cell::Empty,
        };
        let points = |s: &Score| s.points.map_or(Cell::Empty, hours);
        let note = |s: &Score, unit: &str| {
            if s.too_few_to_rank {
                Cell::Text(format!(
                    "样本不足{}{unit}，不参与排名",
                    self.policy.min_sample
                ))
            } else {
                Cell::Empty
            }
        };
        let int = |n: u32| Cell::Int(i64::from(n));
        let requests = |f: &RequestFigures| {
            vec![
                int(f.requests),
                int(f.open),
                int(f.overdue_now),
                rate(f.response),
                rate(f.on_time_reply),
                rate(f.resolution),
            ]
        };
        let departments = Table {
            name: "部门统计".into(),
            headers: [
                "排名",
                "部门",
                "代码",
                "交办件数",
                "在办",
                "当前超期",
                "响应率",
                "按时办结率",
                "解决率",
                "满意率",
                "群众数",
                "群众满意率",
                "平均签收用时(工时)",
                "签收用时P90",
                "平均答复用时(工时)",
                "答复用时P90",
                "轮次",
                "退回答复",
                "退单申请",
                "已改派",
                "延期申请",
                "延期批准",
                "督办结案",
                "部门用时(工时)",
                "暂停(工时)",
                "得分",
                "难度权重",
                "备注",
            ]
            .map(String::from)
            .to_vec(),
            rows: self
                .departments
                .iter()
                .map(|d| {
                    let f = &d.requests;
                    let mut row = vec![
                        rank(&d.score),
                        Cell::Text(d.name.clone()),
                        Cell::Text(d.code.clone()),
                    ];
                    row.extend(requests(f));
                    row.extend([
                        rate(d.satisfaction),
                        int(d.residents),
                        rate(d.resident_satisfaction),
                        mean(&f.to_acknowledge),
                        p90(&f.to_acknowledge),
                        mean(&f.to_reply),
                        p90(&f.to_reply),
                        int(f.rounds),
                        int(f.rejected_replies),
                        int(f.returns_asked),
                        int(f.returned),
                        int(f.extensions_asked),
                        int(f.extensions_approved),
                        int(d.overrides),
                        hours(f.department_hours),
                        hours(f.paused_hours),
                        points(&d.score),
                        int(d.score.weight),
                        note(&d.score, "件"),
                    ]);
                    row
                })
                .collect(),
        };
        let office_row = |o: &OfficeFigures| {
            let mut row = vec![
                rank(&o.score),
                Cell::Text(o.name.clone()),
                Cell::Text(o.code.clone()),
            ];
            row.extend([int(o.cases), int(o.closed), int(o.overrides)]);
            row.extend(requests(&o.requests));
            row.extend([
                rate(o.satisfaction),
                int(o.residents),
                rate(o.resident_satisfaction),
                mean(&o.to_review),
                p90(&o.to_review),
                rate(o.timely_review),
                hours(o.office_hours),
                hours(o.requests.department_hours),
                points(&o.score),
                int(o.score.weight),
                note(&o.score, "件案件"),
            ]);
            row
        };
        let mut offices = Table {
            name: "街道统计".into(),
            headers: [
                "排名",
                "街道",
                "代码",
                "案件数",
                "已办结",
                "督办结案",
                "交办件数",
                "在办",
                "当前超期",
                "响应率",
                "按时办结率",
                "解决率",
                "满意率",
                "群众数",
                "群众满意率",
                "平均审核用时(工时)",
                "审核用时P90",
                "及时审核率",
                "街道用时(工时)",
                "部门用时(工时)",
                "得分",
                "难度权重",
                "备注",
            ]
            .map(String::from)
            .to_vec(),
            rows: self.offices.iter().map(office_row).collect(),
        };
        let mut total = office_row(&self.total);
        total[0] = Cell::Empty;
        total[2] = Cell::Empty;
        offices.rows.push(total);
        let communities = Table {
            name: "社区统计".into(),
            headers: [
                "街道",
                "社区",
                "片区",
                "民情服务员",
                "案件数",
                "群众数",
                "已办结",
                "满意率",
                "群众满意率",
                "退回答复",
                "超期环节",
                "不满意",
                "难度分",
                "加分",
                "减分",
                "得分",
            ]
            .map(String::from)
            .to_vec(),
            rows: self
                .communities
                .iter()
                .map(|c| {
                    vec![
                        Cell::Text(c.office_name.clone()),
                        Cell::Text(c.community.clone()),
                        Cell::Text(match (&c.zone, &c.collector) {
                            (None, None) => "（全社区）".into(),
                            (zone, _) => zone.clone().unwrap_or_default(),
                        }),
                        Cell::Text(c.collector.clone().unwrap_or_default()),
                        int(c.cases),
                        int(c.residents),
                        int(c.closed),
                        rate(c.satisfaction),
                        rate(c.resident_satisfaction),
                        int(c.rejected_replies),
                        int(c.overdue_steps),
                        int(c.unsatisfied),
                        hours(c.difficulty_points),
                        hours(c.additions),
                        hours(c.deductions),
                        hours(c.points()),
                    ]
                })
                .collect(),
        };
        vec![departments, offices, communities]
    }
}
