//! The one call every event-carrying integration makes — `aws_proxy` on
//! WebSocket and HTTP routes, and request authorizers: the event goes to its
//! [`Backend`] (POSTed to a URL, or invoked as a Lambda function) and the
//! backend's answer comes back whole, within the timeout and the size bound.
//! The event and how its answer is read differ by caller; the transport,
//! pool, deadline, bound and failures are the same, here. A new kind of
//! backend is one more arm of [`deliver`].

use crate::trace::Trace;
use std::time::Duration;

use bytes::Bytes;

use super::{CallError, HttpClient, LambdaError, lambda};
use crate::config::Backend;
use crate::functions::{Outcome, Refused};

/// A backend's answer to an event.
#[derive(Debug)]
pub struct Delivered {
    /// The HTTP status (a Lambda function's result is 200).
    pub status: u16,
    /// The body: a Lambda function's result, or error object.
    pub body: Bytes,
    /// The Lambda function failed (`X-Amz-Function-Error`).
    pub function_error: bool,
}

impl Delivered {
    /// The body of an answer that must be a success (`aws_proxy`): a 2xx
    /// without a function error.
    pub fn into_result(self) -> Result<Bytes, CallError> {
        if self.function_error {
            return Err(CallError::Lambda(LambdaError::Function));
        }
        if !(200..300).contains(&self.status) {
            return Err(CallError::Failed(format!(
                "backend answered HTTP {}",
                self.status
            )));
        }
        Ok(self.body)
    }
}

/// Sends `event` (JSON) to `backend` and reads its answer, at most `max_answer`
/// bytes, all within `timeout`. `headers` go with an HTTP call only (a Lambda
/// function receives the event alone).
pub async fn deliver(
    client: &HttpClient,
    backend: &Backend,
    timeout: Duration,
    event: Bytes,
    headers: &[(&'static str, &str)],
    trace: &Trace,
    max_answer: usize,
) -> Result<Delivered, CallError> {
    match backend {
        Backend::Http(uri) => {
            let mut b = http::Request::post(uri.clone())
                .header(http::header::CONTENT_TYPE, "application/json");
            for (name, value) in headers.iter().copied().chain(trace.headers()) {
                b = b.header(name, value);
            }
            let req = b
                .body(event)
                .map_err(|e| CallError::Failed(format!("cannot build the request: {e}")))?;
            let resp = client.send_whole(req, timeout, max_answer).await?;
            Ok(Delivered {
                status: resp.status().as_u16(),
                body: resp.into_body(),
                function_error: false,
            })
        }
        Backend::Lambda(f) => {
            let mut req = client.lambda().request(f, event)?;
            // Lambda continues an X-Ray trace from its Invoke request (the
            // header is not signed: AWS accepts unsigned extra headers).
            if let Ok(v) = http::HeaderValue::from_str(trace.amzn()) {
                req.headers_mut().insert("x-amzn-trace-id", v);
            }
            let resp = client.send_whole(req, timeout, max_answer).await?;
            let (body, function_error) = lambda::answer(resp)?;
            Ok(Delivered {
                status: 200,
                body,
                function_error,
            })
        }
        Backend::Hosted(name) => hosted(client, name, event, trace, timeout, max_answer).await,
    }
}

/// A function this node hosts, answering as AWS Lambda does.
async fn hosted(
    client: &HttpClient,
    name: &str,
    event: Bytes,
    trace: &Trace,
    timeout: Duration,
    max_answer: usize,
) -> Result<Delivered, CallError> {
    if event.len() > crate::functions::MAX_PAYLOAD {
        return Err(CallError::Lambda(LambdaError::TooLarge));
    }
    let outcome = client.functions().invoke(name, event, trace, timeout).await;
    let (body, function_error) = match outcome {
        Ok(Outcome::Response(b)) if b.len() <= max_answer => (b, false),
        Ok(Outcome::Response(_)) => {
            return Err(CallError::Failed(
                "the answer is over max_response_bytes".into(),
            ));
        }
        Ok(Outcome::Error(b)) => (b, true),
        Ok(Outcome::TimedOut) => return Err(CallError::Timeout),
        Err(Refused::Throttled) => return Err(CallError::Lambda(LambdaError::Throttled)),
        Err(e @ Refused::NotRunning) => return Err(CallError::Failed(e.to_string())),
    };
    Ok(Delivered {
        status: 200,
        body,
        function_error,
    })
}

/// What the log names a backend by: a URL's `host[:port]` (never its path or
/// query), or a Lambda function's name or ARN.
pub fn name(backend: &Backend) -> &str {
    match backend {
        Backend::Http(uri) => uri.authority().map_or("", |a| a.as_str()),
        Backend::Lambda(f) => &f.name,
        Backend::Hosted(name) => name,
    }
}
