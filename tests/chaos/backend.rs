//! The backend host: an HTTP server the nodes' `$connect` and `$disconnect`
//! routes call (`aws_proxy`), recording each event with its time; `$connect`
//! answers add the connection to the group "room". It runs on a thread of its
//! own inside the backend's namespace.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use super::history::{Event, Recorder};
use super::net::Net;

pub const PORT: u16 = 8000;

/// Serves until `stop` is set; returns once it listens.
pub fn start(
    net: &Net,
    rec: Recorder,
    stop: tokio::sync::watch::Receiver<bool>,
) -> std::thread::JoinHandle<()> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let ns = net.ns_file("backend");
    let handle = std::thread::spawn(move || {
        super::net::enter(&ns).expect("enter the backend's namespace");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(serve(rec, stop, ready_tx));
    });
    ready_rx.recv().expect("backend listening");
    handle
}

async fn serve(
    rec: Recorder,
    mut stop: tokio::sync::watch::Receiver<bool>,
    ready: std::sync::mpsc::Sender<()>,
) {
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", PORT))
        .await
        .unwrap();
    let _ = ready.send(());
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
            _ = stop.changed() => return,
        };
        let rec = rec.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                let rec = rec.clone();
                async move { Ok::<_, Infallible>(record(&rec, req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn record(rec: &Recorder, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let disconnect = req.uri().path() == "/disconnect";
    let body = req.into_body().collect().await.map(|b| b.to_bytes());
    let event: Value = body
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let ctx = &event["requestContext"];
    if let Some(id) = ctx["connectionId"].as_str() {
        let reason = format!(
            "{} {}",
            ctx["disconnectStatusCode"],
            ctx["disconnectReason"].as_str().unwrap_or("")
        );
        let ev = Event {
            id: id.to_string(),
            at: rec.now(),
            disconnect,
            reason,
        };
        rec.with(|h| h.events.push(ev));
    }
    // Every connection joins the one group the workload sends to.
    let answer: &'static [u8] = if disconnect {
        b"{\"statusCode\":200}"
    } else {
        b"{\"statusCode\":200,\"headers\":{\"X-Sockgate-Join\":\"room\"}}"
    };
    Response::new(Full::new(Bytes::from_static(answer)))
}
