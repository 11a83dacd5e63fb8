//! A progress bar on stderr while a scenario runs.
//!
//! On a terminal it redraws one line four times a second; otherwise (CI logs,
//! the comparison script) it prints a plain line every five seconds.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A counter toward a total, drawn until dropped.
pub(crate) struct Progress {
    done: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    /// A bar over time: `secs` seconds, with `counter` (e.g. messages) shown beside it.
    pub(crate) fn timed(label: &str, secs: u64) -> Progress {
        Progress::draw(label, secs, "s", true)
    }

    /// Starts drawing `label`: done/total `unit`.
    pub(crate) fn start(label: &str, total: u64, unit: &'static str) -> Progress {
        Progress::draw(label, total, unit, false)
    }

    fn draw(label: &str, total: u64, unit: &'static str, timed: bool) -> Progress {
        let done = Arc::new(AtomicU64::new(0));
        let label = label.to_owned();
        let counter = Arc::clone(&done);
        let task = tokio::spawn(async move {
            let tty = std::io::stderr().is_terminal();
            let every = if tty {
                Duration::from_millis(250)
            } else {
                Duration::from_secs(5)
            };
            let started = Instant::now();
            loop {
                tokio::time::sleep(every).await;
                let n = counter.load(Ordering::Relaxed);
                let line = if timed {
                    let secs = started.elapsed().as_secs();
                    format!(
                        "{} · {n} done",
                        render(&label, secs, total, unit, started.elapsed())
                    )
                } else {
                    render(&label, n, total, unit, started.elapsed())
                };
                let mut err = std::io::stderr().lock();
                if tty {
                    let _ = write!(err, "\r{line}\x1b[K");
                } else {
                    let _ = writeln!(err, "{line}");
                }
                let _ = err.flush();
            }
        });
        Progress { done, task }
    }

    /// Adds `n` to the count.
    pub(crate) fn add(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    /// A handle for other tasks to count with.
    pub(crate) fn counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.done)
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.task.abort();
        if std::io::stderr().is_terminal() {
            eprint!("\r\x1b[K");
        }
    }
}

fn render(label: &str, n: u64, total: u64, unit: &str, elapsed: Duration) -> String {
    const WIDTH: usize = 30;
    let frac = if total == 0 {
        0.0
    } else {
        (n as f64 / total as f64).min(1.0)
    };
    let filled = (frac * WIDTH as f64) as usize;
    format!(
        "{label} [{}{}] {:>3.0}% {n}/{total} {unit} {:.0}s",
        "#".repeat(filled),
        "-".repeat(WIDTH - filled),
        frac * 100.0,
        elapsed.as_secs_f64()
    )
}
