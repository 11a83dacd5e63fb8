//! One worker of a hosted function and its supervisor, which starts the
//! worker's process with AWS's environment, gives it a fresh Runtime API
//! address, and starts it again when it exits — at once after a timeout
//! kill, with a doubling backoff after a crash, so a crash loop costs little
//! and is reported, not spun.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, warn};

use super::slot::{self, Slot};
use super::{Function, runtime_api};
use crate::clock;
use crate::telemetry::{FunctionOutcome, RestartReason};

/// How a worker's process ended.
enum End {
    Exited(String),
    TimedOut,
    Stopped,
}

/// Quickest restart after a crash, and the longest wait between restarts.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A worker that lived this long was not crash-looping.
const HEALTHY: Duration = Duration::from_secs(5);

/// Keeps worker `index` of `f` running until the functions stop.
pub(super) async fn supervise(f: Arc<Function>, index: usize, mut stopped: watch::Receiver<bool>) {
    let slot = Arc::new(Slot::new(f, index, false));
    let mut crashes = 0u32;
    loop {
        if *stopped.borrow() {
            return;
        }
        let started = clock::now();
        let end = run_once(&slot, &mut stopped).await;
        let why = match &end {
            End::Exited(status) => status.clone(),
            End::TimedOut => "killed at the function's timeout".into(),
            End::Stopped => "stopped".into(),
        };
        slot.fail_all(&why);
        if matches!(end, End::Exited(_)) && !slot.take_reached() {
            // It exited before asking for an invocation (a crash at start):
            // one waiting invocation gets the failure, as on AWS.
            let message = format!("Runtime exited with error: {why}");
            let id = slot::request_id();
            let outcome = slot::error_object("Runtime.ExitError", &message, &id);
            slot.f
                .fail_one_waiting(outcome, FunctionOutcome::WorkerLost);
        }
        let name = &slot.f.cfg.name;
        let m = &slot.f.metrics;
        match end {
            End::Stopped => return,
            End::TimedOut => {
                m.restarted(RestartReason::Timeout);
                continue;
            }
            End::Exited(_) if clock::now().duration_since(started) >= HEALTHY => crashes = 0,
            End::Exited(_) => crashes += 1,
        }
        m.restarted(RestartReason::Exited);
        let wait = FIRST_BACKOFF
            .saturating_mul(1 << crashes.min(16))
            .min(MAX_BACKOFF);
        if crashes == 5 {
            error!(function = %name, worker = index, "Worker crash loop: it keeps exiting within seconds of starting; restarts back off up to 30 s.");
        } else if crashes < 5 {
            warn!(function = %name, worker = index, reason = %why, restart_in_ms = wait.as_millis() as u64, "Worker exited; starting it again.");
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stopped.changed() => return,
        }
    }
}

/// Starts the worker's process with a fresh Runtime API and waits for its end.
async fn run_once(slot: &Arc<Slot>, stopped: &mut watch::Receiver<bool>) -> End {
    // Unheard until its process speaks to its Runtime API (an end before
    // that, even one with no process, fails a waiting invocation).
    slot.take_reached();
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => return End::Exited(format!("cannot listen for its Runtime API: {e}")),
    };
    let Ok(addr) = listener.local_addr() else {
        return End::Exited("its Runtime API has no address".into());
    };
    // Aborting this ends every connection of the worker's Runtime API.
    let api = AbortOnDrop(tokio::spawn(runtime_api::serve(
        listener,
        Arc::clone(slot),
        None,
    )));
    let mut child = match command(slot, addr).spawn() {
        Ok(c) => c,
        Err(e) => return End::Exited(format!("cannot start {:?}: {e}", slot.f.cfg.command[0])),
    };
    let mut group = Group(child.id());
    let end = tokio::select! {
        status = child.wait() => End::Exited(status.map_or_else(|e| e.to_string(), |s| s.to_string())),
        () = slot.expire() => End::TimedOut,
        _ = stopped.changed() => End::Stopped,
    };
    drop(api);
    // The whole group: `npx` is the parent of the node process that runs the code.
    group.kill();
    let _ = child.wait().await;
    end
}

/// The worker's command, in AWS's environment (`AWS_LAMBDA_RUNTIME_API` is
/// this worker's own address) and nothing of sockgate's but what locates
/// programs and the user's locale.
fn command(slot: &Slot, api: SocketAddr) -> tokio::process::Command {
    let cfg = &slot.f.cfg;
    let mut cmd = tokio::process::Command::new(&cfg.command[0]);
    cmd.args(&cfg.command[1..])
        .current_dir(&cfg.working_dir)
        .env_clear()
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .process_group(0);
    for key in INHERITED {
        if let Some(v) = std::env::var_os(key) {
            cmd.env(key, v);
        }
    }
    let memory = cfg.memory_size.to_string();
    let stream = format!(
        "{}/[$LATEST]worker{}",
        clock::iso8601(clock::now_ms()).get(..10).unwrap_or(""),
        slot.index
    );
    cmd.env("AWS_LAMBDA_RUNTIME_API", api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", &cfg.name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory)
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", cfg.name),
        )
        .env("AWS_LAMBDA_LOG_STREAM_NAME", stream)
        .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
        .env("AWS_REGION", &slot.f.region)
        .env("AWS_DEFAULT_REGION", &slot.f.region)
        .env("LAMBDA_TASK_ROOT", &cfg.working_dir);
    if let Some(h) = &cfg.handler {
        cmd.env("_HANDLER", h);
    }
    if let Some((id, secret)) = &slot.f.keys {
        cmd.env("AWS_ACCESS_KEY_ID", id)
            .env("AWS_SECRET_ACCESS_KEY", secret);
    }
    cmd.envs(slot.f.ca.iter().map(|(k, v)| (k, v)));
    cmd.envs(cfg.environment.iter().map(|(k, v)| (k, v)));
    cmd
}

/// What a worker keeps of sockgate's environment: where programs are, and
/// the locale and temporary directory. Nothing else: sockgate's own secrets
/// (`SOCKGATE_*`, its AWS keys) are not a function's.
const INHERITED: [&str; 9] = [
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "PYENV_ROOT",
    "PYENV_VERSION",
];

/// A worker's process group, killed whole: at the end of `run_once`, or
/// when its supervisor is dropped mid-run (the runtime shutting down).
struct Group(Option<u32>);

impl Group {
    fn kill(&mut self) {
        if let Some(pid) = self.0.take().and_then(|p| i32::try_from(p).ok()) {
            let group = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A task aborted when this is dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
