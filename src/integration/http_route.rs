//! Calling an HTTP route's integration: `aws_proxy` (the Lambda event in the
//! route's payload format, POSTed to the backend, its answer read as AWS
//! reads it), `http_proxy` (the request passed on, the answer streamed back)
//! and `mock` (a fixed answer, its body a template over the request: see
//! `mock`).

use bytes::Bytes;

use super::client::Streamed;
use super::http_event::{self, HttpFacts};
use super::http_proxy::{self, ProxyRoute};
use super::http_response::{self, HttpReply};
use super::model::Integration;
use super::share::Claim;
use super::target::deliver;
use super::{CallError, HttpClient};
use crate::config::PayloadFormat;

/// What an HTTP route's integration answered.
#[derive(Debug)]
pub enum HttpAnswer {
    /// Read whole (`aws_proxy`, `mock`).
    Whole(HttpReply),
    /// The backend's response, its body still arriving (`http_proxy`).
    Streamed(http::Response<Streamed>),
}

/// The route facts a call needs beside the request.
#[derive(Debug, Clone, Copy)]
pub struct RouteFacts<'a> {
    /// The integration.
    pub integration: &'a Integration,
    /// The greedy parameter's name, if any.
    pub greedy: Option<&'a str>,
    /// Whether the route is `$default`.
    pub is_default: bool,
    /// `overwrite:path`: the backend path of an `http_proxy` call, encoded.
    pub path: Option<&'a str>,
}

/// Calls the route's integration for one request. `max_answer` caps the bytes
/// read from an `aws_proxy` backend; `claim`, the client's place in its fair
/// share, is held as long as the call's backend slot.
pub async fn call(
    route: RouteFacts<'_>,
    client: &HttpClient,
    f: &HttpFacts<'_>,
    body: Bytes,
    max_answer: usize,
    claim: Option<Claim>,
) -> Result<HttpAnswer, CallError> {
    match route.integration {
        Integration::Mock(m) => Ok(HttpAnswer::Whole(super::mock::answer_http(m, f))),
        Integration::AwsProxy { target, format } => {
            let event = match format {
                PayloadFormat::V2 => http_event::v2_json(f),
                PayloadFormat::V1 => http_event::v1_json(f),
            };
            let sent = deliver(
                client,
                &target.backend,
                target.timeout,
                event.into(),
                &[],
                &f.forwarded.trace,
                max_answer,
            );
            let answer = sent.await?.into_result()?;
            http_response::decode(*format, &answer)
                .map(HttpAnswer::Whole)
                .map_err(|e| CallError::Failed(e.to_string()))
        }
        Integration::HttpProxy { uri, timeout } => {
            let proxy = ProxyRoute {
                uri,
                greedy: route.greedy,
                is_default: route.is_default,
                path: route.path,
            };
            let req = http_proxy::request(proxy, f, body)?;
            let mut resp = client.stream(req, *timeout, claim).await?;
            http_proxy::strip_hop_by_hop(resp.headers_mut());
            Ok(HttpAnswer::Streamed(resp))
        }
    }
}
