//! The real `sockgate` binary as a child process.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStderr, Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_sockgate");

/// Writes a config file into this test process's temp directory.
pub fn write_config(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sockgate-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts the binary on port 0 and reads the bound addresses (public, metrics)
/// from its JSON log. The caller owns the child and waits for it (or kills it).
pub fn spawn(config: &std::path::Path) -> (Child, SocketAddr, SocketAddr, BufReader<ChildStderr>) {
    let mut cmd = Command::new(BIN);
    cmd.env("SOCKGATE_MANAGEMENT_LISTEN", "127.0.0.1:0");
    spawn_with(cmd, config)
}

/// [`spawn`], with the management listener where the config puts it (so a
/// `sockgate reload --config` of the same file finds it).
pub fn spawn_keeping_management(
    config: &std::path::Path,
) -> (Child, SocketAddr, SocketAddr, BufReader<ChildStderr>) {
    spawn_with(Command::new(BIN), config)
}

/// [`spawn`] with a command the caller set up (its environment).
pub fn spawn_command(
    cmd: Command,
    config: &std::path::Path,
) -> (Child, SocketAddr, SocketAddr, BufReader<ChildStderr>) {
    spawn_with(cmd, config)
}

#[allow(clippy::zombie_processes)]
fn spawn_with(
    mut cmd: Command,
    config: &std::path::Path,
) -> (Child, SocketAddr, SocketAddr, BufReader<ChildStderr>) {
    let mut child = cmd
        .arg("--config")
        .arg(config)
        .env("SOCKGATE_LISTEN", "127.0.0.1:0")
        .env("SOCKGATE_METRICS_LISTEN", "127.0.0.1:0")
        .env("SOCKGATE_LOG_FORMAT", "json")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "sockgate exited before listening"
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if let (Some(p), Some(m)) = (v["public"].as_str(), v["metrics"].as_str()) {
            return (child, p.parse().unwrap(), m.parse().unwrap(), stderr);
        }
    }
}

/// Reads the rest of a child's stderr on a thread, so a chatty child never blocks
/// on a full pipe; the thread returns how many lines it read.
pub fn drain(stderr: BufReader<ChildStderr>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || stderr.lines().map_while(Result::ok).count())
}

/// Reads the rest of a child's stderr on a thread; the thread returns its lines.
pub fn drain_lines(stderr: BufReader<ChildStderr>) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || stderr.lines().map_while(Result::ok).collect())
}

/// A process's resident set size in bytes (Linux `/proc/PID/status`, `VmRSS`).
pub fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status");
    kb * 1024
}

/// A Python helper of the tests (`tests/…/*.py`) that prints `PORT n` once
/// it listens; killed when dropped.
pub struct PythonServer {
    child: Child,
    /// Where it listens, on 127.0.0.1.
    pub port: u16,
}

impl PythonServer {
    /// Runs `script` (a path under the crate) with `args`; `needs` says what
    /// to install when it does not start.
    pub fn start(script: &str, args: &[String], needs: &str) -> PythonServer {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
        let mut child = Command::new("python3")
            .arg(path)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .strip_prefix("PORT ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("{script} did not start ({needs}): {line:?}"));
        PythonServer { child, port }
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process killed when this is dropped, so a failing test leaves
/// no sockgate behind.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
