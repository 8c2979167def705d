//! A fake Discord: the REST API under `/api/v10` and a gateway websocket, on loopback, stateful
//! (channels, messages, threads, interactions, per-route rate buckets) and strict — it refuses what
//! Discord refuses (see [`limits`] and `docs/platform-notes.md`):
//!
//! - an interaction not acknowledged within [`FakeConfig::ack_deadline`] (3 s) → 404 / 10062;
//!   acknowledged twice → 400 / 40060; its token works for 15 minutes;
//! - message bodies: 2000 chars, embed limits, 5×5 components, custom ids 1–100 and unique;
//! - threads from a message: name 1–100, auto-archive ∈ {60, 1440, 4320, 10080}, one per message
//!   (160004), thread id = message id; `POST /channels/{c}/threads` defaults to a private thread;
//! - rate limits: per channel and route a bucket ([`FakeConfig::channel_bucket`], 5 per 5 s by
//!   default) with the documented `X-RateLimit-*` headers and 429 bodies, and a global
//!   50 requests/s (interaction callbacks exempt).
//!
//! The real serenity client talks to it: `HttpBuilder::proxy(fake.base_url())` with the rate
//! limiter disabled, and the gateway URL it hands out is `ws://127.0.0.1:<port>/gateway`.
//! Tests act as users through [`FakeDiscord::slash`], [`FakeDiscord::click`] and
//! [`FakeDiscord::select`], and read what the bot did from the stored state.

mod gateway;
pub mod limits;
mod rest;
mod tls;

pub use tls::TlsEndpoint;

use axum::serve::ListenerExt;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::{mpsc, Notify};

pub use limits::ApiError;

/// How the fake behaves.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// The bot token the gateway and REST accept (without the `Bot ` prefix).
    pub token: String,
    pub application_id: u64,
    pub bot_user_id: u64,
    pub guild_id: u64,
    /// Discord's 3 s to answer an interaction.
    pub ack_deadline: Duration,
    /// How long interaction tokens work for followups and edits (15 min).
    pub token_lifetime: Duration,
    /// Requests per window of one route in one channel (`POST messages`, `PATCH messages`, …).
    pub channel_bucket: (u32, Duration),
    /// Global requests per second (interaction callbacks exempt).
    pub global_per_second: u32,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            token: "fake-token".into(),
            application_id: 900_000_000_000_000_001,
            bot_user_id: 900_000_000_000_000_001,
            guild_id: 800_000_000_000_000_001,
            ack_deadline: Duration::from_secs(3),
            token_lifetime: Duration::from_secs(15 * 60),
            channel_bucket: (5, Duration::from_secs(5)),
            global_per_second: 50,
        }
    }
}

/// Discord permission bits the fake models (see Discord's "Permissions" reference).
pub mod permissions {
    /// `ADMINISTRATOR`: every permission, every command whatever its
    /// `default_member_permissions`.
    pub const ADMINISTRATOR: u64 = 1 << 3;
    /// `MANAGE_GUILD` ("Manage Server"): what the bot's admin commands require.
    pub const MANAGE_GUILD: u64 = 1 << 5;
    /// `VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | READ_MESSAGE_HISTORY |
    /// USE_APPLICATION_COMMANDS | SEND_MESSAGES_IN_THREADS`: what `@everyone` has on a fresh
    /// server, so a plain member.
    pub const MEMBER: u64 = (1 << 10) | (1 << 11) | (1 << 14) | (1 << 16) | (1 << 31) | (1 << 38);

    /// Whether a member with `member` permissions may see and run a command registered with
    /// `default_member_permissions = required` (`None`: everyone). Discord's rule: the member
    /// needs every bit of `required` (`0` means admins only); `ADMINISTRATOR` passes everything.
    pub fn allows(required: Option<u64>, member: u64) -> bool {
        match required {
            None => true,
            Some(_) if member & ADMINISTRATOR != 0 => true,
            Some(0) => false,
            Some(bits) => member & bits == bits,
        }
    }
}

/// A user the test acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeUser {
    pub id: u64,
    pub name: String,
    /// Guild role ids the member has (for role mappings).
    pub roles: Vec<u64>,
    /// The member's resolved permission bits in the guild ([`permissions`]): what Discord checks
    /// against a command's `default_member_permissions` before its client offers the command.
    pub permissions: u64,
}

impl FakeUser {
    /// A plain member ([`permissions::MEMBER`]): the commands registered with
    /// `default_member_permissions` are hidden from them.
    pub fn new(id: u64, name: &str) -> FakeUser {
        FakeUser {
            id,
            name: name.to_string(),
            roles: vec![],
            permissions: permissions::MEMBER,
        }
    }

    /// The same member with `bits` added (e.g. [`permissions::MANAGE_GUILD`] for a moderator).
    pub fn with_permissions(mut self, bits: u64) -> FakeUser {
        self.permissions |= bits;
        self
    }
}

/// A file attached to a message.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFile {
    pub filename: String,
    pub content: Vec<u8>,
}

/// A message as the fake keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    pub id: u64,
    pub channel_id: u64,
    pub author_id: u64,
    pub content: String,
    pub embeds: Vec<Value>,
    pub components: Vec<Value>,
    pub flags: u64,
    pub files: Vec<StoredFile>,
    /// The interaction this message answers (response or followup), if any.
    pub interaction: Option<u64>,
    /// Still the "thinking…" placeholder of a deferred response.
    pub loading: bool,
    pub edits: u32,
    pub created: Instant,
    /// The `allowed_mentions` of the latest write of its text (`None`: not sent, so Discord
    /// pings every user, role, `@everyone` and `@here` the text mentions).
    pub allowed_mentions: Option<Value>,
}

impl StoredMessage {
    pub fn is_ephemeral(&self) -> bool {
        self.flags & 64 != 0
    }

    /// Whether Discord would notify someone for this message's mentions: a `<@…>`, `@everyone`
    /// or `@here` in its text that its `allowed_mentions` does not rule out (no
    /// `allowed_mentions` at all allows every mention).
    pub fn pings(&self) -> bool {
        let text = self.text();
        let users = text.contains("<@");
        let everyone = text.contains("@everyone") || text.contains("@here");
        let Some(allowed) = &self.allowed_mentions else {
            return users || everyone;
        };
        let parse: Vec<&str> = allowed["parse"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let listed = |key: &str| allowed[key].as_array().is_some_and(|a| !a.is_empty());
        (users && (parse.contains(&"users") || parse.contains(&"roles") || listed("users") || listed("roles")))
            || (everyone && parse.contains(&"everyone"))
    }

    /// Content plus every embed's title, description and fields, for assertions.
    pub fn text(&self) -> String {
        let mut out = self.content.clone();
        for e in &self.embeds {
            for key in ["title", "description"] {
                if let Some(s) = e[key].as_str() {
                    out.push('\n');
                    out.push_str(s);
                }
            }
            for f in e["fields"].as_array().into_iter().flatten() {
                out.push_str(&format!(
                    "\n{}: {}",
                    f["name"].as_str().unwrap_or(""),
                    f["value"].as_str().unwrap_or("")
                ));
            }
            if let Some(s) = e["footer"]["text"].as_str() {
                out.push('\n');
                out.push_str(s);
            }
        }
        out
    }

    /// Every component (buttons, selects) of the message.
    pub fn component_list(&self) -> Vec<Value> {
        self.components
            .iter()
            .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// The component whose custom id starts with `prefix`.
    pub fn component(&self, prefix: &str) -> Option<Value> {
        self.component_list()
            .into_iter()
            .find(|c| c["custom_id"].as_str().map(|s| s.starts_with(prefix)).unwrap_or(false))
    }

    /// The message as Discord's API returns it (what serenity's `Message` deserialises).
    pub fn to_json(&self, guild_id: u64) -> Value {
        json!({
            "id": self.id.to_string(),
            "channel_id": self.channel_id.to_string(),
            "guild_id": guild_id.to_string(),
            "author": {"id": self.author_id.to_string(), "username": "cloud", "discriminator": "0000", "global_name": null, "avatar": null, "bot": true},
            "content": self.content,
            "timestamp": "2026-01-01T00:00:00.000000+00:00",
            "edited_timestamp": if self.edits > 0 { json!("2026-01-01T00:00:01.000000+00:00") } else { Value::Null },
            "tts": false,
            "mention_everyone": false,
            "mentions": [],
            "mention_roles": [],
            "attachments": self.files.iter().enumerate().map(|(i, f)| json!({
                "id": (self.id + i as u64 + 1).to_string(), "filename": f.filename, "size": f.content.len(),
                "url": format!("https://cdn.discordapp.com/attachments/{}/{}", self.channel_id, f.filename),
                "proxy_url": format!("https://media.discordapp.net/attachments/{}/{}", self.channel_id, f.filename),
            })).collect::<Vec<_>>(),
            "embeds": self.embeds,
            "components": self.components,
            "pinned": false,
            "type": if self.interaction.is_some() { 20 } else { 0 },
            "flags": self.flags,
        })
    }
}

/// Channel kinds the fake models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    Text = 0,
    PublicThread = 11,
    PrivateThread = 12,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredChannel {
    pub id: u64,
    pub kind: ChannelKind,
    pub parent_id: Option<u64>,
    pub name: String,
    pub auto_archive_duration: u64,
}

impl StoredChannel {
    pub fn to_json(&self, guild_id: u64) -> Value {
        let mut v = json!({
            "id": self.id.to_string(),
            "type": self.kind as u8,
            "guild_id": guild_id.to_string(),
            "name": self.name,
            "position": 0,
            "permission_overwrites": [],
            "nsfw": false,
        });
        if let Some(p) = self.parent_id {
            v["parent_id"] = json!(p.to_string());
            v["owner_id"] = json!("900000000000000001");
            v["thread_metadata"] = json!({
                "archived": false, "auto_archive_duration": self.auto_archive_duration,
                "archive_timestamp": "2026-01-01T00:00:00.000000+00:00", "locked": false
            });
            v["message_count"] = json!(0);
            v["member_count"] = json!(1);
        }
        v
    }
}

/// How an interaction was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckKind {
    Message,
    DeferredMessage,
    DeferredUpdate,
    UpdateMessage,
    Autocomplete,
    Modal,
}

/// One interaction the fake dispatched.
#[derive(Debug, Clone)]
pub struct StoredInteraction {
    pub id: u64,
    pub token: String,
    pub kind: u8,
    pub user: FakeUser,
    pub channel_id: u64,
    /// For components: the message clicked.
    pub message_id: Option<u64>,
    pub created: Instant,
    pub acked: Option<(AckKind, Duration)>,
    /// Age of the interaction when its answer could be read: the response message itself
    /// (type 4, 7), or what replaced a deferred response's loading message (a followup or an
    /// edit of `@original`). `None` while the person still sees "is thinking…".
    pub answered: Option<Duration>,
    /// The response message (type 4 / 5) once there is one.
    pub original: Option<u64>,
    /// Autocomplete choices given.
    pub choices: Option<Value>,
    /// Refused callback attempts (late, double), with the error code.
    pub refused: Vec<u64>,
    /// The `INTERACTION_CREATE` payload as dispatched.
    pub payload: Value,
}

/// A REST request the fake answered.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub at: Instant,
}

#[derive(Debug, Default)]
struct Bucket {
    /// Request instants within the window.
    hits: Vec<Instant>,
}

/// Everything the fake knows.
#[derive(Debug)]
pub struct State {
    pub config: FakeConfig,
    next_id: u64,
    /// The next slash command comes from a client with an outdated command list.
    stale_client: bool,
    pub channels: BTreeMap<u64, StoredChannel>,
    pub messages: BTreeMap<u64, StoredMessage>,
    pub interactions: BTreeMap<u64, StoredInteraction>,
    /// Registered application commands (global and guild), by name.
    pub commands: BTreeMap<String, Value>,
    pub requests: Vec<RequestRecord>,
    buckets: HashMap<String, Bucket>,
    global: Vec<Instant>,
    /// Open gateway sessions: a sender of dispatch payloads per connection.
    gateways: Vec<mpsc::UnboundedSender<Value>>,
    pub identified: u32,
    pub rejected_identify: u32,
    seq: u64,
    /// Set while a test holds the fake's clock ([`FakeDiscord::freeze_clock`]).
    frozen_at: Option<Instant>,
    /// How far a running clock is ahead of the real one ([`FakeDiscord::pass_time`]).
    skew: Duration,
    /// Messages whose edits wait until the test lets them through ([`FakeDiscord::hold_edits`]).
    pub(crate) held_edits: HashMap<u64, tokio::sync::watch::Receiver<bool>>,
    /// Injected refusals ([`FakeDiscord::rate_limit_posts_containing`]): the text a post must
    /// contain and how many such posts are still answered 429.
    pub(crate) rate_limit_posts: Option<(String, u32)>,
    /// Channel message edits still to refuse with a 429 ([`FakeDiscord::rate_limit_edits`]).
    pub(crate) rate_limit_edits: u32,
    /// Per channel: until when an injected 429's `Retry-After` runs; any post there before it
    /// is refused again, as Discord does with a bot that does not wait.
    pub(crate) retry_after_until: HashMap<u64, Instant>,
    /// 429s the fake answered because a test injected them (and posts that did not wait out
    /// their `Retry-After`): a test harness does not count these as the bot's mistakes.
    pub injected_429: usize,
}

impl State {
    fn new(config: FakeConfig) -> State {
        State {
            config,
            next_id: 1_000_000_000_000_000_000,
            stale_client: false,
            channels: BTreeMap::new(),
            messages: BTreeMap::new(),
            interactions: BTreeMap::new(),
            commands: BTreeMap::new(),
            requests: Vec::new(),
            buckets: HashMap::new(),
            global: Vec::new(),
            gateways: Vec::new(),
            identified: 0,
            rejected_identify: 0,
            seq: 0,
            frozen_at: None,
            skew: Duration::ZERO,
            held_edits: HashMap::new(),
            rate_limit_posts: None,
            rate_limit_edits: 0,
            retry_after_until: HashMap::new(),
            injected_429: 0,
        }
    }

    /// The fake's now, for every deadline and window it enforces (the 3 s ack, token lifetimes,
    /// rate buckets): the real clock, unless a test froze it.
    pub fn now(&self) -> Instant {
        self.frozen_at.unwrap_or_else(|| Instant::now() + self.skew)
    }

    pub fn snowflake(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Messages of a channel in order.
    pub fn messages_in(&self, channel: u64) -> Vec<&StoredMessage> {
        self.messages.values().filter(|m| m.channel_id == channel).collect()
    }

    pub fn count_status(&self, status: u16) -> usize {
        self.requests.iter().filter(|r| r.status == status).count()
    }

    /// Take one request from `key`'s bucket; `Err(retry_after)` when it is empty. Returns the
    /// headers to send either way.
    fn take(&mut self, key: &str, now: Instant) -> (Result<(), f64>, Vec<(&'static str, String)>) {
        let (limit, window) = self.config.channel_bucket;
        let bucket = self.buckets.entry(key.to_string()).or_default();
        bucket.hits.retain(|t| now.duration_since(*t) < window);
        let reset_after = bucket
            .hits
            .first()
            .map(|t| window.saturating_sub(now.duration_since(*t)))
            .unwrap_or(window)
            .as_secs_f64();
        let allowed = (bucket.hits.len() as u32) < limit;
        if allowed {
            bucket.hits.push(now);
        }
        let remaining = limit.saturating_sub(bucket.hits.len() as u32);
        // With a sliding window the reset is when the oldest hit leaves it.
        let reset_after = if bucket.hits.len() == 1 && allowed {
            window.as_secs_f64()
        } else {
            reset_after
        };
        let reset_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64()
            + reset_after;
        let hash = format!("{:016x}", fxhash(key.split(':').next().unwrap_or(key)));
        let mut headers = vec![
            ("x-ratelimit-limit", limit.to_string()),
            ("x-ratelimit-remaining", remaining.to_string()),
            ("x-ratelimit-reset", format!("{reset_at:.3}")),
            ("x-ratelimit-reset-after", format!("{reset_after:.3}")),
            ("x-ratelimit-bucket", hash),
        ];
        if allowed {
            (Ok(()), headers)
        } else {
            headers.push(("retry-after", format!("{}", reset_after.ceil().max(1.0) as u64)));
            headers.push(("x-ratelimit-global", "false".into()));
            headers.push(("x-ratelimit-scope", "user".into()));
            (Err(reset_after), headers)
        }
    }

    fn take_global(&mut self, now: Instant) -> bool {
        self.global.retain(|t| now.duration_since(*t) < Duration::from_secs(1));
        if self.global.len() as u32 >= self.config.global_per_second {
            return false;
        }
        self.global.push(now);
        true
    }

    fn dispatch(&mut self, event: &str, data: Value) {
        self.seq += 1;
        let payload = json!({"op": 0, "t": event, "s": self.seq, "d": data});
        self.gateways.retain(|tx| tx.send(payload.clone()).is_ok());
    }
}

fn fxhash(s: &str) -> u64 {
    s.bytes()
        .fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}

/// Shared between the server tasks and the test handle.
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    /// Woken on every state change, so tests wait for conditions instead of sleeping.
    pub(crate) changed: Notify,
    pub(crate) addr: SocketAddr,
}

impl Shared {
    pub(crate) fn touch(&self) {
        self.changed.notify_waiters();
    }
}

/// A running fake. Dropping it stops the server.
pub struct FakeDiscord {
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// What a test gets back after acting: the interaction's id and token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InteractionRef {
    pub id: u64,
    pub token: String,
}

impl FakeDiscord {
    /// Starts on `127.0.0.1:0`.
    pub async fn start(config: FakeConfig) -> std::io::Result<FakeDiscord> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(config)),
            changed: Notify::new(),
            addr,
        });
        let app = rest::router(shared.clone());
        let listener = listener.tap_io(|tcp| {
            // Discord answers at once: no Nagle delay on small frames (gateway events, JSON).
            let _ = tcp.set_nodelay(true);
        });
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeDiscord { shared, server })
    }

    /// `http://127.0.0.1:<port>` — what `HttpBuilder::proxy` takes.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    pub fn config(&self) -> FakeConfig {
        self.state().config.clone()
    }

    /// Read the state (do not hold the guard across an await).
    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().expect("fake state lock")
    }

    /// Adds a text channel and returns its id.
    pub fn add_channel(&self, name: &str) -> u64 {
        let mut st = self.state();
        let id = st.snowflake();
        st.channels.insert(
            id,
            StoredChannel {
                id,
                kind: ChannelKind::Text,
                parent_id: None,
                name: name.into(),
                auto_archive_duration: 0,
            },
        );
        id
    }

    /// Edits of message `message_id` (`PATCH /channels/{c}/messages/{id}`) wait, unanswered,
    /// until the returned [`HeldEdits`] is released or dropped: the message keeps showing what
    /// it showed, as a user's client does in the moment before a bot's edit arrives. A test
    /// stages that race (a click on a button the bot is about to change) without timing it.
    pub fn hold_edits(&self, message_id: u64) -> HeldEdits {
        let (release, held) = tokio::sync::watch::channel(false);
        self.state().held_edits.insert(message_id, held);
        HeldEdits {
            release,
            shared: self.shared.clone(),
            message_id,
        }
    }

    /// The next `n` channel message posts whose content contains `needle` are answered 429
    /// with `Retry-After: 1` (a run of refusals longer than a client's retries); a post in that
    /// channel before the second is over is refused too. Counted in [`State::injected_429`].
    pub fn rate_limit_posts_containing(&self, needle: &str, n: u32) {
        self.state().rate_limit_posts = Some((needle.to_string(), n));
    }

    /// The next `n` channel message edits (`PATCH /channels/{c}/messages/{id}`) are answered 429
    /// with `Retry-After: 1`, whatever they change. Counted in [`State::injected_429`].
    pub fn rate_limit_edits(&self, n: u32) {
        self.state().rate_limit_edits = n;
    }

    /// Stops the fake's clock: from now on time passes for it only through
    /// [`FakeDiscord::advance_clock`]. A test of its deadlines then decides exactly how late a
    /// request is, instead of sleeping past a deadline and hoping the request before it was fast
    /// enough.
    pub fn freeze_clock(&self) {
        let mut st = self.state();
        st.frozen_at = Some(st.now());
    }

    /// Moves the frozen clock forward.
    pub fn advance_clock(&self, by: Duration) {
        let mut st = self.state();
        let now = st
            .frozen_at
            .expect("freeze_clock() first: the fake's clock is the real one");
        st.frozen_at = Some(now + by);
    }

    /// Lets `by` pass for the fake at once, its clock frozen or not: Discord's windows (rate
    /// buckets, deadlines) run out as they would while, say, a bot is down for that long —
    /// without the test sleeping through them.
    pub fn pass_time(&self, by: Duration) {
        let mut st = self.state();
        match st.frozen_at {
            Some(now) => st.frozen_at = Some(now + by),
            None => st.skew += by,
        }
    }

    /// Waits until `check` returns `Some`, or `timeout` passes (`None`).
    pub async fn wait_for<T>(&self, timeout: Duration, mut check: impl FnMut(&State) -> Option<T>) -> Option<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(v) = check(&self.state()) {
                return Some(v);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return check(&self.state());
            }
        }
    }

    /// Waits for a bot connection on the gateway (READY sent).
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        self.wait_for(timeout, |s| (!s.gateways.is_empty() && s.identified > 0).then_some(()))
            .await
            .is_some()
    }

    /// Number of open gateway connections.
    pub fn connections(&self) -> usize {
        let mut st = self.state();
        st.gateways.retain(|tx| !tx.is_closed());
        st.gateways.len()
    }

    fn member_json(&self, user: &FakeUser, guild: u64) -> Value {
        json!({
            "user": user_json(user),
            "roles": user.roles.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
            "joined_at": "2025-01-01T00:00:00.000000+00:00",
            "deaf": false, "mute": false, "flags": 0, "pending": false,
            "permissions": user.permissions.to_string(),
            "guild_id": guild.to_string(),
        })
    }

    fn base_interaction(
        &self,
        st: &mut State,
        kind: u8,
        user: &FakeUser,
        channel: u64,
        data: Value,
    ) -> (Value, StoredInteraction) {
        let id = st.snowflake();
        let token = format!("itok-{id}-{}", uuid::Uuid::new_v4().simple());
        let guild = st.config.guild_id;
        let payload = json!({
            "id": id.to_string(),
            "application_id": st.config.application_id.to_string(),
            "type": kind,
            "data": data,
            "guild_id": guild.to_string(),
            "channel_id": channel.to_string(),
            "channel": {"id": channel.to_string(), "type": st.channels.get(&channel).map(|c| c.kind as u8).unwrap_or(0)},
            "member": self.member_json(user, guild),
            "token": token,
            "version": 1,
            "app_permissions": "2251799813685247",
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": guild.to_string()},
            "context": 0,
            "attachment_size_limit": 26214400,
        });
        let stored = StoredInteraction {
            id,
            token,
            kind,
            user: user.clone(),
            channel_id: channel,
            message_id: None,
            created: st.now(),
            acked: None,
            answered: None,
            original: None,
            choices: None,
            refused: vec![],
            payload: Value::Null,
        };
        (payload, stored)
    }

    /// The commands Discord's client offers `user`: those whose `default_member_permissions`
    /// the member's permissions satisfy (what the member's command picker lists).
    pub fn commands_visible_to(&self, user: &FakeUser) -> Vec<String> {
        let st = self.state();
        st.commands
            .iter()
            .filter(|(_, cmd)| permissions::allows(required_permissions(cmd), user.permissions))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Refuses what Discord's client would not send: a command the bot did not register, or one
    /// hidden from `user` by its `default_member_permissions`.
    fn check_invocable(st: &State, user: &FakeUser, name: &str) -> Result<(), String> {
        let Some(cmd) = st.commands.get(name) else {
            return Err(format!(
                "the bot registered no command `{name}`; registered: {:?}",
                st.commands.keys().collect::<Vec<_>>()
            ));
        };
        let required = required_permissions(cmd);
        if !permissions::allows(required, user.permissions) {
            return Err(format!(
                "Discord does not offer /{name} to {} (id {}): it requires permissions {} \
                 (default_member_permissions) and the member has {}",
                user.name,
                user.id,
                required.unwrap_or(0),
                user.permissions
            ));
        }
        Ok(())
    }

    fn command_options(
        st: &State,
        name: &str,
        options: &[(&str, Value)],
        focused: Option<&str>,
    ) -> Result<(u64, Value), String> {
        let cmd = st.commands.get(name).ok_or_else(|| {
            format!(
                "the bot registered no command `{name}`; registered: {:?}",
                st.commands.keys().collect::<Vec<_>>()
            )
        })?;
        let defs = cmd["options"].as_array().cloned().unwrap_or_default();
        let mut out = Vec::new();
        for (opt, value) in options {
            let def = defs
                .iter()
                .find(|d| d["name"] == *opt)
                .ok_or_else(|| format!("command `{name}` has no option `{opt}`"))?;
            let mut o = json!({"name": opt, "type": def["type"], "value": value});
            if focused == Some(*opt) {
                o["focused"] = json!(true);
            }
            out.push(o);
        }
        for def in &defs {
            if def["required"] == true
                && !options.iter().any(|(o, _)| def["name"] == *o)
                && focused.is_none()
                && !st.stale_client
            {
                return Err(format!(
                    "Discord would not send /{name} without its required option `{}`",
                    def["name"]
                ));
            }
        }
        let id = cmd["id"].as_str().and_then(|s| s.parse().ok()).unwrap_or(1);
        Ok((id, Value::Array(out)))
    }

    fn send(&self, payload: Value, mut stored: StoredInteraction) -> InteractionRef {
        let r = InteractionRef {
            id: stored.id,
            token: stored.token.clone(),
        };
        stored.payload = payload.clone();
        let mut st = self.state();
        st.interactions.insert(stored.id, stored);
        st.dispatch("INTERACTION_CREATE", payload);
        drop(st);
        self.shared.touch();
        r
    }

    /// A user runs `/name` with options (values as JSON) in `channel`. Panics when the bot did
    /// not register the command or an option (Discord's client would not offer it).
    pub fn slash(&self, user: &FakeUser, channel: u64, name: &str, options: &[(&str, Value)]) -> InteractionRef {
        self.try_slash(user, channel, name, options)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`FakeDiscord::slash`], or why Discord would not send it: the command is not registered,
    /// lacks an option, or is hidden from this member by its `default_member_permissions` (the
    /// member's client does not list it, and Discord refuses an invocation of it).
    pub fn try_slash(
        &self,
        user: &FakeUser,
        channel: u64,
        name: &str,
        options: &[(&str, Value)],
    ) -> Result<InteractionRef, String> {
        let mut st = self.state();
        Self::check_invocable(&st, user, name)?;
        let (cmd_id, opts) = Self::command_options(&st, name, options, None)?;
        let mut data = json!({"id": cmd_id.to_string(), "name": name, "type": 1, "options": opts, "guild_id": st.config.guild_id.to_string()});
        // A user option (type 6) carries the user's id; Discord sends the user itself in
        // `resolved.users`, where the bot's library reads it from.
        let users: serde_json::Map<String, Value> = opts
            .as_array()
            .into_iter()
            .flatten()
            .filter(|o| o["type"] == 6)
            .filter_map(|o| o["value"].as_str().map(str::to_string))
            .map(|id| {
                let user = json!({"id": id, "username": format!("user{id}"), "discriminator": "0", "global_name": null, "avatar": null});
                (id, user)
            })
            .collect();
        if !users.is_empty() {
            data["resolved"] = json!({ "users": users });
        }
        let (payload, stored) = self.base_interaction(&mut st, 2, user, channel, data);
        drop(st);
        Ok(self.send(payload, stored))
    }

    /// Like [`FakeDiscord::slash`], but as a client whose copy of the command list is out of
    /// date sends it: a required option may be missing (Discord delivers such interactions).
    pub fn slash_from_stale_client(
        &self,
        user: &FakeUser,
        channel: u64,
        name: &str,
        options: &[(&str, Value)],
    ) -> InteractionRef {
        self.state().stale_client = true;
        let sent = self.slash(user, channel, name, options);
        self.state().stale_client = false;
        sent
    }

    /// A user types into option `focused` of `/name` (an autocomplete interaction).
    pub fn autocomplete(
        &self,
        user: &FakeUser,
        channel: u64,
        name: &str,
        options: &[(&str, Value)],
        focused: &str,
    ) -> InteractionRef {
        let mut st = self.state();
        Self::check_invocable(&st, user, name).unwrap_or_else(|e| panic!("{e}"));
        let (cmd_id, opts) = Self::command_options(&st, name, options, Some(focused)).unwrap_or_else(|e| panic!("{e}"));
        let data = json!({"id": cmd_id.to_string(), "name": name, "type": 1, "options": opts});
        let (payload, stored) = self.base_interaction(&mut st, 4, user, channel, data);
        drop(st);
        self.send(payload, stored)
    }

    fn component(
        &self,
        user: &FakeUser,
        message_id: u64,
        custom_id: &str,
        values: Option<Vec<String>>,
    ) -> Result<InteractionRef, String> {
        let mut st = self.state();
        let msg = st
            .messages
            .get(&message_id)
            .cloned()
            .ok_or_else(|| format!("no message {message_id}"))?;
        let comp = msg
            .component_list()
            .into_iter()
            .find(|c| c["custom_id"] == custom_id)
            .ok_or_else(|| format!("message {message_id} has no component `{custom_id}`"))?;
        if comp["disabled"] == true {
            return Err(format!(
                "component `{custom_id}` is disabled; Discord's client cannot click it"
            ));
        }
        let mut data = json!({"custom_id": custom_id, "component_type": comp["type"]});
        if let Some(values) = values {
            data["values"] = json!(values);
            data["resolved"] = json!({});
        }
        let guild = st.config.guild_id;
        let (mut payload, mut stored) = self.base_interaction(&mut st, 3, user, msg.channel_id, data);
        payload["message"] = msg.to_json(guild);
        stored.message_id = Some(message_id);
        drop(st);
        Ok(self.send(payload, stored))
    }

    /// A user clicks the button `custom_id` of a message. Errs when Discord's client could not
    /// (no such button, or disabled).
    pub fn click(&self, user: &FakeUser, message_id: u64, custom_id: &str) -> Result<InteractionRef, String> {
        self.component(user, message_id, custom_id, None)
    }

    /// A user picks `values` in the select menu `custom_id`.
    pub fn select(
        &self,
        user: &FakeUser,
        message_id: u64,
        custom_id: &str,
        values: &[&str],
    ) -> Result<InteractionRef, String> {
        self.component(
            user,
            message_id,
            custom_id,
            Some(values.iter().map(|s| s.to_string()).collect()),
        )
    }

    /// The gateway payload dispatched for an interaction.
    pub fn payload_of(&self, id: u64) -> Option<Value> {
        self.state().interactions.get(&id).map(|i| i.payload.clone())
    }

    /// The interaction as stored now.
    pub fn interaction(&self, id: u64) -> Option<StoredInteraction> {
        self.state().interactions.get(&id).cloned()
    }

    /// Drops every gateway connection (the bot will reconnect or, if stopped, not).
    pub fn disconnect_all(&self) {
        self.state().gateways.clear();
    }
}

/// A registered command's `default_member_permissions` (a decimal string, or null: everyone).
fn required_permissions(cmd: &Value) -> Option<u64> {
    match &cmd["default_member_permissions"] {
        Value::String(s) => Some(s.parse().unwrap_or(0)),
        Value::Number(n) => Some(n.as_u64().unwrap_or(0)),
        _ => None,
    }
}

pub(crate) fn user_json(user: &FakeUser) -> Value {
    json!({"id": user.id.to_string(), "username": user.name, "discriminator": "0000", "global_name": user.name, "avatar": null, "bot": false})
}

/// Edits of one message held by [`FakeDiscord::hold_edits`]; released when dropped.
pub struct HeldEdits {
    release: tokio::sync::watch::Sender<bool>,
    shared: Arc<Shared>,
    message_id: u64,
}

impl HeldEdits {
    /// Lets the held edits (and any later ones) through.
    pub fn release(self) {}
}

impl Drop for HeldEdits {
    fn drop(&mut self) {
        self.shared
            .state
            .lock()
            .expect("fake state lock")
            .held_edits
            .remove(&self.message_id);
        let _ = self.release.send(true);
    }
}
