//! The pooled HTTP client that calls backends, with a node-wide in-flight bound.
//!
//! One [`Pool`] per gateway keeps connections alive per backend host. A
//! semaphore caps calls in flight across the node (`integrations.max_inflight`):
//! it bounds backend sockets (file descriptors are finite: 20,000 on the reference
//! machine) and the memory pinned by waiting calls. A call waits for a slot within
//! its own timeout, so overload shows up as integration timeouts, not unbounded
//! queues. Response bodies are capped at `integrations.max_response_bytes`
//! (1 MiB by default): a backend cannot make the gateway buffer more per call.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::CallError;
use super::pool::{Pool, Pooled};
use crate::config::ClientConfig;

/// A backend HTTP client shared by all connections of a gateway.
#[derive(Debug)]
pub struct HttpClient {
    pool: Pool,
    permits: Arc<Semaphore>,
    max_response_bytes: usize,
}

impl HttpClient {
    /// Builds the client from `[integrations]`.
    pub fn new(cfg: &ClientConfig) -> HttpClient {
        let pool = Pool::new(
            cfg.connect_timeout,
            cfg.pool_idle_timeout,
            cfg.pool_max_idle_per_host,
        );
        HttpClient {
            pool,
            permits: Arc::new(Semaphore::new(cfg.max_inflight)),
            max_response_bytes: cfg.max_response_bytes,
        }
    }

    /// Closes the backend connections idle past `pool_idle_timeout`.
    pub fn sweep_idle(&self) {
        self.pool.sweep();
    }

    /// Sends `req` and returns the status and body (at most `max_body` bytes),
    /// within `timeout` (waiting for a slot included).
    pub async fn send(
        &self,
        req: http::Request<Full<Bytes>>,
        timeout: Duration,
        max_body: usize,
    ) -> Result<(u16, Bytes), CallError> {
        self.call(req, timeout, max_body).await
    }

    /// POSTs `body` and returns the status and body, within `timeout` (waiting for a
    /// slot included).
    pub async fn post(
        &self,
        req: http::Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<(u16, Bytes), CallError> {
        self.call(req, timeout, self.max_response_bytes).await
    }

    /// Sends `req` and returns the response as soon as its headers arrive
    /// (within `timeout`, waiting for a slot included); its body is read as the
    /// caller reads it, and the call keeps its in-flight slot until then.
    pub async fn stream(
        &self,
        req: http::Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<http::Response<Streamed>, CallError> {
        let call = async {
            let (permit, resp) = self.start(req).await?;
            Ok(resp.map(|body| Streamed {
                body,
                _permit: permit,
            }))
        };
        tokio::time::timeout(timeout, call)
            .await
            .unwrap_or(Err(CallError::Timeout))
    }

    /// Takes an in-flight slot and sends `req`: the response, once its
    /// headers are in, with the slot it holds.
    async fn start(
        &self,
        req: http::Request<Full<Bytes>>,
    ) -> Result<(OwnedSemaphorePermit, http::Response<Pooled>), CallError> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| CallError::Failed("client closed".into()))?;
        let resp = self
            .pool
            .send(req)
            .await
            .map_err(|e| CallError::Failed(e.to_string()))?;
        Ok((permit, resp))
    }

    async fn call(
        &self,
        req: http::Request<Full<Bytes>>,
        timeout: Duration,
        max_body: usize,
    ) -> Result<(u16, Bytes), CallError> {
        let call = async {
            let (_permit, resp) = self.start(req).await?;
            let status = resp.status().as_u16();
            let body = Limited::new(resp.into_body(), max_body)
                .collect()
                .await
                .map_err(|e| CallError::Failed(format!("reading response failed: {e}")))?
                .to_bytes();
            Ok((status, body))
        };
        tokio::time::timeout(timeout, call)
            .await
            .unwrap_or(Err(CallError::Timeout))
    }
}

/// A backend's response body passed on frame by frame as the client reads it:
/// hyper polls it only when the client's socket takes more, so a slow reader
/// slows the backend (TCP backpressure) instead of growing a buffer here. It
/// holds its call's in-flight slot until it ends or is dropped.
#[derive(Debug)]
pub struct Streamed {
    body: Pooled,
    _permit: OwnedSemaphorePermit,
}

impl Body for Streamed {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
