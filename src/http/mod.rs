//! The reply page: what department staff open from the link in their letter.
//! (Being built: serves nothing yet.)

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::service::Whistle;
use crate::settings::HttpSettings;

/// Serves the reply page on `listener` until `shutdown` fires.
pub async fn serve(
    listener: TcpListener,
    whistle: Whistle,
    settings: HttpSettings,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let _ = (listener, whistle, settings);
    shutdown.cancelled().await;
    Ok(())
}
