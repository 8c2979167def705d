//! The Discord bot: poise slash commands, a persistent component handler keyed on the decided
//! button ids, and live lobbies and threads. Every command and click is one call of
//! [`cloud_chat::actions`] whose [`Reply`] it renders (and whose follow-ups it carries out); the
//! lobbies and threads render [`cloud_chat::feed`]. No business rule lives here, and nothing
//! below cloud-chat is reachable from here.
//!
//! - [`DiscordTransport`] runs inside `cloud serve --discord`.
//! - Components are handled in the framework's event handler on `InteractionCreate`, by custom
//!   id, never by per-message collectors: a click after a restart still works.
//! - REST goes to `https://discord.com`, or to the configured `discord.api_url` (a REST proxy, or
//!   a fake in tests): [`HttpMode`].

mod answer;
mod commands;
#[cfg(test)]
mod docs_check;
mod live;
mod pacer;
pub mod render;
mod tokens;

use std::sync::Arc;
use std::time::{Duration, Instant};

use poise::serenity_prelude as serenity;
use secrecy::{ExposeSecret, SecretString};
use serenity::{
    CommandInteraction, ComponentInteraction, ComponentInteractionDataKind, CreateAttachment,
    CreateInteractionResponse, CreateInteractionResponseFollowup, CreateInteractionResponseMessage, FullEvent,
    GatewayIntents, Http, HttpBuilder, Interaction,
};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn, Instrument};

use cloud_chat::actions;
use cloud_chat::service::{metric, Core, Transport};
use cloud_chat::view::{ButtonId, Reply};
use cloud_chat::Actor;
use cloud_domain::error::UserError;
use cloud_domain::session::{Platform, Principal};

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
    /// Every request to `base` (`discord.api_url`: a Discord REST proxy, or a fake on loopback),
    /// serenity's rate limiter off — serenity ignores a proxy while its limiter is on, and the
    /// proxy owns Discord's rate limits then. The bot's own pacer and output budgets stay on, so
    /// it still keeps under the per-channel buckets.
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
        let live = live::Live::start(core.clone(), http_arc.clone(), stop.clone());
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
                .send(
                    poise::CreateReply::default()
                        .content(reply.text())
                        .allowed_mentions(render::no_pings())
                        .ephemeral(true),
                )
                .await;
        }
        poise::FrameworkError::ArgumentParse { error, input, ctx, .. } => {
            let text = format!(
                "⚠️ Invalid option{}: {error}. Check the command's options and try again.",
                input.map(|i| format!(" `{i}`")).unwrap_or_default()
            );
            let _ = ctx
                .send(
                    poise::CreateReply::default()
                        .content(text)
                        .allowed_mentions(render::no_pings())
                        .ephemeral(true),
                )
                .await;
        }
        poise::FrameworkError::CommandStructureMismatch { description, ctx, .. } => {
            // A client with an outdated command list sent a required option short (or one this
            // version does not have): say how the command is used instead of staying silent.
            warn!(command = %ctx.command.name, description, "command options do not match");
            let text = commands::usage_message(ctx.command);
            let _ = poise::Context::Application(ctx)
                .send(
                    poise::CreateReply::default()
                        .content(text)
                        .allowed_mentions(render::no_pings())
                        .ephemeral(true),
                )
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
    Actor::with_groups(
        Principal::new(Platform::Discord, c.user.id.to_string()),
        c.member
            .as_ref()
            .map(|m| m.roles.iter().map(|r| r.to_string()).collect())
            .unwrap_or_default(),
    )
}

/// Who to answer after the first response: the interaction's followup webhook.
pub(crate) enum Responder {
    Command(Box<CommandInteraction>),
    Component(Box<ComponentInteraction>),
}

impl Responder {
    /// Sends an ephemeral followup message to the person who acted.
    pub(crate) async fn followup(&self, http: &Http, msg: CreateInteractionResponseFollowup) {
        let result = match self {
            Responder::Command(c) => c.create_followup(http, msg).await,
            Responder::Component(c) => c.create_followup(http, msg).await,
        };
        live::count_call("followup", &result);
        if let Err(e) = result {
            warn!(error = %e, "cannot send a followup to the interaction");
        }
    }

    /// A reply of an action, ephemeral, as a followup.
    pub(crate) async fn reply(&self, http: &Http, reply: &Reply) {
        let msg = CreateInteractionResponseFollowup::new()
            .content(render::fit(&reply.text(), 2000))
            .allowed_mentions(render::no_pings())
            .ephemeral(true);
        self.followup(http, msg).await;
    }

    /// A file, ephemeral, as a followup.
    pub(crate) async fn attach(&self, http: &Http, filename: &str, content: String) {
        let msg = CreateInteractionResponseFollowup::new()
            .content(format!("`{filename}`"))
            .allowed_mentions(render::no_pings())
            .add_file(CreateAttachment::bytes(content.into_bytes(), filename.to_string()))
            .ephemeral(true);
        self.followup(http, msg).await;
    }
}

/// The persistent component handler: every lobby button and the stack picker, by custom id.
async fn on_component(http: &Arc<Http>, data: &Arc<Bot>, c: &ComponentInteraction) {
    let started = Instant::now();
    metrics::counter!(metric::INTERACTIONS, "platform" => "discord", "kind" => "component").increment(1);
    let actor = component_actor(c);
    let work = handle_component(data, &actor, c);
    tokio::pin!(work);
    let first = tokio::time::timeout(answer::DEFER_AFTER, &mut work).await;
    let (result, reply) = match first {
        Ok(reply) => {
            let mut msg = CreateInteractionResponseMessage::new()
                .content(render::fit(&reply.text(), 2000))
                .allowed_mentions(render::no_pings())
                .ephemeral(reply.ephemeral);
            if !reply.buttons.is_empty() {
                msg = msg.components(render::button_rows(&reply.buttons));
            }
            let r = c.create_response(http, CreateInteractionResponse::Message(msg)).await;
            metrics::histogram!(metric::FIRST_RESPONSE, "platform" => "discord")
                .record(started.elapsed().as_secs_f64());
            (r, reply)
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
            let r = match deferred {
                Ok(()) => c
                    .create_followup(
                        http,
                        CreateInteractionResponseFollowup::new()
                            .content(render::fit(&reply.text(), 2000))
                            .allowed_mentions(render::no_pings())
                            .ephemeral(true),
                    )
                    .await
                    .map(|_| ()),
                Err(e) => Err(e),
            };
            (r, reply)
        }
    };
    if let Err(e) = result {
        warn!(error = %e, "cannot answer a component interaction");
    }
    let channel = c.channel_id.get();
    let responder = Responder::Component(Box::new(c.clone()));
    data.live.carry_out(&responder, &actor, channel, reply.follow_ups).await;
}

async fn handle_component(data: &Arc<Bot>, actor: &Actor, c: &ComponentInteraction) -> Reply {
    // After a restart the session may not be followed yet: follow it before acting, so the
    // events of what this click starts reach its lobby and thread.
    if let Ok(button) = c.data.custom_id.parse::<ButtonId>() {
        data.live.ensure_attached(button.session).await;
    }
    let selected: Vec<String> = match &c.data.kind {
        ComponentInteractionDataKind::StringSelect { values } => values.clone(),
        _ => vec![],
    };
    actions::click(&data.core, actor, &c.data.custom_id, &selected).await
}

/// Time the bot allows itself before deferring (exported for docs and the benchmark).
pub const DEFER_AFTER: Duration = answer::DEFER_AFTER;
