//! The Slack app's behaviour, shared by both transports: turn a slash command or a button click
//! into one intent of the shared chat actions ([`cloud_chat::actions`]) or the gated
//! orchestrator, acknowledge at once, and render what the orchestrator publishes (lobby updates
//! with `chat.update`, progress and the summary in the lobby's thread).
//!
//! Acknowledgements must reach Slack within 3 s, so handlers do only quick work (parsing, a
//! store lookup, opening a session) before answering; plans, applies and queue waits run on the
//! serve core's tracked tasks, so a graceful shutdown waits for them. A click's answer (approved,
//! refused and why) reaches the clicker alone through the click's `response_url`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use secrecy::ExposeSecret;
use slack_morphism::prelude::*;
use tokio::sync::{broadcast, mpsc, Mutex};
use tokio_util::sync::CancellationToken;
use tracing::{info, info_span, warn, Instrument};

use super::blocks;
use super::commands::{self, SlashCommand};
use super::sink::{self, ThreadSink};
use cloud_chat::actions;
use cloud_chat::batcher::{BatchInput, SessionOutcome, SessionSummary, SinkLimits, StackEvent};
use cloud_chat::progress::StackResult;
use cloud_chat::service::{metric, Core};
use cloud_chat::view::{self, BusyStack, ButtonAction, ButtonId, LobbyExtras, LobbyView, SummaryView};
use cloud_core::orchestrator::{GrantExpiry, GrantParams, ProjectParams};
use cloud_core::orchestrator::{Orchestrator, OrchestratorError, SessionEvent, SessionEventKind};
use cloud_core::policy::{Actor, Intent};
use cloud_core::store::{SessionFilter, Store};
use cloud_domain::error::UserError;
use cloud_domain::session::{Platform, Principal, SessionId, SessionState, StackName, StackState};

/// The Slack Web API client type (HTTPS to Slack, plain HTTP to a local fake).
pub type Client = SlackClient<SlackClientHyperConnector<SlackHyperHttpsConnector>>;

/// Where a session's lobby lives: its channel and message `ts` (the thread's root).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lobby {
    pub channel: String,
    pub ts: String,
}

/// A thread being streamed to: the batcher's input while the session applies.
struct LiveThread {
    input: mpsc::UnboundedSender<BatchInput>,
    /// Planned steps per stack (the progress bars' 100 %).
    planned: HashMap<StackName, u32>,
}

/// The Slack app. One per process; cheap to share (`Arc`).
pub struct SlackBot {
    /// The shared core of `cloud serve`: plans and applies run on its tracked tasks, and it
    /// says when the process stops taking sessions.
    core: Arc<Core>,
    orchestrator: Arc<Orchestrator>,
    store: Store,
    pub(crate) client: Arc<Client>,
    token: SlackApiToken,
    environments: Vec<String>,
    /// Lobbies this process knows: learnt when it posts one, or from a click on an old one
    /// (after a restart the click itself says where the lobby is).
    lobbies: DashMap<SessionId, Lobby>,
    /// Sessions whose thread is being streamed right now.
    live: Mutex<HashMap<SessionId, LiveThread>>,
    /// Slack user → user-group ids, refreshed at most once per [`GROUPS_TTL`].
    groups: Mutex<Option<GroupsCache>>,
    uses_groups: bool,
    /// Stops the event loop and background work on shutdown.
    pub(crate) shutdown: CancellationToken,
    limits: SinkLimits,
}

/// When the user-group listing was fetched, and Slack user → user-group ids.
type GroupsCache = (tokio::time::Instant, HashMap<String, Vec<String>>);

/// How long a user-group listing is trusted.
const GROUPS_TTL: Duration = Duration::from_secs(60);

/// Builds the Web API client for `api_url` (HTTPS with the system's roots; plain HTTP only when
/// the URL says so, i.e. a local fake).
pub fn client(api_url: &str) -> anyhow::Result<Arc<Client>> {
    let plain_http = api_url.starts_with("http://");
    let https = match hyper_rustls::HttpsConnectorBuilder::new().with_native_roots() {
        Ok(builder) => builder,
        // A local fake over plain HTTP needs no roots (test machines may have none).
        Err(_) if plain_http => {
            let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls)
        }
        Err(e) => anyhow::bail!("cannot load the system's TLS root certificates to reach Slack ({e}); install the CA certificates (e.g. the ca-certificates package)"),
    };
    let connector = if plain_http {
        https.https_or_http()
    } else {
        https.https_only()
    }
    .enable_http1()
    .build();
    let connector = SlackClientHyperConnector::with_connector(connector)
        .with_slack_api_url(api_url)
        // Follow Slack's Retry-After on a 429 rather than failing the call.
        .with_rate_control(SlackApiRateControlConfig::new().with_max_retries(5));
    Ok(Arc::new(SlackClient::new(connector)))
}

impl SlackBot {
    /// The bot over `core`, configured by `core.config.slack`.
    pub fn new(core: Arc<Core>) -> anyhow::Result<Arc<SlackBot>> {
        let config = &core.config.slack;
        let environments: Vec<String> = core.config.environments.keys().cloned().collect();
        let uses_groups = core.config.role_mappings.iter().any(|m| m.platform == "slack");
        let bot_token = config.bot_token.as_ref().ok_or_else(|| {
            UserError::invalid("the Slack bot token is missing: set SLACK_BOT_TOKEN (or SLACK_BOT_TOKEN_FILE, or slack.bot_token_file) to the app's xoxb-… token")
        })?;
        let mut limits = SinkLimits::slack();
        // chat.update is tier 3 (≈ 50/min per workspace): leave room for lobby updates.
        limits.edits =
            cloud_chat::batcher::EditBudget::Own(cloud_chat::batcher::RateBudget::new(40, Duration::from_secs(60)));
        Ok(Arc::new(SlackBot {
            store: core.store.clone(),
            orchestrator: core.orchestrator.clone(),
            client: client(&config.api_url)?,
            token: SlackApiToken::new(bot_token.expose_secret().to_string().into()),
            environments,
            lobbies: DashMap::new(),
            live: Mutex::new(HashMap::new()),
            groups: Mutex::new(None),
            uses_groups,
            shutdown: CancellationToken::new(),
            limits,
            core,
        }))
    }

    pub(crate) fn session(&self) -> SlackClientSession<'_, SlackClientHyperConnector<SlackHyperHttpsConnector>> {
        self.client.open_session(&self.token)
    }

    /// Checks the bot token (`auth.test`) and starts rendering orchestrator events.
    pub async fn start(self: &Arc<Self>) -> anyhow::Result<()> {
        let auth = self
            .session()
            .auth_test()
            .await
            .map_err(|e| UserError::invalid(format!("Slack refused the bot token ({e}); check SLACK_BOT_TOKEN")))?;
        info!(team = %auth.team_id, bot = %auth.user_id, "slack: connected");
        let bot = self.clone();
        let events = self.orchestrator.subscribe();
        tokio::spawn(async move { bot.event_loop(events).await }.instrument(info_span!("slack_events")));
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
        let row = self.store.lobby(id, Platform::Slack).await.ok().flatten()?;
        let lobby = Lobby {
            channel: row.channel_id,
            ts: row.message_id,
        };
        self.lobbies.insert(id, lobby.clone());
        Some(lobby)
    }

    /// Remembers where a session's lobby is, here and in the store.
    async fn remember_lobby(&self, id: SessionId, lobby: &Lobby) {
        self.lobbies.insert(id, lobby.clone());
        let row = cloud_core::store::ChatLobbyRow {
            session_id: id,
            platform: Platform::Slack,
            channel_id: lobby.channel.clone(),
            message_id: lobby.ts.clone(),
            thread_id: Some(lobby.ts.clone()),
        };
        if let Err(e) = self.store.save_lobby(&row).await {
            warn!(session = %id, error = %e, "slack: cannot record the lobby");
        }
    }

    /// The lobby view model of a session, with the stacks other sessions hold while it waits.
    async fn lobby_view(&self, view: &cloud_core::orchestrator::SessionView) -> LobbyView {
        let mut extras = LobbyExtras::default();
        let s = &view.session;
        if s.state == SessionState::Draft && view.locks.is_empty() && view.queue.is_none() {
            let blockers = self.store.lock_blockers(s.id).await.unwrap_or_default();
            for stack in &s.stacks {
                let needle = format!("-{stack}-");
                if let Some(h) = blockers.iter().find(|h| h.stack.contains(&needle)) {
                    extras.busy.push(BusyStack {
                        stack: stack.clone(),
                        held_by: h.session,
                    });
                }
            }
        }
        LobbyView::new(view, &extras)
    }

    async fn actor(&self, user: &str) -> Actor {
        let principal = Principal::new(Platform::Slack, user);
        let groups = if self.uses_groups {
            self.user_groups(user).await
        } else {
            vec![]
        };
        Actor { principal, groups }
    }

    /// The user groups of `user` (`usergroups.list` with members, cached).
    async fn user_groups(&self, user: &str) -> Vec<String> {
        let mut cache = self.groups.lock().await;
        let fresh = cache.as_ref().map(|(at, _)| at.elapsed() < GROUPS_TTL).unwrap_or(false);
        if !fresh {
            let request = SlackApiUserGroupsListRequest::new().with_include_users(true);
            match self.session().usergroups_list(&request).await {
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
                    *cache = Some((tokio::time::Instant::now(), by_user));
                }
                Err(e) => warn!(error = %e, "slack: cannot list user groups; group role mappings do not apply"),
            }
        }
        cache
            .as_ref()
            .and_then(|(_, m)| m.get(user).cloned())
            .unwrap_or_default()
    }

    // ---------------------------------------------------------------- slash commands

    /// Handles a slash command and returns the acknowledgement (an ephemeral message, or an
    /// in-channel one). Never fails: errors become ephemeral replies.
    pub async fn on_command(self: &Arc<Self>, ev: SlackCommandEvent) -> SlackCommandEventResponse {
        let user = ev.user_id.to_string();
        let started = std::time::Instant::now();
        metrics::counter!(metric::INTERACTIONS, "platform" => "slack", "kind" => "command").increment(1);
        let span = info_span!("slack_command", command = %ev.command, user = %user);
        let reply = self.command(ev).instrument(span).await;
        // The acknowledgement leaves right after this (HTTP response or Socket Mode ack).
        metrics::histogram!(metric::FIRST_RESPONSE, "platform" => "slack").record(started.elapsed().as_secs_f64());
        match reply {
            Ok(Ack::Ephemeral(text)) => ephemeral(&text),
            Ok(Ack::InChannel(text)) => ephemeral(&text).with_response_type(SlackMessageResponseType::InChannel),
            Ok(Ack::Empty) => SlackCommandEventResponse::new(SlackMessageContent::new()),
            Err(e) => ephemeral(&format!(":no_entry: {}", e.message)),
        }
    }

    async fn command(self: &Arc<Self>, ev: SlackCommandEvent) -> Result<Ack, UserError> {
        let parsed = commands::parse(
            ev.command.as_ref(),
            ev.text.as_deref().unwrap_or(""),
            &self.environments,
        )?;
        let actor = self.actor(ev.user_id.as_ref()).await;
        let channel = ev.channel_id.to_string();
        info!(?parsed, "slack: command");
        // Every intent goes to the orchestrator with the actor (user and groups): it gates,
        // checks quotas and records the audit row; this adapter only renders the answer.
        let orch = &self.orchestrator;
        match parsed {
            SlashCommand::Help(text) => Ok(Ack::Ephemeral(text)),
            SlashCommand::Deploy(args) => {
                let stacks = (!args.stacks.is_empty()).then(|| args.stacks.join(","));
                let opened = actions::deploy(&self.core, &actor, &args.project, &args.env, stacks.as_deref())
                    .await
                    .map_err(refusal)?;
                let s = opened.record;
                let bot = self.clone();
                let response_url = ev.response_url.clone();
                let busy = opened.busy.is_some();
                self.core.spawn_work(
                    async move {
                        if let Err(e) = bot.open_lobby(s.id, &channel).await {
                            // Without a lobby nobody can see or approve the plan: give the stacks
                            // back and tell the requester how to fix it (the response URL works
                            // where the bot cannot post).
                            warn!(session = %s.id, error = %e, "slack: cannot post the lobby");
                            let _ = bot.orchestrator.cancel(s.id, actor, "the Slack lobby could not be posted").await;
                            let text = format!(
                                ":warning: I could not post the lobby in this channel (Slack said `{}`). Invite me with `/invite @cloud`, or run the command in a channel I am in. Session `{}` was cancelled; nothing ran.",
                                slack_error_code(&e),
                                s.id.short()
                            );
                            bot.respond(&response_url, &text).await;
                            return;
                        }
                        // Busy stacks: the lobby offers Queue; nothing is planned yet.
                        if !busy {
                            actions::plan(&bot.core, s.id, actor);
                        }
                    }
                    .instrument(info_span!("slack_deploy", session = %s.id)),
                );
                Ok(Ack::Ephemeral(match opened.busy {
                    Some(text) => format!(
                        "{}\nPress *Queue* on the lobby to wait in line, or *Cancel*.",
                        blocks::escape(&text)
                    ),
                    None => mrkdwn(&view::session_started_message(s.id, &s.project, &s.env).text),
                }))
            }
            SlashCommand::Approve { session, digest } => {
                let s = self.store.find_session(&session).await.map_err(store_error)?;
                let digest = match digest.or_else(|| s.digest.as_ref().map(|d| d.short().to_string())) {
                    Some(d) => d,
                    None => {
                        return Err(UserError::invalid(format!(
                            "session {} has no plan to approve (it is {})",
                            s.id.short(),
                            s.state
                        )))
                    }
                };
                let button = ButtonId::approve(s.id, &digest);
                let (_, reply) = actions::approve(&self.core, &actor, &button).await.map_err(refusal)?;
                self.refresh_lobby(s.id).await;
                Ok(Ack::Ephemeral(mrkdwn(&reply.text)))
            }
            SlashCommand::List => {
                let sessions = orch
                    .list(&SessionFilter {
                        limit: Some(50),
                        ..Default::default()
                    })
                    .await
                    .map_err(user_error)?;
                let sessions = self.readable(&actor, sessions).await;
                Ok(Ack::Ephemeral(session_list(
                    "Latest sessions you can read",
                    &sessions[..sessions.len().min(20)],
                )))
            }
            SlashCommand::AdminList => {
                let sessions = orch
                    .admin_list(
                        actor.clone(),
                        &SessionFilter {
                            active: true,
                            ..Default::default()
                        },
                    )
                    .await
                    .map_err(user_error)?;
                Ok(Ack::Ephemeral(session_list("Active sessions", &sessions)))
            }
            SlashCommand::Status { session } => match session {
                None => {
                    let sessions = orch
                        .list(&SessionFilter {
                            active: true,
                            ..Default::default()
                        })
                        .await
                        .map_err(user_error)?;
                    let sessions = self.readable(&actor, sessions).await;
                    Ok(Ack::Ephemeral(session_list("Active sessions you can read", &sessions)))
                }
                Some(text) => {
                    let s = self.store.find_session(&text).await.map_err(store_error)?;
                    let view = orch.view(s.id, actor.clone()).await.map_err(user_error)?;
                    Ok(Ack::Ephemeral(format!(
                        "```{}```",
                        blocks::escape(&cloud_chat::text::status(&view))
                    )))
                }
            },
            SlashCommand::Projects => {
                let projects = self.store.projects().await.map_err(store_error)?;
                if projects.is_empty() {
                    return Ok(Ack::Ephemeral(
                        "No projects yet; an admin creates one with `/cloud-create-project <name> <org>`.".into(),
                    ));
                }
                let lines: Vec<String> = projects
                    .iter()
                    .map(|p| {
                        format!(
                            "• *{}* (org {}, {}) envs {}",
                            p.name,
                            p.org,
                            p.provider,
                            p.environments.join(", ")
                        )
                    })
                    .collect();
                Ok(Ack::Ephemeral(lines.join("\n")))
            }
            SlashCommand::Quota { project } => {
                let usage = orch.quota_show(actor.clone(), &project).await.map_err(user_error)?;
                Ok(Ack::Ephemeral(format!("```{}```", blocks::escape(&usage.render()))))
            }
            SlashCommand::Cancel { session, reason } => {
                let s = self.store.find_session(&session).await.map_err(store_error)?;
                let reason = reason.unwrap_or_else(|| "cancelled from Slack".into());
                let (_, reply) = actions::cancel(&self.core, &actor, s.id, &reason)
                    .await
                    .map_err(refusal)?;
                self.refresh_lobby(s.id).await;
                Ok(Ack::Ephemeral(mrkdwn(&reply.text)))
            }
            SlashCommand::AdminCancel { session, reason } => {
                let s = self.store.find_session(&session).await.map_err(store_error)?;
                let s = orch
                    .admin_cancel(actor.clone(), s.id, &reason)
                    .await
                    .map_err(user_error)?;
                Ok(Ack::Ephemeral(format!("Session `{}` is {}.", s.id.short(), s.state)))
            }
            SlashCommand::Logs { session } => {
                let s = self.store.find_session(&session).await.map_err(store_error)?;
                orch.view(s.id, actor.clone()).await.map_err(user_error)?;
                let lines = self.store.logs(s.id, 0).await.map_err(store_error)?;
                if lines.is_empty() {
                    return Ok(Ack::Ephemeral(format!(
                        "No engine output recorded for session `{}` yet.",
                        s.id.short()
                    )));
                }
                let text: String = lines.iter().map(|l| format!("[{}] {}\n", l.stack, l.line)).collect();
                let thread = self.lobby(s.id).filter(|l| l.channel == channel).map(|l| l.ts);
                let bot = self.clone();
                let filename = format!("session-{}.log", s.id.short());
                tokio::spawn(async move {
                    if let Err(e) = sink::upload(&bot, &channel, thread.as_deref(), &filename, &text).await {
                        warn!(error = %e, "slack: cannot upload the log");
                    }
                });
                Ok(Ack::Ephemeral(format!(
                    "Uploading the log of session `{}` ({} lines)…",
                    s.id.short(),
                    lines.len()
                )))
            }
            SlashCommand::Audit { session } => {
                let id = match session {
                    Some(text) => Some(self.store.find_session(&text).await.map_err(store_error)?.id),
                    None => None,
                };
                let entries = orch.audit_log(actor.clone(), id).await.map_err(user_error)?;
                let text = cloud_chat::text::audit(&entries);
                let tail: Vec<&str> = text
                    .lines()
                    .rev()
                    .take(30)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                Ok(Ack::Ephemeral(format!("```{}```", blocks::escape(&tail.join("\n")))))
            }
            SlashCommand::Grant(g) => {
                let expiry = match g.duration {
                    Some(d) => GrantExpiry::For(d),
                    None => GrantExpiry::Never,
                };
                let env = (g.env != "*").then(|| g.env.clone());
                let params = GrantParams {
                    principal: Principal::new(Platform::Slack, g.user.clone()),
                    project: g.project.clone(),
                    env,
                    role: g.role,
                    expiry,
                    reason: g.reason.clone(),
                };
                let grant = orch.grant(actor.clone(), params).await.map_err(user_error)?;
                let until = grant
                    .expires_at
                    .map(|t| format!(" until {}", t.format("%Y-%m-%d %H:%M UTC")))
                    .unwrap_or_default();
                Ok(Ack::InChannel(format!(
                    "{} granted <@{}> `{}` on {}/{}{until}: {} (grant `{}`; `/cloud-revoke {} <reason>` ends it)",
                    blocks::who(&actor.principal),
                    g.user,
                    grant.role,
                    grant.project,
                    grant.env,
                    blocks::escape(&g.reason),
                    grant.id,
                    grant.id
                )))
            }
            SlashCommand::Revoke { grant, reason } => {
                let row = orch.revoke(actor.clone(), &grant, &reason).await.map_err(user_error)?;
                Ok(Ack::InChannel(format!(
                    "{} revoked grant `{}` ({} `{}` on {}/{}): {}",
                    blocks::who(&actor.principal),
                    row.id,
                    blocks::who(&row.principal),
                    row.role,
                    row.project,
                    row.env,
                    blocks::escape(&reason)
                )))
            }
            SlashCommand::CreateProject {
                name,
                org,
                environments,
            } => {
                let p = orch
                    .create_project(
                        actor.clone(),
                        ProjectParams {
                            name,
                            org,
                            provider: "aws".into(),
                            environments,
                        },
                    )
                    .await
                    .map_err(user_error)?;
                Ok(Ack::Ephemeral(format!(
                    "Created project *{}* (org {}, environments {}).",
                    p.name,
                    p.org,
                    p.environments.join(", ")
                )))
            }
            SlashCommand::SetQuota { project, key, limit } => {
                let usage = orch
                    .quota_set(actor.clone(), &project, &key, limit)
                    .await
                    .map_err(user_error)?;
                Ok(Ack::Ephemeral(format!(
                    "Quota set.\n```{}```",
                    blocks::escape(&usage.render())
                )))
            }
            SlashCommand::Stats { days } => {
                let since = orch.now() - chrono::Duration::days(i64::from(days));
                let stats = orch.stats(actor.clone(), since).await.map_err(user_error)?;
                Ok(Ack::Ephemeral(format!(
                    "```{}```",
                    blocks::escape(&cloud_core::policy::stats::render(&stats))
                )))
            }
        }
    }

    /// The sessions whose project/environment the actor may read.
    async fn readable(
        &self,
        actor: &Actor,
        sessions: Vec<cloud_core::store::SessionRecord>,
    ) -> Vec<cloud_core::store::SessionRecord> {
        let mut out = Vec::new();
        for s in sessions {
            if actions::gate(&self.core, actor, &s.project, &s.env, Intent::Read)
                .await
                .is_ok()
            {
                out.push(s);
            }
        }
        out
    }

    /// Posts the lobby of a new session in `channel` and remembers it.
    async fn open_lobby(&self, id: SessionId, channel: &str) -> anyhow::Result<Lobby> {
        let view = self.orchestrator.status(id).await?;
        let lobby_view = self.lobby_view(&view).await;
        let request = SlackApiChatPostMessageRequest::new(
            channel.to_string().into(),
            SlackMessageContent::new()
                .with_text(blocks::lobby_text(&lobby_view))
                .with_blocks(blocks::lobby(&lobby_view, &view)),
        );
        let posted = self.session().chat_post_message(&request).await?;
        let lobby = Lobby {
            channel: posted.channel.to_string(),
            ts: posted.ts.to_string(),
        };
        self.remember_lobby(id, &lobby).await;
        // The plan may have moved on while the message was on its way.
        self.refresh_lobby(id).await;
        Ok(lobby)
    }

    /// Re-renders a session's lobby from the store (`chat.update`).
    async fn refresh_lobby(&self, id: SessionId) {
        let Some(lobby) = self.find_lobby(id).await else { return };
        let view = match self.orchestrator.status(id).await {
            Ok(v) => v,
            Err(e) => return warn!(session = %id, error = %e, "slack: cannot read the session for its lobby"),
        };
        let lobby_view = self.lobby_view(&view).await;
        let request = SlackApiChatUpdateRequest::new(
            lobby.channel.clone().into(),
            SlackMessageContent::new()
                .with_text(blocks::lobby_text(&lobby_view))
                .with_blocks(blocks::lobby(&lobby_view, &view)),
            lobby.ts.clone().into(),
        );
        if let Err(e) = self.session().chat_update(&request).await {
            warn!(session = %id, error = %e, "slack: cannot update the lobby");
        }
    }

    // ---------------------------------------------------------------- buttons

    /// Handles a button click. The ack is empty; the outcome shows in the lobby, and a refusal
    /// as an ephemeral message to the person who clicked.
    pub async fn on_interaction(self: &Arc<Self>, ev: SlackInteractionEvent) {
        let SlackInteractionEvent::BlockActions(ev) = ev else {
            return;
        };
        let Some(user) = ev.user.as_ref().map(|u| u.id.to_string()) else {
            return;
        };
        metrics::counter!(metric::INTERACTIONS, "platform" => "slack", "kind" => "component").increment(1);
        let channel = ev.container_channel();
        let message_ts = ev.container_ts();
        let response_url = ev.response_url.clone();
        for action in ev.actions.clone().unwrap_or_default() {
            let bot = self.clone();
            let user = user.clone();
            let channel = channel.clone();
            let message_ts = message_ts.clone();
            let response_url = response_url.clone();
            let span = info_span!("slack_click", action = %action.action_id, user = %user);
            // Clicks are acknowledged at once; the work (an approval may start an apply) runs on,
            // and its answer reaches the clicker alone through the click's response URL.
            tokio::spawn(
                async move {
                    let reply = match bot
                        .click(
                            &user,
                            channel.as_deref(),
                            message_ts.as_deref(),
                            action.action_id.as_ref(),
                        )
                        .await
                    {
                        Ok(reply) => reply,
                        Err(refusal) => {
                            info!(reply = %refusal.text, "slack: click refused");
                            refusal
                        }
                    };
                    let text = mrkdwn(&reply.text);
                    match (&response_url, &channel) {
                        (Some(url), _) => bot.respond(url, &text).await,
                        (None, Some(channel)) => bot.tell(channel, &user, &text).await,
                        (None, None) => {}
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
        message_ts: Option<&str>,
        action_id: &str,
    ) -> Result<view::Reply, view::Reply> {
        let id: ButtonId = actions::parse_button(action_id)?;
        // After a restart the click is how this process learns where the lobby is (and the
        // store, when the earlier instance recorded it).
        if self.find_lobby(id.session).await.is_none() {
            if let (Some(channel), Some(ts)) = (channel, message_ts) {
                self.remember_lobby(
                    id.session,
                    &Lobby {
                        channel: channel.into(),
                        ts: ts.into(),
                    },
                )
                .await;
            }
        }
        let actor = self.actor(user).await;
        let core = &self.core;
        let reply = match id.action {
            ButtonAction::Approve => actions::approve(core, &actor, &id).await?.1,
            ButtonAction::Cancel => actions::cancel(core, &actor, id.session, "cancelled from the Slack lobby").await?.1,
            ButtonAction::Refresh => actions::refresh(core, &actor, id.session).await?,
            ButtonAction::Queue => {
                let reply = actions::queue(core, &actor, id.session).await?;
                // Queued: wait for the stacks here too, since the session that frees them may
                // run in another process (the CLI) whose events this one never sees.
                let session = id.session;
                let bot = self.clone();
                self.core.spawn_work(
                    async move {
                        if bot.store.session(session).await.map(|s| s.state == SessionState::Draft).unwrap_or(false) {
                            match bot.orchestrator.wait_for_locks(session).await {
                                Ok(_) if bot.store.session(session).await.map(|s| s.state == SessionState::Draft).unwrap_or(false) => {
                                    actions::plan(&bot.core, session, actor)
                                }
                                Ok(_) => {}
                                Err(e) => info!(error = %e, "slack: stopped waiting for the stacks"),
                            }
                        }
                    }
                    .instrument(info_span!("slack_queue", session = %session)),
                );
                reply
            }
            ButtonAction::Stacks => view::Reply::ephemeral(
                "Slack lobbies have no stack picker: run `/cloud-deploy <project> <env> <stacks…>` for another set of stacks.",
            ),
        };
        self.refresh_lobby(id.session).await;
        Ok(reply)
    }

    /// An ephemeral reply through a command's or click's response URL.
    async fn respond(&self, url: &SlackResponseUrl, text: &str) {
        let request = SlackApiPostWebhookMessageRequest::new(SlackMessageContent::new().with_text(text.to_string()));
        if let Err(e) = self.client.respond_to_event(url, &request).await {
            warn!(error = %e, "slack: cannot answer through the response URL");
        }
    }

    /// An ephemeral message to one person.
    async fn tell(&self, channel: &str, user: &str, text: &str) {
        let request = SlackApiChatPostEphemeralRequest::new(
            channel.to_string().into(),
            user.to_string().into(),
            SlackMessageContent::new().with_text(text.to_string()),
        );
        if let Err(e) = self.session().chat_post_ephemeral(&request).await {
            warn!(error = %e, "slack: cannot send an ephemeral message");
        }
    }

    // ---------------------------------------------------------------- orchestrator events

    async fn event_loop(self: Arc<Self>, mut events: broadcast::Receiver<SessionEvent>) {
        loop {
            let event = tokio::select! {
                _ = self.shutdown.cancelled() => break,
                e = events.recv() => e,
            };
            let event = match event {
                Ok(e) => e,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    warn!(
                        missed = n,
                        "slack: fell behind the session events; the store keeps the full log"
                    );
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            };
            self.on_event(event).await;
        }
    }

    async fn on_event(self: &Arc<Self>, event: SessionEvent) {
        let id = event.session;
        // Progress only matters to threads this process streams (in memory); other events to
        // any lobby of ours, this instance's or an earlier one's (in the store).
        let streaming_only = matches!(
            event.kind,
            SessionEventKind::Progress { .. } | SessionEventKind::StackStateChanged { .. }
        );
        if !streaming_only && self.find_lobby(id).await.is_none() {
            return;
        }
        match event.kind {
            SessionEventKind::StateChanged { from, to } => {
                self.refresh_lobby(id).await;
                if to == SessionState::Applying {
                    self.start_thread(id).await;
                }
                if from == SessionState::Applying && to.is_terminal() {
                    self.finish_thread(id, to).await;
                }
            }
            SessionEventKind::StackStateChanged { stack, state, .. } => {
                let live = self.live.lock().await;
                let Some(thread) = live.get(&id) else { return };
                let input = match state {
                    StackState::Applying => Some(StackEvent::Started {
                        planned_steps: thread.planned.get(&stack).copied().unwrap_or(0),
                    }),
                    StackState::Applied | StackState::Failed | StackState::Skipped => {
                        let counts = self
                            .store
                            .session_stacks(id)
                            .await
                            .ok()
                            .and_then(|rows| rows.into_iter().find(|r| r.stack == stack).map(|r| r.counts))
                            .unwrap_or_default();
                        let result = match state {
                            StackState::Applied => StackResult::Applied,
                            StackState::Failed => StackResult::Failed,
                            _ => StackResult::Skipped,
                        };
                        Some(StackEvent::Finished { result, counts })
                    }
                    _ => None,
                };
                if let Some(event) = input {
                    let _ = thread.input.send(BatchInput::stack(&stack, event));
                }
            }
            SessionEventKind::Progress { stack, progress } => {
                if let Some(thread) = self.live.lock().await.get(&id) {
                    let _ = thread
                        .input
                        .send(BatchInput::stack(&stack, StackEvent::Progress(progress)));
                }
            }
            SessionEventKind::Queued { .. } | SessionEventKind::LocksGranted | SessionEventKind::Recovered { .. } => {
                self.refresh_lobby(id).await;
            }
            SessionEventKind::FollowUpOpened { follow_up } => {
                info!(session = %id, %follow_up, "slack: follow-up session opened");
                if let Some(lobby) = self.lobby(id) {
                    // The follow-up gets its own lobby beside the first one.
                    let bot = self.clone();
                    tokio::spawn(async move {
                        if let Err(e) = bot.open_lobby(follow_up, &lobby.channel).await {
                            warn!(session = %follow_up, error = %e, "slack: cannot post the follow-up lobby");
                        }
                    });
                }
            }
            SessionEventKind::Created | SessionEventKind::Approved { .. } => {}
        }
    }

    /// The session started applying: stream its progress into the lobby's thread.
    async fn start_thread(self: &Arc<Self>, id: SessionId) {
        let Some(lobby) = self.lobby(id) else { return };
        let planned = self
            .store
            .session(id)
            .await
            .ok()
            .and_then(|s| s.plan)
            .map(|p| {
                p.stacks
                    .iter()
                    .map(|e| (e.stack.clone(), e.preview.steps.len() as u32))
                    .collect()
            })
            .unwrap_or_default();
        let (input, rx) = mpsc::unbounded_channel();
        let sink = ThreadSink::new(self.clone(), lobby, format!("session-{}.log", id.short()));
        sink::spawn(sink, rx, self.limits.clone(), id);
        self.live.lock().await.insert(id, LiveThread { input, planned });
    }

    async fn finish_thread(&self, id: SessionId, to: SessionState) {
        let Some(thread) = self.live.lock().await.remove(&id) else {
            return;
        };
        let summary = match self.orchestrator.status(id).await {
            Ok(view) => SummaryView::new(&view).to_batcher_summary(),
            Err(_) => SessionSummary {
                outcome: match to {
                    SessionState::Applied => SessionOutcome::Applied,
                    SessionState::Cancelled => SessionOutcome::Cancelled,
                    _ => SessionOutcome::Failed,
                },
                headline: format!("session {}: {to}", id.short()),
                details: vec![],
            },
        };
        let _ = thread.input.send(BatchInput::SessionFinished(summary));
    }
}

/// What a command acknowledges with.
enum Ack {
    Ephemeral(String),
    /// Seen by the whole channel (grants and revocations are announced).
    InChannel(String),
    #[allow(dead_code)]
    Empty,
}

fn ephemeral(text: &str) -> SlackCommandEventResponse {
    let blocks = blocks::text_blocks(text);
    let mut content = SlackMessageContent::new().with_text(blocks::fit(text, 3000));
    if !blocks.is_empty() {
        content = content.with_blocks(blocks);
    }
    SlackCommandEventResponse::new(content).with_response_type(SlackMessageResponseType::Ephemeral)
}

fn user_error(e: OrchestratorError) -> UserError {
    e.to_user()
}

/// A shared chat reply (Discord-style markdown) as Slack mrkdwn: `**bold**` → `*bold*`.
fn mrkdwn(text: &str) -> String {
    text.replace("**", "*")
}

/// A refusal from the shared chat actions as this adapter's error.
fn refusal(reply: view::Reply) -> UserError {
    UserError::invalid(mrkdwn(&reply.text))
}

/// Slack's error code (`not_in_channel`, `channel_not_found`, …) when `e` is a Web API error.
fn slack_error_code(e: &anyhow::Error) -> String {
    match e.downcast_ref::<slack_morphism::errors::SlackClientError>() {
        Some(slack_morphism::errors::SlackClientError::ApiError(api)) => api.code.clone(),
        Some(other) => other.to_string(),
        None => e.to_string(),
    }
}

fn store_error(e: cloud_core::store::StoreError) -> UserError {
    OrchestratorError::from(e).to_user()
}

fn session_list(title: &str, sessions: &[cloud_core::store::SessionRecord]) -> String {
    if sessions.is_empty() {
        return format!("*{title}*: none. Start one with `/cloud-deploy <project> <env>`.");
    }
    let mut out = format!("*{title}*\n");
    for s in sessions {
        out.push_str(&format!(
            "• `{}` {} {}/{} {} by {} ({})\n",
            s.id.short(),
            s.state,
            s.project,
            s.env,
            s.operation,
            blocks::who(&s.requester),
            s.created_at.format("%Y-%m-%d %H:%M UTC")
        ));
    }
    out
}

/// Small accessors over slack-morphism's block_actions payload.
trait BlockActionsExt {
    fn container_channel(&self) -> Option<String>;
    fn container_ts(&self) -> Option<String>;
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
}
