//! What keeps one client from holding the service hostage: a deadline on every
//! call, answered `DEADLINE_EXCEEDED` (tonic's own server timeout answers
//! `CANCELLED`, which tells a client nothing), and a deadline on a new
//! connection's HTTP/2 preface, so sockets opened and never spoken on are closed
//! instead of piling up until the process runs out of file descriptors.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;
use tonic::body::Body;
use tonic::transport::server::Connected;
use tower::{Layer, Service};

/// Cancels a call still unanswered after `limit`.
#[derive(Debug, Clone, Copy)]
pub struct DeadlineLayer {
    pub limit: Duration,
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline {
            inner,
            limit: self.limit,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Deadline<S> {
    inner: S,
    limit: Duration,
}

impl<S> Service<http::Request<Body>> for Deadline<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let limit = self.limit;
        let call = self.inner.call(request);
        Box::pin(async move {
            match tokio::time::timeout(limit, call).await {
                Ok(answer) => answer,
                Err(_) => Ok(super::status::localized(
                    tonic::Code::DeadlineExceeded,
                    format!(
                        "no answer within {} s (grpc.request_timeout_secs)",
                        limit.as_secs_f32()
                    ),
                    format!("{} 秒内未能完成，调用已取消", limit.as_secs_f32()),
                    tonic_types::ErrorDetails::new(),
                )
                .into_http()),
            }
        })
    }
}

/// The 24 bytes every HTTP/2 connection starts with.
const PREFACE_LEN: usize = 24;

/// An accepted connection that must send its HTTP/2 preface within a deadline.
/// After the preface, HTTP/2 keepalive pings look after idle connections.
/// Over TLS it wraps the finished handshake, so the preface counted is the one
/// inside TLS.
pub struct PrefaceDeadline<S = TcpStream> {
    inner: S,
    deadline: Option<Pin<Box<Sleep>>>,
    received: usize,
}

impl PrefaceDeadline {
    pub fn new(stream: TcpStream, limit: Duration) -> Self {
        // Small requests and answers must not wait for Nagle's algorithm; tonic's
        // own setting does not apply to connections handed to it.
        let _ = stream.set_nodelay(true);
        PrefaceDeadline::until(stream, tokio::time::Instant::now() + limit)
    }
}

impl<S> PrefaceDeadline<S> {
    /// The preface must have arrived by `deadline`.
    pub fn until(stream: S, deadline: tokio::time::Instant) -> Self {
        Self {
            inner: stream,
            deadline: Some(Box::pin(tokio::time::sleep_until(deadline))),
            received: 0,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for PrefaceDeadline<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(deadline) = &mut this.deadline
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no HTTP/2 preface within the handshake timeout",
            )));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        if this.deadline.is_some() {
            this.received += buf.filled().len() - before;
            if this.received >= PREFACE_LEN {
                this.deadline = None;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for PrefaceDeadline<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl<S: Connected> Connected for PrefaceDeadline<S> {
    type ConnectInfo = S::ConnectInfo;

    fn connect_info(&self) -> S::ConnectInfo {
        self.inner.connect_info()
    }
}
