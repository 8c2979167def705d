//! Keeps each session's Discord presence current: the lobby message is edited as the session
//! moves, a public thread opens on the lobby when the plan is ready and receives the plan
//! (the whole plan as a file when it is long), and the apply's output streams into it through the
//! output batcher with Discord's limits, ending with the summary (and the full log as a file
//! when chat could not hold everything).
//!
//! One router task reads the session [`Feed`] and forwards each event, without awaiting anything,
//! to the task of the session it concerns (so a flood of progress lines never makes the
//! broadcast lag). Only sessions with a lobby on Discord have a task: they are attached when the
//! lobby is posted, or — after a restart — when someone clicks one of its buttons. A session's
//! task renders what its [`SessionFeed`] makes of each event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use poise::serenity_prelude as serenity;
use serenity::{ChannelId, CreateAttachment, CreateMessage, CreateThread, EditMessage, Http, MessageId};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::pacer::{Pacer, Route};
use super::{render, Responder};
use async_trait::async_trait;
use cloud_chat::actions;
use cloud_chat::batcher::{spawn_tracked_batcher, BatchInput, Batcher, SinkLimits};
use cloud_chat::feed::{self, Event, Feed, FeedItem, LobbyRow, SessionFeed, SessionRender, ThreadCursor, Update};
use cloud_chat::plan_post::PlanPost;
use cloud_chat::service::{metric, Core};
use cloud_chat::thread_out::{OpError, PostOrder, ThreadOut, ThreadPlatform};
use cloud_chat::view::{FollowUp, LobbyView};
use cloud_chat::Actor;
use cloud_domain::session::{Platform, SessionId, SessionState};

/// Least time between two edits of one lobby (edits coalesce meanwhile).
const LOBBY_EDIT_INTERVAL: Duration = Duration::from_millis(1200);

/// Counts a chat API call (and a 429) for the metrics.
pub(crate) fn count_call<T>(route: &'static str, result: &Result<T, serenity::Error>) {
    metrics::counter!(metric::CHAT_CALLS, "platform" => "discord", "route" => route).increment(1);
    if let Err(serenity::Error::Http(serenity::HttpError::UnsuccessfulRequest(resp))) = result {
        if resp.status_code.as_u16() == 429 {
            metrics::counter!(metric::CHAT_429, "platform" => "discord").increment(1);
        }
    }
}

enum Msg {
    Event(Box<Event>),
    /// Redraw the lobby (events may have been missed).
    Redraw,
}

/// The live renderer of every attached session.
pub(crate) struct Live {
    core: Arc<Core>,
    http: Arc<Http>,
    pub(crate) pacer: Pacer,
    sessions: Mutex<HashMap<SessionId, mpsc::UnboundedSender<Msg>>>,
}

impl Live {
    /// Starts rendering the session feed until `stop` (the transport's stop): the feed reads
    /// the store, which outlives this bot, so a stopped bot must stop reading it or it would
    /// go on drawing beside its successor.
    pub(crate) fn start(core: Arc<Core>, http: Arc<Http>, stop: CancellationToken) -> Arc<Live> {
        let live = Arc::new(Live {
            core: core.clone(),
            http,
            pacer: Pacer::default(),
            sessions: Mutex::new(HashMap::new()),
        });
        let mut feed = Feed::subscribe(&core);
        let weak = Arc::downgrade(&live);
        tokio::spawn(async move {
            loop {
                let item = tokio::select! {
                    _ = stop.cancelled() => break,
                    item = feed.next() => item,
                };
                let Some(item) = item else { break };
                let Some(live) = weak.upgrade() else { break };
                match item {
                    FeedItem::Event(session, event) => {
                        let stream_only = event.is_stream_only();
                        let followed = {
                            let mut sessions = live.sessions.lock().expect("live lock");
                            match sessions.get(&session) {
                                Some(tx) if tx.send(Msg::Event(Box::new(event))).is_ok() => true,
                                Some(_) => {
                                    sessions.remove(&session);
                                    false
                                }
                                None => false,
                            }
                        };
                        // Another process (the CLI, a replica) may be driving a session whose
                        // lobby is here: follow it from its lobby's cursor (off the router).
                        if !followed && !stream_only {
                            let live = live.clone();
                            tokio::spawn(async move { live.ensure_attached(session).await });
                        }
                    }
                    FeedItem::Lagged(n) => {
                        warn!(
                            missed = n,
                            "the Discord renderer lagged behind the session events; redrawing lobbies"
                        );
                        for tx in live.sessions.lock().expect("live lock").values() {
                            let _ = tx.send(Msg::Redraw);
                        }
                    }
                }
            }
            // Stopped: let every session task finish (closing its channel ends it).
            if let Some(live) = weak.upgrade() {
                live.sessions.lock().expect("live lock").clear();
            }
        });
        // Lobbies whose sessions moved or ended while no renderer followed them (this bot was
        // down, or another process drove them): redraw them and finish their threads.
        let weak = Arc::downgrade(&live);
        tokio::spawn(async move {
            let Some(live) = weak.upgrade() else { return };
            for row in feed::lobbies_behind(&live.core, Platform::Discord).await {
                info!(session = %row.session_id, "redrawing a lobby that is behind its session");
                live.attach(row);
            }
        });
        live
    }

    /// Carries out an action's follow-ups for `actor`, who acted in `channel`.
    pub(crate) async fn carry_out(
        self: &Arc<Self>,
        responder: &Responder,
        actor: &Actor,
        channel: u64,
        follow_ups: Vec<FollowUp>,
    ) {
        for follow_up in follow_ups {
            match follow_up {
                FollowUp::PostLobby { session } => match self.post_lobby(channel, session).await {
                    Ok(_) => actions::lobby_posted(&self.core, actor, session).await,
                    Err(e) => {
                        let reply = actions::lobby_failed(
                            &self.core,
                            actor,
                            session,
                            &format!("Discord said: {e}"),
                            "Give the bot the View Channel, Send Messages and Embed Links permissions here, or run the command in a channel where it has them.",
                        )
                        .await;
                        responder.reply(&self.http, &reply).await;
                    }
                },
                FollowUp::RefreshLobby { session } => self.ensure_attached(session).await,
                FollowUp::MoveLobby { from, to } => {
                    if let Some(row) = self.lobby_row(from).await {
                        match self.move_lobby(&row, to).await {
                            Ok(()) => actions::lobby_posted(&self.core, actor, to).await,
                            Err(e) => warn!(session = %to, error = %e, "cannot move the lobby to the new session"),
                        }
                    }
                }
                FollowUp::Announce { session, text } => self.announce(session, &text).await,
                FollowUp::Attach { filename, content, .. } => responder.attach(&self.http, &filename, content).await,
            }
        }
    }

    /// Posts the lobby of a new session in `channel`, records it and starts following it.
    pub(crate) async fn post_lobby(self: &Arc<Self>, channel: u64, id: SessionId) -> anyhow::Result<LobbyRow> {
        let lobby = feed::lobby(&self.core, id)
            .await
            .map_err(|reply| anyhow::anyhow!(reply.text()))?;
        let msg = CreateMessage::new()
            .allowed_mentions(render::no_pings())
            .embed(render::lobby_embed(&lobby))
            .components(render::lobby_components(&lobby));
        let result = self
            .pacer
            .send(
                Route::Post,
                channel,
                ChannelId::new(channel).send_message(&self.http, msg),
            )
            .await;
        count_call("post_message", &result);
        let msg = result?;
        let row = LobbyRow {
            session_id: id,
            platform: Platform::Discord,
            channel_id: channel.to_string(),
            message_id: msg.id.to_string(),
            thread_id: None,
        };
        feed::save_lobby(&self.core, &row).await;
        self.attach(row.clone());
        Ok(row)
    }

    /// Moves an existing lobby message to another session (the stack picker's replacement).
    pub(crate) async fn move_lobby(self: &Arc<Self>, from: &LobbyRow, to: SessionId) -> anyhow::Result<()> {
        let row = LobbyRow {
            session_id: to,
            platform: Platform::Discord,
            channel_id: from.channel_id.clone(),
            message_id: from.message_id.clone(),
            thread_id: None,
        };
        // The old session no longer owns the message: stop its task first.
        self.sessions.lock().expect("live lock").remove(&from.session_id);
        feed::save_lobby(&self.core, &row).await;
        self.attach(row);
        Ok(())
    }

    /// Follows a session whose lobby is known (no-op when already followed).
    pub(crate) fn attach(self: &Arc<Self>, row: LobbyRow) {
        let mut sessions = self.sessions.lock().expect("live lock");
        if sessions.get(&row.session_id).map(|tx| !tx.is_closed()).unwrap_or(false) {
            let _ = sessions[&row.session_id].send(Msg::Redraw);
            return;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(Msg::Redraw);
        sessions.insert(row.session_id, tx);
        let live = self.clone();
        let span = tracing::info_span!("discord_session", session = %row.session_id);
        tokio::spawn(tracing::Instrument::instrument(
            async move { SessionTask::new(live, row).run(rx).await },
            span,
        ));
    }

    /// Follows the session if it has a lobby on Discord (again, after a restart), and redraws
    /// its lobby.
    pub(crate) async fn ensure_attached(self: &Arc<Self>, id: SessionId) {
        let followed = {
            let sessions = self.sessions.lock().expect("live lock");
            match sessions.get(&id) {
                Some(tx) if !tx.is_closed() => tx.send(Msg::Redraw).is_ok(),
                _ => false,
            }
        };
        if followed {
            return;
        }
        if let Some(row) = self.lobby_row(id).await {
            self.attach(row);
        }
    }

    /// The lobby row of a followed or stored session.
    pub(crate) async fn lobby_row(&self, id: SessionId) -> Option<LobbyRow> {
        feed::lobby_row(&self.core, id, Platform::Discord).await
    }

    /// Posts a line in the session's thread, if it has one.
    pub(crate) async fn announce(&self, id: SessionId, text: &str) {
        if let Some(thread) = self
            .lobby_row(id)
            .await
            .and_then(|r| r.thread_id)
            .and_then(|t| t.parse::<u64>().ok())
        {
            if let Err(e) = self.post_in_thread(thread, text_message(text)).await {
                warn!(session = %id, error = %e, "cannot announce in the thread");
            }
        }
    }

    /// Posts a one-off `message` in `thread` (again after a 429, see [`Live::send_retrying`]).
    async fn post_in_thread(&self, thread: u64, message: CreateMessage) -> Result<(), serenity::Error> {
        self.send_retrying(Route::Post, thread, "post_message", || {
            ChannelId::new(thread).send_message(&self.http, message.clone())
        })
        .await
        .map(drop)
    }

    /// Sends a one-off request (`make` builds it) through the pacer, and again after a 429, up
    /// to [`POST_RETRIES`] times [`RETRY_AFTER_429`] apart: Discord's bucket may still hold
    /// requests this pacer never saw (a predecessor's, before a restart or a takeover).
    async fn send_retrying<T, F>(
        &self,
        route: Route,
        channel: u64,
        what: &'static str,
        mut make: impl FnMut() -> F,
    ) -> Result<T, serenity::Error>
    where
        F: std::future::Future<Output = Result<T, serenity::Error>>,
    {
        let mut tries = 0;
        loop {
            let r = self.pacer.send(route, channel, make()).await;
            count_call(what, &r);
            match r {
                Err(e) if is_429(&e) && tries < POST_RETRIES => {
                    tries += 1;
                    tokio::time::sleep(RETRY_AFTER_429).await;
                }
                r => return r,
            }
        }
    }
}

/// One session's renderer.
struct SessionTask {
    live: Arc<Live>,
    row: LobbyRow,
    /// What the session's events mean for its lobby and thread.
    feed: SessionFeed,
    dirty: bool,
    last_edit: Option<Instant>,
    /// Input of the thread's batcher while the apply runs.
    batch: Option<mpsc::UnboundedSender<(i64, BatchInput)>>,
    /// How far the thread's posts got, while its batcher has something left to post.
    thread: Option<Arc<ThreadCursor>>,
}

impl SessionTask {
    fn new(live: Arc<Live>, row: LobbyRow) -> SessionTask {
        let feed = SessionFeed::new(live.core.clone(), row.session_id, Platform::Discord);
        SessionTask {
            live,
            row,
            feed,
            dirty: true,
            last_edit: None,
            batch: None,
            thread: None,
        }
    }

    fn id(&self) -> SessionId {
        self.row.session_id
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        // Whatever the log holds beyond what this lobby shows (a restart, another process).
        let updates = self.feed.catch_up().await;
        let mut ended = feed::render(&mut self, updates).await;
        while !ended {
            let due = self
                .last_edit
                .map(|t| t + LOBBY_EDIT_INTERVAL)
                .unwrap_or_else(Instant::now);
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(Msg::Event(event)) => {
                        let updates = self.feed.on(*event).await;
                        ended = feed::render(&mut self, updates).await;
                    }
                    Some(Msg::Redraw) => self.dirty = true,
                    None => break,
                },
                _ = tokio::time::sleep_until(due), if self.dirty => {
                    let state = self.edit_lobby().await;
                    self.save_cursor().await;
                    if state.map(SessionState::is_terminal).unwrap_or(false) && self.idle() {
                        break;
                    }
                }
            }
        }
        rx.close();
        self.save_cursor().await;
        let mut sessions = self.live.sessions.lock().expect("live lock");
        if sessions.get(&self.id()).map(|tx| tx.is_closed()).unwrap_or(false) {
            sessions.remove(&self.id());
        }
    }

    /// Edits the lobby to the session's current view; returns its state.
    async fn edit_lobby(&mut self) -> Option<SessionState> {
        self.dirty = false;
        self.last_edit = Some(Instant::now());
        let lobby = match feed::lobby(&self.live.core, self.id()).await {
            Ok(v) => v,
            Err(reply) => {
                warn!(session = %self.id(), error = %reply.text(), "cannot read the session for its lobby");
                return None;
            }
        };
        let (Ok(channel), Ok(message)) = (self.row.channel_id.parse::<u64>(), self.row.message_id.parse::<u64>())
        else {
            return Some(lobby.state);
        };
        let edit = EditMessage::new()
            .allowed_mentions(render::no_pings())
            .embed(render::lobby_embed(&lobby))
            .components(render::lobby_components(&lobby));
        let edit = ChannelId::new(channel).edit_message(&self.live.http, MessageId::new(message), edit);
        let r = self.live.pacer.send(Route::Edit, channel, edit).await;
        count_call("edit_message", &r);
        if let Err(e) = r {
            // A refusal that passes (a 429: requests this pacer never saw, from a bot that ran
            // before this one or another on the same token; Discord's own trouble) leaves the
            // lobby to draw again a LOBBY_EDIT_INTERVAL after this answer (longer than the
            // Retry-After): the session may not move again to trigger another edit, and the
            // edit that enables Approve must not be lost to it.
            self.dirty = is_transient(&e);
            self.last_edit = Some(Instant::now());
            warn!(session = %self.id(), error = %e, retry = self.dirty, "cannot edit the lobby");
        }
        Some(lobby.state)
    }

    /// Opens the thread (or reuses it) and posts the plan the approvers are asked to approve.
    async fn post_plan(&mut self, post: PlanPost) {
        let lobby = match feed::lobby(&self.live.core, self.id()).await {
            Ok(l) => l,
            Err(reply) => {
                return warn!(session = %self.id(), error = %reply.text(), "cannot read the session whose plan is ready")
            }
        };
        let Some(thread) = self.ensure_thread(&lobby).await else {
            return;
        };
        let mut message = text_message(&post.text);
        if let Some((filename, content)) = post.attachment {
            message = message.add_file(CreateAttachment::bytes(content.into_bytes(), filename));
        }
        if let Err(e) = self.live.post_in_thread(thread, message).await {
            warn!(session = %self.id(), error = %e, "cannot post the plan in the thread");
        }
    }

    /// Opens (or reuses) the thread, announces the approval and starts streaming the apply (the
    /// thread shows the session's log up to `at` then).
    async fn start_thread_output(&mut self, announcement: Option<String>, at: i64) {
        if self.batch.is_some() {
            return;
        }
        let lobby = match feed::lobby(&self.live.core, self.id()).await {
            Ok(l) => l,
            Err(reply) => {
                return warn!(session = %self.id(), error = %reply.text(), "cannot read the session that started applying")
            }
        };
        let Some(thread) = self.ensure_thread(&lobby).await else {
            return;
        };
        if let Some(text) = announcement {
            if let Err(e) = self.live.post_in_thread(thread, text_message(&text)).await {
                warn!(session = %self.id(), error = %e, "cannot announce the approval in the thread");
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let (ops_tx, ops_rx) = mpsc::channel(64);
        spawn_tracked_batcher(rx, Batcher::new(SinkLimits::discord()), ops_tx);
        let cursor = Arc::new(ThreadCursor::new(at));
        // Shutdown waits for the guard: the summary and log file reach the thread first.
        let guard = self.live.core.output_guard();
        let live = self.live.clone();
        let id = self.id();
        let shown = cursor.clone();
        tokio::spawn(async move {
            let ops = ThreadOps {
                live: live.clone(),
                session: id,
                thread,
                refused_until: None,
            };
            ThreadOut::new(ops, live.core.clone(), id, PostOrder::Strict)
                .run(ops_rx, &shown)
                .await;
            shown.close(&live.core, id, Platform::Discord).await;
            drop(guard);
        });
        self.batch = Some(tx);
        self.thread = Some(cursor);
    }

    async fn ensure_thread(&mut self, lobby: &LobbyView) -> Option<u64> {
        if let Some(t) = self.row.thread_id.as_ref().and_then(|t| t.parse().ok()) {
            return Some(t);
        }
        let channel: u64 = self.row.channel_id.parse().ok()?;
        let message: u64 = self.row.message_id.parse().ok()?;
        let name = render::fit(
            &format!(
                "{} {}/{} {} · {}",
                lobby.operation,
                lobby.project,
                lobby.env,
                lobby.deployment_id,
                self.id().short()
            ),
            100,
        );
        let builder = CreateThread::new(name).auto_archive_duration(serenity::AutoArchiveDuration::OneHour);
        let live = &self.live;
        let r = live
            .send_retrying(Route::Thread, channel, "create_thread", || {
                ChannelId::new(channel).create_thread_from_message(&live.http, MessageId::new(message), builder.clone())
            })
            .await;
        match r {
            Ok(thread) => {
                let id = thread.id.get();
                self.row.thread_id = Some(id.to_string());
                feed::set_lobby_thread(&self.live.core, self.id(), Platform::Discord, &id.to_string()).await;
                info!(session = %self.id(), thread = id, "thread opened");
                Some(id)
            }
            Err(e) => {
                warn!(session = %self.id(), error = %e, "cannot open the session thread");
                None
            }
        }
    }
}

#[async_trait]
impl SessionRender for SessionTask {
    async fn on_update(&mut self, update: Update) {
        match update {
            // Every lobby edit waits out LOBBY_EDIT_INTERVAL, which coalesces stack moves too.
            Update::Lobby(_) => self.dirty = true,
            Update::ApplyStarted { announcement, at } => self.start_thread_output(announcement, at).await,
            Update::Stream { input, at } => feed::stream_into(&mut self.batch, input, at),
            Update::PlanReady(post) => self.post_plan(post).await,
            Update::Announce(text) => self.live.announce(self.id(), &text).await,
            Update::FollowUpOpened(follow_up) => {
                // The follow-up needs its own approval: it gets a lobby beside this one.
                let Ok(channel) = self.row.channel_id.parse::<u64>() else {
                    return;
                };
                if let Err(e) = self.live.post_lobby(channel, follow_up).await {
                    warn!(session = %follow_up, error = %e, "cannot post the follow-up's lobby");
                }
            }
        }
    }

    async fn redraw_if_asked(&mut self) -> Option<SessionState> {
        if self.dirty {
            self.edit_lobby().await
        } else {
            None
        }
    }

    async fn save_cursor(&mut self) {
        self.feed.save_cursor_behind(self.thread.as_deref()).await;
    }

    fn idle(&self) -> bool {
        self.batch.is_none() && !self.dirty
    }
}

/// How often a post Discord answers 429 is sent again at once (after waiting out the refusal)
/// before it is kept to post again at the thread's next op ([`ThreadOut`]).
const POST_RETRIES: u32 = 3;

/// How long a refused post waits before it is sent again: the `Retry-After` Discord gives a
/// message route (serenity's error keeps the status, not the header).
const RETRY_AFTER_429: Duration = Duration::from_secs(1);
// A refused lobby edit is drawn again a LOBBY_EDIT_INTERVAL later: after the Retry-After.
const _: () = assert!(LOBBY_EDIT_INTERVAL.as_millis() >= RETRY_AFTER_429.as_millis());

fn is_429(e: &serenity::Error) -> bool {
    matches!(e, serenity::Error::Http(serenity::HttpError::UnsuccessfulRequest(r)) if r.status_code.as_u16() == 429)
}

/// A message of `text` (cut to Discord's 2000 characters) that pings nobody.
fn text_message(text: &str) -> CreateMessage {
    CreateMessage::new()
        .content(render::fit(text, 2000))
        .allowed_mentions(render::no_pings())
}

/// A refusal worth trying again later: a 429, or trouble on Discord's side (5xx).
fn is_transient(e: &serenity::Error) -> bool {
    matches!(e, serenity::Error::Http(serenity::HttpError::UnsuccessfulRequest(r))
        if r.status_code.as_u16() == 429 || r.status_code.is_server_error())
}

/// Discord's calls in one thread; what to call and when (refused posts, the cursor, the log at
/// shutdown) is [`ThreadOut`]'s.
struct ThreadOps {
    live: Arc<Live>,
    session: SessionId,
    thread: u64,
    /// Until when Discord's last refusal asked the thread's posts to wait (its Retry-After): no
    /// post of this thread, retried or new, goes out before then.
    refused_until: Option<Instant>,
}

#[async_trait]
impl ThreadPlatform for ThreadOps {
    type MessageId = MessageId;
    type Error = serenity::Error;
    const PLATFORM: Platform = Platform::Discord;

    /// Posts `text` (again after a 429, see [`Live::send_retrying`]), not before the last
    /// refusal's Retry-After; a post still refused makes the thread's next one wait it out.
    async fn post(&mut self, text: &str) -> Result<MessageId, serenity::Error> {
        if let Some(until) = self.refused_until.take() {
            tokio::time::sleep_until(until).await;
        }
        let (live, thread) = (&self.live, self.thread);
        let r = live
            .send_retrying(Route::Post, thread, "post_message", || {
                let message = CreateMessage::new().content(text).allowed_mentions(render::no_pings());
                ChannelId::new(thread).send_message(&live.http, message)
            })
            .await;
        if let Err(e) = &r {
            if is_429(e) {
                self.refused_until = Some(Instant::now() + RETRY_AFTER_429);
            }
        }
        r.map(|m| m.id)
    }

    async fn edit(&mut self, id: &MessageId, text: &str) -> Result<(), serenity::Error> {
        let edit = ChannelId::new(self.thread).edit_message(
            &self.live.http,
            *id,
            EditMessage::new().content(text).allowed_mentions(render::no_pings()),
        );
        let r = self.live.pacer.send(Route::Edit, self.thread, edit).await;
        count_call("edit_message", &r);
        r.map(drop)
    }

    async fn upload(&mut self, filename: String, content: String) -> Result<(), serenity::Error> {
        upload_log(&self.live, self.session, self.thread, filename, content).await
    }

    async fn attach_undelivered(&mut self, content: String) {
        let file = CreateAttachment::bytes(
            content.into_bytes(),
            format!("undelivered-session-{}.log", self.session.short()),
        );
        let post = ChannelId::new(self.thread).send_message(
            &self.live.http,
            CreateMessage::new()
                .content("Messages Discord refused during the session:")
                .allowed_mentions(render::no_pings())
                .add_file(file),
        );
        let r = self.live.pacer.send(Route::Post, self.thread, post).await;
        count_call("upload", &r);
        if let Err(e) = r {
            warn!(session = %self.session, error = %e, "cannot attach the messages Discord refused");
        }
    }

    async fn attach_full_log(&mut self, content: String) {
        let filename = format!("session-{}.log", self.session.short());
        if let Err(e) = upload_log(&self.live, self.session, self.thread, filename, content).await {
            warn!(session = %self.session, error = %e, "cannot attach the full log");
        }
    }

    fn report(&mut self, error: OpError<serenity::Error>) {
        match error {
            OpError::Refused { key, error } => {
                warn!(session = %self.session, %key, error = %error, "cannot post in the thread; kept to post again later")
            }
            OpError::Edit { error, .. } => warn!(session = %self.session, error = %error, "cannot edit in the thread"),
            OpError::Upload(error) => warn!(session = %self.session, error = %error, "cannot attach the full log"),
            // An edit of a post that never went out and waits for nothing: nothing to show.
            OpError::NeverPosted(_) => {}
        }
    }
}

/// Attaches the session's full log to its thread.
async fn upload_log(
    live: &Live,
    session: SessionId,
    thread: u64,
    filename: String,
    content: String,
) -> Result<(), serenity::Error> {
    // The store keeps every line the engine printed, even ones this process's event broadcast
    // dropped under load: attach that when it holds more.
    let content = feed::full_log(&live.core, session, content).await;
    let file = CreateAttachment::bytes(content.into_bytes(), filename);
    let post = ChannelId::new(thread).send_message(
        &live.http,
        CreateMessage::new()
            .content("Full log of the session:")
            .allowed_mentions(render::no_pings())
            .add_file(file),
    );
    let r = live.pacer.send(Route::Post, thread, post).await;
    count_call("upload", &r);
    r.map(drop)
}
