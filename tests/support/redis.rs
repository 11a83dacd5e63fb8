//! A real `redis-server` on a free loopback port, started and stopped by the test.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sockgate::clock;

/// A running redis-server (killed on drop).
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    tls: Option<TlsFiles>,
}

/// The PEM files of a TLS redis-server: its certificate and key, and the CA
/// clients check it against.
#[derive(Clone)]
pub struct TlsFiles {
    pub cert: String,
    pub key: String,
    pub ca: String,
}

impl RedisServer {
    /// Starts redis-server on a free port, without persistence.
    pub fn start() -> RedisServer {
        RedisServer::on_free_port(None)
    }

    /// Starts redis-server speaking only TLS on a free port, with `files`
    /// (its certificate must name `localhost`).
    pub fn start_tls(files: TlsFiles) -> RedisServer {
        RedisServer::on_free_port(Some(files))
    }

    fn on_free_port(tls: Option<TlsFiles>) -> RedisServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = RedisServer {
            port,
            child: None,
            tls,
        };
        server.restart();
        server
    }

    /// `redis://127.0.0.1:PORT`, or `rediss://localhost:PORT` over TLS.
    pub fn url(&self) -> String {
        match self.tls {
            None => format!("redis://127.0.0.1:{}", self.port),
            Some(_) => format!("rediss://localhost:{}", self.port),
        }
    }

    /// Kills the server at once (SIGKILL): clients see their connections drop.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing is answered,
    /// and what clients send waits in its socket until [`RedisServer::resume`].
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a paused server (SIGCONT): it reads and runs what piled up.
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id();
        let ok = Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig} {pid}");
    }

    /// Starts it again on the same port (empty: nothing is persisted).
    pub fn restart(&mut self) {
        self.kill();
        let port = self.port.to_string();
        let ports: Vec<&str> = match &self.tls {
            None => vec!["--port", &port],
            Some(t) => vec![
                "--port",
                "0",
                "--tls-port",
                &port,
                "--tls-cert-file",
                &t.cert,
                "--tls-key-file",
                &t.key,
                "--tls-ca-cert-file",
                &t.ca,
                "--tls-auth-clients",
                "no",
            ],
        };
        let child = Command::new("redis-server")
            .args(ports)
            .args([
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (.ci/run installs it)");
        self.child = Some(child);
        let deadline = clock::now() + Duration::from_secs(10);
        while self.cli(&["PING"]).as_deref() != Some("PONG") {
            assert!(clock::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs a command with redis-cli; its trimmed output.
    pub fn cli(&self, args: &[&str]) -> Option<String> {
        match &self.tls {
            None => cli(self.port, args),
            Some(t) => {
                let mut all = vec!["--tls", "--cacert", &t.ca, "-h", "localhost"];
                all.extend_from_slice(args);
                cli(self.port, &all)
            }
        }
    }
}

/// Runs a command with redis-cli against the server on `port`; its trimmed
/// output, or `None` if it failed.
pub fn cli(port: u16, args: &[&str]) -> Option<String> {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // A paused server would not die of SIGKILL until resumed? It does, but
        // resume first so nothing lingers stopped if kill fails.
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
        }
        self.kill();
    }
}
