//! Instants a person could mean. Every instant a caller sends (a range of the
//! ledger or the figures, a `since`, a new deadline) is read here once: a
//! protobuf `Timestamp` may carry any second from year -292 billion on and
//! any nanosecond count, and chrono reads some of them as leap seconds, so
//! year 10000 or `nanos = 2e9` would otherwise reach the ledger, the letters
//! ("延至10000年1月1日") and the clients that cannot even print them back.
//!
//! Two rules: an instant is between 2000-01-01 and 2100-01-01 (UTC) with
//! nanoseconds in `0..1e9`; a deadline is besides at most two years ahead of
//! now, which is longer than any request runs.

use chrono::{DateTime, Duration, Utc};

use super::error::FieldViolation;

/// The first instant taken: before the service, and before any petition.
pub const EARLIEST: DateTime<Utc> = DateTime::from_timestamp_nanos(946_684_800_000_000_000);
/// The first instant refused: nobody escalates for the next century.
pub const LATEST: DateTime<Utc> = DateTime::from_timestamp_nanos(4_102_444_800_000_000_000);

/// How far ahead of now a deadline may be set.
pub const DEADLINE_HORIZON: Duration = Duration::days(730);

/// A caller's instant from seconds and nanoseconds since the Unix epoch, as a
/// protobuf `Timestamp` carries it, refused naming `field` when it is out of
/// range or not an instant at all.
pub fn instant(field: &str, seconds: i64, nanos: i32) -> Result<DateTime<Utc>, FieldViolation> {
    let nanos = u32::try_from(nanos)
        .ok()
        .filter(|n| *n < 1_000_000_000)
        .ok_or_else(|| {
            FieldViolation::new(field, "has nanos outside 0 to 999,999,999")
                .zh("纳秒数应在0到999999999之间")
        })?;
    DateTime::from_timestamp(seconds, nanos)
        .filter(|at| (EARLIEST..LATEST).contains(at))
        .ok_or_else(|| out_of_range(field))
}

fn out_of_range(field: &str) -> FieldViolation {
    FieldViolation::new(
        field,
        "must be between 2000-01-01T00:00:00Z and 2100-01-01T00:00:00Z",
    )
    .zh("应在2000年1月1日至2100年1月1日之间")
}

/// Refuses an instant out of the range a person could mean, wherever it was
/// read (a date typed on the reply page, say).
pub fn within_range(field: &str, at: DateTime<Utc>) -> Result<(), FieldViolation> {
    if (EARLIEST..LATEST).contains(&at) {
        Ok(())
    } else {
        Err(out_of_range(field))
    }
}

/// Refuses a deadline further from `now` than a request could run.
pub fn deadline(field: &str, at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), FieldViolation> {
    within_range(field, at)?;
    if at > now + DEADLINE_HORIZON {
        return Err(FieldViolation::new(
            field,
            format!(
                "must be at most {} days from now",
                DEADLINE_HORIZON.num_days()
            ),
        )
        .zh(format!("不能晚于今后{}天", DEADLINE_HORIZON.num_days())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_bounds_are_the_dates_they_claim() {
        assert_eq!(EARLIEST, Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap());
        assert_eq!(LATEST, Utc.with_ymd_and_hms(2100, 1, 1, 0, 0, 0).unwrap());
    }

    #[test]
    fn instants_a_person_could_mean_are_taken_and_others_named() {
        let at = Utc.with_ymd_and_hms(2026, 11, 20, 8, 0, 0).unwrap();
        assert_eq!(
            instant("from", at.timestamp(), 5),
            Ok(at + Duration::nanoseconds(5))
        );
        assert_eq!(instant("from", EARLIEST.timestamp(), 0), Ok(EARLIEST));
        let year_10000 = Utc
            .with_ymd_and_hms(9999, 12, 31, 23, 0, 0)
            .unwrap()
            .timestamp()
            + 7200;
        for (seconds, nanos) in [
            (year_10000, 0),
            (LATEST.timestamp(), 0),
            (EARLIEST.timestamp() - 1, 999_999_999),
            (i64::MAX, 0),
            (i64::MIN, 0),
            (at.timestamp(), 1_000_000_000),
            (at.timestamp(), 2_000_000_000),
            (at.timestamp(), -1),
            (at.timestamp(), i32::MAX),
        ] {
            let refused = instant("to", seconds, nanos).unwrap_err();
            assert_eq!(refused.field, "to", "{seconds} {nanos}");
        }
    }

    #[test]
    fn a_deadline_is_at_most_two_years_ahead() {
        let now = Utc.with_ymd_and_hms(2026, 11, 20, 8, 0, 0).unwrap();
        assert!(deadline("new_reply_due_at", now + Duration::days(30), now).is_ok());
        assert!(deadline("new_reply_due_at", now + DEADLINE_HORIZON, now).is_ok());
        let far = deadline(
            "new_reply_due_at",
            now + DEADLINE_HORIZON + Duration::seconds(1),
            now,
        )
        .unwrap_err();
        assert_eq!(far.field, "new_reply_due_at");
        let year_9999 = Utc.with_ymd_and_hms(9999, 12, 31, 16, 0, 0).unwrap();
        assert!(deadline("new_reply_due_at", year_9999, now).is_err());
    }
}
