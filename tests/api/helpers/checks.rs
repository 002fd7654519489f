//! Assertions on answers and statuses, and small readers of what came back.

use std::fmt::Debug;

use chrono::{DateTime, Utc};
use tonic::{Code, Response, Status};
use tonic_types::StatusExt;

use whistle::proto::{Case, DepartmentRequest};

/// The request of `department` in `case`.
#[track_caller]
pub fn request_of<'a>(case: &'a Case, department: &str) -> &'a DepartmentRequest {
    case.requests
        .iter()
        .find(|r| r.department == department)
        .unwrap_or_else(|| panic!("case {} has no request to {department}", case.id))
}

/// A protobuf timestamp as a chrono instant.
#[track_caller]
pub fn instant(ts: &Option<prost_types::Timestamp>) -> DateTime<Utc> {
    let ts = ts.as_ref().expect("a timestamp");
    DateTime::from_timestamp(ts.seconds, ts.nanos as u32).expect("a valid timestamp")
}

/// The call must fail with `code`; returns the status for further checks.
#[track_caller]
pub fn refused<T: Debug>(result: Result<Response<T>, Status>, code: Code) -> Status {
    match result {
        Ok(response) => panic!("expected {code:?}, got OK: {:?}", response.get_ref()),
        Err(status) => {
            assert_eq!(
                status.code(),
                code,
                "expected {code:?}, got {:?}: {}",
                status.code(),
                status.message()
            );
            status
        }
    }
}

/// The call must fail with INVALID_ARGUMENT and a BadRequest detail naming `field`.
#[track_caller]
pub fn invalid<T: Debug>(result: Result<Response<T>, Status>, field: &str) -> Status {
    let status = refused(result, Code::InvalidArgument);
    let fields = violated_fields(&status);
    assert!(
        fields.iter().any(|f| f == field),
        "expected a violation of {field:?}, got {fields:?} ({})",
        status.message()
    );
    status
}

/// The fields a status's google.rpc.BadRequest detail names.
#[track_caller]
pub fn violated_fields(status: &Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .unwrap_or_else(|| panic!("no BadRequest details in {status:?}"))
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect()
}

/// `翠街哨〔2026〕0007号` → ("翠街哨", 2026, 7). Panics on any other shape.
#[track_caller]
pub fn parse_reference(reference: &str) -> (String, i32, u32) {
    let shape = || format!("{reference:?} is not shaped like 翠街哨〔2026〕0001号");
    let (prefix, rest) = reference
        .split_once('〔')
        .unwrap_or_else(|| panic!("{}", shape()));
    let (year, rest) = rest
        .split_once('〕')
        .unwrap_or_else(|| panic!("{}", shape()));
    let number = rest
        .strip_suffix('号')
        .unwrap_or_else(|| panic!("{}", shape()));
    assert!(
        !prefix.is_empty()
            && year.len() == 4
            && number.len() >= 4
            && number.bytes().all(|b| b.is_ascii_digit()),
        "{}",
        shape()
    );
    (
        prefix.to_owned(),
        year.parse().unwrap_or_else(|_| panic!("{}", shape())),
        number.parse().unwrap_or_else(|_| panic!("{}", shape())),
    )
}

/// This year on the calendar references are numbered by (Asia/Shanghai).
pub fn this_year() -> i32 {
    use chrono::Datelike;
    Utc::now().with_timezone(&chrono_tz::Asia::Shanghai).year()
}
