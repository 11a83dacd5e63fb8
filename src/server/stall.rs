//! A bound on how long a client may leave the gateway's writes waiting:
//! a connection whose client accepts no bytes for `server.send_timeout`
//! (60 s by default, nginx's `send_timeout`) fails with `TimedOut`, so hyper
//! drops it — and with it a streamed `http_proxy` answer's backend connection,
//! which a client that stopped reading would otherwise hold forever.
//!
//! The client's first byte is bounded too (by `server.handshake_timeout`):
//! until it arrives, nothing else is (hyper's per-request head timeout starts
//! only once the protocol is known, and telling HTTP/1.1 from HTTP/2 needs
//! that byte), so a client that connects and says nothing is closed.
//!
//! Only a write that is waiting counts: an idle keep-alive connection, or a
//! WebSocket with nothing to send, never times out here (the handshake and
//! idle timeouts cover those). Each write that makes progress starts the
//! clock again, so a slow but reading client keeps its download.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// An IO whose writes may wait at most `limit` without progress.
#[derive(Debug)]
pub(super) struct StallGuard<S> {
    inner: S,
    limit: Option<Duration>,
    /// Armed while a write is waiting; cleared by any progress.
    waiting: Option<Pin<Box<Sleep>>>,
    /// Until the first byte is read: when the client must have sent it.
    first_byte: Option<Pin<Box<Sleep>>>,
}

impl<S> StallGuard<S> {
    /// Wraps `inner`: its first byte must arrive within `first_byte`, and a
    /// write may wait at most `limit` (`None`: forever).
    pub(super) fn new(inner: S, first_byte: Duration, limit: Option<Duration>) -> StallGuard<S> {
        StallGuard {
            inner,
            limit,
            waiting: None,
            first_byte: Some(Box::pin(tokio::time::sleep(first_byte))),
        }
    }

    /// The inner write's answer, or `TimedOut` once it has been `Pending`
    /// (with no progress in between) for the limit.
    fn check<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            self.waiting = None;
            return polled;
        }
        let Some(limit) = self.limit else {
            return Poll::Pending;
        };
        let timer = self
            .waiting
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client accepted nothing for server.send_timeout",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for StallGuard<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let Some(deadline) = self.first_byte.as_mut() else {
            return polled;
        };
        match polled {
            Poll::Ready(Ok(())) if buf.filled().len() == before => Poll::Ready(Ok(())),
            Poll::Ready(r) => {
                self.first_byte = None;
                Poll::Ready(r)
            }
            Poll::Pending => match deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client sent nothing within server.handshake_timeout",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for StallGuard<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.check(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.check(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        self.check(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
