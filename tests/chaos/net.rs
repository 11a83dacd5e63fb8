//! Hosts on their own network: one Linux network namespace per host (each
//! sockgate node, Redis, the load balancer, the backend, the clients), each
//! with one interface `eth0` on 10.99.0.0/24, joined by the userspace
//! [`Switch`]. Only addresses inside namespaces this harness made are used;
//! the caller's own namespace gets no interface and no route.
//!
//! Everything is removed when the [`Net`] drops, also when a test fails; a run
//! killed before that leaves namespaces named after its process id, which the
//! next run removes.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::switch::Switch;
pub use super::switch::{Impair, enter};

pub struct Host {
    pub name: &'static str,
    pub ns: String,
    pub ip: Ipv4Addr,
}

pub struct Net {
    pub hosts: Vec<Host>,
    /// The namespace that held the TAP devices before they were handed out.
    switch_ns: String,
    switch: Option<Switch>,
}

const PREFIX: &str = "sgc";

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Removes namespaces left by runs whose process is gone.
fn remove_stale() {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for name in entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
    {
        let Some(pid) = name.strip_prefix(PREFIX).and_then(|r| r.split('-').next()) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", &name]);
        }
    }
}

impl Net {
    /// Makes one host per name, in order, at 10.99.0.1, .2, …; or says why it
    /// cannot (not root, no `ip`, no TUN).
    pub fn create(names: &[&'static str], seed: u64) -> Result<Net, String> {
        remove_stale();
        let pid = std::process::id();
        let switch_ns = format!("{PREFIX}{pid}-switch");
        ip(&["netns", "add", &switch_ns])?;
        let mut net = Net {
            hosts: Vec::new(),
            switch_ns,
            switch: None,
        };
        let path = PathBuf::from("/run/netns").join(&net.switch_ns);
        net.switch = Some(Switch::start(path, "tap", names.len(), seed)?);
        for (i, &name) in names.iter().enumerate() {
            let host = Host {
                name,
                ns: format!("{PREFIX}{pid}-{name}"),
                ip: Ipv4Addr::new(10, 99, 0, i as u8 + 1),
            };
            ip(&["netns", "add", &host.ns])?;
            net.hosts.push(host);
            let host = &net.hosts[i];
            let tap = format!("tap{i}");
            ip(&["-n", &net.switch_ns, "link", "set", &tap, "netns", &host.ns])?;
            ip(&["-n", &host.ns, "link", "set", &tap, "name", "eth0"])?;
            ip(&[
                "-n",
                &host.ns,
                "addr",
                "add",
                &format!("{}/24", host.ip),
                "dev",
                "eth0",
            ])?;
            ip(&["-n", &host.ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &host.ns, "link", "set", "lo", "up"])?;
        }
        Ok(net)
    }

    fn index(&self, name: &str) -> usize {
        self.hosts
            .iter()
            .position(|h| h.name == name)
            .unwrap_or_else(|| panic!("no host {name}"))
    }

    pub fn host(&self, name: &str) -> &Host {
        &self.hosts[self.index(name)]
    }

    pub fn ip(&self, name: &str) -> Ipv4Addr {
        self.host(name).ip
    }

    /// `program` run inside `host`'s namespace.
    pub fn command(&self, host: &str, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.host(host).ns, program]);
        cmd
    }

    /// The file naming `host`'s namespace, for [`enter`].
    pub fn ns_file(&self, host: &str) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.host(host).ns)
    }

    fn rules(&self) -> std::sync::MutexGuard<'_, super::switch::Rules> {
        self.switch.as_ref().unwrap().rules.lock().unwrap()
    }

    /// Drops everything `from` sends to `to` (one direction).
    pub fn block(&self, from: &str, to: &str) {
        let (a, b) = (self.index(from), self.index(to));
        self.rules().blocked.insert((a, b));
    }

    /// Drops everything between `a` and `b`, both ways.
    pub fn partition(&self, a: &str, b: &str) {
        self.block(a, b);
        self.block(b, a);
    }

    pub fn impair(&self, host: &str, impair: Impair) {
        let i = self.index(host);
        self.rules().links[i] = impair;
    }

    /// Every partition and impairment removed.
    pub fn heal(&self) {
        let mut rules = self.rules();
        rules.blocked.clear();
        rules.links.iter_mut().for_each(|l| *l = Impair::default());
    }

    /// Bytes and frames forwarded from `from` to `to` so far.
    pub fn traffic(&self, from: &str, to: &str) -> (u64, u64) {
        let key = (self.index(from), self.index(to));
        self.rules().traffic.get(&key).copied().unwrap_or_default()
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        drop(self.switch.take());
        for host in &self.hosts {
            let _ = ip(&["netns", "del", &host.ns]);
        }
        let _ = ip(&["netns", "del", &self.switch_ns]);
    }
}
