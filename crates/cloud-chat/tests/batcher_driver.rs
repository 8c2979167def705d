//! The tokio driver around the batcher, on paused tokio time: inputs arrive on a channel, ops
//! leave on another, and deadlines are slept on with `tokio::time`.

use std::time::Duration;

use cloud_chat::batcher::{
    spawn_batcher, spawn_batcher_with, spawn_tracked_batcher, BatchInput, Batcher, MessageKey, RenderOp,
    SessionOutcome, SessionSummary, SinkLimits, StackEvent, ThreadOp,
};
use cloud_domain::session::StackName;
use tokio::sync::mpsc;
use tokio::time::Instant;

fn net() -> StackName {
    "network".parse().unwrap()
}

/// Collects every op with the (paused) time it arrived, until the batcher task ends.
async fn collect(mut ops_rx: mpsc::Receiver<RenderOp>, start: Instant) -> Vec<(Duration, RenderOp)> {
    let mut out = Vec::new();
    while let Some(op) = ops_rx.recv().await {
        out.push((start.elapsed(), op));
    }
    out
}

#[tokio::test(start_paused = true)]
async fn driver_posts_progress_at_once_lines_after_the_linger_and_the_summary_last() {
    let (tx, rx) = mpsc::unbounded_channel();
    let (ops_tx, ops_rx) = mpsc::channel(64);
    let start = Instant::now();
    let task = spawn_batcher(rx, SinkLimits::discord(), ops_tx);
    let collector = tokio::spawn(collect(ops_rx, start));

    tx.send(BatchInput::stack(&net(), StackEvent::Started { planned_steps: 2 }))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    tx.send(BatchInput::line(&net(), "hello from the engine")).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    tx.send(BatchInput::SessionFinished(SessionSummary {
        outcome: SessionOutcome::Applied,
        headline: "shop/dev D1BRV40: applied".into(),
        details: vec![],
    }))
    .unwrap();

    let stats = task.await.unwrap();
    let ops = collector.await.unwrap();
    let summary: Vec<String> = ops
        .iter()
        .map(|(at, op)| {
            format!(
                "{}ms {}",
                at.as_millis(),
                op.key().map(|k| k.to_string()).unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec!["0ms progress:network", "1200ms log:0", "3200ms summary:0"]
    );
    assert_eq!(stats.lines_in_chat, 1);
    drop(tx);
}

#[tokio::test(start_paused = true)]
async fn closing_the_input_early_still_flushes_and_posts_a_summary() {
    let (tx, rx) = mpsc::unbounded_channel();
    let (ops_tx, ops_rx) = mpsc::channel(64);
    let start = Instant::now();
    let batcher = Batcher::new(SinkLimits::slack()).with_secrets(["tok-123456"]);
    let task = spawn_batcher_with(rx, batcher, ops_tx);
    let collector = tokio::spawn(collect(ops_rx, start));

    for i in 0..5 {
        tx.send(BatchInput::line(&net(), format!("line {i} tok-123456")))
            .unwrap();
    }
    drop(tx);

    let stats = task.await.unwrap();
    let ops = collector.await.unwrap();
    let last = &ops.last().unwrap().1;
    assert_eq!(last.key(), Some(&MessageKey::Summary(0)));
    assert!(last
        .text()
        .contains("Output ended before the session reported its outcome."));
    assert_eq!(stats.lines_in_chat, 5);
    assert_eq!(stats.redaction_violations, 5);
    assert!(ops.iter().all(|(_, op)| !op.text().contains("tok-123456")));
}

#[tokio::test(start_paused = true)]
async fn the_driver_stops_when_the_adapter_goes_away() {
    let (tx, rx) = mpsc::unbounded_channel();
    let (ops_tx, ops_rx) = mpsc::channel(1);
    let task = spawn_batcher(rx, SinkLimits::discord(), ops_tx);
    drop(ops_rx);
    tx.send(BatchInput::stack(&net(), StackEvent::Started { planned_steps: 1 }))
        .unwrap();
    let stats = tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("task ends")
        .unwrap();
    assert_eq!(stats.progress_posts, 1);
}

/// A thread taken over by another process resumes where the posts stopped: the tracked driver
/// says how far chat shows the inputs only once the ops carrying them went out — a line that
/// lingers holds the position back, a started stack counts once its progress message is posted,
/// and the session's end once its summary is.
#[tokio::test(start_paused = true)]
async fn the_tracked_driver_says_how_far_chat_shows_the_inputs_only_after_the_ops_carrying_them() {
    let (tx, rx) = mpsc::unbounded_channel();
    let (ops_tx, mut ops_rx) = mpsc::channel(64);
    let task = spawn_tracked_batcher(rx, Batcher::new(SinkLimits::discord()), ops_tx);
    let mut next = async || {
        let op = ops_rx.recv().await.expect("an op");
        match op {
            ThreadOp::Render(op) => op.key().map(|k| k.to_string()).unwrap_or_default(),
            ThreadOp::Shows(n) => format!("shows {n}"),
        }
    };
    // Nothing pushed yet: chat shows nothing beyond the start.
    assert_eq!(next().await, "shows 0");

    tx.send((7, BatchInput::stack(&net(), StackEvent::Started { planned_steps: 2 })))
        .unwrap();
    assert_eq!(next().await, "progress:network");
    assert_eq!(next().await, "shows 7");

    // Line 9 lingers (1.2 s on Discord): position 9 is not shown until it is posted.
    tx.send((9, BatchInput::line(&net(), "+ vpc creating"))).unwrap();
    tx.send((10, BatchInput::line(&net(), "+ subnet creating"))).unwrap();
    let started = Instant::now();
    assert_eq!(next().await, "shows 8", "up to the lingering line");
    assert_eq!(next().await, "log:0");
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(next().await, "shows 10");

    tx.send((
        12,
        BatchInput::SessionFinished(SessionSummary {
            outcome: SessionOutcome::Applied,
            headline: "shop/dev D1BRV40: applied".into(),
            details: vec![],
        }),
    ))
    .unwrap();
    assert_eq!(next().await, "summary:0");
    assert_eq!(next().await, "shows 12");
    task.await.unwrap();
    assert!(ops_rx.recv().await.is_none(), "nothing after the summary");
}
