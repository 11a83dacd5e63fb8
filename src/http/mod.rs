//! The three HTTP listeners' request handling: public (WebSocket upgrades),
//! management (@connections), metrics (probes). Each accepted TCP connection is
//! served by hyper's HTTP/1 server; `server` owns the accept loops.

pub mod management;
pub mod probes;
pub mod respond;
pub mod upgrade;
