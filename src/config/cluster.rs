//! `[cluster]`: several nodes joined through Redis; absent, a node runs alone.

use std::time::Duration;

use super::reader::{Section, join};
use super::{ClusterConfig, RedisTarget, RedisTls};

/// `[cluster]`; `Some(None)` when no Redis is configured (a single node).
pub(super) fn read_cluster(mut s: Section<'_>) -> Option<Option<ClusterConfig>> {
    let ms = Duration::from_millis;
    let redis_url = s.string("redis_url").map(str::to_owned);
    let redis_cluster = s.string_list("redis_cluster");
    let heartbeat_interval = s.duration_or("heartbeat_interval", ms(100), ms(60_000), ms(1_000));
    let node_ttl = s.duration_or("node_ttl", ms(500), ms(600_000), ms(5_000));
    let request_timeout = s.duration_or("request_timeout", ms(10), ms(30_000), ms(1_000));
    let group_partitions = s.int("group_partitions", 1, 64).unwrap_or(1) as u32;
    let readiness_requires_redis = s.bool("readiness_requires_redis").unwrap_or(true);
    let max_clock_skew = s.duration_or("max_clock_skew", Duration::ZERO, ms(10_000), ms(250));
    let tls = RedisTls {
        ca_file: s.string("ca_file").map(str::to_owned),
        cert_file: s.string("client_cert_file").map(str::to_owned),
        key_file: s.string("client_key_file").map(str::to_owned),
    };
    let urls: Vec<&str> = redis_url
        .iter()
        .chain(&redis_cluster)
        .map(String::as_str)
        .collect();
    let is_redis = |u: &&str| u.starts_with("redis://") || u.starts_with("rediss://");
    let any_tls = urls.iter().any(|u| u.starts_with("rediss://"));
    // Default: two missed probes and one slow Redis answer.
    let unready_after = s.duration_or(
        "unready_after",
        ms(100),
        ms(600_000),
        heartbeat_interval * 2 + request_timeout,
    );
    let check = |ok: bool, key: &str, why: &str| {
        if !ok {
            s.errors().push(join(s.path(), key), why);
        }
        ok
    };
    let valid = [
        check(
            node_ttl >= heartbeat_interval * 2,
            "node_ttl",
            "must be at least twice heartbeat_interval (a node must miss two heartbeats before it is declared lost)",
        ),
        check(
            unready_after >= heartbeat_interval + request_timeout,
            "unready_after",
            "must be at least heartbeat_interval + request_timeout (a probe is sent every heartbeat and may take request_timeout to come back)",
        ),
        check(
            max_clock_skew < request_timeout,
            "max_clock_skew",
            "must be less than request_timeout (a request must reach its owner within request_timeout - max_clock_skew)",
        ),
        check(
            redis_url.as_deref().is_none_or(|u| is_redis(&u)),
            "redis_url",
            "is not a redis:// or rediss:// (TLS) URL (e.g. \"redis://127.0.0.1:6379\")",
        ),
        check(
            redis_cluster.iter().all(|u| is_redis(&u.as_str())),
            "redis_cluster",
            "must list redis:// or rediss:// URLs of some of the Redis Cluster's nodes (e.g. [\"redis://10.0.0.1:6379\", \"redis://10.0.0.2:6379\"])",
        ),
        check(
            !urls.iter().any(|u| u.starts_with("rediss://"))
                || urls.iter().all(|u| u.starts_with("rediss://")),
            "redis_cluster",
            "mixes redis:// and rediss://: a cluster is all TLS or none",
        ),
        check(
            any_tls || tls == RedisTls::default(),
            "ca_file",
            "ca_file and client_cert_file are for rediss:// (TLS) URLs",
        ),
        check(
            redis_url.is_none() || redis_cluster.is_empty(),
            "redis_cluster",
            "cannot be set together with redis_url (redis_url: one Redis server; redis_cluster: a Redis Cluster)",
        ),
    ];
    s.finish();
    if valid.contains(&false) {
        return None;
    }
    let redis = match redis_url {
        Some(url) => RedisTarget::Single(url),
        None if !redis_cluster.is_empty() => RedisTarget::Cluster(redis_cluster),
        None => return Some(None),
    };
    Some(Some(ClusterConfig {
        redis,
        heartbeat_interval,
        node_ttl,
        request_timeout,
        group_partitions,
        readiness_requires_redis,
        max_clock_skew,
        unready_after,
        tls,
    }))
}
