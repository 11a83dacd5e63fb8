use super::*;
use http_body_util::{BodyExt as _, Full};

fn full(n: usize) -> PublicBody {
    Either::Left(Full::new(Bytes::from(vec![7u8; n])))
}

fn tracked(w: &Watched) -> bool {
    matches!(w, Watched::Tracked(_))
}

#[tokio::test]
async fn small_answers_pass_as_they_are_and_large_ones_go_in_chunks() {
    let watch = Watch::new(Some(Duration::from_secs(1)));
    assert!(!tracked(&watch.wrap(full(CHUNK))));
    assert!(!tracked(&Watch::new(None).wrap(full(10 * CHUNK))));
    let mut big = watch.wrap(full(3 * CHUNK + 5));
    // Registered only once its first poll leaves it unfinished.
    assert!(!tracked(&big));
    assert_eq!(big.size_hint().exact(), Some(3 * CHUNK as u64 + 5));
    let mut sizes = Vec::new();
    while let Some(frame) = big.frame().await {
        assert!(tracked(&big));
        sizes.push(frame.unwrap().into_data().unwrap().len());
        let left = big.size_hint().exact().unwrap();
        assert_eq!(left, (3 * CHUNK + 5 - sizes.iter().sum::<usize>()) as u64);
    }
    assert_eq!(sizes, [CHUNK, CHUNK, CHUNK, 5]);
    assert!(big.is_end_stream());
    drop(big);
    let inner = watch.inner.as_ref().unwrap();
    assert!(
        inner.slots.lock().unwrap().is_empty(),
        "a dropped answer leaves the list"
    );
}

#[tokio::test(start_paused = true)]
async fn an_answer_the_client_leaves_unread_is_dropped_after_the_limit() {
    let limit = Duration::from_secs(8);
    let watch = Watch::new(Some(limit));
    let mut stalled = watch.wrap(full(4 * CHUNK));
    let mut reading = watch.wrap(full(40 * CHUNK));
    // One chunk each, as hyper takes it before the window closes.
    assert!(stalled.frame().await.unwrap().is_ok());
    let conn = async {
        // The reader takes a chunk every 2 s; the stalled one nothing.
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_secs(2)).await;
            assert!(reading.frame().await.unwrap().is_ok());
        }
    };
    watch.guard(conn).await;
    let err = stalled.frame().await.unwrap().unwrap_err();
    assert!(err.to_string().contains("send_timeout"), "{err}");
    assert!(!stalled.is_end_stream());
    // The one that kept reading goes on to its end.
    let mut rest = 0;
    while let Some(f) = reading.frame().await {
        rest += f.unwrap().into_data().unwrap().len();
    }
    assert_eq!(rest, 32 * CHUNK);
}
