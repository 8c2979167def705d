//! The Slack app: slash commands, the session lobby as Block Kit with Approve/Cancel/Refresh
//! buttons, live progress in the lobby's thread, over HTTP (Events API) or Socket Mode.
//!
//! Only this crate imports `slack_morphism`. Every command and click is one call of
//! [`cloud_chat::actions`] whose reply it renders as Block Kit; lobbies and threads render
//! [`cloud_chat::feed`]. It holds no business rule of its own and reaches nothing below
//! cloud-chat. docs/slack.md has the app manifest and the configuration.

mod app;
pub mod blocks;
pub mod commands;
pub mod http;

mod sink;
pub mod socket;
mod web;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

pub use app::{SlackBot, ACK_WITHIN, WORKING_ON_IT};
pub use web::{client, Lobby};

use cloud_chat::config::{SlackConfig, SlackTransport as Mode};
use cloud_chat::service::{Core, Transport};

/// `cloud serve --slack`: the Slack app as a transport of the shared core.
#[derive(Default)]
pub struct SlackTransport {
    /// Listen here instead of `slack.listen` (HTTP transport; tests bind port 0).
    pub listener: Option<tokio::net::TcpListener>,
}

#[async_trait::async_trait]
impl Transport for SlackTransport {
    fn name(&self) -> &'static str {
        "slack"
    }

    async fn run(self: Box<Self>, core: Arc<Core>, stop: CancellationToken) -> anyhow::Result<()> {
        let bot = SlackBot::new(core.clone())?;
        let server = SlackServer::start(bot, &core.config.slack, self.listener).await?;
        core.set_connected("slack", true);
        stop.cancelled().await;
        core.set_connected("slack", false);
        server.shutdown().await;
        Ok(())
    }
}

/// A running Slack app (either transport). Dropping it does not stop it: call
/// [`SlackServer::shutdown`].
pub struct SlackServer {
    pub bot: Arc<SlackBot>,
    /// The HTTP listener's address (HTTP transport only).
    pub local_addr: Option<std::net::SocketAddr>,
    http: Option<tokio::task::JoinHandle<()>>,
    socket: Option<socket::SocketMode>,
}

impl SlackServer {
    /// Checks the bot token, then starts the configured transport. `listener` replaces
    /// `config.listen` (tests bind port 0 themselves).
    pub async fn start(
        bot: Arc<SlackBot>,
        config: &SlackConfig,
        listener: Option<tokio::net::TcpListener>,
    ) -> anyhow::Result<SlackServer> {
        bot.start().await?;
        match config.transport {
            Mode::Http => {
                let router = http::router(bot.clone(), config)?;
                let listener = match listener {
                    Some(l) => l,
                    None => tokio::net::TcpListener::bind(&config.listen)
                        .await
                        .map_err(|e| anyhow::anyhow!("cannot listen on {} for Slack: {e}", config.listen))?,
                };
                let local_addr = listener.local_addr()?;
                let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                    // Acknowledgements leave at once: with Nagle's algorithm a response written
                    // while an earlier segment is unacknowledged waits for Slack's delayed ACK.
                    let _ = tcp.set_nodelay(true);
                });
                let shutdown = bot.shutdown.clone();
                let http = tokio::spawn(async move {
                    let served = axum::serve(listener, router)
                        .with_graceful_shutdown(async move { shutdown.cancelled().await })
                        .await;
                    if let Err(e) = served {
                        tracing::error!(error = %e, "slack: the HTTP listener stopped");
                    }
                });
                tracing::info!(%local_addr, "slack: listening for Slack requests (HTTP)");
                Ok(SlackServer {
                    bot,
                    local_addr: Some(local_addr),
                    http: Some(http),
                    socket: None,
                })
            }
            Mode::Socket => {
                let socket = socket::SocketMode::start(bot.clone(), config).await?;
                tracing::info!("slack: connected over Socket Mode");
                Ok(SlackServer {
                    bot,
                    local_addr: None,
                    http: None,
                    socket: Some(socket),
                })
            }
        }
    }

    /// Stops accepting requests and closes the connection.
    pub async fn shutdown(self) {
        self.bot.shutdown.cancel();
        if let Some(socket) = &self.socket {
            socket.shutdown().await;
        }
        if let Some(http) = self.http {
            let _ = http.await;
        }
    }
}
