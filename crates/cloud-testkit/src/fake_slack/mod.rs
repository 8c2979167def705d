//! A stateful fake of the parts of Slack the app uses, served on 127.0.0.1:
//!
//! - the Web API under `/api/<method>`: `auth.test`, `chat.postMessage`, `chat.update`,
//!   `chat.postEphemeral`, `files.getUploadURLExternal` (+ the upload URL it hands out),
//!   `files.completeUploadExternal`, `apps.connections.open`, `usergroups.list`;
//! - a `response_url` sink (`/response/<n>`: 5 uses, like Slack);
//! - a Socket Mode websocket (`/link?ticket=…`): `hello` on connect, envelopes out, acks in;
//! - a driver ([`FakeSlack::slash`], [`FakeSlack::click`]) that sends what Slack sends: v0-signed
//!   form posts to the app's HTTP endpoints, or envelopes over the socket, and returns the ack.
//!
//! It rejects what Slack rejects: wrong tokens (`invalid_auth`), unknown channels
//! (`channel_not_found`), text over 40 000 characters (`msg_too_long`), more than 50 blocks or a
//! section over 3000 characters, a button text over 75, an `action_id` over 255 or a value over
//! 2000 (`invalid_blocks`), updates of unknown messages (`message_not_found`), and posts faster
//! than the channel's budget (HTTP 429 with `Retry-After`). Every 429 is counted, so a test can
//! assert there were none.

mod driver;
mod validate;

use axum::serve::ListenerExt;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, Notify};

pub use driver::{unix_now, Ack, Signing, Transport};

pub const TEAM: &str = "T0CLOUD";
pub const APP_ID: &str = "A0CLOUD";
pub const BOT_USER: &str = "U0BOT";
pub const BOT_ID: &str = "B0BOT";
/// The channel the fake knows (others answer `channel_not_found`).
pub const CHANNEL: &str = "C0DEPLOY";

/// One message in a channel, as the fake keeps it.
#[derive(Debug, Clone)]
pub struct Message {
    pub channel: String,
    pub ts: String,
    /// Set for replies in a thread.
    pub thread_ts: Option<String>,
    pub text: String,
    pub blocks: Vec<Value>,
    /// How many times `chat.update` changed it.
    pub edits: u32,
}

impl Message {
    /// Text of every block and the fallback text, for assertions and transcripts.
    pub fn rendered(&self) -> String {
        let mut out = Vec::new();
        for b in &self.blocks {
            validate::block_texts(b, &mut out);
        }
        if out.is_empty() {
            out.push(self.text.clone());
        }
        out.join("\n")
    }

    /// The `action_id`s of its buttons.
    pub fn action_ids(&self) -> Vec<String> {
        self.blocks
            .iter()
            .filter(|b| b["type"] == "actions")
            .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
            .filter_map(|e| e["action_id"].as_str().map(String::from))
            .collect()
    }
}

/// A message only one user sees.
#[derive(Debug, Clone)]
pub struct Ephemeral {
    pub channel: String,
    pub user: String,
    pub text: String,
    pub via: &'static str,
}

/// A file shared with `files.completeUploadExternal`.
#[derive(Debug, Clone)]
pub struct SharedFile {
    pub id: String,
    pub filename: String,
    pub channel: String,
    pub thread_ts: Option<String>,
    pub content: String,
}

#[derive(Debug)]
struct PendingUpload {
    filename: String,
    length: usize,
    content: Option<Vec<u8>>,
}

/// Rate limits the fake enforces (defaults follow docs/platform-notes.md).
#[derive(Debug, Clone)]
pub struct Limits {
    /// `chat.postMessage` per channel: a bucket of `post_burst` that refills one per
    /// `post_interval`.
    pub post_burst: u32,
    pub post_interval: Duration,
    /// `chat.update`: at most this many per minute (tier 3).
    pub updates_per_minute: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            post_burst: 2,
            post_interval: Duration::from_secs(1),
            updates_per_minute: 50,
        }
    }
}

#[derive(Default)]
struct Inner {
    messages: Vec<Message>,
    ephemerals: Vec<Ephemeral>,
    /// Bodies posted to response URLs, by URL id.
    /// Posts to response URLs: the request's number, when, the body.
    responses: Vec<(u64, Instant, Value)>,
    response_uses: HashMap<u64, u32>,
    files: Vec<SharedFile>,
    uploads: HashMap<String, PendingUpload>,
    /// Per channel: (tokens, last refill).
    post_buckets: HashMap<String, (f64, Instant)>,
    updates: VecDeque<Instant>,
    /// 429s served, by method.
    rate_limited: HashMap<String, u32>,
    /// Every Web API call, in order (`method` or `method:error`).
    calls: Vec<String>,
    /// Errors to answer instead of success, once each, by method.
    fail_next: HashMap<String, VecDeque<String>>,
    /// `(needle, n)`: the next `n` `chat.postMessage` calls whose text contains `needle` are
    /// answered 429 (a run of rate limits longer than a client's retries).
    rate_limit_posts: Option<(String, u32)>,
    /// Calls held before answering, once each, by method (a slow Slack): each waits until its
    /// [`Held`] is released.
    hold_next: HashMap<String, VecDeque<Arc<Notify>>>,
    next_id: u64,
    last_ts_micros: u64,
    /// The live Socket Mode connection (frames to send to the app).
    socket: Option<mpsc::UnboundedSender<String>>,
    socket_connections: u32,
    /// Envelopes waiting for their ack.
    acks: HashMap<String, oneshot::Sender<Value>>,
    /// user id → user-group ids (for `usergroups.list`).
    groups: HashMap<String, Vec<String>>,
    /// Set while a test holds the fake's clock ([`FakeSlack::freeze_clock`]).
    frozen_at: Option<Instant>,
}

impl Inner {
    /// The fake's now for its rate limits: the real clock, unless a test froze it.
    fn now(&self) -> Instant {
        self.frozen_at.unwrap_or_else(Instant::now)
    }
}

#[derive(Clone)]
struct Shared {
    inner: Arc<Mutex<Inner>>,
    changed: Arc<Notify>,
    bot_token: String,
    app_token: String,
    base: String,
    limits: Limits,
}

/// The fake Slack server and its driver.
pub struct FakeSlack {
    pub url: String,
    pub signing_secret: String,
    pub bot_token: String,
    pub app_token: String,
    shared: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeSlack {
    pub async fn start() -> FakeSlack {
        FakeSlack::start_with(Limits::default()).await
    }

    pub async fn start_with(limits: Limits) -> FakeSlack {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let shared = Shared {
            inner: Arc::new(Mutex::new(Inner::default())),
            changed: Arc::new(Notify::new()),
            bot_token: "xoxb-fake-bot-token".into(),
            app_token: "xapp-fake-app-token".into(),
            base: base.clone(),
            limits,
        };
        let app = Router::new()
            .route("/api/{method}", any(api))
            .route("/upload/{id}", post(upload))
            .route("/response/{id}", post(response_url))
            .route("/link", get(socket))
            .with_state(shared.clone());
        let listener = listener.tap_io(|tcp| {
            // Slack answers at once: no Nagle delay on small frames.
            let _ = tcp.set_nodelay(true);
        });
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeSlack {
            url: base,
            signing_secret: "8f742231b10e8888abcd99yyyzzz85a5".into(),
            bot_token: shared.bot_token.clone(),
            app_token: shared.app_token.clone(),
            shared,
            server,
        }
    }

    /// The Web API base URL the app should use.
    pub fn api_url(&self) -> String {
        format!("{}/api", self.url)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.shared.inner.lock().unwrap()
    }

    /// Make `user` a member of these user groups (ids like `S0APPROVERS`).
    pub fn set_user_groups(&self, user: &str, groups: &[&str]) {
        self.lock()
            .groups
            .insert(user.into(), groups.iter().map(|g| g.to_string()).collect());
    }

    /// Answer the next call of `method` with `{"ok": false, "error": error}`.
    pub fn fail_next(&self, method: &str, error: &str) {
        self.lock()
            .fail_next
            .entry(method.into())
            .or_default()
            .push_back(error.into());
    }

    /// Answer the next `n` `chat.postMessage` calls whose text contains `needle` with 429 and
    /// `Retry-After: 1`, whatever the channel's budget (Slack having a bad minute).
    pub fn rate_limit_posts_containing(&self, needle: &str, n: u32) {
        self.lock().rate_limit_posts = Some((needle.into(), n));
    }

    /// The next call of `method` is answered only once the returned [`Held`] is released (Slack
    /// having a slow moment). A test sees what the app does while it waits, for as long as it
    /// likes, instead of betting that a delay outlasts the app's own timers.
    pub fn hold_next(&self, method: &str) -> Held {
        let release = Arc::new(Notify::new());
        self.lock()
            .hold_next
            .entry(method.into())
            .or_default()
            .push_back(release.clone());
        Held { release }
    }

    pub fn messages(&self) -> Vec<Message> {
        self.lock().messages.clone()
    }

    pub fn message(&self, ts: &str) -> Option<Message> {
        self.lock().messages.iter().find(|m| m.ts == ts).cloned()
    }

    /// Top-level messages of the channel (not thread replies).
    pub fn channel_messages(&self) -> Vec<Message> {
        self.lock()
            .messages
            .iter()
            .filter(|m| m.thread_ts.is_none())
            .cloned()
            .collect()
    }

    /// How many messages (top-level and replies) the channel has had: a mark for
    /// [`FakeSlack::find_top_level_since`].
    pub fn message_count(&self) -> usize {
        self.lock().messages.len()
    }

    /// The newest top-level message posted after the first `since` messages for which `pick`
    /// returns something, without copying any (cheap enough to call on every change).
    pub fn find_top_level_since<T>(&self, since: usize, mut pick: impl FnMut(&Message) -> Option<T>) -> Option<T> {
        let inner = self.lock();
        inner
            .messages
            .get(since..)?
            .iter()
            .rev()
            .filter(|m| m.thread_ts.is_none())
            .find_map(&mut pick)
    }

    /// Replies in the thread of `ts`, oldest first.
    pub fn thread(&self, ts: &str) -> Vec<Message> {
        self.lock()
            .messages
            .iter()
            .filter(|m| m.thread_ts.as_deref() == Some(ts))
            .cloned()
            .collect()
    }

    pub fn ephemerals(&self) -> Vec<Ephemeral> {
        self.lock().ephemerals.clone()
    }

    pub fn files(&self) -> Vec<SharedFile> {
        self.lock().files.clone()
    }

    /// How many 429s the fake answered, all methods together.
    pub fn rate_limited(&self) -> u32 {
        self.lock().rate_limited.values().sum()
    }

    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    pub fn socket_connections(&self) -> u32 {
        self.lock().socket_connections
    }

    /// Waits until `check` returns `Some`, re-checking on every change of the fake. Only if
    /// the change never comes does it fail, after the test kit's safety net
    /// ([`crate::wait::SAFETY_NET`]), with the channel so far.
    pub async fn wait_for<T>(&self, what: &str, mut check: impl FnMut(&FakeSlack) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + crate::wait::SAFETY_NET;
        loop {
            let notified = self.shared.changed.notified();
            tokio::pin!(notified);
            // Registered before the check, so a change between the check and the await wakes us.
            notified.as_mut().enable();
            if let Some(v) = check(self) {
                return v;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                if let Some(v) = check(self) {
                    return v;
                }
                panic!(
                    "waited {:?} for {what}; it never came\n{}",
                    crate::wait::SAFETY_NET,
                    self.transcript()
                );
            }
        }
    }

    /// Stops the fake's clock for its rate limits: from now on time passes for them only
    /// through [`FakeSlack::advance_clock`], so a test decides whether two posts fall in one
    /// window instead of hoping they were sent fast enough.
    pub fn freeze_clock(&self) {
        let mut inner = self.lock();
        inner.frozen_at = Some(inner.now());
    }

    /// Moves the frozen clock forward.
    pub fn advance_clock(&self, by: Duration) {
        let mut inner = self.lock();
        let now = inner
            .frozen_at
            .expect("freeze_clock() first: the fake's clock is the real one");
        inner.frozen_at = Some(now + by);
    }

    /// The channel as a person would read it: messages, thread replies indented, ephemerals.
    pub fn transcript(&self) -> String {
        let inner = self.lock();
        let mut out = String::new();
        for m in inner.messages.iter().filter(|m| m.thread_ts.is_none()) {
            out.push_str(&format!("[{}] {}\n", m.ts, indent(&Message::rendered(m), "  ")));
            for r in inner.messages.iter().filter(|r| r.thread_ts.as_deref() == Some(&m.ts)) {
                out.push_str(&format!("    ↳ {}\n", indent(&r.rendered(), "      ")));
            }
        }
        for e in &inner.ephemerals {
            out.push_str(&format!("(only {} sees, via {}) {}\n", e.user, e.via, e.text));
        }
        for f in &inner.files {
            out.push_str(&format!(
                "(file {} in thread {:?}, {} bytes)\n",
                f.filename,
                f.thread_ts,
                f.content.len()
            ));
        }
        out.push_str(&format!("calls: {:?}\n", inner.calls));
        out
    }

    /// Whether the Socket Mode connection is up.
    pub fn socket_connected(&self) -> bool {
        self.lock().socket.as_ref().map(|s| !s.is_closed()).unwrap_or(false)
    }

    /// Tell the connected app to go away (`{"type":"disconnect"}`), as Slack does before a
    /// refresh.
    pub fn disconnect_socket(&self) {
        if let Some(tx) = self.lock().socket.take() {
            let _ = tx.send(
                json!({"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "fake"}})
                    .to_string(),
            );
        }
    }
}

/// A Web API call the fake holds ([`FakeSlack::hold_next`]) until [`Held::release`].
pub struct Held {
    release: Arc<Notify>,
}

impl Held {
    /// Lets the held call (or the next one, if it has not arrived yet) be answered.
    pub fn release(&self) {
        self.release.notify_one();
    }
}

fn indent(text: &str, pad: &str) -> String {
    text.replace('\n', &format!("\n{pad}"))
}

impl Shared {
    fn new_ts(&self, inner: &mut Inner) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as u64;
        let micros = now.max(inner.last_ts_micros + 1);
        inner.last_ts_micros = micros;
        format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
    }

    fn next_id(inner: &mut Inner) -> u64 {
        inner.next_id += 1;
        inner.next_id
    }
}

fn ok(mut body: Value) -> Response {
    body["ok"] = json!(true);
    Json(body).into_response()
}

fn slack_error(error: &str) -> Response {
    Json(json!({"ok": false, "error": error})).into_response()
}

fn rate_limited(retry_after: u64) -> Response {
    let mut r = (
        StatusCode::TOO_MANY_REQUESTS,
        Json(json!({"ok": false, "error": "ratelimited"})),
    )
        .into_response();
    r.headers_mut()
        .insert("retry-after", retry_after.to_string().parse().unwrap());
    r
}

/// The request's parameters: JSON body, form body or query string, merged into one object.
fn params(headers: &HeaderMap, query: &HashMap<String, String>, body: &[u8]) -> Result<Value, &'static str> {
    let mut out = serde_json::Map::new();
    for (k, v) in query {
        out.insert(k.clone(), json!(v));
    }
    if body.is_empty() {
        return Ok(Value::Object(out));
    }
    let ctype = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    if ctype.starts_with("application/json") {
        let v: Value = serde_json::from_slice(body).map_err(|_| "invalid_json")?;
        let Value::Object(map) = v else {
            return Err("invalid_json");
        };
        out.extend(map);
    } else if ctype.starts_with("application/x-www-form-urlencoded") {
        for (k, v) in url::form_urlencoded::parse(body) {
            // Form encoding carries blocks as a JSON string.
            let value = if k == "blocks" {
                serde_json::from_str(&v).map_err(|_| "invalid_blocks_format")?
            } else {
                json!(v)
            };
            out.insert(k.into_owned(), value);
        }
    } else {
        return Err("invalid_form_data");
    }
    Ok(Value::Object(out))
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(String::from)
}

async fn api(
    State(s): State<Shared>,
    Path(method): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let held = s
        .inner
        .lock()
        .unwrap()
        .hold_next
        .get_mut(&method)
        .and_then(|q| q.pop_front());
    if let Some(release) = held {
        // `notify_one` stores a permit, so a release before this point is not lost.
        release.notified().await;
    }
    let response = handle(&s, &method, &headers, &query, &body);
    s.changed.notify_waiters();
    response
}

fn handle(s: &Shared, method: &str, headers: &HeaderMap, query: &HashMap<String, String>, body: &[u8]) -> Response {
    let mut inner = s.inner.lock().unwrap();
    let token = bearer(headers);
    let expected = if method == "apps.connections.open" {
        &s.app_token
    } else {
        &s.bot_token
    };
    let fail = |inner: &mut Inner, error: &str| {
        inner.calls.push(format!("{method}:{error}"));
        slack_error(error)
    };
    match token {
        None => return fail(&mut inner, "not_authed"),
        Some(t) if &t != expected => return fail(&mut inner, "invalid_auth"),
        Some(_) => {}
    }
    if let Some(error) = inner.fail_next.get_mut(method).and_then(|q| q.pop_front()) {
        return fail(&mut inner, &error);
    }
    let p = match params(headers, query, body) {
        Ok(p) => p,
        Err(e) => return fail(&mut inner, e),
    };
    let str_param = |k: &str| p.get(k).and_then(Value::as_str).map(String::from);
    match method {
        "auth.test" => {
            inner.calls.push(method.into());
            ok(
                json!({"url": "https://cloud-fake.slack.com/", "team": "Cloud Fake", "user": "cloud", "team_id": TEAM, "user_id": BOT_USER, "bot_id": BOT_ID}),
            )
        }
        "apps.connections.open" => {
            inner.calls.push(method.into());
            let ticket = Shared::next_id(&mut inner);
            let ws = s.base.replacen("http://", "ws://", 1);
            ok(json!({"url": format!("{ws}/link?ticket={ticket}")}))
        }
        "usergroups.list" => {
            inner.calls.push(method.into());
            let mut by_group: HashMap<String, Vec<String>> = HashMap::new();
            for (user, groups) in &inner.groups {
                for g in groups {
                    by_group.entry(g.clone()).or_default().push(user.clone());
                }
            }
            // Members are listed only when asked for (`include_users=true`), as in Slack.
            let with_users =
                str_param("include_users").as_deref() == Some("true") || p.get("include_users") == Some(&json!(true));
            let groups: Vec<Value> = by_group
                .into_iter()
                .map(|(id, users)| {
                    let mut g = json!({"id": id, "team_id": TEAM, "name": id, "handle": id.to_lowercase(), "date_create": 1700000000, "date_update": 1700000000, "is_usergroup": true, "is_external": false, "auto_type": null, "created_by": "U0ADMIN", "prefs": {"channels": [], "groups": []}, "user_count": users.len()});
                    if with_users {
                        g["users"] = json!(users);
                    }
                    g
                })
                .collect();
            ok(json!({"usergroups": groups}))
        }
        "chat.postMessage" | "chat.postEphemeral" | "chat.update" => {
            let Some(channel) = str_param("channel") else {
                return fail(&mut inner, "channel_not_found");
            };
            if channel != CHANNEL {
                return fail(&mut inner, "channel_not_found");
            }
            let text = str_param("text").unwrap_or_default();
            let blocks = p.get("blocks").cloned().unwrap_or(json!([]));
            if let Err(e) = validate::message(&text, &blocks) {
                return fail(&mut inner, e);
            }
            let blocks = blocks.as_array().cloned().unwrap_or_default();
            match method {
                "chat.postMessage" => {
                    if let Some((needle, n)) = inner.rate_limit_posts.as_mut() {
                        if *n > 0 && text.contains(needle.as_str()) {
                            *n -= 1;
                            *inner.rate_limited.entry(method.into()).or_default() += 1;
                            inner.calls.push(format!("{method}:429"));
                            return rate_limited(1);
                        }
                    }
                    // Token bucket per channel.
                    let now = inner.now();
                    let limits = &s.limits;
                    let (tokens, last) = inner
                        .post_buckets
                        .entry(channel.clone())
                        .or_insert((limits.post_burst as f64, now));
                    let refill = now.duration_since(*last).as_secs_f64() / limits.post_interval.as_secs_f64();
                    *tokens = (*tokens + refill).min(limits.post_burst as f64);
                    *last = now;
                    if *tokens < 1.0 {
                        let wait = ((1.0 - *tokens) * limits.post_interval.as_secs_f64()).ceil().max(1.0) as u64;
                        *inner.rate_limited.entry(method.into()).or_default() += 1;
                        inner.calls.push(format!("{method}:429"));
                        return rate_limited(wait);
                    }
                    *tokens -= 1.0;
                    let ts = s.new_ts(&mut inner);
                    let thread_ts = str_param("thread_ts");
                    if let Some(parent) = &thread_ts {
                        if !inner.messages.iter().any(|m| &m.ts == parent && m.channel == channel) {
                            return fail(&mut inner, "thread_not_found");
                        }
                    }
                    inner.messages.push(Message {
                        channel: channel.clone(),
                        ts: ts.clone(),
                        thread_ts: thread_ts.clone(),
                        text: text.clone(),
                        blocks: blocks.clone(),
                        edits: 0,
                    });
                    inner.calls.push(method.into());
                    ok(
                        json!({"channel": channel, "ts": ts, "message": {"type": "message", "ts": ts, "text": text, "blocks": blocks, "bot_id": BOT_ID, "user": BOT_USER, "thread_ts": thread_ts}}),
                    )
                }
                "chat.postEphemeral" => {
                    let Some(user) = str_param("user") else {
                        return fail(&mut inner, "user_not_found");
                    };
                    inner.ephemerals.push(Ephemeral {
                        channel,
                        user,
                        text: if blocks.is_empty() {
                            text
                        } else {
                            blocks.iter().fold(String::new(), |mut acc, b| {
                                let mut v = vec![];
                                validate::block_texts(b, &mut v);
                                acc.push_str(&v.join("\n"));
                                acc
                            })
                        },
                        via: "chat.postEphemeral",
                    });
                    inner.calls.push(method.into());
                    let ts = s.new_ts(&mut inner);
                    ok(json!({"message_ts": ts}))
                }
                _ => {
                    let now = inner.now();
                    while inner
                        .updates
                        .front()
                        .map(|t| now.duration_since(*t) >= Duration::from_secs(60))
                        .unwrap_or(false)
                    {
                        inner.updates.pop_front();
                    }
                    if inner.updates.len() >= s.limits.updates_per_minute {
                        *inner.rate_limited.entry(method.into()).or_default() += 1;
                        inner.calls.push(format!("{method}:429"));
                        return rate_limited(5);
                    }
                    let Some(ts) = str_param("ts") else {
                        return fail(&mut inner, "message_not_found");
                    };
                    let Some(m) = inner.messages.iter_mut().find(|m| m.ts == ts && m.channel == channel) else {
                        return fail(&mut inner, "message_not_found");
                    };
                    m.text = text.clone();
                    m.blocks = blocks.clone();
                    m.edits += 1;
                    inner.updates.push_back(now);
                    inner.calls.push(method.into());
                    ok(
                        json!({"channel": channel, "ts": ts, "text": text, "message": {"type": "message", "ts": ts, "text": text, "blocks": blocks, "bot_id": BOT_ID, "user": BOT_USER}}),
                    )
                }
            }
        }
        "files.getUploadURLExternal" => {
            let (Some(filename), Some(length)) = (
                str_param("filename"),
                str_param("length").and_then(|l| l.parse::<usize>().ok()),
            ) else {
                return fail(&mut inner, "invalid_arguments");
            };
            if length == 0 {
                return fail(&mut inner, "invalid_arguments");
            }
            let id = format!("F{:08}", Shared::next_id(&mut inner));
            inner.uploads.insert(
                id.clone(),
                PendingUpload {
                    filename,
                    length,
                    content: None,
                },
            );
            inner.calls.push(method.into());
            ok(json!({"upload_url": format!("{}/upload/{id}", s.base), "file_id": id}))
        }
        "files.completeUploadExternal" => {
            let files = p.get("files").and_then(Value::as_array).cloned().unwrap_or_default();
            if files.is_empty() {
                return fail(&mut inner, "invalid_arguments");
            }
            let channel = str_param("channel_id");
            if channel.as_deref().map(|c| c != CHANNEL).unwrap_or(false) {
                return fail(&mut inner, "channel_not_found");
            }
            let thread_ts = str_param("thread_ts");
            let mut shared = Vec::new();
            for f in files {
                let Some(id) = f["id"].as_str() else {
                    return fail(&mut inner, "invalid_arguments");
                };
                let Some(upload) = inner.uploads.remove(id) else {
                    return fail(&mut inner, "file_not_found");
                };
                let Some(content) = upload.content else {
                    return fail(&mut inner, "file_upload_not_found");
                };
                if content.len() != upload.length {
                    return fail(&mut inner, "file_upload_size_mismatch");
                }
                shared.push(json!({"id": id, "name": upload.filename, "title": f["title"]}));
                if let Some(channel) = &channel {
                    inner.files.push(SharedFile {
                        id: id.into(),
                        filename: upload.filename,
                        channel: channel.clone(),
                        thread_ts: thread_ts.clone(),
                        content: String::from_utf8_lossy(&content).into_owned(),
                    });
                }
            }
            inner.calls.push(method.into());
            ok(json!({"files": shared}))
        }
        _ => fail(&mut inner, "unknown_method"),
    }
}

async fn upload(State(s): State<Shared>, Path(id): Path<String>, body: axum::body::Bytes) -> Response {
    let mut inner = s.inner.lock().unwrap();
    let Some(u) = inner.uploads.get_mut(&id) else {
        return (StatusCode::NOT_FOUND, "unknown upload").into_response();
    };
    u.content = Some(body.to_vec());
    (StatusCode::OK, format!("OK - {}", body.len())).into_response()
}

async fn response_url(State(s): State<Shared>, Path(id): Path<u64>, Json(body): Json<Value>) -> Response {
    let mut inner = s.inner.lock().unwrap();
    let uses = inner.response_uses.entry(id).or_default();
    *uses += 1;
    if *uses > 5 {
        return (StatusCode::NOT_FOUND, "used_url").into_response();
    }
    inner.responses.push((id, Instant::now(), body.clone()));
    drop(inner);
    s.changed.notify_waiters();
    (StatusCode::OK, "ok").into_response()
}

impl FakeSlack {
    /// What was posted to response URLs (text of each body).
    pub fn responses(&self) -> Vec<Value> {
        self.lock().responses.iter().map(|(_, _, v)| v.clone()).collect()
    }

    /// The first message with content (text or blocks) posted to request `request`'s response
    /// URL: what replaced a command's "working on it" note, or a click's answer.
    pub fn response_message(&self, request: u64) -> Option<Value> {
        self.lock()
            .responses
            .iter()
            .find(|(id, _, body)| *id == request && (body.get("text").is_some() || body.get("blocks").is_some()))
            .map(|(_, _, body)| body.clone())
    }

    /// When the first post to request `request`'s response URL arrived ([`Ack::request`]).
    pub fn response_at(&self, request: u64) -> Option<Instant> {
        self.lock()
            .responses
            .iter()
            .find(|(id, _, _)| *id == request)
            .map(|(_, at, _)| *at)
    }
}

async fn socket(State(s): State<Shared>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| run_socket(s, socket))
}

async fn run_socket(s: Shared, mut socket: WebSocket) {
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    {
        let mut inner = s.inner.lock().unwrap();
        inner.socket = Some(tx);
        inner.socket_connections += 1;
    }
    let hello = json!({"type": "hello", "num_connections": 1, "connection_info": {"app_id": APP_ID}, "debug_info": {"host": "fake-slack", "approximate_connection_time": 18060}});
    if socket.send(WsMessage::Text(hello.to_string().into())).await.is_err() {
        return;
    }
    s.changed.notify_waiters();
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(frame) => {
                    if socket.send(WsMessage::Text(frame.into())).await.is_err() { break; }
                }
                None => break,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(WsMessage::Text(text))) => {
                    let Ok(v) = serde_json::from_str::<Value>(&text) else { continue };
                    if let Some(id) = v["envelope_id"].as_str() {
                        if let Some(waiter) = s.inner.lock().unwrap().acks.remove(id) {
                            let _ = waiter.send(v.clone());
                        }
                    }
                }
                Some(Ok(WsMessage::Ping(p))) => { let _ = socket.send(WsMessage::Pong(p)).await; }
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    // Closed: forget the sender before telling waiters, or one that looks now still sees a live
    // connection (its receiver is alive until this function returns) and is never woken again.
    drop(rx);
    {
        let mut inner = s.inner.lock().unwrap();
        if inner.socket.as_ref().is_some_and(|tx| tx.is_closed()) {
            inner.socket = None;
        }
    }
    s.changed.notify_waiters();
}
