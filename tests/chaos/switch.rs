//! The harness's network: a userspace Ethernet switch joining each host's TAP
//! interface, which applies the nemesis's faults to every frame it forwards.
//!
//! Why not a kernel bridge and `tc netem`: this machine's kernel is built
//! without `sch_netem` (and without `prio`, `gact` or any classifier action),
//! so neither latency nor per-destination loss can be set in the kernel. A
//! switch of our own does all of it the same way on any Linux with TUN/TAP:
//! - **partitions**, one way or both, per pair of hosts (a blocked frame is
//!   dropped silently, as a real partition drops packets: no ICMP, no RST);
//! - **latency with jitter** and **loss** per host link, as netem would on
//!   that host's interface: a frame from A to B waits A's delay plus B's, and
//!   is lost with either link's probability;
//! - **traffic counts** per pair of hosts, bytes and frames (the cost model's
//!   network figures).
//!
//! Frames to each port leave in the order they were queued (a FIFO per port,
//! each frame held until its own deadline), so jitter delays but does not
//! reorder; TCP sees what a slow, lossy link gives it.
//!
//! Concurrency: one thread with a current-thread runtime owns every TAP and the
//! MAC table; the rules and counters are behind one mutex the nemesis (another
//! thread) changes a few times a second, uncontended per frame.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tun::Tun;

/// A host link's impairment, as `tc netem delay D J loss L` would set it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Impair {
    pub delay: Duration,
    pub jitter: Duration,
    /// Probability in 0..=1 that a frame crossing this link is lost.
    pub loss: f64,
}

#[derive(Default)]
pub struct Rules {
    /// (from, to) host indices whose frames are dropped.
    pub blocked: HashSet<(usize, usize)>,
    pub links: Vec<Impair>,
    /// Bytes and frames forwarded, per (from, to).
    pub traffic: HashMap<(usize, usize), (u64, u64)>,
    rng: u64,
}

impl Rules {
    /// A splitmix64 step: loss and jitter only need a fast, seedable stream.
    fn random(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The delay for one frame from `from` to `to`, or `None` when it is lost.
    fn judge(&mut self, from: usize, to: usize, len: usize) -> Option<Duration> {
        if self.blocked.contains(&(from, to)) {
            return None;
        }
        let (a, b) = (self.links[from], self.links[to]);
        if (a.loss > 0.0 && self.random() < a.loss) || (b.loss > 0.0 && self.random() < b.loss) {
            return None;
        }
        let t = self.traffic.entry((from, to)).or_default();
        t.0 += len as u64;
        t.1 += 1;
        let mut delay = a.delay + b.delay;
        let jitter = a.jitter + b.jitter;
        if !jitter.is_zero() {
            // Uniform in ±jitter, never below zero.
            let r = self.random() * 2.0 - 1.0;
            delay = if r >= 0.0 {
                delay + jitter.mul_f64(r)
            } else {
                delay.saturating_sub(jitter.mul_f64(-r))
            };
        }
        Some(delay)
    }
}

/// The running switch; stops (and closes every TAP) when dropped.
pub struct Switch {
    pub rules: Arc<Mutex<Rules>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Frames waiting per output port: netem's default queue limit (1,000
/// packets), so a delayed link holds at most that much, as it would there.
const PORT_QUEUE: usize = 1000;

/// Largest frame read: TAP without offloads gives frames of the MTU (1500)
/// plus the Ethernet header; the rest is margin.
const FRAME: usize = 2048;

impl Switch {
    /// Creates `ports` TAP devices named `{prefix}{i}` in the namespace whose
    /// file is `ns` (so nothing is made in the caller's own namespace) and
    /// starts forwarding between them.
    pub fn start(
        ns: std::path::PathBuf,
        prefix: &str,
        ports: usize,
        seed: u64,
    ) -> Result<Switch, String> {
        let rules = Arc::new(Mutex::new(Rules {
            links: vec![Impair::default(); ports],
            rng: seed,
            ..Rules::default()
        }));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shared = Arc::clone(&rules);
        let prefix = prefix.to_string();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let taps = match open(&ns, &prefix, ports) {
                    Ok(taps) => taps,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                tokio::select! {
                    _ = forward(taps, shared) => {}
                    _ = stopped => {}
                }
            });
        });
        ready_rx.recv().map_err(|e| e.to_string())??;
        Ok(Switch {
            rules,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        let _ = self.stop.take().map(|s| s.send(()));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Moves the calling thread into the namespace `ns_file` names: sockets and
/// devices it opens from then on are that host's. Only for threads the
/// harness starts.
pub fn enter(ns_file: &std::path::Path) -> Result<(), String> {
    let file = std::fs::File::open(ns_file).map_err(|e| format!("{}: {e}", ns_file.display()))?;
    nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("setns: {e}"))
}

fn open(ns: &std::path::Path, prefix: &str, ports: usize) -> Result<Vec<Arc<Tun>>, String> {
    enter(ns)?;
    (0..ports)
        .map(|i| {
            let name = format!("{prefix}{i}");
            Tun::builder()
                .name(&name)
                .tap()
                .up()
                .build()
                .map(|mut v| Arc::new(v.remove(0)))
                .map_err(|e| format!("TAP {name}: {e}"))
        })
        .collect()
}

async fn forward(taps: Vec<Arc<Tun>>, rules: Arc<Mutex<Rules>>) {
    // One FIFO per output port.
    let queues: Vec<mpsc::Sender<(Instant, Vec<u8>)>> = taps
        .iter()
        .map(|tap| {
            let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(PORT_QUEUE);
            let tap = Arc::clone(tap);
            tokio::spawn(async move {
                while let Some((at, frame)) = rx.recv().await {
                    tokio::time::sleep_until(at).await;
                    // A frame the host cannot take now is lost, as on a wire.
                    let _ = tap.try_send(&frame);
                }
            });
            tx
        })
        .collect();
    let macs: Arc<Mutex<HashMap<[u8; 6], usize>>> = Arc::default();
    let mut readers = tokio::task::JoinSet::new();
    for (port, tap) in taps.into_iter().enumerate() {
        let (queues, rules, macs) = (queues.clone(), Arc::clone(&rules), Arc::clone(&macs));
        readers.spawn(async move {
            let mut buf = vec![0u8; FRAME];
            while let Ok(n) = tap.recv(&mut buf).await {
                if n < 14 {
                    continue;
                }
                let frame = &buf[..n];
                let dst: [u8; 6] = frame[0..6].try_into().unwrap();
                let src: [u8; 6] = frame[6..12].try_into().unwrap();
                let out = {
                    let mut macs = macs.lock().unwrap();
                    macs.insert(src, port);
                    // Group bit clear and the address learnt: that port only.
                    (dst[0] & 1 == 0).then(|| macs.get(&dst).copied()).flatten()
                };
                let now = sockgate::clock::now();
                let mut rules = rules.lock().unwrap();
                for to in (0..queues.len()).filter(|&to| to != port && out.is_none_or(|o| o == to))
                {
                    if let Some(delay) = rules.judge(port, to, n) {
                        // A full port drops the frame, as a full link buffer does.
                        let _ = queues[to].try_send((now + delay, frame.to_vec()));
                    }
                }
            }
        });
    }
    while readers.join_next().await.is_some() {}
}
