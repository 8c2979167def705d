//! A session thread's output ([`ThreadOut`]) when chat refuses posts: driven through
//! [`ThreadOut::run`] with the batcher's [`ThreadOp`]s, against an in-memory chat that refuses
//! what the test tells it to (a run of 429s longer than the platform's own retries) and keeps
//! what its thread shows. Each test is one thread's story: what the batcher asked for, what chat
//! refused, what the thread shows in the end, what the session's lobby record says it shows, and
//! which files were attached.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, watch};

use cloud_chat::batcher::ThreadOp;
use cloud_chat::feed::{self, LobbyRow, ThreadCursor};
use cloud_chat::thread_out::{OpError, PostOrder, ThreadOut, ThreadPlatform};
use cloud_chat::{Core, MessageKey, RenderOp};
use cloud_core::config::{Config, Overrides};
use cloud_domain::session::{Platform, Principal, SessionId, SessionState};
use cloud_testkit::fake_engine::{creates, world, FakeEngine, World};
use cloud_testkit::wait::SAFETY_NET;

// ----- the fake chat --------------------------------------------------------------------------

/// What chat answers a refused call with.
const TOO_MANY: &str = "429 Too Many Requests";

/// One session thread as chat keeps it, and what the thread's output asked of chat.
#[derive(Default)]
struct ChatThread {
    /// The thread's messages in the order they appear: (message id, text).
    messages: Vec<(u64, String)>,
    next_id: u64,
    /// Files attached to the thread: (what kind, content).
    files: Vec<(&'static str, String)>,
    /// Every call made, in order ("post …", "edit …", refused ones marked), for failure messages
    /// and order checks.
    calls: Vec<String>,
    /// What the thread's output reported to the adapter ([`ThreadPlatform::report`]).
    reports: Vec<String>,
    /// The next this-many posts are refused.
    refuse_posts: u32,
}

/// An in-memory chat platform for one thread. Like Discord and Slack it refuses an edit of a
/// message it never posted.
#[derive(Clone)]
struct FakeChat {
    thread: Arc<Mutex<ChatThread>>,
    /// How many of the batcher's render ops the thread's output started on (a sync point: the
    /// ops before them, [`ThreadOp::Shows`] included, are done).
    started: Arc<watch::Sender<usize>>,
}

impl FakeChat {
    fn new() -> FakeChat {
        FakeChat {
            thread: Arc::default(),
            started: Arc::new(watch::channel(0).0),
        }
    }

    /// Chat refuses the next `n` posts.
    fn refuse_posts(&self, n: u32) {
        self.thread.lock().unwrap().refuse_posts = n;
    }

    /// The texts the thread shows, top to bottom.
    fn shown(&self) -> Vec<String> {
        self.thread
            .lock()
            .unwrap()
            .messages
            .iter()
            .map(|(_, t)| t.clone())
            .collect()
    }

    fn files(&self) -> Vec<(&'static str, String)> {
        self.thread.lock().unwrap().files.clone()
    }

    fn calls(&self) -> Vec<String> {
        self.thread.lock().unwrap().calls.clone()
    }

    fn reports(&self) -> Vec<String> {
        self.thread.lock().unwrap().reports.clone()
    }

    /// Waits until the thread's output started on its `n`-th render op.
    async fn started(&self, n: usize) {
        let mut rx = self.started.subscribe();
        tokio::time::timeout(SAFETY_NET, rx.wait_for(|s| *s >= n))
            .await
            .unwrap_or_else(|_| panic!("the thread never started on op {n}; calls: {:?}", self.calls()))
            .expect("the chat is alive");
    }
}

#[async_trait]
impl ThreadPlatform for FakeChat {
    type MessageId = u64;
    type Error = String;
    const PLATFORM: Platform = Platform::Discord;

    async fn post(&mut self, text: &str) -> Result<u64, String> {
        let mut t = self.thread.lock().unwrap();
        if t.refuse_posts > 0 {
            t.refuse_posts -= 1;
            t.calls.push(format!("post {text:?} → {TOO_MANY}"));
            return Err(TOO_MANY.into());
        }
        t.next_id += 1;
        let id = t.next_id;
        t.messages.push((id, text.to_string()));
        t.calls.push(format!("post {text:?}"));
        Ok(id)
    }

    async fn edit(&mut self, id: &u64, text: &str) -> Result<(), String> {
        let mut t = self.thread.lock().unwrap();
        t.calls.push(format!("edit #{id} {text:?}"));
        match t.messages.iter_mut().find(|(m, _)| m == id) {
            Some((_, shown)) => {
                *shown = text.to_string();
                Ok(())
            }
            None => Err("404 Unknown Message".into()),
        }
    }

    async fn upload(&mut self, filename: String, content: String) -> Result<(), String> {
        let mut t = self.thread.lock().unwrap();
        t.calls.push(format!("upload {filename}"));
        t.files.push(("upload", content));
        Ok(())
    }

    async fn attach_undelivered(&mut self, content: String) {
        let mut t = self.thread.lock().unwrap();
        t.calls.push("attach undelivered".into());
        t.files.push(("undelivered", content));
    }

    async fn attach_full_log(&mut self, content: String) {
        let mut t = self.thread.lock().unwrap();
        t.calls.push("attach full log".into());
        t.files.push(("full log", content));
    }

    fn before(&mut self, _op: &RenderOp) {
        self.started.send_modify(|n| *n += 1);
    }

    fn report(&mut self, error: OpError<String>) {
        self.thread.lock().unwrap().reports.push(error.to_string());
    }
}

// ----- the session and its thread -------------------------------------------------------------

/// A planned session (its log holds the preview's lines) with a lobby on Discord, in a core over
/// a fresh SQLite store.
struct Session {
    core: Arc<Core>,
    id: SessionId,
    _world: World,
    _data: tempfile::TempDir,
}

async fn planned_session() -> Session {
    let w = world(FakeEngine::with(&[("network", creates(&["vpc", "subnet"]))])).await;
    let data = tempfile::tempdir().unwrap();
    let config = Config::load_with_env(
        &Overrides {
            config: None,
            data_dir: Some(data.path().to_path_buf()),
        },
        &BTreeMap::new(),
    )
    .expect("the default configuration loads");
    let core = Core::new(config, w.store.clone(), w.orch.clone());
    let alice = Principal::cli("alice");
    let s = w
        .orch
        .start_session(&alice, "ecommerce", "dev", Some(&["network".parse().unwrap()]))
        .await
        .unwrap();
    let s = w.orch.plan(s.id, &alice).await.unwrap();
    assert_eq!(s.state, SessionState::PlanReady);
    w.store
        .save_lobby(&LobbyRow {
            session_id: s.id,
            platform: Platform::Discord,
            channel_id: "100".into(),
            message_id: "200".into(),
            thread_id: Some("200".into()),
        })
        .await
        .unwrap();
    Session {
        core,
        id: s.id,
        _world: w,
        _data: data,
    }
}

impl Session {
    /// How far the session's lobby record says its thread shows the log.
    async fn recorded_cursor(&self) -> i64 {
        self.core
            .store()
            .rendered_cursor(self.id, Platform::Discord)
            .await
            .unwrap()
    }

    /// Starts the thread's output in `order`: the batcher's ops go in through the returned
    /// [`Thread`].
    fn open_thread(&self, chat: &FakeChat, order: PostOrder) -> Thread {
        let (tx, rx) = mpsc::channel(16);
        let out = ThreadOut::new(chat.clone(), self.core.clone(), self.id, order);
        let shown = Arc::new(ThreadCursor::new(0));
        let task = tokio::spawn({
            let shown = shown.clone();
            async move { out.run(rx, &shown).await }
        });
        Thread { ops: tx, task }
    }
}

/// The batcher's side of a running thread output.
struct Thread {
    ops: mpsc::Sender<ThreadOp>,
    task: tokio::task::JoinHandle<()>,
}

impl Thread {
    async fn send(&self, op: ThreadOp) {
        self.ops.send(op).await.expect("the thread's output runs");
    }

    async fn post(&self, key: MessageKey, text: &str) {
        self.send(ThreadOp::Render(RenderOp::Post { key, text: text.into() }))
            .await
    }

    async fn edit(&self, key: MessageKey, text: &str) {
        self.send(ThreadOp::Render(RenderOp::Edit { key, text: text.into() }))
            .await
    }

    async fn shows(&self, cursor: i64) {
        self.send(ThreadOp::Shows(cursor)).await
    }

    /// The batcher is done: waits for the thread's output to finish the session.
    async fn end(self) {
        drop(self.ops);
        tokio::time::timeout(SAFETY_NET, self.task)
            .await
            .expect("the thread's output finishes")
            .expect("the thread's output does not panic");
    }
}

fn log(n: u32) -> MessageKey {
    MessageKey::Log(n)
}

fn progress() -> MessageKey {
    MessageKey::Progress("network".parse().unwrap())
}

// ----- the stories ----------------------------------------------------------------------------

/// (a) Chat refuses a log post; the batcher, not knowing, appends a line to it by an edit. The
/// post goes out again before the next op, with both lines, and the later edit lands on it:
/// nothing is lost, and the adapter hears only of the refusal (no edit "of a message never
/// posted", no failed edit).
#[tokio::test]
async fn a_refused_post_goes_out_before_the_next_op_with_the_edits_made_meanwhile() {
    let s = planned_session().await;
    let chat = FakeChat::new();
    chat.refuse_posts(1);
    let thread = s.open_thread(&chat, PostOrder::Strict);
    thread.post(log(0), "line 1").await;
    thread.edit(log(0), "line 1\nline 2").await;
    thread.post(progress(), "network 0/2").await;
    thread.edit(log(0), "line 1\nline 2\nline 3").await;
    thread.end().await;

    assert_eq!(
        chat.calls(),
        [
            format!("post \"line 1\" → {TOO_MANY}"),
            "post \"line 1\\nline 2\"".into(),
            "post \"network 0/2\"".into(),
            "edit #1 \"line 1\\nline 2\\nline 3\"".into(),
        ]
    );
    assert_eq!(chat.shown(), ["line 1\nline 2\nline 3", "network 0/2"]);
    assert_eq!(
        chat.reports(),
        [format!("cannot post log:0; kept to post again later: {TOO_MANY}")]
    );
    assert!(chat.files().is_empty(), "{:?}", chat.files());
}

/// (b) Chat refuses a post twice (the post and its next try). In `Strict` order the batcher's
/// next post waits behind it, so the thread reads in the batcher's order; in `TryAnyway` the
/// next post goes out anyway and the refused one lands after it. Either way the refused one goes
/// out before the post after that.
#[tokio::test]
async fn strict_order_keeps_the_batchers_order_and_try_anyway_posts_past_a_refusal() {
    for (order, expected) in [
        (PostOrder::Strict, ["A", "B", "C"]),
        (PostOrder::TryAnyway, ["B", "A", "C"]),
    ] {
        let s = planned_session().await;
        let chat = FakeChat::new();
        chat.refuse_posts(2);
        let thread = s.open_thread(&chat, order);
        thread.post(log(0), "A").await;
        thread.post(log(1), "B").await;
        thread.post(log(2), "C").await;
        thread.end().await;
        assert_eq!(chat.shown(), expected, "{order:?}: {:?}", chat.calls());
        assert!(chat.files().is_empty(), "{order:?}: {:?}", chat.files());
    }
}

/// (c) How far the thread shows the log is recorded in the session's lobby record only while no
/// refused post waits: a successor taking the thread over must post again what chat refused.
/// Once the refused posts went out, the next position is recorded.
#[tokio::test]
async fn the_thread_position_is_recorded_only_while_no_refused_post_waits() {
    let s = planned_session().await;
    let chat = FakeChat::new();
    let thread = s.open_thread(&chat, PostOrder::Strict);
    thread.shows(1).await;
    chat.refuse_posts(2);
    thread.post(log(0), "A").await;
    chat.started(1).await;
    assert_eq!(s.recorded_cursor().await, 1, "nothing refused yet: recorded");

    // A was refused: the thread does not show what came up to 3.
    thread.shows(3).await;
    thread.post(log(1), "B").await;
    chat.started(2).await;
    assert_eq!(s.recorded_cursor().await, 1, "A waits: 3 not recorded");

    // A refused again, B waits behind it.
    thread.shows(5).await;
    thread.post(log(2), "C").await;
    chat.started(3).await;
    assert_eq!(s.recorded_cursor().await, 1, "A and B wait: 5 not recorded");

    // A, B and C went out.
    thread.shows(8).await;
    thread.end().await;
    assert_eq!(chat.shown(), ["A", "B", "C"], "{:?}", chat.calls());
    assert_eq!(s.recorded_cursor().await, 8, "nothing waits: recorded");
}

/// (d) Chat refuses every post until the session ends: what the thread could not show is
/// attached as one file, oldest first, each post under its key with its latest text.
#[tokio::test]
async fn posts_still_refused_at_the_end_are_attached_as_one_undelivered_file() {
    let s = planned_session().await;
    let chat = FakeChat::new();
    chat.refuse_posts(u32::MAX);
    let thread = s.open_thread(&chat, PostOrder::Strict);
    thread.shows(2).await;
    thread.post(log(0), "line 1").await;
    thread.edit(log(0), "line 1\nline 2").await;
    thread.post(progress(), "network 2/2").await;
    thread.shows(4).await;
    thread.post(MessageKey::Summary(0), "✅ applied").await;
    thread.end().await;

    assert!(chat.shown().is_empty(), "{:?}", chat.shown());
    assert_eq!(
        chat.files(),
        [(
            "undelivered",
            "--- log:0 ---\nline 1\nline 2\n--- progress:network ---\nnetwork 2/2\n--- summary:0 ---\n✅ applied\n"
                .to_string()
        )]
    );
    assert_eq!(s.recorded_cursor().await, 2, "nothing after the refusal recorded");
    assert!(
        chat.reports().iter().all(|r| r.starts_with("cannot post log:0")),
        "only the first refusal is reported (the rest wait behind it): {:?}",
        chat.reports()
    );
}

/// (e) The app shuts down in the middle of the session (no summary): the thread ends with the
/// session's full log, even though chat showed every line it was given. A session whose summary
/// went out before the shutdown gets no such file: its thread is complete.
#[tokio::test]
async fn a_session_cut_by_a_shutdown_ends_with_its_full_log() {
    let s = planned_session().await;
    let full_log = feed::full_log(&s.core, s.id, String::new()).await;
    assert!(!full_log.is_empty(), "the planned session has log lines");

    let chat = FakeChat::new();
    let thread = s.open_thread(&chat, PostOrder::Strict);
    thread.post(log(0), "line 1").await;
    chat.started(1).await;
    s.core.shutdown(Duration::ZERO, Duration::ZERO).await;
    assert!(!s.core.accepting());
    thread.end().await;
    assert_eq!(chat.shown(), ["line 1"]);
    assert_eq!(chat.files(), [("full log", full_log)]);

    let s = planned_session().await;
    let chat = FakeChat::new();
    let thread = s.open_thread(&chat, PostOrder::Strict);
    thread.post(log(0), "line 1").await;
    thread.post(MessageKey::Summary(0), "✅ applied").await;
    chat.started(2).await;
    s.core.shutdown(Duration::ZERO, Duration::ZERO).await;
    thread.end().await;
    assert_eq!(chat.shown(), ["line 1", "✅ applied"]);
    assert!(chat.files().is_empty(), "a complete thread: {:?}", chat.files());
}
