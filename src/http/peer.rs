//! Who is at the other end of a connection to the page's listener: its
//! address and, over TLS with `http.tls.client_ca_file`, the client
//! certificate it showed at the handshake, which rustls has verified against
//! that CA. The certificate is read from the connection itself, never from a
//! header: anyone can write a header, and a proxy in front would be believed
//! about whoever reached it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::net::TcpListener;

use crate::tls::TlsListener;

/// A connection's client, as handlers take it (`ConnectInfo<Peer>`).
#[derive(Debug, Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    /// The client's own certificate (the first of the chain it showed), DER.
    pub client_cert: Option<Arc<[u8]>>,
}

impl Connected<IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        Peer {
            addr: *stream.remote_addr(),
            client_cert: None,
        }
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        let (_, session) = stream.io().get_ref();
        Peer {
            addr: *stream.remote_addr(),
            client_cert: session
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|der| Arc::from(der.as_ref())),
        }
    }
}
