//! Hosted Lambda functions (`[functions.NAME]`): sockgate is their Lambda
//! service. Each function has a bounded set of invocations — running on its
//! workers or waiting for one — and `concurrency` workers, processes sockgate
//! starts and supervises (`worker`), each polling its own Runtime API
//! address (`runtime_api`) for the next invocation, as an unchanged Lambda
//! runtime interface client does.
//!
//! Concurrency: a caller queues its invocation on the function's channel with
//! a oneshot for the outcome, after taking one of `concurrency + queue`
//! permits (none left: Lambda's throttle answer). A worker's `next` takes the
//! channel's receiver (a tokio mutex: one waiting worker at a time receives)
//! and moves the invocation into its slot in the same poll that received it,
//! so aborting a worker's Runtime API (when its process exits) never loses an
//! invocation: it is in the channel or in a slot, and the supervisor fails
//! what a dead worker held. The outcome is sent exactly once, by whoever
//! takes the invocation out of the slot (its answer, its timer, its worker's
//! death).

mod ca;
mod runtime_api;
mod slot;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};

use tracing::error;

use crate::config::net::Cidr;
use crate::config::{Config, FunctionConfig, Workers};
use crate::telemetry::{FunctionMetrics, FunctionOutcome, Metrics};

/// AWS's limit on a synchronous invocation's response (and event): 6 MB.
pub const MAX_PAYLOAD: usize = 6 * 1024 * 1024;

/// The functions a node hosts. Dropping the last handle stops their workers.
#[derive(Debug)]
pub struct Functions {
    functions: Vec<Arc<Function>>,
    stop: watch::Sender<bool>,
}

/// How an invocation ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The handler's result (`/response`).
    Response(Bytes),
    /// The handler failed (`/error`), ran past the function's timeout (its
    /// worker killed), answered over [`MAX_PAYLOAD`], or its worker died
    /// mid-invocation: AWS's error object (`errorMessage`, `errorType`), a
    /// function error as Lambda reports it.
    Error(Bytes),
    /// The caller's own timeout passed first.
    TimedOut,
}

/// Why an invocation was not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Every worker is busy and the queue is full (Lambda's 429).
    #[error("every worker is busy and the queue is full")]
    Throttled,
    /// No such hosted function on this node, or it was stopped.
    #[error("the function is not running on this node")]
    NotRunning,
}

/// One hosted function.
#[derive(Debug)]
struct Function {
    cfg: FunctionConfig,
    /// `arn:aws:lambda:REGION:000000000000:function:NAME`.
    arn: String,
    region: String,
    permits: Arc<Semaphore>,
    queue: mpsc::UnboundedSender<Invocation>,
    waiting: tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>,
    /// Management access key a handler may sign @connections calls with.
    keys: Option<(String, String)>,
    /// What workers trust the public listener by (`server.tls_ca_file`).
    ca: Vec<(String, String)>,
    metrics: FunctionMetrics,
}

/// An invocation on its way to a worker.
#[derive(Debug)]
struct Invocation {
    event: Bytes,
    /// `Lambda-Runtime-Trace-Id`: the caller's trace, with its span as parent.
    trace: String,
    reply: oneshot::Sender<Outcome>,
    /// Its place among the function's `concurrency + queue`.
    _permit: OwnedSemaphorePermit,
}

impl Functions {
    /// Starts every `[functions.*]` of `config` (none: an empty set),
    /// counted in `metrics`.
    pub fn start(config: &Config, metrics: &Metrics) -> Arc<Functions> {
        let (stop, stopped) = watch::channel(false);
        let region = config.integrations.lambda.region.clone();
        let keys = config.management.access_keys.first();
        let ca = match (&config.server.tls_ca_file, config.functions.is_empty()) {
            (Some(file), false) => ca::environment(file),
            _ => Vec::new(),
        };
        let functions = config
            .functions
            .iter()
            .map(|cfg| {
                let region = region.clone().unwrap_or_else(|| "us-east-1".into());
                let (queue, waiting) = mpsc::unbounded_channel();
                let f = Arc::new(Function {
                    arn: format!("arn:aws:lambda:{region}:000000000000:function:{}", cfg.name),
                    region,
                    permits: Arc::new(Semaphore::new(cfg.concurrency + cfg.queue)),
                    queue,
                    waiting: tokio::sync::Mutex::new(waiting),
                    keys: keys.map(|k| (k.id.clone(), k.secret.clone())),
                    ca: ca.clone(),
                    metrics: metrics.function(&cfg.name),
                    cfg: cfg.clone(),
                });
                match &cfg.workers {
                    Workers::Started => {
                        for index in 0..cfg.concurrency {
                            let stopped = stopped.clone();
                            tokio::spawn(worker::supervise(Arc::clone(&f), index, stopped));
                        }
                    }
                    Workers::External {
                        listen,
                        allowed_sources,
                    } => {
                        let serving = external(&f, *listen, allowed_sources.clone());
                        tokio::spawn(until_stopped(serving, stopped.clone()));
                    }
                }
                f
            })
            .collect();
        Arc::new(Functions { functions, stop })
    }

    /// A set hosting nothing (for a client built without a gateway).
    pub fn none() -> Arc<Functions> {
        Arc::new(Functions {
            functions: Vec::new(),
            stop: watch::channel(false).0,
        })
    }

    /// Runs `event` on function `name`, waiting at most `timeout` for its
    /// outcome (queued time included).
    pub async fn invoke(
        &self,
        name: &str,
        event: Bytes,
        trace: &crate::trace::Trace,
        timeout: Duration,
    ) -> Result<Outcome, Refused> {
        let f = self.get(name).ok_or(Refused::NotRunning)?;
        let Ok(permit) = Arc::clone(&f.permits).try_acquire_owned() else {
            f.metrics.ended(FunctionOutcome::Throttled);
            return Err(Refused::Throttled);
        };
        let (reply, outcome) = oneshot::channel();
        let inv = Invocation {
            event,
            trace: trace.lambda_trace_id(),
            reply,
            _permit: permit,
        };
        // Counted before it is sent, so a worker's taking it (a decrement)
        // never comes first.
        f.metrics.waiting.increment(1);
        if f.queue.send(inv).is_err() {
            f.metrics.waiting.decrement(1);
            return Err(Refused::NotRunning);
        }
        match tokio::time::timeout(timeout, outcome).await {
            Ok(Ok(outcome)) => Ok(outcome),
            // Dropped unanswered: the function was stopped.
            Ok(Err(_)) => Err(Refused::NotRunning),
            Err(_) => Ok(Outcome::TimedOut),
        }
    }

    /// Stops every worker (after a drain: nothing is in flight any more).
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    fn get(&self, name: &str) -> Option<&Arc<Function>> {
        self.functions.iter().find(|f| f.cfg.name == name)
    }
}

impl Function {
    /// Fails the first invocation waiting for a worker with `outcome` (a
    /// function error), as on AWS the invocation that started a worker
    /// whose start failed gets that failure, rather than its caller waiting
    /// on a worker that keeps failing. None waiting, or a worker waiting in
    /// `next` (it holds the queue and will take the invocation itself):
    /// nothing to fail.
    fn fail_one_waiting(&self, outcome: Outcome, kind: FunctionOutcome) {
        let Ok(mut waiting) = self.waiting.try_lock() else {
            return;
        };
        while let Ok(inv) = waiting.try_recv() {
            self.metrics.waiting.decrement(1);
            if inv.reply.is_closed() {
                self.metrics.ended(FunctionOutcome::Abandoned);
                continue;
            }
            self.metrics.ended(kind);
            let _ = inv.reply.send(outcome);
            return;
        }
    }
}

/// An external function's Runtime API: one address its workers share (so
/// one slot holding an invocation per worker polling it).
fn external(
    f: &Arc<Function>,
    listen: std::net::SocketAddr,
    allowed: Vec<Cidr>,
) -> impl Future<Output = ()> + use<> {
    let slot = Arc::new(slot::Slot::new(Arc::clone(f), 0, true));
    let name = f.cfg.name.clone();
    // Bound now, not in the task: the address accepts once the node has
    // started, and a failure to bind is reported at start.
    let bound = std::net::TcpListener::bind(listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .and_then(tokio::net::TcpListener::from_std);
    async move {
        match bound {
            Ok(listener) => {
                // External workers are not sockgate's to kill: the reaper
                // only ends what ran out of time.
                let reaper = async {
                    loop {
                        slot.expire().await;
                    }
                };
                tokio::select! {
                    () = runtime_api::serve(listener, Arc::clone(&slot), Some(allowed)) => {}
                    () = reaper => {}
                }
            }
            Err(e) => {
                error!(function = %name, address = %listen, error = %e, "Cannot listen for the function's external workers; its invocations will wait and time out.");
            }
        }
    }
}

/// Runs `work` until the functions stop (or their handle is dropped).
async fn until_stopped(work: impl Future<Output = ()>, mut stopped: watch::Receiver<bool>) {
    tokio::select! {
        () = work => {}
        _ = stopped.changed() => {}
    }
}

impl Drop for Functions {
    fn drop(&mut self) {
        self.stop();
    }
}
