//! The servers a comparison runs: sockgate, the bare WebSocket baseline, or
//! nginx for the HTTP case, each started fresh on fixed loopback ports and
//! stopped after its run; and a case's helper (a backend its routes call),
//! started for the case.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::Args;

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Which {
    Bare,
    Sockgate,
}

pub(super) const GW_PUBLIC: &str = "127.0.0.1:28080";
pub(super) const GW_MGMT: &str = "127.0.0.1:28081";
pub(super) const GW_METRICS: &str = "127.0.0.1:28090";
pub(super) const BARE_WS: &str = "127.0.0.1:28180";
pub(super) const BARE_HTTP: &str = "127.0.0.1:28181";
/// Where a case's `nginx.conf` must listen.
pub(super) const NGINX: &str = "127.0.0.1:28182";

pub(super) struct Server {
    pub(super) child: Child,
}

impl Server {
    pub(super) async fn start(
        a: &Args,
        dir: &Path,
        config: &Path,
        which: Which,
        nginx: bool,
        log: &Path,
    ) -> Result<Server, String> {
        let log_file = std::fs::File::create(log).map_err(|e| e.to_string())?;
        let err_file = log_file.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = match which {
            Which::Bare if nginx => {
                // nginx writes its pid and temp files under its prefix.
                let prefix = std::env::temp_dir().join("sockgate-compare-nginx");
                std::fs::create_dir_all(&prefix).map_err(|e| e.to_string())?;
                // `{CASE_DIR}` in the case's nginx.conf is its directory
                // (nginx reads relative paths from its prefix).
                let case_dir = std::fs::canonicalize(dir).map_err(|e| e.to_string())?;
                let text = std::fs::read_to_string(dir.join("nginx.conf"))
                    .map_err(|e| e.to_string())?
                    .replace("{CASE_DIR}", &case_dir.to_string_lossy());
                let conf = prefix.join("nginx.conf");
                std::fs::write(&conf, text).map_err(|e| e.to_string())?;
                let mut c = Command::new("nginx");
                c.arg("-p").arg(&prefix).arg("-c").arg(conf);
                c.args(["-g", "daemon off; pid nginx.pid; error_log stderr warn;"]);
                c
            }
            Which::Bare => {
                let mut c = Command::new(&a.bare);
                c.args(["--listen", BARE_WS, "--http", BARE_HTTP]);
                c
            }
            Which::Sockgate => {
                let mut c = Command::new(&a.sockgate);
                c.arg("--config").arg(config);
                c.env("SOCKGATE_LISTEN", GW_PUBLIC)
                    .env("SOCKGATE_MANAGEMENT_LISTEN", GW_MGMT)
                    .env("SOCKGATE_METRICS_LISTEN", GW_METRICS)
                    .env("RUST_LOG", "warn");
                c
            }
        };
        let child = cmd
            .stdout(Stdio::from(log_file))
            .stderr(Stdio::from(err_file))
            .spawn()
            .map_err(|e| format!("starting the server: {e}"))?;
        let mut server = Server { child };
        let probe = match which {
            Which::Bare if nginx => NGINX,
            Which::Bare => BARE_WS,
            Which::Sockgate => GW_PUBLIC,
        };
        server.wait_for(probe, log).await?;
        Ok(server)
    }

    /// Starts a case's helper in its directory and waits until it accepts.
    pub(super) async fn helper(
        dir: &Path,
        h: &super::Helper,
        log: &Path,
    ) -> Result<Server, String> {
        let log_file = std::fs::File::create(log).map_err(|e| e.to_string())?;
        let err_file = log_file.try_clone().map_err(|e| e.to_string())?;
        let (program, args) = h.command.split_first().ok_or("the helper has no command")?;
        let child = Command::new(program)
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::from(log_file))
            .stderr(Stdio::from(err_file))
            .spawn()
            .map_err(|e| format!("starting the helper {program}: {e}"))?;
        let mut server = Server { child };
        server.wait_for(&h.listen, log).await?;
        Ok(server)
    }

    /// Waits up to 15 s for `addr` to accept, while the process runs.
    async fn wait_for(&mut self, addr: &str, log: &Path) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            if Instant::now() > deadline || self.child.try_wait().ok().flatten().is_some() {
                self.stop();
                return Err(format!("{addr} did not start; see {}", log.display()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// SIGTERM, then wait: nginx's master takes its workers down on SIGTERM,
    /// while SIGKILL would leave them running and holding the port.
    pub(super) fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
