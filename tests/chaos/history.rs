//! What a chaos run saw, as the checker reads it: every @connections POST with
//! its answer, every frame a client received, every connection's life, every
//! `$connect`/`$disconnect` the backend got, every `/readyz` answer and every
//! fault. Times are offsets from the run's start, read from one clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sockgate::clock::{self, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Status(u16),
    /// No answer within the client's timeout, or the connection failed.
    Unknown,
}

#[derive(Debug, Clone)]
pub struct Post {
    /// A group send (to every member of "room"), or an @connections POST.
    pub group: bool,
    /// The node asked (index into the nodes).
    pub via: usize,
    pub id: String,
    /// Per `via`, increasing in the order that node's POSTs were made (one at a
    /// time: each starts after the previous one's answer).
    pub seq: u64,
    pub start: Duration,
    pub end: Duration,
    pub outcome: Outcome,
}

#[derive(Debug, Clone)]
pub struct Frame {
    /// A group send's (`g`), or an @connections POST's (`m`).
    pub group: bool,
    pub id: String,
    pub via: usize,
    pub seq: u64,
    pub at: Duration,
}

/// One accepted WebSocket connection, as its client saw it.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub opened: Duration,
    /// When it ended and the close code the client got (None: no close frame).
    pub closed: Option<(Duration, Option<u16>)>,
}

/// A `$connect` or `$disconnect` event the backend received.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub at: Duration,
    pub disconnect: bool,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct Fault {
    /// The fault's kind (for the results' table), and what it did exactly.
    pub kind: &'static str,
    pub what: String,
    pub start: Duration,
    pub end: Duration,
    /// The nodes whose way to Redis it slowed, lost or cut.
    pub redis_path: Vec<usize>,
    /// The node it cut off from Redis (either direction), if it did, and how
    /// long after its start the cut was total (a Redis Cluster's minority
    /// answers until it notices).
    pub cuts_redis: Option<(usize, Duration)>,
}

impl Fault {
    pub fn touches_redis(&self) -> bool {
        !self.redis_path.is_empty()
    }
}

#[derive(Debug, Clone)]
pub struct Ready {
    pub node: usize,
    pub at: Duration,
    /// None: the probe got no answer (the node was unreachable).
    pub status: Option<u16>,
}

/// One request on the cluster-throttled HTTP route.
#[derive(Debug, Clone)]
pub struct Throttled {
    pub via: usize,
    pub start: Duration,
    pub end: Duration,
    pub outcome: Outcome,
}

#[derive(Debug, Default)]
pub struct History {
    pub posts: Vec<Post>,
    pub frames: Vec<Frame>,
    pub sessions: Vec<Session>,
    pub events: Vec<Event>,
    pub faults: Vec<Fault>,
    pub ready: Vec<Ready>,
    pub throttled: Vec<Throttled>,
}

impl History {
    /// How many @connections POSTs and group sends got `status`.
    pub fn answered(&self, status: u16) -> usize {
        self.posts
            .iter()
            .filter(|p| p.outcome == Outcome::Status(status))
            .count()
    }
}

/// The run's clock and its history, shared by every thread of the harness.
#[derive(Clone)]
pub struct Recorder {
    pub start: Instant,
    pub history: Arc<Mutex<History>>,
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            start: clock::now(),
            history: Arc::default(),
        }
    }

    pub fn now(&self) -> Duration {
        self.start.elapsed()
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut History) -> T) -> T {
        f(&mut self.history.lock().unwrap())
    }
}
