//! A WebSocket handler written with AWS's Rust runtime (`lambda_runtime`)
//! and event types (`aws_lambda_events`), as it would be deployed to AWS
//! Lambda: nothing in it knows about sockgate. sockgate runs it as a hosted
//! function (`tests/hosted_functions.rs`; the README's "Run your Lambda
//! functions"):
//!
//! ```toml
//! [functions.rusty]
//! command = ["target/release/examples/rust-function"]
//! ```
//!
//! It answers a two-way route with what it read from the typed event and
//! its context, and fails on the message `raise`.

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use aws_lambda_events::encodings::Body;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

async fn handler(
    event: LambdaEvent<ApiGatewayWebsocketProxyRequest>,
) -> Result<ApiGatewayProxyResponse, Error> {
    let (request, context) = event.into_parts();
    let rc = &request.request_context;
    let text = request.body.unwrap_or_default();
    if text == "raise" {
        return Err("the handler failed".into());
    }
    let facts = serde_json::json!({
        "echo": text,
        "routeKey": rc.route_key,
        "eventType": rc.event_type,
        "connectionId": rc.connection_id,
        "domainName": rc.domain_name,
        "stage": rc.stage,
        "sourceIp": rc.identity.source_ip,
        "requestId": context.request_id,
        "functionArn": context.invoked_function_arn,
        "functionName": context.env_config.function_name,
        "deadlineMs": context.deadline,
    });
    let mut response = ApiGatewayProxyResponse::default();
    response.status_code = 200;
    response.body = Some(Body::Text(facts.to_string()));
    Ok(response)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    // Run outside a Lambda service (as `cargo test --all-targets` runs
    // examples): nothing to poll.
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none() {
        eprintln!(
            "rust-function: AWS_LAMBDA_RUNTIME_API is not set; run it as a function (see the README)"
        );
        return Ok(());
    }
    run(service_fn(handler)).await
}
