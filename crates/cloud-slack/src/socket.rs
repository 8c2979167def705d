//! The Socket Mode transport: the app opens a websocket to Slack with its app-level token
//! (`apps.connections.open`) and receives the same slash commands and clicks as envelopes; each
//! is acknowledged with its `envelope_id` (a slash command's reply rides in the ack's payload).
//! No public URL is needed.

use std::sync::Arc;

use secrecy::ExposeSecret;
use slack_morphism::prelude::*;

use super::app::SlackBot;
use super::web::Client;
use cloud_chat::config::SlackConfig;
use cloud_domain::error::UserError;

type Connector = SlackClientHyperConnector<SlackHyperHttpsConnector>;

async fn on_command(
    ev: SlackCommandEvent,
    _client: Arc<Client>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    let bot = bot(&state).await;
    Ok(bot.on_command(ev).await)
}

async fn on_interaction(
    ev: SlackInteractionEvent,
    _client: Arc<Client>,
    state: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    let bot = bot(&state).await;
    bot.on_interaction(ev).await;
    Ok(())
}

async fn bot(state: &SlackClientEventsUserState) -> Arc<SlackBot> {
    // The read guard lives for this block only: the bot is cloned out before anything awaits.
    let guard = state.read().await;
    let bot = guard
        .get_user_state::<Arc<SlackBot>>()
        .expect("the bot is registered as user state")
        .clone();
    drop(guard);
    bot
}

/// A running Socket Mode listener; [`SocketMode::shutdown`] closes its connection.
pub struct SocketMode {
    listener: SlackClientSocketModeListener<Connector>,
}

impl SocketMode {
    pub async fn start(bot: Arc<SlackBot>, config: &SlackConfig) -> anyhow::Result<SocketMode> {
        let token = config.app_token.as_ref().ok_or_else(|| {
            UserError::invalid("Socket Mode needs the app-level token: set SLACK_APP_TOKEN (or SLACK_APP_TOKEN_FILE, or slack.app_token_file) to the xapp-… token with connections:write")
        })?;
        let token = SlackApiToken::new(token.expose_secret().to_string().into());
        let callbacks = SlackSocketModeListenerCallbacks::<Connector>::new()
            .with_command_events(on_command)
            .with_interaction_events(on_interaction);
        let env = Arc::new(SlackClientEventsListenerEnvironment::new(bot.web.client().clone()).with_user_state(bot));
        let listener = SlackClientSocketModeListener::new(
            &SlackClientSocketModeConfig::new()
                .with_max_connections_count(1)
                .with_initial_backoff_in_seconds(1),
            env,
            callbacks,
        );
        listener
            .listen_for(&token)
            .await
            .map_err(|e| UserError::invalid(format!("Slack refused to open a Socket Mode connection ({e}); check SLACK_APP_TOKEN and that Socket Mode is enabled for the app")))?;
        listener.start().await;
        Ok(SocketMode { listener })
    }

    pub async fn shutdown(&self) {
        self.listener.shutdown().await;
    }
}
