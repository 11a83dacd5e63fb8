//! The Redis connection a node talks through: one server, or a Redis Cluster.
//!
//! - **One server** (`redis_url`): a `ConnectionManager` — one multiplexed
//!   connection that reconnects by itself and restores its subscriptions.
//!   Channels use classic pub/sub (`PUBLISH`/`SUBSCRIBE`).
//! - **A Redis Cluster** (`redis_cluster`): the `redis` crate's cluster
//!   connection, one multiplexed connection per master, commands routed by
//!   their key's slot, and *sharded* pub/sub (`SPUBLISH`/`SSUBSCRIBE`, Redis 7):
//!   a message travels only within the shard that owns its channel's slot,
//!   instead of over the cluster bus to every node. Every key and channel name
//!   carries a hash tag (see `names`), and every pipeline touches one tag only
//!   (a pipeline is sent to one shard).
//!
//! `rediss://` URLs speak TLS (rustls), against the system's roots or
//! `[cluster] ca_file`, with an optional client certificate, as managed Redis
//! services with in-transit encryption require.
//!
//! After a failover the cluster connection finds the new master when a command
//! to the old one fails, and then subscribes again to everything it had. A
//! failover that only shows as a dropped connection (no command failed yet) is
//! caught by the node: it subscribes again to every channel it holds (see
//! `subscriptions`), which makes the client refresh its slot map.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{ClientTlsConfig, Cmd, Pipeline, PushInfo, RedisFuture, TlsCertificates, Value};

use crate::config::{ClusterConfig, RedisTarget, RedisTls};

/// A cloneable handle to the node's Redis (clones share the connections).
#[derive(Clone)]
pub(super) enum Link {
    Single(ConnectionManager),
    Sharded(ClusterConnection),
}

impl Link {
    /// Connects lazily (a node starts while Redis is down); every push from
    /// Redis is handed to `push`.
    pub(super) fn open(
        cfg: &ClusterConfig,
        push: impl Fn(PushInfo) + Send + Sync + 'static,
    ) -> Result<Link, String> {
        let push = move |info| {
            push(info);
            Ok::<(), ()>(())
        };
        let certs = certificates(&cfg.tls)?;
        match &cfg.redis {
            RedisTarget::Single(url) => {
                let info =
                    connection_info(url, cfg).map_err(|e| format!("cluster.redis_url: {e}"))?;
                let client = match certs {
                    Some(certs) => redis::Client::build_with_tls(info, certs),
                    None => redis::Client::open(info),
                }
                .map_err(|e| format!("cluster.redis_url: {e}"))?;
                let manager = ConnectionManagerConfig::new()
                    .set_push_sender(push)
                    .set_automatic_resubscription()
                    .set_connection_timeout(Some(cfg.request_timeout))
                    .set_response_timeout(Some(cfg.request_timeout))
                    // Reconnect attempts are driven by our heartbeat; the client's
                    // own retries would only make callers wait.
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_secs(1));
                client
                    .get_connection_manager_lazy(manager)
                    .map(Link::Single)
                    .map_err(|e| format!("cluster.redis_url: {e}"))
            }
            RedisTarget::Cluster(urls) => {
                let infos = urls
                    .iter()
                    .map(|u| connection_info(u, cfg))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("cluster.redis_cluster: {e}"))?;
                // The nodes the client finds in the slot map are connected to
                // with the builder's TCP settings, not the seeds' (found by
                // `load/chaos.sh`: without this a healed split left shards
                // waiting out TCP's backoff).
                let mut builder = ClusterClientBuilder::new(infos).tcp_settings(tcp_settings(cfg));
                if let Some(certs) = certs {
                    builder = builder.certs(certs);
                }
                let client = builder
                    .use_protocol(redis::ProtocolVersion::RESP3)
                    .push_sender(push)
                    .connection_timeout(cfg.request_timeout)
                    .response_timeout(cfg.request_timeout)
                    // Retries (MOVED, a failover) must fit in one request_timeout:
                    // every call is bounded by it anyway.
                    .retries(2)
                    .min_retry_wait(10)
                    .max_retry_wait(cfg.request_timeout.as_millis() as u64 / 4)
                    .build()
                    .map_err(|e| format!("cluster.redis_cluster: {e}"))?;
                let conn = client
                    .get_pending_async_connection_with_config(redis::cluster::ClusterConfig::new());
                Ok(Link::Sharded(conn))
            }
        }
    }

    /// `PUBLISH`, or `SPUBLISH` on a Redis Cluster.
    pub(super) fn publish(&self, channel: &str, payload: &[u8]) -> Cmd {
        let name = match self {
            Link::Single(_) => "PUBLISH",
            Link::Sharded(_) => "SPUBLISH",
        };
        redis::cmd(name).arg(channel).arg(payload).clone()
    }

    /// Subscribes to (or unsubscribes from) one channel.
    pub(super) async fn subscribe(&mut self, channel: &str, on: bool) -> redis::RedisResult<()> {
        match (self, on) {
            (Link::Single(c), true) => c.subscribe(channel).await,
            (Link::Single(c), false) => c.unsubscribe(channel).await,
            (Link::Sharded(c), true) => c.ssubscribe(channel).await,
            (Link::Sharded(c), false) => c.sunsubscribe(channel).await,
        }
    }

    /// Whether a dropped connection can lose subscriptions the client will not
    /// restore by itself (see the module doc).
    pub(super) fn sharded(&self) -> bool {
        matches!(self, Link::Sharded(_))
    }
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Link::Single(c) => c.req_packed_command(cmd),
            Link::Sharded(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Link::Single(c) => c.req_packed_commands(cmd, offset, count),
            Link::Sharded(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Link::Single(c) => c.get_db(),
            Link::Sharded(c) => c.get_db(),
        }
    }
}

/// `rediss://`'s own files: a CA bundle trusted instead of the system's
/// roots, a client certificate (`None`: none set; `rediss://` then trusts the
/// system's roots, which the redis crate reads as the backend pool does).
fn certificates(tls: &RedisTls) -> Result<Option<TlsCertificates>, String> {
    let read = |file: &str| std::fs::read(file).map_err(|e| format!("cluster: {file}: {e}"));
    let root_cert = tls.ca_file.as_deref().map(read).transpose()?;
    let client_tls = match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => Some(ClientTlsConfig {
            client_cert: read(cert)?,
            client_key: read(key)?,
        }),
        _ => None,
    };
    if root_cert.is_none() && client_tls.is_none() {
        return Ok(None);
    }
    Ok(Some(TlsCertificates {
        client_tls,
        root_cert,
    }))
}

/// Adds `protocol=resp3` (pushes on the command connection need RESP3).
/// The address and settings of one Redis server. The socket gets
/// `TCP_USER_TIMEOUT` = `unready_after`: after a partition that drops packets,
/// what was sent stays unacknowledged and TCP's retransmission backoff would
/// keep the connection silent for seconds, up to two minutes, after the network
/// heals. With the timeout the kernel ends it instead, and the client
/// reconnects within its backoff (at most 1 s) once packets flow again (found
/// by `tests/chaos`). A Redis that only hangs still acknowledges at the TCP
/// level, so it does not trip this; the probe covers it.
fn connection_info(url: &str, cfg: &ClusterConfig) -> redis::RedisResult<redis::ConnectionInfo> {
    use redis::IntoConnectionInfo as _;
    let info = resp3_url(url).into_connection_info()?;
    Ok(info.set_tcp_settings(tcp_settings(cfg)))
}

fn tcp_settings(cfg: &ClusterConfig) -> redis::io::tcp::TcpSettings {
    redis::io::tcp::TcpSettings::default().set_user_timeout(cfg.unready_after)
}

fn resp3_url(url: &str) -> String {
    if url.contains("protocol=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&protocol=resp3")
    } else {
        format!("{url}/?protocol=resp3")
    }
}
