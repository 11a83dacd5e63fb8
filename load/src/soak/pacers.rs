//! The soak's traffic: echo messages, @connections POSTs, group sends and
//! churn, each paced at its own fixed rate until the end of the run.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tokio::task::JoinHandle;

use super::Args;
use super::slot::{GROUP, Shared, Slot};
use crate::client;

/// Starts the four pacers; each ends at `end`.
pub(crate) fn start(
    a: &Args,
    slots: &[Arc<Slot>],
    shared: &Arc<Shared>,
    end: Instant,
) -> Vec<JoinHandle<()>> {
    let slots: Arc<[Arc<Slot>]> = slots.into();
    let churnable: Arc<[Arc<Slot>]> = slots.iter().filter(|s| !s.member).cloned().collect();
    let churn_per_sec = a.connections as f64 * a.churn_percent / 100.0 / 60.0;
    vec![
        tokio::spawn(pace(a.echo_rate as f64, end, {
            let slots = Arc::clone(&slots);
            let shared = Arc::clone(shared);
            move |n| {
                if !slots[n % slots.len()].echo() {
                    shared.counts.echo_skipped.fetch_add(1, Ordering::Relaxed);
                }
            }
        })),
        tokio::spawn(pace(a.post_rate as f64, end, {
            let (slots, shared) = (Arc::clone(&slots), Arc::clone(shared));
            move |n| post(&shared, &slots[n % slots.len()])
        })),
        tokio::spawn(pace(a.group_rate as f64, end, {
            let shared = Arc::clone(shared);
            move |n| group_send(&shared, n)
        })),
        tokio::spawn(pace(churn_per_sec, end, move |n| {
            if !churnable.is_empty() {
                churnable[n % churnable.len()].churn();
            }
        })),
    ]
}

/// Calls `tick(n)` for n = 0, 1, … at `rate` per second until `end`.
async fn pace(rate: f64, end: Instant, mut tick: impl FnMut(usize)) {
    if rate <= 0.0 {
        return;
    }
    let started = Instant::now();
    let mut n = 0usize;
    loop {
        let due = started + Duration::from_secs_f64(n as f64 / rate);
        if due >= end {
            return;
        }
        tokio::time::sleep_until(due.into()).await;
        tick(n);
        n += 1;
    }
}

/// POSTs to a slot's current connection; counts the answer on its generation.
fn post(shared: &Arc<Shared>, slot: &Slot) {
    let Some(g) = slot.current() else { return };
    shared.counts.posts.fetch_add(1, Ordering::Relaxed);
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        let url = format!(
            "{}/@connections/{}",
            shared.management,
            client::path_id(&g.id)
        );
        let req = hyper::Request::post(url)
            .body(Full::new(Bytes::from("p:")))
            .expect("valid request");
        let c = &shared.counts;
        match shared.http.request(req).await.map(|r| r.status().as_u16()) {
            Ok(200) => {
                g.posts_acked.fetch_add(1, Ordering::Relaxed);
                c.posts_ok.fetch_add(1, Ordering::Relaxed);
            }
            Ok(410) => {
                c.posts_gone.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                c.posts_other.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
}

/// Sends group message `seq`; records how many members it was queued to.
fn group_send(shared: &Arc<Shared>, seq: usize) {
    if seq >= shared.group_queued.len() {
        return;
    }
    shared.counts.group_sends.fetch_add(1, Ordering::Relaxed);
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        let url = format!("{}/@groups/{GROUP}", shared.management);
        let req = hyper::Request::post(url)
            .body(Full::new(Bytes::from(format!("g:{seq}"))))
            .expect("valid request");
        let answer = match shared.http.request(req).await {
            Ok(r) if r.status() == 200 => r.into_body().collect().await.ok(),
            _ => None,
        };
        let report =
            answer.and_then(|b| serde_json::from_slice::<serde_json::Value>(&b.to_bytes()).ok());
        match report {
            Some(v) => {
                let queued = v["queued"].as_u64().unwrap_or(0) as u32;
                shared.group_queued[seq].store(queued, Ordering::Relaxed);
                let dropped = v["dropped"].as_u64().unwrap_or(0);
                shared
                    .counts
                    .group_dropped
                    .fetch_add(dropped, Ordering::Relaxed);
            }
            None => {
                shared
                    .counts
                    .group_send_errors
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    });
}
