//! A Slack workspace for end-to-end stories: the fake Slack, the real app (slack-morphism client
//! pointed at the fake) over HTTP or Socket Mode, a fresh data directory, a throwaway copy of the
//! repository's workspace (`TempWorkspace`) and the Pulumi stand-in as engine. `restart()` replaces the app with a new instance
//! on the same database, as a redeploy of the bot would.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use cloud::cli::App;
use cloud_chat::Core;
use cloud_core::config::{Config, Overrides, SlackTransport};
use cloud_core::policy::Role;
use cloud_core::store::NewGrant;
use cloud_domain::session::{Platform, Principal};
use cloud_slack::{SlackBot, SlackServer};

use cloud_testkit::fake_slack::{Ack, FakeSlack, Message, Transport};
use cloud_testkit::workspace::TempWorkspace;

/// People in the stories (Slack member ids).
pub const ALICE: &str = "U0ALICE";
pub const BOB: &str = "U0BOB";
pub const CAROL: &str = "U0CAROL";

pub struct SlackWorld {
    pub fake: FakeSlack,
    pub dir: tempfile::TempDir,
    /// The app's workspace: the repository's stacks, templates and configuration and the sample
    /// deployment, copied (never the checkout).
    pub workspace: TempWorkspace,
    pub config: Config,
    pub app: App,
    pub server: Option<SlackServer>,
    pub transport: Transport,
}

impl SlackWorld {
    pub async fn http() -> SlackWorld {
        SlackWorld::start(SlackTransport::Http, None).await
    }

    pub async fn socket() -> SlackWorld {
        SlackWorld::start(SlackTransport::Socket, None).await
    }

    /// `pulumi` = this binary instead of the stand-in (e.g. a script setting knobs).
    pub async fn start(transport: SlackTransport, pulumi: Option<PathBuf>) -> SlackWorld {
        SlackWorld::start_with(transport, pulumi, "").await
    }

    /// `extra_yaml` is appended to the configuration file (admins, role_mappings, …).
    pub async fn start_with(transport: SlackTransport, pulumi: Option<PathBuf>, extra_yaml: &str) -> SlackWorld {
        let fake = FakeSlack::start().await;
        let dir = tempfile::tempdir().unwrap();
        let workspace = TempWorkspace::sample();
        let config_file = dir.path().join("cloud.yaml");
        std::fs::write(
            &config_file,
            format!("environments:\n  stage:\n    approvals_required: 1\n    allow_self_approve: false\n{extra_yaml}"),
        )
        .unwrap();
        let mut env = BTreeMap::new();
        let mut set = |k: &str, v: String| {
            env.insert(k.to_string(), v);
        };
        set("CLOUD_DATA_DIR", dir.path().join("data").display().to_string());
        set("CLOUD_WORKSPACE", workspace.root().display().to_string());
        set(
            "CLOUD_PULUMI_BINARY",
            pulumi.unwrap_or_else(super::cli::standin).display().to_string(),
        );
        set("SLACK_BOT_TOKEN", fake.bot_token.clone());
        set("SLACK_SIGNING_SECRET", fake.signing_secret.clone());
        set("SLACK_APP_TOKEN", fake.app_token.clone());
        set("CLOUD_SLACK_API_URL", fake.api_url());
        set(
            "CLOUD_SLACK_TRANSPORT",
            match transport {
                SlackTransport::Http => "http",
                SlackTransport::Socket => "socket",
            }
            .into(),
        );
        set("CLOUD_SLACK_LISTEN", "127.0.0.1:0".into());
        let config = Config::load_with_env(
            &Overrides {
                config: Some(config_file),
                data_dir: None,
            },
            &env,
        )
        .expect("test configuration");
        let app = App::from_config(
            config.clone(),
            Principal::new(Platform::Slack, "U0BOT"),
            Default::default(),
            cloud_core::policy::system_clock(),
        )
        .await
        .expect("app starts");
        let mut world = SlackWorld {
            fake,
            dir,
            workspace,
            config,
            app,
            server: None,
            transport: Transport::Socket,
        };
        world.launch().await;
        world
    }

    async fn launch(&mut self) {
        let core = Core::new(
            self.config.clone(),
            self.app.store.clone(),
            self.app.orchestrator.clone(),
        );
        let bot = SlackBot::new(core.clone()).expect("bot");
        let listener = match self.config.slack.transport {
            SlackTransport::Http => Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()),
            SlackTransport::Socket => None,
        };
        let server = SlackServer::start(bot, &self.config.slack, listener)
            .await
            .expect("slack app starts");
        self.transport = match server.local_addr {
            Some(addr) => Transport::Http(format!("http://{addr}")),
            None => {
                self.fake
                    .wait_for("the app's Socket Mode connection", |f| {
                        f.socket_connected().then_some(())
                    })
                    .await;
                Transport::Socket
            }
        };
        self.server = Some(server);
    }

    /// Stops the app and starts a new instance on the same database (the old one forgets
    /// everything it held in memory).
    pub async fn restart(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
        if matches!(self.transport, Transport::Socket) {
            self.fake
                .wait_for("the old Socket Mode connection to close", |f| {
                    (!f.socket_connected()).then_some(())
                })
                .await;
        }
        self.app = App::from_config(
            self.config.clone(),
            Principal::new(Platform::Slack, "U0BOT"),
            Default::default(),
            cloud_core::policy::system_clock(),
        )
        .await
        .expect("app restarts");
        self.launch().await;
    }

    pub async fn grant(&self, user: &str, project: &str, env: &str, role: Role) {
        self.grant_principal(&Principal::new(Platform::Slack, user), project, env, role)
            .await
    }

    pub async fn grant_principal(&self, principal: &Principal, project: &str, env: &str, role: Role) {
        self.app
            .store
            .create_grant(NewGrant {
                principal: principal.clone(),
                project: project.into(),
                env: env.into(),
                role,
                expires_at: None,
                reason: "test story".into(),
                granted_by: "cli:admin".into(),
            })
            .await
            .unwrap();
    }

    /// `user` types `/command text`; what they read as the answer ([`Self::answer`]).
    pub async fn slash(&self, user: &str, command: &str, text: &str) -> Ack {
        let ack = self.fake.slash(&self.transport, user, command, text).await;
        self.answer(ack).await
    }

    /// What the person reads as the answer to a command: its acknowledgement, or, when the
    /// acknowledgement only said the answer is on its way ([`cloud_slack::WORKING_ON_IT`], the
    /// action took longer than [`cloud_slack::ACK_WITHIN`]), the message that followed through
    /// the command's response URL (same status, timing and request number; its body).
    pub async fn answer(&self, ack: Ack) -> Ack {
        if ack.status != 200 || ack.text() != cloud_slack::WORKING_ON_IT {
            return ack;
        }
        let body = self
            .fake
            .wait_for("the answer through the response URL", |f| {
                f.response_message(ack.request)
            })
            .await;
        Ack { body, ..ack }
    }

    /// `user` clicks the button whose action id starts with `cloud:<action>:` on `message`.
    pub async fn click(&self, user: &str, message: &Message, action: &str) -> Ack {
        let prefix = format!("cloud:{action}:");
        let id = message
            .action_ids()
            .into_iter()
            .find(|id| id.starts_with(&prefix))
            .unwrap_or_else(|| {
                panic!(
                    "no {action} button on the lobby; it has {:?}\n{}",
                    message.action_ids(),
                    self.fake.transcript()
                )
            });
        self.fake.click(&self.transport, user, &message.ts, &id).await
    }

    /// Waits for the (only) lobby to show `text`; returns it.
    pub async fn lobby_showing(&self, text: &str) -> Message {
        self.fake
            .wait_for(&format!("a lobby showing {text:?}"), |f| {
                f.channel_messages()
                    .into_iter()
                    .rev()
                    .find(|m| m.rendered().contains(text))
            })
            .await
    }

    pub async fn shutdown(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }
}
