//! `whistle import`: an office's visit sheet as a workbook and as the GBK CSV
//! Excel saves on Chinese Windows, each with one wrong row, escalated while
//! the server runs; a dry run that writes nothing; a second import that
//! creates nothing new.

use rust_xlsxwriter::{Format, Workbook};
use whistle::proto::ListCasesRequest;

use super::*;

const HEADERS: [&str; 9] = [
    "诉求人",
    "联系电话",
    "社区",
    "片区",
    "地址",
    "类别",
    "诉求内容",
    "走访日期",
    "收集人/民情服务员",
];

/// Four rows; the fourth's phone is no phone.
fn workbook() -> Vec<u8> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let day = Format::new().set_num_format("yyyy-mm-dd");
    for (c, h) in HEADERS.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    let rows = [
        [
            "张三",
            "",
            "新南社区",
            "一片区",
            "滨江路12号",
            "路灯维修",
            "滨江路路灯不亮。晚上很黑，老人怕摔。",
            "",
            "王五",
        ],
        [
            "李四",
            "0818-2345678",
            "杨柳社区",
            "二片区",
            "杨柳小区3栋",
            "property-certificate",
            "房产证五年未办下来",
            "",
            "赵六",
        ],
        [
            "周七",
            "13912345678",
            "新南社区",
            "一片区",
            "新南街5号",
            "堆码物清理",
            "楼道堆满杂物",
            "",
            "王五",
        ],
        [
            "吴八",
            "不详",
            "新南社区",
            "一片区",
            "新南街9号",
            "路灯维修",
            "巷子里灯坏了",
            "",
            "王五",
        ],
    ];
    for (r, row) in rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (c, value) in row.iter().enumerate() {
            if !value.is_empty() {
                sheet.write_string(r, c as u16, *value).unwrap();
            }
        }
        // The phone of the first row typed into a number cell, and every
        // visit date a real date cell, as offices fill them in.
        let visit = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        sheet.write_datetime_with_format(r, 7, visit, &day).unwrap();
    }
    sheet.write_number(1, 1, 13812345678.0).unwrap();
    book.save_to_buffer().unwrap()
}

async fn ledger(addr: &str) -> Vec<whistle::proto::Case> {
    office(addr)
        .await
        .list_cases(ListCasesRequest::default())
        .await
        .expect("the ledger")
        .into_inner()
        .cases
}

#[tokio::test]
async fn an_xlsx_sheet_is_escalated_row_by_row_and_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("走访登记表.xlsx");
    std::fs::write(&file, workbook()).unwrap();

    // The dry run reads the configuration only: no database is made.
    let out = whistle(dir.path())
        .args(["import", "--office", "cuiping", "--dry-run"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "a row is refused: {stdout}");
    assert!(!dir.path().join("whistle.db").exists(), "nothing written");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    assert!(
        lines[0].starts_with("row 2: would escalate sheet-")
            && lines[0].contains("「滨江路路灯不亮」 street-lighting to 区路灯管理所 (lead), 国网达州供电公司 (assisting)")
            && lines[0].ends_with("; 片区 一片区, 收集人/民情服务员 王五; not stored yet: 走访日期 2026-12-01"),
        "{stdout}"
    );
    assert!(
        lines[1].contains("to 区住房和城乡建设局 (lead), 区自然资源局 (assisting)"),
        "{stdout}"
    );
    assert!(
        lines[3].starts_with("row 5: refused: 联系电话 (resident.phone): must be a mobile number"),
        "the wrong row names its row and column: {stdout}"
    );
    assert_eq!(
        lines[4],
        "dry run, nothing written: 4 rows: 3 to escalate (or found escalated by an earlier import), 1 refused"
    );

    // The import, while the server runs (which sends the letters).
    let server = serve(dir.path());
    let import = || {
        let out = whistle(dir.path())
            .args(["import", "--office", "cuiping"])
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let first = import();
    let lines: Vec<&str> = first.lines().collect();
    for (i, line) in lines[..3].iter().enumerate() {
        assert!(
            line.starts_with(&format!("row {}: created case ", i + 2)) && line.contains("翠街哨〔"),
            "{first}"
        );
    }
    assert!(
        lines[3].starts_with("row 5: refused: 联系电话 (resident.phone): "),
        "{first}"
    );
    assert_eq!(
        lines[4],
        "4 rows: 3 created, 0 already escalated, 1 refused"
    );
    assert_eq!(
        lines[5],
        "not stored yet: 走访日期 (read, and part of each row's petition id)"
    );

    let cases = ledger(&server.addr).await;
    assert_eq!(cases.len(), 3);
    let lighting = cases
        .iter()
        .find(|c| c.category == "street-lighting")
        .expect("the street light, by the category's name");
    assert_eq!(lighting.title, "滨江路路灯不亮");
    assert_eq!(lighting.description, "滨江路路灯不亮。晚上很黑，老人怕摔。");
    assert_eq!(lighting.difficulty, 2, "the configured default");
    assert_eq!(
        (lighting.zone.as_str(), lighting.collector.as_str()),
        ("一片区", "王五"),
        "the zone and collector are kept on the case"
    );
    let resident = lighting.resident.clone().unwrap();
    assert_eq!(
        (resident.name.as_str(), resident.phone.as_str()),
        ("张三", "13812345678")
    );
    assert!(cases.iter().all(|c| c.petition_id.starts_with("sheet-")));

    // The same sheet again creates nothing.
    let again = import();
    assert!(
        again.contains("4 rows: 0 created, 3 already escalated, 1 refused"),
        "{again}"
    );
    for case in &cases {
        assert!(
            again.contains(&format!("already escalated as case {} ", case.id)),
            "{again}"
        );
    }
    assert_eq!(ledger(&server.addr).await.len(), 3);
}

#[tokio::test]
async fn a_gbk_csv_sheet_is_read_as_excel_saved_it() {
    let dir = tempfile::tempdir().unwrap();
    // Another header for the collector, and a row for a community the
    // office does not have.
    let csv = "诉求人,联系电话,社区,片区,地址,类别,诉求内容,走访日期,民情服务员\r\n\
               陈一,13700001111,新南社区,三片区,滨江路1号,供电故障,小区停电两天,2026/12/1,孙九\r\n\
               刘二,,幸福社区,三片区,幸福路2号,路灯维修,路灯不亮,2026年12月1日,孙九\r\n\
               \"黄三\",13700002222,杨柳社区,四片区,\"杨柳路3号,2楼\",dispute,\"邻里噪音纠纷\r\n多次调解无果\",2026-12-01,孙九\r\n";
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(csv);
    assert!(!unmappable);
    let file = dir.path().join("走访登记表.csv");
    std::fs::write(&file, &gbk).unwrap();

    let server = serve(dir.path());
    let import = || {
        let out = whistle(dir.path())
            .args(["import", "--office", "cuiping"])
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let first = import();
    let lines: Vec<&str> = first.lines().collect();
    assert!(lines[0].starts_with("row 2: created case "), "{first}");
    assert!(
        lines[1].starts_with("row 3: refused: 社区 (community): ") && lines[1].contains("幸福社区"),
        "{first}"
    );
    assert!(lines[2].starts_with("row 4: created case "), "{first}");
    assert_eq!(
        lines[3],
        "3 rows: 2 created, 0 already escalated, 1 refused"
    );
    let cases = ledger(&server.addr).await;
    assert_eq!(cases.len(), 2);
    let dispute = cases.iter().find(|c| c.category == "dispute").unwrap();
    assert_eq!(dispute.address, "杨柳路3号,2楼");
    assert_eq!(dispute.title, "邻里噪音纠纷");

    assert!(import().contains("3 rows: 0 created, 2 already escalated, 1 refused"));
    assert_eq!(ledger(&server.addr).await.len(), 2);

    // The same rows saved as UTF-8 with a byte-order mark are the same
    // petitions.
    let utf8 = dir.path().join("utf8.csv");
    std::fs::write(&utf8, format!("\u{feff}{csv}")).unwrap();
    let out = whistle(dir.path())
        .args(["import", "--office", "cuiping"])
        .arg(&utf8)
        .output()
        .unwrap();
    assert!(
        text(&out.stdout).contains("3 rows: 0 created, 2 already escalated, 1 refused"),
        "{}",
        text(&out.stdout)
    );

    // A sheet without a category column, or for an office that does not
    // exist, is the operator's to fix: exit 2, one line, nothing escalated.
    let headless = dir.path().join("headless.csv");
    std::fs::write(
        &headless,
        "诉求人,联系电话,社区,地址,诉求内容\n王,,新南社区,x,y\n",
    )
    .unwrap();
    let out = whistle(dir.path())
        .args(["import", "--office", "cuiping"])
        .arg(&headless)
        .output()
        .unwrap();
    let line = error_line(&out, 2);
    assert!(line.contains("row 1: no column 类别"), "{line}");
    let out = whistle(dir.path())
        .args(["import", "--office", "nowhere"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(error_line(&out, 2).contains("--office: no office \"nowhere\""));
    assert_eq!(ledger(&server.addr).await.len(), 2);
}
