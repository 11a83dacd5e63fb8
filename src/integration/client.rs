//! The backend HTTP client: calls through the [`Pool`] (which keeps
//! connections alive and bounds calls in flight), each within its timeout,
//! waiting for an in-flight slot included. Bodies read whole are capped at
//! `integrations.max_response_bytes` (1 MiB by default): a backend cannot make
//! the gateway buffer more per call.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Limited};

use super::CallError;
use super::lambda::Lambda;
use super::outgoing::Outgoing;
use super::pool::{Pool, Pooled, SendError};
use super::share::Claim;
use crate::clock::{self, Instant};
use crate::config::ClientConfig;
use crate::functions::Functions;

/// A backend HTTP client shared by all connections of a gateway.
#[derive(Debug)]
pub struct HttpClient {
    pool: Pool,
    lambda: Lambda,
    functions: Arc<Functions>,
    max_response_bytes: usize,
}

impl HttpClient {
    /// Builds the client from `[integrations]`; `functions` are the ones this
    /// node hosts.
    pub fn new(cfg: &ClientConfig, functions: Arc<Functions>) -> HttpClient {
        HttpClient {
            pool: Pool::new(cfg),
            lambda: Lambda::new(&cfg.lambda),
            functions,
            max_response_bytes: cfg.max_response_bytes,
        }
    }

    /// The Lambda Invoke signer and its keys.
    pub fn lambda(&self) -> &Lambda {
        &self.lambda
    }

    /// The functions this node hosts.
    pub fn functions(&self) -> &Functions {
        &self.functions
    }

    /// Closes the backend connections idle past `pool_idle_timeout`.
    pub fn sweep_idle(&self) {
        self.pool.sweep();
    }

    /// Sends `req` and returns the status and body (at most `max_body` bytes),
    /// within `timeout` (waiting for a slot included).
    pub async fn send(
        &self,
        req: http::Request<Bytes>,
        timeout: Duration,
        max_body: usize,
    ) -> Result<(u16, Bytes), CallError> {
        let resp = self.call(req, timeout, max_body).await?;
        Ok((resp.status().as_u16(), resp.into_body()))
    }

    /// [`HttpClient::send`], with the response's headers.
    pub async fn send_whole(
        &self,
        req: http::Request<Bytes>,
        timeout: Duration,
        max_body: usize,
    ) -> Result<http::Response<Bytes>, CallError> {
        self.call(req, timeout, max_body).await
    }

    /// The most a backend answer read whole may be (`max_response_bytes`).
    pub fn max_response_bytes(&self) -> usize {
        self.max_response_bytes
    }

    /// POSTs `body` and returns the status and body, within `timeout` (waiting for a
    /// slot included).
    pub async fn post(
        &self,
        req: http::Request<Bytes>,
        timeout: Duration,
    ) -> Result<(u16, Bytes), CallError> {
        self.send(req, timeout, self.max_response_bytes).await
    }

    /// Sends `req` and returns the response as soon as its headers arrive
    /// (within `timeout`, waiting for a slot included); its body is read as the
    /// caller reads it, and the call keeps its in-flight slot until then.
    pub async fn stream(
        &self,
        req: Outgoing,
        timeout: Duration,
        claim: Option<Claim>,
    ) -> Result<http::Response<Streamed>, CallError> {
        // The pool bounds the wait with its connection's alarm.
        let sent = self
            .pool
            .send_encoded(req, clock::now() + timeout, claim)
            .await;
        sent.map_err(call_error)
    }

    /// Sends `req` through the pool: the response, once its headers are in.
    async fn start(
        &self,
        req: http::Request<Bytes>,
        deadline: Instant,
    ) -> Result<http::Response<Pooled>, CallError> {
        self.pool
            .send(req, deadline, None)
            .await
            .map_err(call_error)
    }

    async fn call(
        &self,
        req: http::Request<Bytes>,
        timeout: Duration,
        max_body: usize,
    ) -> Result<http::Response<Bytes>, CallError> {
        let deadline = clock::now() + timeout;
        let call = async {
            let (head, body) = self.start(req, deadline).await?.into_parts();
            let body = Limited::new(body, max_body)
                .collect()
                .await
                .map_err(|e| CallError::Failed(format!("reading response failed: {e}")))?
                .to_bytes();
            Ok(http::Response::from_parts(head, body))
        };
        // The body too must arrive by the deadline.
        tokio::time::timeout_at(deadline, call)
            .await
            .unwrap_or(Err(CallError::Timeout))
    }
}

fn call_error(e: SendError) -> CallError {
    match e {
        SendError::Timeout => CallError::Timeout,
        e => CallError::Failed(e.to_string()),
    }
}

/// A backend's response body streamed to the client (see [`Pooled`]).
pub type Streamed = Pooled;
