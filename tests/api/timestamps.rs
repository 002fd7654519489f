//! Instants no one could mean: every timestamp a caller sends is read in one
//! place, between 2000-01-01 and 2100-01-01 with nanoseconds under a second,
//! and a new deadline at most two years ahead. Before, an extension to
//! 9999-12-31 was approved ("延至10000年1月1日"), year 10000 was echoed back by
//! GetStatistics and ExportLedger, and ExportLedger took `nanos = 2e9`.

use chrono::{DateTime, Duration, TimeZone, Utc};
use prost_types::Timestamp;
use whistle::proto::{
    ExportLedgerRequest, GetStatisticsRequest, ListAlertsRequest, RequestExtensionRequest,
};

use crate::helpers::*;

scenarios!(
    an_extension_to_year_9999_is_refused_naming_the_field,
    statistics_and_the_ledger_refuse_year_10000_and_bad_nanos_alike,
);

fn at(t: DateTime<Utc>) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    })
}

/// The first second of year 10000.
fn year_10000() -> Option<Timestamp> {
    let last = Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap();
    Some(Timestamp {
        seconds: last.timestamp() + 1,
        nanos: 0,
    })
}

async fn an_extension_to_year_9999_is_refused_naming_the_field(app: TestApp) {
    let case = app.escalate(property_certificate("T-9999")).await;
    let housing = request_of(&case, "housing").id.clone();
    app.acknowledge("housing", &housing).await;
    let ask = |due: Option<Timestamp>| RequestExtensionRequest {
        request_id: housing.clone(),
        new_reply_due_at: due,
        reason: "需会同规划部门核查历史档案".into(),
    };
    let now = Utc::now();
    for due in [
        at(Utc.with_ymd_and_hms(9999, 12, 31, 16, 0, 0).unwrap()),
        year_10000(),
        at(now + Duration::days(3 * 365)),
        Some(Timestamp {
            seconds: (now + Duration::days(10)).timestamp(),
            nanos: 2_000_000_000,
        }),
    ] {
        let refused = invalid(
            app.department("housing").request_extension(ask(due)).await,
            "new_reply_due_at",
        );
        assert_eq!(violated_fields(&refused), ["new_reply_due_at"]);
    }
    let case = app.case(&case.id).await;
    assert!(request_of(&case, "housing").extensions.is_empty());
    // A month is what a person asks for.
    app.department("housing")
        .request_extension(ask(at(now + Duration::days(30))))
        .await
        .expect("a plausible extension is taken");
}

async fn statistics_and_the_ledger_refuse_year_10000_and_bad_nanos_alike(app: TestApp) {
    let from = at(Utc::now() - Duration::days(7));
    let to = at(Utc::now() + Duration::days(1));
    let bad_nanos = from.map(|t| Timestamp {
        nanos: 2_000_000_000,
        ..t
    });
    let negative_nanos = from.map(|t| Timestamp { nanos: -1, ..t });
    let epoch = Some(Timestamp::default());
    for (from, to, field) in [
        (from, year_10000(), "to"),
        (bad_nanos, to, "from"),
        (negative_nanos, to, "from"),
        (epoch, to, "from"),
    ] {
        let statistics = app
            .supervision()
            .get_statistics(GetStatisticsRequest {
                from,
                to,
                ..Default::default()
            })
            .await;
        invalid(statistics, field);
        let ledger = app
            .supervisor()
            .export_ledger(ExportLedgerRequest {
                from,
                to,
                ..Default::default()
            })
            .await;
        invalid(ledger, field);
    }
    invalid(
        app.supervision()
            .list_alerts(ListAlertsRequest {
                since: year_10000(),
                ..Default::default()
            })
            .await,
        "since",
    );
    // The same range with proper instants is answered.
    app.supervision()
        .get_statistics(GetStatisticsRequest {
            from,
            to,
            ..Default::default()
        })
        .await
        .expect("a plausible range");
}
