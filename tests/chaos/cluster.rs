//! The processes of a chaos run, each in its host's namespace: Redis (see
//! [`Redis`]), the sockgate nodes (the real binary) and nginx's stream module
//! as the load balancer clients connect through. Each is killed when dropped.

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::Duration;

use super::backend;
use super::net::Net;
use super::redis::Redis;

/// The management API's bearer token (the nodes listen on non-loopback
/// addresses, where credentials are required).
pub const TOKEN: &str = "chaos-run-token-0123456789abcdef0123";
pub const PUBLIC: u16 = 8080;
pub const MANAGEMENT: u16 = 8081;
pub const METRICS: u16 = 9090;

/// Cluster timings: fast, so that a node is declared lost within a fault of a
/// few seconds. `unready_after` is the default (2 heartbeats + a request
/// timeout = 900 ms).
pub const HEARTBEAT: Duration = Duration::from_millis(200);
pub const NODE_TTL: Duration = Duration::from_secs(2);
/// On a Redis Cluster `node_ttl` must outlast a failover (the README says
/// why): a node whose liveness key is on a failing shard cannot renew it
/// until the replica takes over (the node timeout, 1 s, then an election).
pub const CLUSTER_NODE_TTL: Duration = Duration::from_secs(5);
/// The cluster-scoped limit on `GET /prod/limited` (per second, burst).
pub const LIMIT: (f64, f64) = (20.0, 5.0);
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(500);
pub const UNREADY_AFTER: Duration = Duration::from_millis(900);

pub struct Proc {
    pub name: String,
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Cluster {
    pub redis: Redis,
    pub procs: Vec<Proc>,
    pub dir: PathBuf,
    bin: String,
}

pub fn spawn(net: &Net, host: &str, program: &str, args: &[&str], log: &std::path::Path) -> Proc {
    // Appended: a restarted node's log follows its first life's.
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let child = net
        .command(host, program)
        .args(args)
        // `SOCKGATE_CHAOS_LOG` (a `SOCKGATE_LOG` filter) to look closer.
        .env(
            "SOCKGATE_LOG",
            std::env::var("SOCKGATE_CHAOS_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("{program} in {host}: {e}"));
    Proc {
        name: host.to_string(),
        child,
    }
}

fn node_config(net: &Net, redis: Redis, node: &str) -> String {
    let backend = format!("http://{}:{}", net.ip("backend"), backend::PORT);
    format!(
        r#"
[server]
listen = "0.0.0.0:{PUBLIC}"
management_listen = "0.0.0.0:{MANAGEMENT}"
metrics_listen = "0.0.0.0:{METRICS}"
node_id = "{node}"
[management]
bearer_tokens = {{ chaos = "{TOKEN}" }}
[cluster]
{redis}
heartbeat_interval = "{hb}ms"
node_ttl = "{ttl}ms"
request_timeout = "{rt}ms"
max_clock_skew = "50ms"
[throttle]
on_redis_down = "open"
[websocket]
route_selection_expression = "$request.body.action"
[stages.prod]
[routes."$connect"]
integration = {{ type = "aws_proxy", uri = "{backend}/connect" }}
[routes."$disconnect"]
integration = {{ type = "aws_proxy", uri = "{backend}/disconnect" }}
[routes.whoami]
route_response = true
integration = {{ type = "mock", body = '{{"connectionId":"${{context.connectionId}}"}}' }}
[http.routes."GET /limited"]
integration = {{ type = "mock", body = "ok" }}
throttle = {{ rate = {rate}, burst = {burst}, scope = "cluster" }}
"#,
        redis = redis.config(net),
        hb = HEARTBEAT.as_millis(),
        ttl = node_ttl(redis).as_millis(),
        rate = LIMIT.0,
        burst = LIMIT.1,
        rt = REQUEST_TIMEOUT.as_millis(),
    )
}

pub fn node_ttl(redis: Redis) -> Duration {
    match redis {
        Redis::Single => NODE_TTL,
        Redis::Cluster => CLUSTER_NODE_TTL,
    }
}

fn lb_config(net: &Net, nodes: &[&str], dir: &std::path::Path) -> String {
    let servers: String = nodes
        .iter()
        .map(|n| {
            format!(
                "    server {}:{PUBLIC} max_fails=1 fail_timeout=2s;\n",
                net.ip(n)
            )
        })
        .collect();
    format!(
        "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n\
         daemon off;\nmaster_process off;\nworker_processes 1;\n\
         error_log {d}/lb-error.log;\npid {d}/lb.pid;\n\
         events {{ worker_connections 4096; }}\n\
         stream {{\n  upstream nodes {{\n{servers}  }}\n  server {{\n    listen {PUBLIC};\n    \
         proxy_pass nodes;\n    proxy_connect_timeout 1s;\n    proxy_timeout 1h;\n  }}\n}}\n",
        d = dir.display()
    )
}

fn start_node(net: &Net, node: &str, bin: &str, dir: &std::path::Path) -> Proc {
    let path = dir.join(format!("{node}.toml"));
    let log = dir.join(format!("{node}.log"));
    spawn(net, node, bin, &["--config", path.to_str().unwrap()], &log)
}

impl Cluster {
    /// Starts Redis, `nodes` and the load balancer. The caller waits for
    /// readiness (from a host that can reach them).
    pub fn start(net: &Net, redis: Redis, nodes: &[&'static str], bin: &str) -> Cluster {
        let dir = std::env::temp_dir().join(format!("sockgate-chaos-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut procs = redis.start(net, &dir);
        for &node in nodes {
            let config = node_config(net, redis, node);
            std::fs::write(dir.join(format!("{node}.toml")), config).unwrap();
            procs.push(start_node(net, node, bin, &dir));
        }
        let conf = dir.join("lb.conf");
        std::fs::write(&conf, lb_config(net, nodes, &dir)).unwrap();
        let nginx = if std::path::Path::new("/usr/sbin/nginx").exists() {
            "/usr/sbin/nginx"
        } else {
            "nginx"
        };
        procs.push(spawn(
            net,
            "lb",
            nginx,
            &["-c", conf.to_str().unwrap()],
            &dir.join("lb.log"),
        ));
        Cluster {
            redis,
            procs,
            dir,
            bin: bin.to_string(),
        }
    }

    /// The process id of `host`'s process (for its CPU time).
    pub fn pid(&self, host: &str) -> Option<u32> {
        self.procs
            .iter()
            .find(|p| p.name == host)
            .map(|p| p.child.id())
    }

    /// `kill -9` of a node (a crashed host).
    pub fn kill(&mut self, node: &str) {
        self.procs.retain(|p| p.name != node);
    }

    /// Starts a killed node again (a new process, so a new node tag).
    pub fn restart(&mut self, net: &Net, node: &str) {
        let p = start_node(net, node, &self.bin, &self.dir);
        self.procs.push(p);
    }

    /// The last lines of each process's log, for a failed run's report.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for p in &self.procs {
            let text = std::fs::read_to_string(self.dir.join(format!("{}.log", p.name)))
                .unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            out += &format!("--- {} ---\n", p.name);
            for line in tail.iter().rev() {
                out += line;
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.procs.clear();
        // `SOCKGATE_CHAOS_KEEP` keeps the logs and configs, to look at after.
        if std::env::var_os("SOCKGATE_CHAOS_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
