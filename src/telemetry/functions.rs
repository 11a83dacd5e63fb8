//! Hosted functions' metrics (`[functions.NAME]`), labelled by function:
//! invocations by how they ended (what Lambda's `Invocations`, `Errors` and
//! `Throttles` count, told apart), workers restarted and why, and the
//! workers busy and invocations waiting now (Lambda's
//! `ConcurrentExecutions`, and the queue in front of it).

use metrics::{Counter, Gauge, Key, Label, Recorder as _};

use super::{Metrics, metadata};

pub(super) const FUNCTION_INVOCATIONS: &str = "sockgate_function_invocations_total";
pub(super) const FUNCTION_RESTARTS: &str = "sockgate_function_worker_restarts_total";
pub(super) const FUNCTION_BUSY: &str = "sockgate_function_busy_workers";
pub(super) const FUNCTION_WAITING: &str = "sockgate_function_waiting_invocations";

/// How an invocation of a hosted function ended (label `outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionOutcome {
    /// The handler answered (`/response`).
    Response,
    /// The handler failed (`/error`, or `init/error`).
    FunctionError,
    /// It ran past the function's timeout (`Sandbox.Timedout`).
    Timeout,
    /// Its worker's process ended mid-invocation (`Runtime.ExitError`), or
    /// asked for the next one without answering (`Runtime.NoResponse`).
    WorkerLost,
    /// The answer was over Lambda's 6 MB.
    TooLarge,
    /// Every worker was busy and the queue full: not run (Lambda's 429).
    Throttled,
    /// Its caller gave up while it waited for a worker: not run.
    Abandoned,
}

impl FunctionOutcome {
    const LABELS: [&'static str; 7] = [
        "response",
        "function_error",
        "timeout",
        "worker_lost",
        "too_large",
        "throttled",
        "abandoned",
    ];
}

/// Why a worker was started again (label `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartReason {
    /// Its process exited by itself (a crash, or a handler that cannot load).
    Exited,
    /// It was killed at its invocation's timeout.
    Timeout,
}

/// Handles for one hosted function.
#[derive(Debug, Clone)]
pub struct FunctionMetrics {
    outcomes: [Counter; FunctionOutcome::LABELS.len()],
    restarts: [Counter; 2],
    /// Workers running an invocation now.
    pub busy: Gauge,
    /// Invocations queued for a worker now.
    pub waiting: Gauge,
}

impl FunctionMetrics {
    /// Counts an invocation that ended (or was not run).
    pub fn ended(&self, outcome: FunctionOutcome) {
        self.outcomes[outcome as usize].increment(1);
    }

    /// Counts a worker started again.
    pub fn restarted(&self, reason: RestartReason) {
        self.restarts[reason as usize].increment(1);
    }
}

impl Metrics {
    /// Registers the handles of hosted function `name`.
    pub fn function(&self, name: &str) -> FunctionMetrics {
        let labels = |extra: Option<(&'static str, &'static str)>| {
            let mut l = vec![Label::new("function", name.to_owned())];
            l.extend(extra.map(|(k, v)| Label::new(k, v)));
            l
        };
        let gauge = |n: &'static str| {
            self.recorder
                .register_gauge(&Key::from_parts(n, labels(None)), &metadata())
        };
        FunctionMetrics {
            outcomes: FunctionOutcome::LABELS
                .map(|o| self.counter(FUNCTION_INVOCATIONS, labels(Some(("outcome", o))))),
            restarts: ["exited", "timeout"]
                .map(|r| self.counter(FUNCTION_RESTARTS, labels(Some(("reason", r))))),
            busy: gauge(FUNCTION_BUSY),
            waiting: gauge(FUNCTION_WAITING),
        }
    }
}
