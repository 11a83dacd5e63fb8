//! The dashboard's event stream (server-sent events): first the samples of
//! the last 15 minutes in one `history` event, then each new sample as it is
//! taken. A viewer slower than the samples skips to the newest (the watch
//! keeps one), so nothing queues per viewer. The stream ends when the node
//! starts draining, or when the page goes.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;
use http_body_util::StreamBody;
use hyper::body::Frame;
use tokio::sync::watch;

use crate::gateway::Gateway;
use crate::telemetry::{SAMPLE_EVERY, Sample, Viewer};

/// The stream's body.
pub type Events = StreamBody<Pin<Box<dyn Stream<Item = Result<Frame<Bytes>, Infallible>> + Send>>>;

struct State {
    gw: Arc<Gateway>,
    rx: watch::Receiver<Option<Sample>>,
    first: Option<Bytes>,
    _viewer: Viewer,
}

/// The stream for one open dashboard, holding its `viewer` place.
pub(super) fn events(gw: Arc<Gateway>, viewer: Viewer) -> Events {
    let (history, rx) = gw.feed().subscribe();
    // `retry`: how soon the browser reconnects after the node restarts.
    let mut first = format!(
        "retry: {}\nevent: history\ndata: [",
        SAMPLE_EVERY.as_millis()
    );
    for (i, s) in history.iter().enumerate() {
        if i > 0 {
            first.push(',');
        }
        first.push_str(s);
    }
    first.push_str("]\n\n");
    let state = State {
        gw,
        rx,
        first: Some(Bytes::from(first)),
        _viewer: viewer,
    };
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        if let Some(first) = st.first.take() {
            return Some((Ok(Frame::data(first)), st));
        }
        let sample = next(&st.gw, &mut st.rx).await?;
        // A sample is compact JSON: no line breaks to split the event.
        let event = Bytes::from(format!("data: {sample}\n\n"));
        Some((Ok(Frame::data(event)), st))
    });
    StreamBody::new(Box::pin(stream))
}

/// The next sample; `None` once the node drains or stops sampling for good.
async fn next(gw: &Gateway, rx: &mut watch::Receiver<Option<Sample>>) -> Option<Sample> {
    let stop = gw.shutdown().notified();
    tokio::pin!(stop);
    stop.as_mut().enable();
    if gw.shutdown().is_draining() {
        return None;
    }
    loop {
        tokio::select! {
            () = &mut stop => return None,
            changed = rx.changed() => {
                changed.ok()?;
                if let Some(s) = rx.borrow_and_update().clone() {
                    return Some(s);
                }
            }
        }
    }
}
