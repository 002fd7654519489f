//! One address, many clients: behind a NAT or a proxy, a client sending wrong
//! keys as fast as it can must not lock out the valid clients beside it. The
//! guesses are held off (`RESOURCE_EXHAUSTED`); every call with a valid key
//! is answered.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tonic::Code;
use whistle::proto::GetCaseRequest;

use crate::helpers::*;

scenarios!(a_flood_of_bad_keys_from_an_address_never_refuses_a_valid_key_from_it);

async fn a_flood_of_bad_keys_from_an_address_never_refuses_a_valid_key_from_it(backend: Backend) {
    let Some(app) = spawn_app_with(
        backend,
        None,
        &[("WHISTLE__GRPC__AUTH_FAILURES_PER_MINUTE", "5")],
    )
    .await
    else {
        return;
    };
    let case = app.escalate(property_certificate("LOCKOUT-1")).await;
    let get = || GetCaseRequest {
        case_id: case.id.clone(),
    };

    // A broken client on the same address (the test's loopback), sending
    // wrong keys without pause until the valid clients are done.
    let stop = Arc::new(AtomicBool::new(false));
    let (unauthenticated, held) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let flood = {
        let (stop, unauthenticated, held) = (stop.clone(), unauthenticated.clone(), held.clone());
        let mut guesser = app.cases_as("not-a-key");
        let get = get();
        tokio::spawn(async move {
            let mut sent = 0;
            while !stop.load(Ordering::Relaxed) && sent < 5_000 {
                sent += 1;
                match guesser.get_case(get.clone()).await {
                    Err(s) if s.code() == Code::Unauthenticated => {
                        unauthenticated.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(s) if s.code() == Code::ResourceExhausted => {
                        held.fetch_add(1, Ordering::Relaxed);
                    }
                    other => panic!("a wrong key got {other:?}"),
                }
            }
        })
    };

    // Meanwhile the supervisor and the office keep working, every call answered.
    let (mut supervisor, mut office) = (app.supervisor(), app.office());
    for n in 0..60 {
        supervisor
            .get_case(get())
            .await
            .unwrap_or_else(|s| panic!("the supervisor's call {n} was refused: {s:?}"));
        office
            .get_case(get())
            .await
            .unwrap_or_else(|s| panic!("the office's call {n} was refused: {s:?}"));
        if n % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    flood.await.unwrap();

    // The guesser was held off after its allowance, not merely told no.
    assert!(
        unauthenticated.load(Ordering::Relaxed) < 20,
        "{} refused as unauthenticated",
        unauthenticated.load(Ordering::Relaxed)
    );
    assert!(held.load(Ordering::Relaxed) > 0, "the flood was held off");
}
