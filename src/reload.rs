//! When files the service runs on are read again while it runs: every so
//! many seconds and whenever the process gets SIGHUP, the signal an operator
//! (or a certificate renewer) sends after replacing a file. The TLS
//! certificates, the client CA and the calendar's year files all wait the
//! same way, so they share this loop; what a look does is theirs.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Calls `look` every `every` (never when zero: SIGHUP only) and on SIGHUP
/// until `shutdown` fires. `look` runs off the threads that serve calls: it
/// reads files, which blocks.
pub async fn watch(
    every: Duration,
    shutdown: CancellationToken,
    look: impl Fn() + Send + Sync + 'static,
) {
    let look = Arc::new(look);
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let signal = async {
            match hangup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let signal = std::future::pending::<()>();
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = signal => {}
            _ = tokio::time::sleep(every), if !every.is_zero() => {}
        }
        let look = look.clone();
        let _ = tokio::task::spawn_blocking(move || look()).await;
    }
}
