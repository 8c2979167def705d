//! `cloud serve`: run the chat bots over one core, with `/healthz`, `/metrics` and graceful
//! shutdown on SIGTERM (see [`crate::serve`]).

use clap::Args;
use tokio_util::sync::CancellationToken;

use super::GlobalArgs;
use crate::app::App;
use crate::serve::Served;
use cloud_chat::{Core, Transport};
use cloud_core::config::SlackTransport as SlackMode;
use cloud_core::store::{DISCORD_GATEWAY, SLACK_SOCKET};
use cloud_discord::{DiscordTransport, HttpMode};
use cloud_domain::error::UserError;
use cloud_slack::SlackTransport;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Run the Discord bot (token from DISCORD_TOKEN or discord.token_file)
    #[arg(long)]
    pub discord: bool,
    /// Run the Slack app (slack.transport: http or socket; tokens from SLACK_BOT_TOKEN,
    /// SLACK_SIGNING_SECRET, SLACK_APP_TOKEN or their files; see docs/slack.md)
    #[arg(long)]
    pub slack: bool,
    /// Serve the HTTP API (`/api/v1`, bearer tokens; docs/api.md) beside /healthz on
    /// serve.listen (CLOUD_SERVE_LISTEN)
    #[arg(long)]
    pub api: bool,
    /// Print the API's OpenAPI description (JSON, what docs/openapi.json holds) and exit
    #[arg(long, exclusive = true)]
    pub print_openapi: bool,
}

pub async fn cmd_serve(global: &GlobalArgs, args: &ServeArgs) -> anyhow::Result<()> {
    if args.print_openapi {
        crate::out!("{}", crate::api::openapi_json());
        return Ok(());
    }
    if !args.discord && !args.slack && !args.api {
        return Err(UserError::invalid(
            "choose what to serve: `cloud serve --discord`, `cloud serve --slack`, `cloud serve --api`, or several",
        )
        .into());
    }
    // Configuration errors first, before the database and the engine are touched.
    let config = crate::app::load_config(global)?;
    if args.discord && config.discord.token.is_none() {
        return Err(UserError::invalid(format!(
            "no Discord bot token: set {} (the token from the Developer Portal → your app → Bot)",
            config.discord.token_origin
        ))
        .into());
    }
    if args.slack {
        // What the configured transport needs, before anything connects.
        let slack = &config.slack;
        if slack.bot_token.is_none() {
            return Err(UserError::invalid("no Slack bot token: set SLACK_BOT_TOKEN (or SLACK_BOT_TOKEN_FILE, or slack.bot_token_file) to the app's xoxb-… token").into());
        }
        match slack.transport {
            SlackMode::Http if slack.signing_secret.is_none() => {
                return Err(UserError::invalid("the Slack HTTP transport needs the signing secret: set SLACK_SIGNING_SECRET (or SLACK_SIGNING_SECRET_FILE, or slack.signing_secret_file), or use `slack.transport: socket`").into());
            }
            SlackMode::Socket if slack.app_token.is_none() => {
                return Err(UserError::invalid("Slack Socket Mode needs the app-level token: set SLACK_APP_TOKEN (or SLACK_APP_TOKEN_FILE, or slack.app_token_file) to the xapp-… token with connections:write").into());
            }
            _ => {}
        }
    }
    let app = App::start_service(global).await?;
    // The gateway and Socket Mode allow one connection per bot: only the replica holding the
    // role's leader lease connects (docs/operations.md). Slack's HTTP Events go to any replica.
    let mut served: Vec<Served> = Vec::new();
    if args.discord {
        let token = app.config.discord.token.clone().expect("checked above");
        // `discord.api_url`: a Discord REST proxy, which then owns Discord's rate limits.
        let http = match &app.config.discord.api_url {
            Some(url) => HttpMode::Proxy(url.clone()),
            None => HttpMode::Discord,
        };
        let guild_id = app.config.discord.guild_id;
        served.push(Served::Leader {
            lease: DISCORD_GATEWAY,
            make: Box::new(move || -> Box<dyn Transport> {
                Box::new(DiscordTransport {
                    token: token.clone(),
                    guild_id,
                    http: http.clone(),
                })
            }),
        });
    }
    if args.slack {
        match app.config.slack.transport {
            SlackMode::Socket => served.push(Served::Leader {
                lease: SLACK_SOCKET,
                make: Box::new(|| -> Box<dyn Transport> { Box::new(SlackTransport::default()) }),
            }),
            SlackMode::Http => served.push(Served::Everywhere(Box::new(SlackTransport::default()))),
        }
    }
    crate::serve::metrics_handle();
    let core = Core::new(app.config, app.store, app.orchestrator);
    crate::serve::run_with(core, served, CancellationToken::new(), args.api).await
}
