//! The three HTTP listeners' request handling: public (WebSocket upgrades and
//! the HTTP API), management (@connections), metrics (probes). Each accepted
//! TCP connection is served by hyper's HTTP/1 server; `server` owns the accept
//! loops.

pub mod api;
pub mod body;
pub mod cors;
pub mod gate;
pub mod head;
pub mod integrate;
pub mod management;
pub mod mapping;
pub mod peer;
pub mod probes;
pub mod respond;
pub mod upgrade;
pub mod usage;

use std::sync::Arc;

use http::{Request, Response, header};
use hyper::body::Incoming;

use crate::gateway::Gateway;
use crate::integration::client::Streamed;
use http_body_util::Either;

/// A public listener's response body: whole, or an `http_proxy` backend's
/// body streamed through.
pub type PublicBody = Either<respond::Body, Streamed>;

/// Serves one request on the public listener: a request that asks for a
/// WebSocket (`Upgrade: websocket`) is an upgrade, an AWS handler's
/// `@connections` callback goes to the management API's handling (when
/// enabled: `management::is_callback`), anything else to the HTTP API.
pub async fn public(
    gw: Arc<Gateway>,
    req: Request<Incoming>,
    link: Arc<peer::Link>,
) -> Response<PublicBody> {
    let websocket = req
        .headers()
        .get_all(header::UPGRADE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("websocket"));
    if websocket && gw.snapshot().serves_websockets() {
        // Boxed: an upgrade is once per WebSocket, and its future would make
        // every HTTP API request's the bigger (each move copies it whole).
        Box::pin(upgrade::handle(gw, req, link))
            .await
            .map(Either::Left)
    } else if management::is_callback(&gw, req.uri().path()) {
        management::callback(&gw, req).await.map(Either::Left)
    } else {
        api::handle(gw, req, link).await
    }
}
