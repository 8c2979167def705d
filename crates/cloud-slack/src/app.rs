//! The Slack app's behaviour, shared by both transports: turn a slash command or a button click
//! into one call of the shared chat actions ([`cloud_chat::actions`]), acknowledge within Slack's
//! 3 s, render the action's [`Reply`] and carry out its follow-ups, and render what the session
//! feed ([`cloud_chat::feed`]) makes of each session's events: lobby updates with
//! `chat.update`, progress and the summary in the lobby's thread.
//!
//! Acknowledgements come first. A slash command's reply rides in its acknowledgement when the
//! action answers within [`ACK_WITHIN`] (25 ms, as the Discord bot's deferral); otherwise the
//! acknowledgement says it is on its way ([`WORKING_ON_IT`]) and the reply replaces that note
//! through the command's `response_url`. Clicks are acknowledged at once and answered through
//! the click's `response_url` (to the clicker alone).
//!
//! No lock is ever held across an `.await`: the maps below are only read or written between
//! awaits, and each session's lobby and thread are rendered by that session's own task, fed by
//! a router that never waits (so a slow Slack call delays one session, not every one).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dashmap::DashMap;
use secrecy::ExposeSecret;
use slack_morphism::prelude::*;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, info_span, warn, Instrument};

use super::blocks;
use super::commands::{self, SlashCommand, TokenAction};
use super::sink::{self, ThreadSink};
use super::web::{client, Lobby, Response, Web};
use cloud_chat::actions::{self, GrantParams};
use cloud_chat::batcher::{BatchInput, SinkLimits};
use cloud_chat::feed::{
    self, Event, Feed, FeedItem, LobbyRow, Redraw, SessionFeed, SessionRender, ThreadCursor, Update,
};
use cloud_chat::service::{metric, Core};
use cloud_chat::view::{ButtonId, FollowUp, Reply};
use cloud_chat::Actor;
use cloud_domain::error::UserError;
use cloud_domain::session::{Platform, Principal, SessionId, SessionState};

/// How long a slash command may work before its acknowledgement leaves without the reply: the
/// core's budget for a first response, far inside Slack's 3 s. A deploy that writes its session
/// while nineteen colleagues deploy too is acknowledged at once and answered a moment later.
pub const ACK_WITHIN: Duration = cloud_chat::service::ANSWER_IN_FIRST_RESPONSE_WITHIN;

/// The acknowledgement of a slash command whose reply follows through its response URL.
pub const WORKING_ON_IT: &str = "⏳ Working on it…";

/// Least time between two lobby updates of one session after it moved.
const LOBBY_EDIT_INTERVAL: Duration = Duration::from_millis(1000);

/// Least time between two lobby updates for stack moves alone: `chat.update` is tier 3 (about
/// 50 a minute per workspace) and the thread's batcher needs most of it.
const LOBBY_STACK_INTERVAL: Duration = Duration::from_secs(10);

/// What a session's task is told.
enum Msg {
    Event(Event),
    Redraw,
}

/// The Slack app. One per process; cheap to share (`Arc`).
pub struct SlackBot {
    /// The shared core of `cloud serve`: plans and applies run on its tracked tasks, and it
    /// says when the process stops taking sessions.
    pub(crate) core: Arc<Core>,
    pub(crate) web: Arc<Web>,
    environments: Vec<String>,
    /// Lobbies this process knows: learnt when it posts one, from the store (an earlier
    /// instance's), or from a click on an old one. Entries are copied out, never held.
    lobbies: DashMap<SessionId, Lobby>,
    /// The task rendering each followed session. Locked only to look up or insert a sender
    /// (never across an await), so the router never waits.
    sessions: Mutex<HashMap<SessionId, mpsc::UnboundedSender<Msg>>>,
    /// Slack user → user-group ids and when they were listed. Locked only to read or replace
    /// the cache; `usergroups.list` is called without it.
    groups: Mutex<Option<GroupsCache>>,
    uses_groups: bool,
    /// Stops the event loop and background work on shutdown.
    pub(crate) shutdown: CancellationToken,
    limits: SinkLimits,
}

/// When the user-group listing was fetched, and Slack user → user-group ids.
type GroupsCache = (Instant, Arc<HashMap<String, Vec<String>>>);

/// How long a user-group listing is trusted.
const GROUPS_TTL: Duration = Duration::from_secs(60);

impl SlackBot {
    /// The bot over `core`, configured by `core.config.slack`.
    pub fn new(core: Arc<Core>) -> anyhow::Result<Arc<SlackBot>> {
        let config = &core.config.slack;
        let environments = actions::environment_names(&core);
        let uses_groups = core.config.role_mappings.iter().any(|m| m.platform == "slack");
        let bot_token = config.bot_token.as_ref().ok_or_else(|| {
            UserError::invalid("the Slack bot token is missing: set SLACK_BOT_TOKEN (or SLACK_BOT_TOKEN_FILE, or slack.bot_token_file) to the app's xoxb-… token")
        })?;
        let mut limits = SinkLimits::slack();
        // chat.update is tier 3 (≈ 50/min per workspace): leave room for lobby updates.
        limits.edits =
            cloud_chat::batcher::EditBudget::Own(cloud_chat::batcher::RateBudget::new(40, Duration::from_secs(60)));
        Ok(Arc::new(SlackBot {
            web: Arc::new(Web::new(
                client(&config.api_url)?,
                SlackApiToken::new(bot_token.expose_secret().to_string().into()),
            )),
            environments,
            lobbies: DashMap::new(),
            sessions: Mutex::new(HashMap::new()),
            groups: Mutex::new(None),
            uses_groups,
            shutdown: CancellationToken::new(),
            limits,
            core,
        }))
    }

    /// Checks the bot token (`auth.test`) and starts rendering the session feed.
    pub async fn start(self: &Arc<Self>) -> anyhow::Result<()> {
        let auth = self
            .web
            .session()
            .auth_test()
            .await
            .map_err(|e| UserError::invalid(format!("Slack refused the bot token ({e}); check SLACK_BOT_TOKEN")))?;
        info!(team = %auth.team_id, bot = %auth.user_id, "slack: connected");
        let bot = self.clone();
        let feed = Feed::subscribe(&self.core);
        tokio::spawn(async move { bot.route_events(feed).await }.instrument(info_span!("slack_events")));
        // Lobbies whose sessions moved or ended while no renderer followed them (this bot was
        // down, or another process drove them): redraw them and finish their threads.
        let bot = self.clone();
        tokio::spawn(
            async move {
                for row in feed::lobbies_behind(&bot.core, Platform::Slack).await {
                    info!(session = %row.session_id, "slack: redrawing a lobby that is behind its session");
                    if bot.find_lobby(row.session_id).await.is_some() {
                        bot.follow(row.session_id, Msg::Redraw);
                    }
                }
            }
            .instrument(info_span!("slack_redraw")),
        );
        Ok(())
    }

    /// The lobby of a session, if this process knows it.
    pub fn lobby(&self, id: SessionId) -> Option<Lobby> {
        self.lobbies.get(&id).map(|l| l.clone())
    }

    /// The lobby of a session: known to this process, else recorded in the store by an earlier
    /// instance (so a restarted bot keeps updating the lobbies it posted).
    async fn find_lobby(&self, id: SessionId) -> Option<Lobby> {
        if let Some(l) = self.lobby(id) {
            return Some(l);
        }
        let row = feed::lobby_row(&self.core, id, Platform::Slack).await?;
        let lobby = Lobby {
            channel: row.channel_id,
            ts: row.message_id,
        };
        self.lobbies.insert(id, lobby.clone());
        Some(lobby)
    }

    /// Remembers where a session's lobby is, here and in the store, and follows the session.
    async fn remember_lobby(self: &Arc<Self>, id: SessionId, lobby: &Lobby) {
        self.lobbies.insert(id, lobby.clone());
        let row = LobbyRow {
            session_id: id,
            platform: Platform::Slack,
            channel_id: lobby.channel.clone(),
            message_id: lobby.ts.clone(),
            thread_id: Some(lobby.ts.clone()),
        };
        feed::save_lobby(&self.core, &row).await;
        self.follow(id, Msg::Redraw);
    }

    async fn actor(&self, user: &str) -> Actor {
        let principal = Principal::new(Platform::Slack, user);
        let groups = if self.uses_groups {
            self.user_groups(user).await
        } else {
            vec![]
        };
        Actor::with_groups(principal, groups)
    }

    /// The user groups of `user` (`usergroups.list` with members, cached for [`GROUPS_TTL`]).
    async fn user_groups(&self, user: &str) -> Vec<String> {
        let cached = self.groups.lock().expect("groups lock").clone();
        let by_user = match cached {
            Some((at, by_user)) if at.elapsed() < GROUPS_TTL => by_user,
            stale => {
                let request = SlackApiUserGroupsListRequest::new().with_include_users(true);
                match self.web.session().usergroups_list(&request).await {
                    Ok(list) => {
                        let mut by_user: HashMap<String, Vec<String>> = HashMap::new();
                        for group in list.usergroups {
                            for member in group.users.unwrap_or_default() {
                                by_user
                                    .entry(member.to_string())
                                    .or_default()
                                    .push(group.id.to_string());
                            }
                        }
                        let by_user = Arc::new(by_user);
                        *self.groups.lock().expect("groups lock") = Some((Instant::now(), by_user.clone()));
                        by_user
                    }
                    Err(e) => {
                        warn!(error = %e, "slack: cannot list user groups; group role mappings do not apply");
                        stale.map(|(_, m)| m).unwrap_or_default()
                    }
                }
            }
        };
        by_user.get(user).cloned().unwrap_or_default()
    }

    // ---------------------------------------------------------------- slash commands

    /// Handles a slash command and returns the acknowledgement: the reply when the action
    /// answered within [`ACK_WITHIN`], else a note that it follows (through the response URL).
    /// Never fails: errors become ephemeral replies.
    pub async fn on_command(self: &Arc<Self>, ev: SlackCommandEvent) -> SlackCommandEventResponse {
        let started = std::time::Instant::now();
        metrics::counter!(metric::INTERACTIONS, "platform" => "slack", "kind" => "command").increment(1);
        let span = info_span!("slack_command", command = %ev.command, user = %ev.user_id);
        let response_url = ev.response_url.clone();
        let channel = ev.channel_id.to_string();
        let bot = self.clone();
        // Its own task: the work goes on after a late acknowledgement has left.
        let mut work = tokio::spawn(async move { bot.command(ev).await }.instrument(span.clone()));
        let ack = match tokio::time::timeout(ACK_WITHIN, &mut work).await {
            Ok(Ok(answer)) => {
                self.after_reply(&answer, &channel, Some(&response_url));
                ack(&answer.reply)
            }
            Ok(Err(e)) => {
                warn!(error = %e, "slack: a command handler panicked");
                ack(&Reply::ephemeral("❌ Something went wrong on our side; try again."))
            }
            Err(_) => {
                let bot = self.clone();
                tokio::spawn(
                    async move {
                        let Ok(answer) = work.await else { return };
                        bot.deliver_late(&answer.reply, &response_url).await;
                        bot.after_reply(&answer, &channel, Some(&response_url));
                    }
                    .instrument(span),
                );
                ack(&Reply::ephemeral(WORKING_ON_IT))
            }
        };
        // The acknowledgement leaves right after this (HTTP response or Socket Mode ack).
        metrics::histogram!(metric::FIRST_RESPONSE, "platform" => "slack").record(started.elapsed().as_secs_f64());
        ack
    }

    /// A reply that missed the acknowledgement, through the command's response URL: it
    /// replaces the "working on it" note, or (when everyone should see it) goes to the channel
    /// and the note is deleted.
    async fn deliver_late(&self, reply: &Reply, response_url: &SlackResponseUrl) {
        if reply.ephemeral {
            return self.respond(response_url, reply, Response::ReplaceOriginal).await;
        }
        self.respond(response_url, reply, Response::InChannel).await;
        self.respond(response_url, reply, Response::DeleteOriginal).await;
    }

    /// The command's parsed intent as one action call, with the actor it ran as.
    async fn command(self: Arc<Self>, ev: SlackCommandEvent) -> Answer {
        let actor = self.actor(ev.user_id.as_ref()).await;
        let parsed = match commands::parse(
            ev.command.as_ref(),
            ev.text.as_deref().unwrap_or(""),
            &self.environments,
        ) {
            Ok(p) => p,
            // A command that does not parse is Slack-side syntax: answered here.
            Err(e) => {
                return Answer {
                    reply: Reply::refusal(e.code, format!(":no_entry: {}", e.message)),
                    actor,
                }
            }
        };
        info!(?parsed, "slack: command");
        let core = &self.core;
        let reply = match parsed {
            SlashCommand::Help(text) => Reply::ephemeral(text),
            SlashCommand::Deploy(args) => {
                let stacks = (!args.stacks.is_empty()).then(|| args.stacks.join(","));
                actions::deploy_on(
                    core,
                    &actor,
                    &args.project,
                    &args.env,
                    stacks.as_deref(),
                    args.provider.as_deref(),
                )
                .await
            }
            SlashCommand::Approve { session, digest } => {
                actions::approve(core, &actor, &session, digest.as_deref()).await
            }
            SlashCommand::List => actions::list(core, &actor).await,
            SlashCommand::AdminList => actions::admin_list(core, &actor, None).await,
            SlashCommand::Locks { release } => {
                let release = release.as_ref().map(|(lock, reason)| (lock.as_str(), reason.as_str()));
                actions::locks(core, &actor, release).await
            }
            SlashCommand::Status { session } => actions::status(core, &actor, session.as_deref()).await,
            SlashCommand::Projects => actions::projects(core).await,
            SlashCommand::Quota { project } => actions::quota(core, &actor, &project).await,
            SlashCommand::Cancel { session, reason } => {
                actions::cancel(core, &actor, &session, reason.as_deref()).await
            }
            SlashCommand::AdminCancel { session, reason } => {
                actions::admin_cancel(core, &actor, &session, &reason).await
            }
            SlashCommand::Logs { session } => actions::logs(core, &actor, &session).await,
            SlashCommand::Audit { session } => actions::audit(core, &actor, session.as_deref()).await,
            SlashCommand::Grant(g) => {
                let params = GrantParams {
                    user: Principal::new(Platform::Slack, g.user.clone()),
                    project: &g.project,
                    role: g.role,
                    env: Some(g.env.as_str()),
                    duration: g.duration,
                    reason: &g.reason,
                };
                actions::grant(core, &actor, params).await
            }
            SlashCommand::Revoke { grant, reason } => actions::revoke(core, &actor, &grant, &reason).await,
            SlashCommand::CreateProject {
                name,
                org,
                environments,
                provider,
            } => actions::create_project_on(core, &actor, &name, &org, &environments, provider.as_deref()).await,
            SlashCommand::SetQuota { project, key, limit } => {
                actions::set_quota(core, &actor, &project, &key, limit).await
            }
            SlashCommand::Stats { days } => actions::stats(core, &actor, days).await,
            SlashCommand::Grants { project } => actions::grants(core, &actor, project.as_deref()).await,
            SlashCommand::Override { session, reason } => {
                actions::approve_override(core, &actor, &session, &reason).await
            }
            SlashCommand::Token(action) => match action {
                TokenAction::Create {
                    role,
                    project,
                    expires,
                    label,
                } => {
                    let req = cloud_chat::tokens::TokenRequest {
                        role: role.as_deref(),
                        project: project.as_deref(),
                        expires: expires.as_deref(),
                        label: label.as_deref(),
                    };
                    cloud_chat::tokens::create(core, &actor, req).await
                }
                TokenAction::List => cloud_chat::tokens::list(core, &actor).await,
                TokenAction::Revoke { token, reason } => {
                    cloud_chat::tokens::revoke(core, &actor, &token, &reason).await
                }
            },
        };
        Answer { reply, actor }
    }

    /// Carries out a reply's follow-ups, after it has been sent (the lobby comes after the
    /// acknowledgement), on the core's tracked tasks.
    fn after_reply(self: &Arc<Self>, answer: &Answer, channel: &str, response_url: Option<&SlackResponseUrl>) {
        if answer.reply.follow_ups.is_empty() {
            return;
        }
        let bot = self.clone();
        let actor = answer.actor.clone();
        let follow_ups = answer.reply.follow_ups.clone();
        let channel = channel.to_string();
        let response_url = response_url.cloned();
        self.core.spawn_work(
            async move {
                for follow_up in follow_ups {
                    bot.carry_out(&actor, &channel, response_url.as_ref(), follow_up).await;
                }
            }
            .instrument(info_span!("slack_follow_ups")),
        );
    }

    async fn carry_out(
        self: &Arc<Self>,
        actor: &Actor,
        channel: &str,
        response_url: Option<&SlackResponseUrl>,
        follow_up: FollowUp,
    ) {
        match follow_up {
            FollowUp::PostLobby { session } => match self.open_lobby(session, channel).await {
                Ok(_) => actions::lobby_posted(&self.core, actor, session).await,
                Err(e) => {
                    let reply = actions::lobby_failed(
                        &self.core,
                        actor,
                        session,
                        &format!("Slack said `{}`", slack_error_code(&e)),
                        "Invite me with `/invite @cloud`, or run the command in a channel I am in.",
                    )
                    .await;
                    // The response URL works where the bot cannot post.
                    match response_url {
                        Some(url) => self.respond(url, &reply, Response::Ephemeral).await,
                        None => self.tell(channel, &actor.principal.user, &reply).await,
                    }
                }
            },
            FollowUp::RefreshLobby { session } => {
                if self.find_lobby(session).await.is_some() {
                    self.follow(session, Msg::Redraw);
                }
            }
            FollowUp::MoveLobby { from, to } => {
                if let Some(lobby) = self.find_lobby(from).await {
                    self.remember_lobby(to, &lobby).await;
                    actions::lobby_posted(&self.core, actor, to).await;
                }
            }
            FollowUp::Announce { session, text } => {
                if let Some(lobby) = self.find_lobby(session).await {
                    self.post_in_thread(&lobby, &text).await;
                }
            }
            FollowUp::Attach {
                session,
                filename,
                content,
            } => {
                let thread = self.lobby(session).filter(|l| l.channel == channel).map(|l| l.ts);
                if let Err(e) = self.web.upload(channel, thread.as_deref(), &filename, &content).await {
                    warn!(error = %e, "slack: cannot upload the file");
                }
            }
        }
    }

    /// Posts the lobby of a new session in `channel` and follows the session.
    async fn open_lobby(self: &Arc<Self>, id: SessionId, channel: &str) -> anyhow::Result<Lobby> {
        let lobby_view = feed::lobby(&self.core, id)
            .await
            .map_err(|reply| anyhow::anyhow!(reply.text()))?;
        let request = SlackApiChatPostMessageRequest::new(
            channel.to_string().into(),
            SlackMessageContent::new()
                .with_text(blocks::lobby_text(&lobby_view))
                .with_blocks(blocks::lobby(&lobby_view)),
        );
        let posted = self.web.session().chat_post_message(&request).await?;
        let lobby = Lobby {
            channel: posted.channel.to_string(),
            ts: posted.ts.to_string(),
        };
        // Following it redraws it at once: the plan may have moved on while it was on its way.
        self.remember_lobby(id, &lobby).await;
        Ok(lobby)
    }

    // ---------------------------------------------------------------- buttons

    /// Handles a button click. The ack is empty; the answer reaches the clicker alone through
    /// the click's response URL, and the outcome shows in the lobby.
    pub async fn on_interaction(self: &Arc<Self>, ev: SlackInteractionEvent) {
        let SlackInteractionEvent::BlockActions(ev) = ev else {
            return;
        };
        let Some(user) = ev.user.as_ref().map(|u| u.id.to_string()) else {
            return;
        };
        metrics::counter!(metric::INTERACTIONS, "platform" => "slack", "kind" => "component").increment(1);
        let channel = ev.container_channel();
        // A click on a lobby (not on an ephemeral reply's buttons) says where the lobby is.
        let lobby_ts = ev.container_ts().filter(|_| !ev.container_is_ephemeral());
        let response_url = ev.response_url.clone();
        for action in ev.actions.clone().unwrap_or_default() {
            let bot = self.clone();
            let user = user.clone();
            let channel = channel.clone();
            let lobby_ts = lobby_ts.clone();
            let response_url = response_url.clone();
            let span = info_span!("slack_click", action = %action.action_id, user = %user);
            // Clicks are acknowledged at once; the work (an approval may start an apply) runs on.
            tokio::spawn(
                async move {
                    let selected: Vec<String> = action
                        .selected_options
                        .iter()
                        .flatten()
                        .map(|o| o.value.clone())
                        .collect();
                    let answer = bot
                        .click(
                            &user,
                            channel.as_deref(),
                            lobby_ts.as_deref(),
                            action.action_id.as_ref(),
                            &selected,
                        )
                        .await;
                    if answer.reply.is_refusal() {
                        info!(reply = %answer.reply.text(), "slack: click refused");
                    }
                    match (&response_url, &channel) {
                        (Some(url), _) => bot.respond(url, &answer.reply, Response::Ephemeral).await,
                        (None, Some(channel)) => bot.tell(channel, &user, &answer.reply).await,
                        (None, None) => {}
                    }
                    if let Some(channel) = &channel {
                        bot.after_reply(&answer, channel, response_url.as_ref());
                    }
                }
                .instrument(span),
            );
        }
    }

    /// One click, through the shared chat actions (gate, digest, four-eyes, draining).
    async fn click(
        self: &Arc<Self>,
        user: &str,
        channel: Option<&str>,
        lobby_ts: Option<&str>,
        action_id: &str,
        selected: &[String],
    ) -> Answer {
        // After a restart the click is how this process learns where the lobby is (and the
        // store, when the earlier instance recorded it).
        if let Ok(id) = action_id.parse::<ButtonId>() {
            if self.find_lobby(id.session).await.is_none() {
                if let (Some(channel), Some(ts)) = (channel, lobby_ts) {
                    let lobby = Lobby {
                        channel: channel.into(),
                        ts: ts.into(),
                    };
                    self.remember_lobby(id.session, &lobby).await;
                }
            }
        }
        let actor = self.actor(user).await;
        let reply = actions::click(&self.core, &actor, action_id, selected).await;
        Answer { reply, actor }
    }

    /// A reply through a command's or click's response URL.
    async fn respond(&self, url: &SlackResponseUrl, reply: &Reply, how: Response) {
        if let Err(e) = self.web.respond(url, &content(reply), how).await {
            warn!(error = %e, ?how, "slack: cannot answer through the response URL");
        }
    }

    /// An ephemeral message to one person.
    async fn tell(&self, channel: &str, user: &str, reply: &Reply) {
        let request =
            SlackApiChatPostEphemeralRequest::new(channel.to_string().into(), user.to_string().into(), content(reply));
        if let Err(e) = self.web.session().chat_post_ephemeral(&request).await {
            warn!(error = %e, "slack: cannot send an ephemeral message");
        }
    }

    /// A line in the lobby's thread.
    async fn post_in_thread(&self, lobby: &Lobby, text: &str) {
        let request = SlackApiChatPostMessageRequest::new(
            lobby.channel.clone().into(),
            SlackMessageContent::new().with_text(blocks::fit(&blocks::mrkdwn(text), 3000)),
        )
        .with_thread_ts(lobby.ts.clone().into());
        if let Err(e) = self.web.session().chat_post_message(&request).await {
            warn!(error = %e, "slack: cannot post in the thread");
        }
    }

    // ---------------------------------------------------------------- session feed

    /// Hands each session event to its session's task, without waiting for anything.
    async fn route_events(self: Arc<Self>, mut feed: Feed) {
        loop {
            let item = tokio::select! {
                _ = self.shutdown.cancelled() => break,
                item = feed.next() => item,
            };
            match item {
                None => break,
                Some(FeedItem::Lagged(n)) => {
                    warn!(missed = n, "slack: fell behind the session events; redrawing lobbies");
                    let senders: Vec<_> = self.sessions.lock().expect("sessions lock").values().cloned().collect();
                    for tx in senders {
                        let _ = tx.send(Msg::Redraw);
                    }
                }
                Some(FeedItem::Event(id, event)) => self.route(id, event),
            }
        }
    }

    fn route(self: &Arc<Self>, id: SessionId, event: Event) {
        let event = {
            let mut sessions = self.sessions.lock().expect("sessions lock");
            match sessions.get(&id) {
                Some(tx) => match tx.send(Msg::Event(event)) {
                    Ok(()) => return,
                    Err(mpsc::error::SendError(msg)) => {
                        sessions.remove(&id);
                        msg
                    }
                },
                None => Msg::Event(event),
            }
        };
        if self.lobby(id).is_some() {
            return self.follow(id, event);
        }
        // Progress of a session this process does not follow is not streamed here.
        if matches!(&event, Msg::Event(e) if e.is_stream_only()) {
            return;
        }
        // Maybe an earlier instance posted its lobby: look in the store, off the router.
        let bot = self.clone();
        tokio::spawn(async move {
            if bot.find_lobby(id).await.is_some() {
                bot.follow(id, event);
            }
        });
    }

    /// Gives `msg` to the task of session `id`, starting one when there is none. The lobby must
    /// be known (in [`SlackBot::lobbies`]).
    fn follow(self: &Arc<Self>, id: SessionId, msg: Msg) {
        let Some(lobby) = self.lobby(id) else { return };
        let mut sessions = self.sessions.lock().expect("sessions lock");
        let msg = match sessions.get(&id) {
            Some(tx) => match tx.send(msg) {
                Ok(()) => return,
                Err(mpsc::error::SendError(msg)) => msg,
            },
            None => msg,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(Msg::Redraw);
        let _ = tx.send(msg);
        sessions.insert(id, tx);
        let task = SessionTask::new(self.clone(), id, lobby);
        tokio::spawn(task.run(rx).instrument(info_span!("slack_session", session = %id)));
    }
}

/// What a command or click produced: the reply, and who acted (for its follow-ups).
struct Answer {
    reply: Reply,
    actor: Actor,
}

/// One session's lobby and thread on Slack.
struct SessionTask {
    bot: Arc<SlackBot>,
    id: SessionId,
    lobby: Lobby,
    feed: SessionFeed,
    /// When the lobby should be redrawn next, if it should.
    due: Option<Instant>,
    last_edit: Option<Instant>,
    /// The thread's batcher while the apply streams.
    thread: Option<mpsc::UnboundedSender<(i64, BatchInput)>>,
    /// How far the thread's posts got, while its batcher has something left to post.
    thread_cursor: Option<Arc<ThreadCursor>>,
}

impl SessionTask {
    fn new(bot: Arc<SlackBot>, id: SessionId, lobby: Lobby) -> SessionTask {
        let feed = SessionFeed::new(bot.core.clone(), id, Platform::Slack);
        SessionTask {
            bot,
            id,
            lobby,
            feed,
            due: None,
            last_edit: None,
            thread: None,
            thread_cursor: None,
        }
    }

    /// Asks for a redraw no sooner than `interval` after the last one.
    fn redraw_after(&mut self, interval: Duration) {
        let now = Instant::now();
        let at = self.last_edit.map(|t| (t + interval).max(now)).unwrap_or(now);
        self.due = Some(self.due.map_or(at, |due| due.min(at)));
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        // Whatever the log holds beyond what this lobby shows (a restart, another process).
        let updates = self.feed.catch_up().await;
        let mut ended = feed::render(&mut self, updates).await;
        while !ended {
            let due = self.due;
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(Msg::Event(event)) => {
                        let updates = self.feed.on(event).await;
                        ended = feed::render(&mut self, updates).await;
                    }
                    Some(Msg::Redraw) => self.redraw_after(LOBBY_EDIT_INTERVAL),
                    None => break,
                },
                _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                    self.due = None;
                    self.last_edit = Some(Instant::now());
                    let state = self.bot.refresh_lobby(self.id, &self.lobby).await;
                    self.save_cursor().await;
                    if state.is_some_and(SessionState::is_terminal) && self.idle() {
                        break;
                    }
                }
            }
        }
        rx.close();
        self.save_cursor().await;
        let mut sessions = self.bot.sessions.lock().expect("sessions lock");
        if sessions.get(&self.id).is_some_and(|tx| tx.is_closed()) {
            sessions.remove(&self.id);
        }
    }
}

#[async_trait::async_trait]
impl SessionRender for SessionTask {
    async fn on_update(&mut self, update: Update) {
        match update {
            Update::Lobby(Redraw::Now) => self.redraw_after(LOBBY_EDIT_INTERVAL),
            Update::Lobby(Redraw::Soon) => self.redraw_after(LOBBY_STACK_INTERVAL),
            Update::ApplyStarted { announcement, at } => {
                if self.thread.is_some() {
                    return;
                }
                if let Some(text) = announcement {
                    self.bot.post_in_thread(&self.lobby, &text).await;
                }
                let (input, rx) = mpsc::unbounded_channel();
                let sink = ThreadSink::new(
                    self.bot.web.clone(),
                    self.bot.core.clone(),
                    self.lobby.clone(),
                    format!("session-{}.log", self.id.short()),
                );
                let cursor = Arc::new(ThreadCursor::new(at));
                sink::spawn(sink, rx, self.bot.limits.clone(), self.id, cursor.clone());
                self.thread = Some(input);
                self.thread_cursor = Some(cursor);
            }
            Update::Stream { input, at } => feed::stream_into(&mut self.thread, input, at),
            Update::PlanReady(post) => {
                self.bot.post_in_thread(&self.lobby, &post.text).await;
                if let Some((filename, content)) = post.attachment {
                    if let Err(e) = self
                        .bot
                        .web
                        .upload(&self.lobby.channel, Some(&self.lobby.ts), &filename, &content)
                        .await
                    {
                        warn!(error = %e, "slack: cannot attach the plan");
                    }
                }
            }
            Update::Announce(text) => self.bot.post_in_thread(&self.lobby, &text).await,
            Update::FollowUpOpened(follow_up) => {
                // The follow-up needs its own approval: it gets a lobby beside this one.
                if let Err(e) = self.bot.open_lobby(follow_up, &self.lobby.channel).await {
                    warn!(session = %follow_up, error = %e, "slack: cannot post the follow-up lobby");
                }
            }
        }
    }

    async fn redraw_if_asked(&mut self) -> Option<SessionState> {
        self.due.take()?;
        self.last_edit = Some(Instant::now());
        self.bot.refresh_lobby(self.id, &self.lobby).await
    }

    async fn save_cursor(&mut self) {
        self.feed.save_cursor_behind(self.thread_cursor.as_deref()).await;
    }

    fn idle(&self) -> bool {
        self.thread.is_none() && self.due.is_none()
    }
}

impl SlackBot {
    /// Re-renders a session's lobby (`chat.update`); returns the session's state.
    async fn refresh_lobby(&self, id: SessionId, lobby: &Lobby) -> Option<SessionState> {
        let lobby_view = match feed::lobby(&self.core, id).await {
            Ok(v) => v,
            Err(reply) => {
                warn!(session = %id, error = %reply.text(), "slack: cannot read the session for its lobby");
                return None;
            }
        };
        let request = SlackApiChatUpdateRequest::new(
            lobby.channel.clone().into(),
            SlackMessageContent::new()
                .with_text(blocks::lobby_text(&lobby_view))
                .with_blocks(blocks::lobby(&lobby_view)),
            lobby.ts.clone().into(),
        );
        metrics::counter!(metric::CHAT_CALLS, "platform" => "slack", "route" => "chat.update").increment(1);
        if let Err(e) = self.web.session().chat_update(&request).await {
            warn!(session = %id, error = %e, "slack: cannot update the lobby");
        }
        Some(lobby_view.state)
    }
}

/// A reply as a slash command's acknowledgement.
fn ack(reply: &Reply) -> SlackCommandEventResponse {
    let response_type = if reply.ephemeral {
        SlackMessageResponseType::Ephemeral
    } else {
        SlackMessageResponseType::InChannel
    };
    SlackCommandEventResponse::new(content(reply)).with_response_type(response_type)
}

/// A reply as message content: its blocks, and the plain text as the fallback.
fn content(reply: &Reply) -> SlackMessageContent {
    let blocks = blocks::reply_blocks(reply);
    let mut content = SlackMessageContent::new().with_text(blocks::reply_text(reply));
    if !blocks.is_empty() {
        content = content.with_blocks(blocks);
    }
    content
}

/// Slack's error code (`not_in_channel`, `channel_not_found`, …) when `e` is a Web API error.
fn slack_error_code(e: &anyhow::Error) -> String {
    match e.downcast_ref::<slack_morphism::errors::SlackClientError>() {
        Some(slack_morphism::errors::SlackClientError::ApiError(api)) => api.code.clone(),
        Some(other) => other.to_string(),
        None => e.to_string(),
    }
}

/// Small accessors over slack-morphism's block_actions payload.
trait BlockActionsExt {
    fn container_channel(&self) -> Option<String>;
    fn container_ts(&self) -> Option<String>;
    fn container_is_ephemeral(&self) -> bool;
}

impl BlockActionsExt for SlackInteractionBlockActionsEvent {
    fn container_channel(&self) -> Option<String> {
        match &self.container {
            SlackInteractionActionContainer::Message(m) => m.channel_id.as_ref().map(|c| c.to_string()),
            _ => None,
        }
        .or_else(|| self.channel.as_ref().map(|c| c.id.to_string()))
    }

    fn container_ts(&self) -> Option<String> {
        match &self.container {
            SlackInteractionActionContainer::Message(m) => Some(m.message_ts.to_string()),
            _ => None,
        }
    }

    fn container_is_ephemeral(&self) -> bool {
        match &self.container {
            SlackInteractionActionContainer::Message(m) => m.is_ephemeral.unwrap_or(false),
            _ => false,
        }
    }
}
