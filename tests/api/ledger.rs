//! The weekly ledger (台账) through `CaseService.ExportLedger`: the workbook
//! and the CSV file read back cell by cell for cases taken through their
//! lifecycle, who may export whose cases, the range refused with the field
//! named, and a large ledger streamed in chunks.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use chrono::{DateTime, NaiveDateTime, Utc};
use tonic::Code;
use whistle::proto::{Case, ExportLedgerRequest, LedgerChunk, LedgerFormat, Verdict};

use crate::helpers::*;

scenarios!(
    the_workbook_holds_a_row_per_request_as_the_cases_stand,
    the_csv_file_holds_the_same_rows_for_excel_and_wps,
    offices_export_their_own_cases_and_supervisors_any_office,
    a_large_ledger_streams_in_chunks,
    departments_may_not_export_a_ledger,
    the_range_is_checked_naming_the_field,
    the_figures_sheets_say_what_get_statistics_says,
);

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

fn ts(at: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    })
}

/// ISO week 48 of 2026 in Asia/Shanghai.
fn week_48(format: LedgerFormat) -> ExportLedgerRequest {
    ExportLedgerRequest {
        from: ts(shanghai(2026, 11, 23, 0, 0)),
        to: ts(shanghai(2026, 11, 30, 0, 0)),
        format: format as i32,
        office: String::new(),
    }
}

/// The file and its chunks, as a client joins them.
struct Exported {
    first: LedgerChunk,
    chunks: Vec<LedgerChunk>,
    bytes: Vec<u8>,
}

async fn export(client: &mut CaseClient, request: ExportLedgerRequest) -> Exported {
    let mut stream = client
        .export_ledger(request)
        .await
        .unwrap_or_else(|s| panic!("exporting the ledger: {s:?}"))
        .into_inner();
    let mut chunks = Vec::new();
    while let Some(chunk) = stream.message().await.expect("a chunk") {
        chunks.push(chunk);
    }
    let bytes = chunks.iter().flat_map(|c| c.data.clone()).collect();
    Exported {
        first: chunks.first().cloned().expect("at least one chunk"),
        chunks,
        bytes,
    }
}

/// Sheet 「案件台账」 of a workbook.
fn ledger_sheet(bytes: &[u8]) -> calamine::Range<Data> {
    let mut workbook = Xlsx::new(Cursor::new(bytes.to_vec())).expect("a workbook");
    assert_eq!(
        workbook.sheet_names(),
        ["案件台账", "部门统计", "街道统计", "社区统计"]
    );
    workbook
        .worksheet_range("案件台账")
        .expect("the ledger sheet")
}

const HEADERS: [&str; 26] = [
    "案件编号",
    "来件编号",
    "标题",
    "类别",
    "社区",
    "片区",
    "收集人",
    "难度",
    "紧急",
    "立案时间",
    "承办部门",
    "角色",
    "文号",
    "状态",
    "签收时限",
    "签收时间",
    "答复时限",
    "答复时间",
    "签收超期",
    "答复超期",
    "轮次",
    "答复内容",
    "审核结果",
    "回访结果",
    "案件状态",
    "督办结案",
];

fn column(name: &str) -> usize {
    HEADERS
        .iter()
        .position(|h| *h == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

/// What a cell of the ledger should hold.
#[derive(Debug, Clone, PartialEq)]
enum Want {
    Text(String),
    Number(f64),
    /// A local time in Asia/Shanghai, to the second.
    Time(NaiveDateTime),
    /// A deadline, local time: one at midnight is shown as 24:00 of the day
    /// before, as the letter says it.
    Deadline(NaiveDateTime),
    Empty,
}

fn text(s: &str) -> Want {
    if s.is_empty() {
        Want::Empty
    } else {
        Want::Text(s.to_owned())
    }
}

fn local(ts: &Option<prost_types::Timestamp>) -> Want {
    match ts {
        None => Want::Empty,
        Some(_) => Want::Time(
            instant(ts)
                .with_timezone(&chrono_tz::Asia::Shanghai)
                .naive_local(),
        ),
    }
}

/// A deadline as the ledger must show it.
fn deadline(ts: &Option<prost_types::Timestamp>) -> Want {
    match local(ts) {
        Want::Time(t) => Want::Deadline(t),
        other => other,
    }
}

/// The day a deadline ends on and whether it is that day's 24:00.
fn day_ending(t: &NaiveDateTime) -> (NaiveDateTime, bool) {
    if t.time() == chrono::NaiveTime::MIN {
        (*t - chrono::TimeDelta::days(1), true)
    } else {
        (*t, false)
    }
}

/// The cells every row of `case` repeats.
fn case_cells(
    case: &Case,
    category: &str,
    verdict: &str,
    status: &str,
) -> Vec<(&'static str, Want)> {
    vec![
        ("案件编号", text(&case.id)),
        ("来件编号", text(&case.petition_id)),
        ("标题", text(&case.title)),
        ("类别", text(category)),
        ("社区", text(&case.community)),
        ("难度", Want::Number(f64::from(case.difficulty))),
        ("紧急", text("否")),
        ("立案时间", local(&case.created_at)),
        ("回访结果", text(verdict)),
        ("案件状态", text(status)),
        ("督办结案", Want::Empty),
    ]
}

/// The cells of one request's row, as the case stands.
#[allow(clippy::too_many_arguments)]
fn request_cells(
    case: &Case,
    department: &str,
    name: &str,
    role: &str,
    status: &str,
    late: (&str, &str),
    reply: &str,
    review: &str,
) -> Vec<(&'static str, Want)> {
    let r = request_of(case, department);
    let current = r.reply.as_ref();
    vec![
        ("承办部门", text(name)),
        ("角色", text(role)),
        ("文号", text(&r.reference)),
        ("状态", text(status)),
        ("签收时限", deadline(&r.ack_due_at)),
        ("签收时间", local(&r.acknowledged_at)),
        ("答复时限", deadline(&r.reply_due_at)),
        (
            "答复时间",
            current.map_or(Want::Empty, |x| local(&x.replied_at)),
        ),
        ("签收超期", text(late.0)),
        ("答复超期", text(late.1)),
        ("轮次", Want::Number(f64::from(r.round))),
        ("答复内容", text(reply)),
        ("审核结果", text(review)),
    ]
}

#[track_caller]
fn assert_cell(got: Option<&Data>, want: &Want, at: (usize, &str)) {
    let got = got.cloned().unwrap_or(Data::Empty);
    let same = match (&got, want) {
        (Data::Empty, Want::Empty) => true,
        (Data::String(s), Want::Text(t)) => s == t,
        (Data::Float(x), Want::Number(y)) => x == y,
        (Data::DateTime(d), Want::Time(t)) => d
            .as_datetime()
            .is_some_and(|d| (d - *t).num_milliseconds().abs() < 1000),
        // A 24:00 is the due day's last second, on the day the letter names.
        (Data::DateTime(d), Want::Deadline(t)) => d.as_datetime().is_some_and(|d| {
            let (day, day_end) = day_ending(t);
            d.date() == day.date()
                && if day_end {
                    d.time() == chrono::NaiveTime::from_hms_opt(23, 59, 59).unwrap()
                } else {
                    (d - *t).num_milliseconds().abs() < 1000
                }
        }),
        _ => false,
    };
    assert!(
        same,
        "row {} column {}: got {got:?}, want {want:?}",
        at.0, at.1
    );
}

/// Three cases of week 48 through their lifecycle, seen a week later.
struct Week {
    app: TestApp,
    /// Rejected housing (round 2), accepted land.
    certificate: Case,
    /// Answered, accepted, resident satisfied: closed.
    power: Case,
    /// Untouched: overdue by the time the ledger is read.
    lighting: Case,
    /// The other office's case of the same week.
    xinnan: Case,
}

async fn a_week_of_cases(backend: Backend) -> Option<Week> {
    let settings = two_offices();
    let app = spawn_app_with_clock(backend, Some(&settings), &[], monday_morning()).await?;
    let certificate = app.escalate(property_certificate("L-CERT")).await;
    let housing = request_of(&certificate, "housing").id.clone();
    let land = request_of(&certificate, "land").id.clone();
    app.set_clock(shanghai(2026, 11, 23, 14, 5));
    app.answer("housing", &housing, "已协调开发商补缴。").await;
    app.reject(&housing, "未附完税证明").await;
    app.answer("land", &land, "已核实。").await;
    app.accept(&land).await;

    let power = app.escalate(power_cut("L-POWER")).await;
    let settled = app.settle(&power).await;
    app.feedback(&settled.id, Verdict::Satisfied, "居民满意", &[])
        .await
        .expect("recording the verdict");

    app.set_clock(shanghai(2026, 11, 24, 9, 0));
    let lighting = app.escalate(street_lighting("L-LIGHT")).await;
    let xinnan = app
        .cases_as(XINNAN_KEY)
        .escalate_petition(whistle::proto::EscalatePetitionRequest {
            community: "滨河社区".into(),
            ..power_cut("L-XINNAN")
        })
        .await
        .expect("the other office escalates")
        .into_inner();
    // The next week: a case outside week 48, and the first ones overdue.
    app.set_clock(shanghai(2026, 11, 30, 10, 0));
    app.escalate(power_cut("L-NEXT-WEEK")).await;
    let (certificate, power, lighting) = (
        app.case(&certificate.id).await,
        app.case(&power.id).await,
        app.case(&lighting.id).await,
    );
    Some(Week {
        app,
        certificate,
        power,
        lighting,
        xinnan,
    })
}

/// Every row the ledger of week 48 must hold for the office, in order.
fn expected_rows(w: &Week) -> Vec<Vec<(&'static str, Want)>> {
    let row = |case: &Case, case_part: Vec<(&'static str, Want)>, request_part| {
        let _ = case;
        let mut cells = case_part;
        cells.extend(request_part);
        cells
    };
    let cert = |verdict, status| case_cells(&w.certificate, "不动产权证办理", verdict, status);
    let light = || case_cells(&w.lighting, "路灯维修", "", "办理中");
    vec![
        // Round 2 issued on Monday afternoon: its acknowledgement was due on
        // Tuesday and is late now; the reply is due tonight.
        row(
            &w.certificate,
            cert("", "办理中"),
            request_cells(
                &w.certificate,
                "housing",
                "区住房和城乡建设局",
                "主办",
                "已发函",
                ("是", "否"),
                "",
                "",
            ),
        ),
        row(
            &w.certificate,
            cert("", "办理中"),
            request_cells(
                &w.certificate,
                "land",
                "区自然资源局",
                "协办",
                "已采纳",
                ("否", "否"),
                "已核实。",
                "通过",
            ),
        ),
        row(
            &w.power,
            case_cells(&w.power, "供电故障", "满意", "已办结"),
            request_cells(
                &w.power,
                "power",
                "国网达州供电公司",
                "主办",
                "已采纳",
                ("否", "否"),
                "已办结。",
                "通过",
            ),
        ),
        // Untouched since Tuesday: both acknowledgements late; power's two
        // working days to reply are over, lighting's five are not.
        row(
            &w.lighting,
            light(),
            request_cells(
                &w.lighting,
                "lighting",
                "区路灯管理所",
                "主办",
                "已发函",
                ("是", "否"),
                "",
                "",
            ),
        ),
        row(
            &w.lighting,
            light(),
            request_cells(
                &w.lighting,
                "power",
                "国网达州供电公司",
                "协办",
                "已发函",
                ("是", "是"),
                "",
                "",
            ),
        ),
    ]
}

async fn the_workbook_holds_a_row_per_request_as_the_cases_stand(backend: Backend) {
    let Some(w) = a_week_of_cases(backend).await else {
        return;
    };
    let file = export(&mut w.app.office(), week_48(LedgerFormat::Unspecified)).await;
    assert_eq!(file.first.file_name, "翠屏街道台账2026-W48.xlsx");
    assert_eq!(file.first.content_type, XLSX);
    assert_eq!(file.first.size, file.bytes.len() as u64);
    let sheet = ledger_sheet(&file.bytes);
    let expected = expected_rows(&w);
    // Working-day deadlines end at midnight: the letter's "Tuesday 24:00",
    // which the sheet must show on that Tuesday, not at Wednesday 00:00.
    assert!(
        expected.iter().flatten().any(|(_, want)| matches!(
            want,
            Want::Deadline(t) if t.time() == chrono::NaiveTime::MIN
        )),
        "the week holds a deadline at the end of a day"
    );
    assert_eq!(sheet.height(), expected.len() + 1, "a header and five rows");
    assert_eq!(sheet.width(), HEADERS.len());
    for (c, header) in HEADERS.iter().enumerate() {
        assert_cell(sheet.get((0, c)), &text(header), (0, header));
    }
    for (r, cells) in expected.iter().enumerate() {
        for (name, want) in cells {
            assert_cell(sheet.get((r + 1, column(name))), want, (r + 1, name));
        }
    }
    // The rejected reply is history, the reason on record; round 2 has none yet.
    assert_eq!(request_of(&w.certificate, "housing").round, 2);
}

async fn the_csv_file_holds_the_same_rows_for_excel_and_wps(backend: Backend) {
    let Some(w) = a_week_of_cases(backend).await else {
        return;
    };
    let file = export(&mut w.app.office(), week_48(LedgerFormat::Csv)).await;
    assert_eq!(file.first.file_name, "翠屏街道台账2026-W48.csv");
    assert_eq!(file.first.content_type, "text/csv; charset=utf-8");
    assert!(file.bytes.starts_with(b"\xEF\xBB\xBF"), "UTF-8 with a BOM");
    let body = &file.bytes[3..];
    assert!(
        body.windows(2).filter(|w| w == b"\r\n").count() == 6,
        "CRLF"
    );
    let mut reader = csv::Reader::from_reader(body);
    let headers: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(headers, HEADERS);
    let records: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    let expected = expected_rows(&w);
    assert_eq!(records.len(), expected.len());
    for (r, cells) in expected.iter().enumerate() {
        for (name, want) in cells {
            let got = &records[r][column(name)];
            let want = match want {
                Want::Text(t) => t.clone(),
                Want::Number(n) => format!("{n}"),
                Want::Time(t) => t.format("%Y-%m-%d %H:%M").to_string(),
                Want::Deadline(t) => match day_ending(t) {
                    (day, true) => day.format("%Y-%m-%d 24:00").to_string(),
                    (t, false) => t.format("%Y-%m-%d %H:%M").to_string(),
                },
                Want::Empty => String::new(),
            };
            assert_eq!(got, want, "row {} column {name}", r + 1);
        }
    }
}

async fn offices_export_their_own_cases_and_supervisors_any_office(backend: Backend) {
    let Some(w) = a_week_of_cases(backend).await else {
        return;
    };
    let ids = |bytes: &[u8]| -> Vec<String> {
        let sheet = ledger_sheet(bytes);
        let mut ids: Vec<String> = (1..sheet.height())
            .map(|r| sheet.get((r, 0)).unwrap().to_string())
            .collect();
        ids.dedup();
        ids
    };
    let ours = vec![
        w.certificate.id.clone(),
        w.power.id.clone(),
        w.lighting.id.clone(),
    ];
    // An office never sees another's cases, even when it names that office.
    let mut naming_other = week_48(LedgerFormat::Xlsx);
    naming_other.office = "xinnan".into();
    let file = export(&mut w.app.office(), naming_other).await;
    assert_eq!(ids(&file.bytes), ours);
    let file = export(&mut w.app.cases_as(XINNAN_KEY), week_48(LedgerFormat::Xlsx)).await;
    assert_eq!(file.first.file_name, "西外街道台账2026-W48.xlsx");
    assert_eq!(ids(&file.bytes), std::slice::from_ref(&w.xinnan.id));
    // A supervisor: every office, or the one named.
    let file = export(&mut w.app.supervisor(), week_48(LedgerFormat::Xlsx)).await;
    assert_eq!(file.first.file_name, "全部街道台账2026-W48.xlsx");
    let mut all = ours.clone();
    all.insert(3, w.xinnan.id.clone());
    assert_eq!(ids(&file.bytes), all, "oldest first across offices");
    let mut one = week_48(LedgerFormat::Xlsx);
    one.office = "xinnan".into();
    let file = export(&mut w.app.supervisor(), one.clone()).await;
    assert_eq!(ids(&file.bytes), std::slice::from_ref(&w.xinnan.id));
    one.office = "nowhere".into();
    invalid(w.app.supervisor().export_ledger(one).await, "office");
}

async fn departments_may_not_export_a_ledger(backend: Backend) {
    let Some(app) = spawn_app(backend, Some(&two_offices())).await else {
        return;
    };
    app.escalate(property_certificate("L-DEPT")).await;
    refused(
        app.cases_as(&department_key("housing"))
            .export_ledger(week_48(LedgerFormat::Xlsx))
            .await,
        Code::PermissionDenied,
    );
    refused(
        app.anonymous_cases()
            .export_ledger(week_48(LedgerFormat::Xlsx))
            .await,
        Code::Unauthenticated,
    );
}

async fn the_range_is_checked_naming_the_field(backend: Backend) {
    let Some(app) = spawn_app(backend, Some(&two_offices())).await else {
        return;
    };
    let mut office = app.office();
    let week = week_48(LedgerFormat::Xlsx);
    let at = |from: DateTime<Utc>, to: DateTime<Utc>| ExportLedgerRequest {
        from: ts(from),
        to: ts(to),
        ..week.clone()
    };
    invalid(
        office
            .export_ledger(ExportLedgerRequest {
                from: None,
                ..week.clone()
            })
            .await,
        "from",
    );
    invalid(
        office
            .export_ledger(ExportLedgerRequest {
                to: None,
                ..week.clone()
            })
            .await,
        "to",
    );
    let monday = shanghai(2026, 11, 23, 0, 0);
    invalid(office.export_ledger(at(monday, monday)).await, "to");
    invalid(
        office
            .export_ledger(at(monday, monday - chrono::Duration::days(1)))
            .await,
        "to",
    );
    invalid(
        office
            .export_ledger(at(monday, monday + chrono::Duration::days(367)))
            .await,
        "to",
    );
    invalid(
        office
            .export_ledger(ExportLedgerRequest {
                format: 7,
                ..week.clone()
            })
            .await,
        "format",
    );
    // A whole year is fine, and an empty ledger is a header only.
    let file = export(
        &mut office,
        at(monday, monday + chrono::Duration::days(366)),
    )
    .await;
    assert_eq!(ledger_sheet(&file.bytes).height(), 1);
}

async fn a_large_ledger_streams_in_chunks(backend: Backend) {
    let settings = two_offices();
    // 200 escalations in a row are more than one key's burst.
    let unlimited = [("WHISTLE__GRPC__RATE_LIMIT_PER_SECOND", "0")];
    let Some(app) =
        spawn_app_with_clock(backend, Some(&settings), &unlimited, monday_morning()).await
    else {
        return;
    };
    // Titles of random characters, which no compression shrinks: 200 cases
    // make a workbook of more than 64 KiB.
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut ids = Vec::new();
    for n in 0..200 {
        let title: String = (0..200)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                char::from_u32(0x4E00 + (seed % 20_000) as u32).unwrap()
            })
            .collect();
        let case = app
            .escalate(whistle::proto::EscalatePetitionRequest {
                title,
                ..power_cut(&format!("L-BIG-{n}"))
            })
            .await;
        ids.push(case.id);
    }
    for format in [LedgerFormat::Csv, LedgerFormat::Xlsx] {
        let file = export(&mut app.office(), week_48(format)).await;
        assert!(
            file.chunks.len() >= 2,
            "{format:?}: {} chunk(s)",
            file.chunks.len()
        );
        assert!(file.chunks.iter().all(|c| c.data.len() <= 64 * 1024));
        assert!(
            file.chunks[1..]
                .iter()
                .all(|c| c.file_name.is_empty() && c.size == 0),
            "only the first chunk names the file"
        );
        assert_eq!(file.first.size, file.bytes.len() as u64);
        if format == LedgerFormat::Xlsx {
            let sheet = ledger_sheet(&file.bytes);
            assert_eq!(sheet.height(), 201);
            assert_eq!(sheet.get((200, 0)).unwrap().to_string(), ids[199]);
        }
    }
}

/// A cell as a number, empty as none.
fn number(cell: Option<&Data>) -> Option<f64> {
    match cell? {
        Data::Float(x) => Some(*x),
        Data::Int(n) => Some(*n as f64),
        Data::Empty => None,
        other => panic!("not a number: {other:?}"),
    }
}

fn text_of(cell: Option<&Data>) -> String {
    match cell {
        Some(Data::String(s)) => s.clone(),
        Some(Data::Empty) | None => String::new(),
        Some(other) => panic!("not text: {other:?}"),
    }
}

async fn the_figures_sheets_say_what_get_statistics_says(backend: Backend) {
    let Some(w) = a_week_of_cases(backend).await else {
        return;
    };
    let week = week_48(LedgerFormat::Xlsx);
    let file = export(&mut w.app.supervisor(), week.clone()).await;
    let stats = w
        .app
        .supervision()
        .get_statistics(whistle::proto::GetStatisticsRequest {
            from: week.from,
            to: week.to,
            ..Default::default()
        })
        .await
        .expect("the figures")
        .into_inner();
    let mut workbook = Xlsx::new(Cursor::new(file.bytes.clone())).expect("a workbook");
    let departments = workbook
        .worksheet_range("部门统计")
        .expect("the departments");
    let header = |sheet: &calamine::Range<Data>, name: &str| {
        (0..sheet.width())
            .find(|&c| text_of(sheet.get((0, c))) == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    assert_eq!(departments.height(), stats.departments.len() + 1);
    for (r, d) in stats.departments.iter().enumerate() {
        let cell = |name: &str| departments.get((r + 1, header(&departments, name)));
        let f = d.requests.as_ref().unwrap();
        assert_eq!(text_of(cell("代码")), d.code, "ranked in the same order");
        assert_eq!(text_of(cell("部门")), d.name);
        assert_eq!(number(cell("交办件数")), Some(f64::from(f.requests)));
        assert_eq!(number(cell("当前超期")), Some(f64::from(f.overdue_now)));
        for (name, rate) in [
            ("响应率", &f.response),
            ("按时办结率", &f.on_time_reply),
            ("解决率", &f.resolution),
            ("满意率", &d.satisfaction),
        ] {
            let want = rate.as_ref().unwrap().value;
            let got = number(cell(name));
            assert!(
                match (got, want) {
                    (Some(g), Some(w)) => (g - w).abs() < 1e-9,
                    (None, None) => true,
                    _ => false,
                },
                "{} {name}: {got:?} against {want:?}",
                d.code
            );
        }
        let score = d.score.as_ref().unwrap();
        let rounded = score.points.map(|p| (p * 100.0).round() / 100.0);
        assert_eq!(number(cell("得分")), rounded, "{}", d.code);
        let rank = (score.rank > 0).then(|| f64::from(score.rank));
        assert_eq!(number(cell("排名")), rank, "{}", d.code);
    }
    let offices = workbook.worksheet_range("街道统计").expect("the offices");
    assert_eq!(offices.height(), stats.offices.len() + 2, "the total last");
    let total = stats.total.as_ref().unwrap();
    let last = offices.height() - 1;
    assert_eq!(
        text_of(offices.get((last, header(&offices, "街道")))),
        "合计"
    );
    assert_eq!(
        number(offices.get((last, header(&offices, "案件数")))),
        Some(f64::from(total.cases))
    );
    for (r, o) in stats.offices.iter().enumerate() {
        assert_eq!(
            text_of(offices.get((r + 1, header(&offices, "代码")))),
            o.code
        );
        assert_eq!(
            number(offices.get((r + 1, header(&offices, "案件数")))),
            Some(f64::from(o.cases))
        );
    }
    let communities = workbook
        .worksheet_range("社区统计")
        .expect("the communities");
    assert_eq!(communities.height(), stats.communities.len() + 1);
    assert!(!stats.communities.is_empty());
    for (r, c) in stats.communities.iter().enumerate() {
        let cell = |name: &str| communities.get((r + 1, header(&communities, name)));
        assert_eq!(text_of(cell("社区")), c.community);
        assert_eq!(number(cell("案件数")), Some(f64::from(c.cases)));
        assert_eq!(
            number(cell("得分")),
            Some((c.points * 100.0).round() / 100.0)
        );
    }
}
