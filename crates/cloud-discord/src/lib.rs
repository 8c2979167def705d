//! The Discord bot: poise slash commands, a persistent component handler keyed on the decided
//! button ids, and live lobbies and threads. It renders [`cloud_chat::view`] values and forwards
//! intents to [`cloud_chat::actions`]; no business rule lives here.
//!
//! - [`DiscordTransport`] runs inside `cloud serve --discord` (see [`crate::serve`]).
//! - Components are handled in the framework's event handler on `InteractionCreate`, by custom
//!   id, never by per-message collectors: a click after a restart still works.
//! - REST goes to `https://discord.com` in production; [`HttpMode`] points it at a fake for tests
//!   and the benchmark.

mod commands;
mod live;
pub mod render;

use std::sync::Arc;
use std::time::{Duration, Instant};

use poise::serenity_prelude as serenity;
use secrecy::{ExposeSecret, SecretString};
use serenity::{
    ComponentInteraction, ComponentInteractionDataKind, CreateInteractionResponse, CreateInteractionResponseFollowup,
    CreateInteractionResponseMessage, FullEvent, GatewayIntents, Http, HttpBuilder, Interaction,
};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn, Instrument};

use cloud_chat::actions;
use cloud_chat::service::{metric, Core, Transport};
use cloud_chat::view::{ButtonAction, Reply};
use cloud_core::policy::Actor;
use cloud_domain::error::UserError;
use cloud_domain::session::{Platform, Principal, SessionState};

pub(crate) type Error = Box<dyn std::error::Error + Send + Sync>;

/// The bot's state, shared by commands and the component handler.
pub struct Bot {
    pub(crate) core: Arc<Core>,
    pub(crate) live: Arc<live::Live>,
}

/// poise's user data: a handle on the one [`Bot`].
#[derive(Clone)]
pub struct Data(Arc<Bot>);

impl std::ops::Deref for Data {
    type Target = Bot;
    fn deref(&self) -> &Bot {
        &self.0
    }
}

/// Where REST requests go.
#[derive(Clone)]
pub enum HttpMode {
    /// `https://discord.com`, serenity's rate limiter on.
    Discord,
    /// Every request to `base` (e.g. a fake on loopback), serenity's rate limiter off (serenity
    /// ignores a proxy while its limiter is on). The bot's own pacer still keeps it under the
    /// per-channel buckets.
    Proxy(String),
    /// `https://discord.com` through this client (e.g. one that resolves discord.com to a fake
    /// and trusts its certificate), serenity's rate limiter on.
    Client(reqwest::Client),
}

/// `cloud serve --discord`.
pub struct DiscordTransport {
    pub token: SecretString,
    /// Register commands in this guild (instant) rather than globally.
    pub guild_id: Option<u64>,
    pub http: HttpMode,
}

impl DiscordTransport {
    fn build_http(&self) -> Http {
        let token = self.token.expose_secret();
        match &self.http {
            HttpMode::Discord => Http::new(token),
            HttpMode::Proxy(base) => HttpBuilder::new(token)
                .proxy(base.clone())
                .ratelimiter_disabled(true)
                .build(),
            HttpMode::Client(client) => HttpBuilder::new(token).client(client.clone()).build(),
        }
    }
}

#[async_trait::async_trait]
impl Transport for DiscordTransport {
    fn name(&self) -> &'static str {
        "discord"
    }

    async fn run(self: Box<Self>, core: Arc<Core>, stop: CancellationToken) -> anyhow::Result<()> {
        let http = self.build_http();
        // Check the token before anything else: a rejected token is a configuration error.
        match http.get_current_user().await {
            Ok(me) => info!(bot = %me.name, id = %me.id, "Discord token accepted"),
            Err(serenity::Error::Http(serenity::HttpError::UnsuccessfulRequest(r)))
                if r.status_code.as_u16() == 401 =>
            {
                return Err(UserError::invalid(
                    "Discord rejected the bot token (401 Unauthorized); copy the token again from the Developer Portal (Bot → Reset Token) into DISCORD_TOKEN or the token file",
                )
                .into());
            }
            Err(e) => return Err(anyhow::anyhow!("Cannot reach Discord to check the bot token: {e}")),
        }
        let guild_id = self.guild_id;
        let http_arc = Arc::new(http);
        let live = live::Live::start(core.clone(), http_arc.clone());
        let data = Data(Arc::new(Bot {
            core: core.clone(),
            live,
        }));
        let setup_data = data.clone();
        let setup_core = core.clone();
        let framework = poise::Framework::builder()
            .options(poise::FrameworkOptions {
                commands: commands::all(),
                event_handler: |ctx, event, _framework, data| Box::pin(on_event(ctx, event, data)),
                on_error: |err| Box::pin(on_error(err)),
                ..Default::default()
            })
            .initialize_owners(false)
            .setup(move |ctx, ready, framework| {
                Box::pin(async move {
                    let cmds = &framework.options().commands;
                    match guild_id {
                        Some(g) => poise::builtins::register_in_guild(ctx, cmds, serenity::GuildId::new(g)).await?,
                        None => poise::builtins::register_globally(ctx, cmds).await?,
                    }
                    info!(user = %ready.user.name, commands = cmds.len(), guild = ?guild_id, "Discord commands registered");
                    setup_core.set_connected("discord", true);
                    Ok(setup_data)
                })
            })
            .build();
        // The client's own Http: same settings as the one above.
        let client_http = self.build_http();
        let mut client = serenity::ClientBuilder::new_with_http(client_http, GatewayIntents::GUILDS)
            .framework(framework)
            .await
            .map_err(|e| anyhow::anyhow!("Cannot build the Discord client: {e}"))?;
        let shards = client.shard_manager.clone();
        let stopper = {
            let core = core.clone();
            tokio::spawn(async move {
                stop.cancelled().await;
                core.set_connected("discord", false);
                shards.shutdown_all().await;
            })
        };
        let result = client.start().await;
        stopper.abort();
        core.set_connected("discord", false);
        result.map_err(|e| match e {
            serenity::Error::Gateway(serenity::GatewayError::InvalidAuthentication) => {
                UserError::invalid("Discord rejected the bot token on the gateway; check DISCORD_TOKEN").into()
            }
            other => anyhow::anyhow!("The Discord client stopped: {other}"),
        })
    }
}

async fn on_error(err: poise::FrameworkError<'_, Data, Error>) {
    match err {
        poise::FrameworkError::Command { error, ctx, .. } => {
            let reference = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
            error!(reference, command = %ctx.command().name, error = %error, "command failed");
            let reply = cloud_chat::view::internal_error_message(&reference);
            let _ = ctx
                .send(poise::CreateReply::default().content(reply.text).ephemeral(true))
                .await;
        }
        poise::FrameworkError::ArgumentParse { error, input, ctx, .. } => {
            let text = format!(
                "⚠️ Invalid option{}: {error}. Check the command's options and try again.",
                input.map(|i| format!(" `{i}`")).unwrap_or_default()
            );
            let _ = ctx
                .send(poise::CreateReply::default().content(text).ephemeral(true))
                .await;
        }
        other => {
            if let Err(e) = poise::builtins::on_error(other).await {
                warn!(error = %e, "error while handling an error");
            }
        }
    }
}

async fn on_event(ctx: &serenity::Context, event: &FullEvent, data: &Data) -> Result<(), Error> {
    match event {
        FullEvent::InteractionCreate {
            interaction: Interaction::Component(component),
        } => {
            let data = data.0.clone();
            let http = ctx.http.clone();
            let component = component.clone();
            let span =
                tracing::info_span!("discord_component", id = %component.data.custom_id, user = %component.user.id);
            // Off the gateway task: a slow handler must not delay the next interaction.
            tokio::spawn(async move { on_component(&http, &data, &component).await }.instrument(span));
        }
        FullEvent::Ready { .. } => data.core.set_connected("discord", true),
        FullEvent::ShardStageUpdate { event } => {
            let up = matches!(event.new, serenity::ConnectionStage::Connected);
            data.core.set_connected("discord", up);
        }
        _ => {}
    }
    Ok(())
}

fn component_actor(c: &ComponentInteraction) -> Actor {
    Actor {
        principal: Principal::new(Platform::Discord, c.user.id.to_string()),
        groups: c
            .member
            .as_ref()
            .map(|m| m.roles.iter().map(|r| r.to_string()).collect())
            .unwrap_or_default(),
    }
}

/// The persistent component handler: every lobby button and the stack picker, by custom id.
async fn on_component(http: &Arc<Http>, data: &Arc<Bot>, c: &ComponentInteraction) {
    let started = Instant::now();
    metrics::counter!(metric::INTERACTIONS, "platform" => "discord", "kind" => "component").increment(1);
    let work = handle_component(data, c);
    tokio::pin!(work);
    let first = tokio::time::timeout(commands::DEFER_AFTER, &mut work).await;
    let result = match first {
        Ok(reply) => {
            let r = c
                .create_response(
                    http,
                    CreateInteractionResponse::Message(
                        CreateInteractionResponseMessage::new()
                            .content(render::fit(&reply.text, 2000))
                            .ephemeral(reply.ephemeral),
                    ),
                )
                .await;
            metrics::histogram!(metric::FIRST_RESPONSE, "platform" => "discord")
                .record(started.elapsed().as_secs_f64());
            r
        }
        Err(_) => {
            let deferred = c
                .create_response(
                    http,
                    CreateInteractionResponse::Defer(CreateInteractionResponseMessage::new().ephemeral(true)),
                )
                .await;
            metrics::histogram!(metric::FIRST_RESPONSE, "platform" => "discord")
                .record(started.elapsed().as_secs_f64());
            let reply = work.await;
            match deferred {
                Ok(()) => c
                    .create_followup(
                        http,
                        CreateInteractionResponseFollowup::new()
                            .content(render::fit(&reply.text, 2000))
                            .ephemeral(true),
                    )
                    .await
                    .map(|_| ()),
                Err(e) => Err(e),
            }
        }
    };
    if let Err(e) = result {
        warn!(error = %e, "cannot answer a component interaction");
    }
}

async fn handle_component(data: &Arc<Bot>, c: &ComponentInteraction) -> Reply {
    let button = match actions::parse_button(&c.data.custom_id) {
        Ok(b) => b,
        Err(reply) => return reply,
    };
    let actor = component_actor(c);
    let core = &data.core;
    // After a restart the session may not be followed yet: follow it before acting, so the
    // events of what this click starts reach its lobby and thread.
    data.live.ensure_attached(button.session).await;
    match button.action {
        ButtonAction::Approve => match actions::approve(core, &actor, &button).await {
            Ok((_, reply)) => reply,
            Err(reply) => reply,
        },
        ButtonAction::Cancel => {
            match actions::cancel(core, &actor, button.session, "cancelled from the Discord lobby").await {
                Ok((record, reply)) => {
                    if record.state == SessionState::Applying {
                        let text = cloud_chat::view::cancel_requested_announcement(&actor.principal)
                            .replace(&actor.principal.to_string(), &render::who(&actor.principal));
                        data.live.announce(button.session, &text).await;
                    }
                    reply
                }
                Err(reply) => reply,
            }
        }
        ButtonAction::Refresh => actions::refresh(core, &actor, button.session)
            .await
            .unwrap_or_else(|r| r),
        ButtonAction::Queue => actions::queue(core, &actor, button.session).await.unwrap_or_else(|r| r),
        ButtonAction::Stacks => {
            let values = match &c.data.kind {
                ComponentInteractionDataKind::StringSelect { values } => values.clone(),
                _ => return Reply::ephemeral("⚠️ The stack picker sent no selection; pick stacks from the menu."),
            };
            match actions::set_stacks(core, &actor, button.session, &values).await {
                Ok(new) => {
                    if let Some(row) = data.live.lobby_row(button.session).await {
                        if let Err(e) = data.live.move_lobby(&row, new.id).await {
                            warn!(error = %e, "cannot move the lobby to the new session");
                        }
                    }
                    actions::plan(core, new.id, actor.clone());
                    Reply::ephemeral(format!(
                        "🔍 Re-planning with {} as session `{}`.",
                        values.join(", "),
                        new.id.short()
                    ))
                }
                Err(reply) => reply,
            }
        }
    }
}

/// Time the bot allows itself before deferring (exported for docs and the benchmark).
pub const DEFER_AFTER: Duration = commands::DEFER_AFTER;
