//! A progress bar on stderr while a scenario runs ([`indicatif`]).
//!
//! On a terminal indicatif redraws the bar in place. Into a pipe or a file (CI
//! logs, the comparison script) indicatif draws nothing, so a plain line is
//! printed every five seconds instead: a long run still shows it is alive.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// How often a plain line is printed when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// A counter toward a total, drawn until dropped.
pub(crate) struct Progress {
    done: Arc<AtomicU64>,
    bar: ProgressBar,
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    /// A bar over time: `secs` seconds, with the count (e.g. messages) shown beside it.
    pub(crate) fn timed(label: &str, secs: u64) -> Progress {
        Progress::draw(label, secs, "s", true)
    }

    /// Starts drawing `label`: done/total `unit`.
    pub(crate) fn start(label: &str, total: u64, unit: &'static str) -> Progress {
        Progress::draw(label, total, unit, false)
    }

    fn draw(label: &str, total: u64, unit: &'static str, timed: bool) -> Progress {
        let done = Arc::new(AtomicU64::new(0));
        let bar = ProgressBar::new(total);
        let template = if timed {
            format!("{label} [{{bar:30}}] {{percent:>3}}% {{elapsed}} · {{msg}} done")
        } else {
            format!("{label} [{{bar:30}}] {{percent:>3}}% {{pos}}/{{len}} {unit} {{elapsed}}")
        };
        if let Ok(style) = ProgressStyle::with_template(&template) {
            bar.set_style(style.progress_chars("#>-"));
        }
        let (counter, shown) = (Arc::clone(&done), bar.clone());
        let label = label.to_owned();
        // The counter is an atomic bumped on hot paths; the bar is refreshed from it
        // here, a few times a second, instead of on every increment.
        let task = tokio::spawn(async move {
            let tty = std::io::stderr().is_terminal();
            let mut tick = tokio::time::interval(if tty {
                Duration::from_millis(250)
            } else {
                PLAIN_EVERY
            });
            tick.tick().await;
            loop {
                tick.tick().await;
                let n = counter.load(Ordering::Relaxed);
                let pos = if timed { shown.elapsed().as_secs() } else { n };
                shown.set_position(pos.min(total));
                if timed {
                    shown.set_message(n.to_string());
                }
                if !tty {
                    let secs = shown.elapsed().as_secs();
                    if timed {
                        eprintln!("{label}: {secs}/{total} s, {n} done");
                    } else {
                        eprintln!("{label}: {n}/{total} {unit} after {secs} s");
                    }
                }
            }
        });
        Progress { done, bar, task }
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
        // The scenario's JSON line follows on stdout: leave no bar behind it.
        self.bar.finish_and_clear();
    }
}
