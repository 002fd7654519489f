//! The visit sheet uploaded in the console (导入走访表): what `whistle import`
//! does from the command line, for an office without one: each row checked
//! (预检, nothing written) or escalated through the batch use case as the
//! person signed in, and each row's outcome shown beside its number. Rows an
//! earlier upload escalated are found, not escalated again.

use axum::extract::State;
use axum::extract::multipart::{Multipart, MultipartError};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use minijinja::context;

use super::{Signed, error_page, forbidden, same_token, signed_in};
use crate::http::PageState;
use crate::visit_sheet::import::{self, RowOutcome, RowResult};
use crate::visit_sheet::read_sheet;

/// `GET /console/import`: the upload form.
pub async fn form(State(state): State<PageState>, headers: HeaderMap) -> Response {
    let signed = match signed_in(&state, &headers).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    render(&state, &signed, StatusCode::OK, None, &[], None)
}

/// The form as posted: its token, whether to check only, and the file.
struct Upload {
    csrf: String,
    check_only: bool,
    file_name: String,
    bytes: Vec<u8>,
}

async fn read_upload(mut multipart: Multipart) -> Result<Upload, MultipartError> {
    let mut upload = Upload {
        csrf: String::new(),
        check_only: false,
        file_name: String::new(),
        bytes: Vec::new(),
    };
    while let Some(field) = multipart.next_field().await? {
        match field.name().unwrap_or_default() {
            "csrf" => upload.csrf = field.text().await?,
            "check_only" => upload.check_only = !field.text().await?.is_empty(),
            "sheet" => {
                upload.file_name = field.file_name().unwrap_or_default().to_owned();
                upload.bytes = field.bytes().await?.to_vec();
            }
            _ => {}
        }
    }
    Ok(upload)
}

/// `POST /console/import`: the sheet checked or escalated, row by row.
pub async fn upload(
    State(state): State<PageState>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    let signed = match signed_in(&state, &headers).await {
        Ok(signed) => signed,
        Err(response) => return response,
    };
    let upload = match read_upload(multipart).await {
        Ok(upload) => upload,
        Err(e) => {
            tracing::debug!(error = %e, "reading the visit sheet upload");
            let problem = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                "文件过大，请按社区或片区拆分后分别导入。"
            } else {
                "上传的表单无法读取，请重新选择文件提交。"
            };
            return render(
                &state,
                &signed,
                e.status(),
                Some(problem.to_owned()),
                &[],
                None,
            );
        }
    };
    if !same_token(&signed.csrf, &upload.csrf) {
        return forbidden(&state.console, Some(&signed));
    }
    let Some(columns) = state.console.sheet_columns.as_ref() else {
        return error_page(
            &state,
            crate::service::not_found("page", "/console/import"),
            Some(&signed),
        );
    };
    if upload.bytes.is_empty() {
        let problem = "请选择走访登记表文件（.xlsx 或 .csv）。".to_owned();
        return render(
            &state,
            &signed,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(problem),
            &[],
            None,
        );
    }
    let org = state.whistle.organisation();
    let sheet = match read_sheet(&upload.bytes, columns, &org) {
        Ok(sheet) => sheet,
        Err(e) => {
            let problem = format!("《{}》无法读取：{e}", upload.file_name);
            return render(
                &state,
                &signed,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(problem),
                &[],
                None,
            );
        }
    };
    let actor = signed.actor();
    let results = if upload.check_only {
        import::check_rows(&sheet, columns, &org, &actor)
    } else {
        import::escalate_rows(&sheet, columns, &state.whistle, &actor).await
    };
    match results {
        Ok(results) => render(
            &state,
            &signed,
            StatusCode::OK,
            None,
            &results,
            Some((upload.file_name.as_str(), upload.check_only)),
        ),
        Err(e) => match e.downcast::<crate::service::Error>() {
            Ok(e) => error_page(&state, e, Some(&signed)),
            Err(e) => error_page(&state, crate::service::Error::Internal(e), Some(&signed)),
        },
    }
}

fn render(
    state: &PageState,
    signed: &Signed,
    status: StatusCode,
    problem: Option<String>,
    results: &[RowResult],
    done: Option<(&str, bool)>,
) -> Response {
    let org = state.whistle.organisation();
    let department = |code: &str| {
        org.department(code)
            .map_or_else(|| code.to_owned(), |d| d.name.clone())
    };
    let rows: Vec<_> = results
        .iter()
        .map(|r| {
            let (kind, case_id, what) = match &r.outcome {
                RowOutcome::WouldEscalate { lead, assisting } => {
                    let mut to = format!("{}（主办）", department(lead));
                    for d in assisting {
                        to.push_str(&format!("、{}（协办）", department(d)));
                    }
                    ("valid", None, format!("可以立案，交办{to}"))
                }
                RowOutcome::Created { case_id, requests } => (
                    "created",
                    Some(case_id.as_str()),
                    format!(
                        "已立案：{}",
                        requests
                            .iter()
                            .map(|(reference, code)| format!("{reference} {}", department(code)))
                            .collect::<Vec<_>>()
                            .join("；")
                    ),
                ),
                RowOutcome::Existing { case_id } => (
                    "existing",
                    Some(case_id.as_str()),
                    "此前已导入立案".to_owned(),
                ),
                RowOutcome::Linked { case_id, residents } => (
                    "linked",
                    Some(case_id.as_str()),
                    format!("与办理中的案件为同一问题，已并入（{residents} 位群众反映）"),
                ),
                RowOutcome::Refused(faults) => (
                    "refused",
                    None,
                    faults
                        .iter()
                        .map(|f| {
                            if f.place.is_empty() {
                                f.zh.clone()
                            } else {
                                format!("{}：{}", f.place, f.zh)
                            }
                        })
                        .collect::<Vec<_>>()
                        .join("；"),
                ),
            };
            context! {
                row => r.row,
                petition_id => &r.petition_id,
                title => &r.title,
                kind,
                case_id,
                what,
            }
        })
        .collect();
    let report = import::ImportReport::of(results);
    state.console.render(
        "import.html",
        status,
        context! {
            who => signed.view(),
            problem,
            file_name => done.map(|(name, _)| name),
            check_only => done.is_some_and(|(_, check)| check),
            rows,
            ok => report.created,
            existing => report.existing,
            linked => report.linked,
            refused => report.refused,
        },
    )
}
