//! `DiscordTester`: drives the real bot (poise + serenity, the real `Core`, the Pulumi stand-in as
//! the engine) through the fake Discord, so tests read like chat transcripts. Every wait has a
//! timeout that prints the conversation so far; `finish()` fails on replies the test did not read,
//! on requests the fake refused (the bot sent something Discord would reject), on late or double
//! acknowledgements, and on a crashed bot.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cloud_chat::{Core, Transport};
use cloud_core::config::{Config, Overrides};
use cloud_core::policy::Role;
use cloud_core::store::NewGrant;
use cloud_discord::{DiscordTransport, HttpMode};
use cloud_domain::session::{Platform, Principal};
use cloud_testkit::fake_discord::{FakeConfig, FakeDiscord, FakeUser, InteractionRef, StoredMessage};
use cloud_testkit::workspace::TempWorkspace;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// How long any single wait may take before the test fails with the transcript: a safety net
/// for a reply that never comes, not a timing assertion.
pub const WAIT: Duration = cloud_testkit::wait::SAFETY_NET;

struct RunningBot {
    core: Arc<Core>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

pub struct DiscordTester {
    pub fake: FakeDiscord,
    /// The channel the transcript happens in.
    pub channel: u64,
    /// The bot's workspace: copies of the repository's stacks, templates and configuration and
    /// the sample deployment (never the checkout).
    pub workspace: TempWorkspace,
    dir: tempfile::TempDir,
    config: Config,
    /// The configuration file (`cloud serve` processes read it through `CLOUD_CONFIG`).
    config_path: std::path::PathBuf,
    /// Knobs for the Pulumi stand-in.
    pub engine_env: BTreeMap<String, String>,
    /// HTTPS endpoint of the fake when serenity's own rate limiter is on.
    tls: Option<cloud_testkit::fake_discord::TlsEndpoint>,
    /// An in-process engine instead of the stand-in (the flood test).
    pub engine: Option<Arc<dyn cloud_core::engine::Engine>>,
    bot: Option<RunningBot>,
    /// Interactions the test created, and those whose reply it read.
    asked: Vec<u64>,
    read: HashSet<u64>,
    /// Added to the real time in the bot's access checks (grant expiry).
    clock_offset: Arc<Mutex<chrono::Duration>>,
    next_user: u64,
}

impl DiscordTester {
    /// A fake Discord with one channel, a fresh data dir and configuration: dev self-approves,
    /// stage needs one other approver, prod two.
    pub async fn new() -> DiscordTester {
        Self::with_fake(FakeConfig::default()).await
    }

    pub async fn with_fake(fake_config: FakeConfig) -> DiscordTester {
        let fake = FakeDiscord::start(fake_config).await.expect("fake discord starts");
        let channel = fake.add_channel("deployments");
        let dir = tempfile::tempdir().unwrap();
        let workspace = TempWorkspace::sample();
        let config_path = dir.path().join("cloud.yaml");
        std::fs::write(
            &config_path,
            format!(
                "workspace: {repo}\ndata_dir: {data}\npulumi:\n  binary: {standin}\n  cancel_grace: 10s\nenvironments:\n  dev: {{approvals_required: 1, allow_self_approve: true}}\n  stage: {{approvals_required: 1, allow_self_approve: false}}\n  prod: {{approvals_required: 2, allow_self_approve: false}}\nserve:\n  listen: 127.0.0.1:0\n  shutdown_timeout: 30s\n",
                repo = workspace.root().display(),
                data = dir.path().join("data").display(),
                standin = cloud_testkit::paths::standin().display(),
            ),
        )
        .unwrap();
        let config = Config::load_with_env(
            &Overrides {
                config: Some(config_path.clone()),
                data_dir: None,
            },
            &BTreeMap::new(),
        )
        .expect("test config loads");
        DiscordTester {
            fake,
            channel,
            workspace,
            dir,
            config,
            config_path,
            engine_env: BTreeMap::new(),
            engine: None,
            tls: None,
            bot: None,
            asked: vec![],
            read: HashSet::new(),
            clock_offset: Arc::new(Mutex::new(chrono::Duration::zero())),
            next_user: 100_000_000_000_000_001,
        }
    }

    /// Starts the bot and waits until it is connected and its commands are registered.
    pub async fn start_bot(&mut self) {
        assert!(self.bot.is_none(), "the bot is already running");
        let offset = self.clock_offset.clone();
        let clock: cloud_core::policy::Clock = Arc::new(move || chrono::Utc::now() + *offset.lock().unwrap());
        let app = match &self.engine {
            Some(engine) => {
                cloud::cli::App::from_parts(self.config.clone(), Principal::cli("test"), engine.clone(), clock).await
            }
            None => {
                cloud::cli::App::from_config(
                    self.config.clone(),
                    Principal::cli("test"),
                    self.engine_env.clone(),
                    clock,
                )
                .await
            }
        }
        .expect("app starts");
        cloud::serve::metrics_handle();
        let core = Core::new(app.config, app.store, app.orchestrator);
        let stop = CancellationToken::new();
        let transport = Box::new(DiscordTransport {
            token: self.fake.config().token.into(),
            guild_id: Some(self.fake.config().guild_id),
            http: match &self.tls {
                Some(tls) => HttpMode::Client(tls.client()),
                None => HttpMode::Proxy(self.fake.base_url()),
            },
        });
        let before = self.fake.state().identified;
        let task = tokio::spawn(transport.run(core.clone(), stop.clone()));
        let ready = self
            .fake
            .wait_for(WAIT, |s| {
                (s.identified > before && s.commands.contains_key("cloud-deploy")).then_some(())
            })
            .await;
        if ready.is_none() {
            panic!(
                "the bot did not connect and register its commands\n{}",
                self.transcript()
            );
        }
        // Registration happens in the framework's setup; an interaction that arrives before the
        // setup has returned waits for it inside poise, so the test may act at once.
        self.bot = Some(RunningBot { core, stop, task });
    }

    /// The stand-in's updates hold their first resource step, running, until
    /// [`DiscordTester::open_gate`] or a cancel (`PULUMI_STANDIN_APPLY_GATE`; call before
    /// `start_bot`): the test acts on a running apply without betting on how long it takes.
    pub fn hold_updates(&mut self) {
        let gate = self.dir.path().join("gate").display().to_string();
        self.engine_env.insert("PULUMI_STANDIN_APPLY_GATE".into(), gate);
    }

    /// Lets held updates go on.
    pub fn open_gate(&self) {
        std::fs::write(self.dir.path().join("gate"), "").unwrap();
    }

    /// Keep serenity's real rate limiter on: REST goes to `https://discord.com`, which resolves to
    /// the fake's HTTPS endpoint (call before `start_bot`).
    pub async fn use_real_rate_limiter(&mut self) {
        self.tls = Some(self.fake.start_tls().await.expect("the fake serves HTTPS"));
    }

    /// Connections the bot opened to the fake's HTTPS endpoint.
    pub fn tls_requests(&self) -> usize {
        self.tls.as_ref().map(|t| t.connections()).unwrap_or(0)
    }

    /// Stops the bot (like a process exit: running work is abandoned, nothing is cancelled).
    pub async fn stop_bot(&mut self) {
        let bot = self.bot.take().expect("the bot runs");
        bot.stop.cancel();
        let result = tokio::time::timeout(WAIT, bot.task)
            .await
            .expect("the bot stops")
            .expect("the bot task did not panic");
        result.expect("the bot stopped cleanly");
    }

    pub async fn restart_bot(&mut self) {
        self.stop_bot().await;
        self.start_bot().await;
    }

    /// The bot's data directory (its SQLite store): a CLI run pointed at it shares the store.
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    /// The bot's configuration file: a CLI run with `CLOUD_CONFIG` set to it sees what the bot sees.
    pub fn config_path(&self) -> &std::path::Path {
        &self.config_path
    }

    /// The bot's store, or (no bot in this process: a `cloud serve` process runs it) the same
    /// database opened from here.
    pub async fn store(&self) -> cloud_core::store::Store {
        match &self.bot {
            Some(bot) => bot.core.store().clone(),
            None => {
                self.config.prepare_data_dir().expect("the data dir is usable");
                cloud_core::store::Store::open(&self.config.database_url)
                    .await
                    .expect("the test opens the bot's database")
            }
        }
    }

    /// Rewrites the `serve.shutdown_timeout` of the configuration file (for `cloud serve`
    /// processes started after this).
    pub fn set_shutdown_timeout(&self, timeout: &str) {
        let text = std::fs::read_to_string(&self.config_path).unwrap();
        let text = text.replace("shutdown_timeout: 30s", &format!("shutdown_timeout: {timeout}"));
        std::fs::write(&self.config_path, text).unwrap();
    }

    /// The command `cloud <args>` in its own process over this tester's configuration and
    /// database, with `extra` variables and the stand-in's knobs in its environment (nothing
    /// else from the machine running the tests), stdin closed, killed if the test drops it.
    fn cloud_command(&self, args: &[&str], extra: &[(&str, &str)]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_cloud"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("CLOUD_CONFIG", &self.config_path)
            .envs(extra.iter().copied())
            .envs(&self.engine_env)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// The command `cloud serve --discord` as an operator runs it, over this tester's
    /// configuration, database and fake Discord (the stand-in's knobs in its environment),
    /// presenting `token` to Discord. Its stdout and stderr are the caller's to direct.
    pub fn serve_command(&self, token: &str) -> tokio::process::Command {
        let guild = self.fake.config().guild_id.to_string();
        let base_url = self.fake.base_url();
        self.cloud_command(
            &["serve", "--discord"],
            &[
                ("DISCORD_TOKEN", token),
                ("CLOUD_DISCORD_API_URL", base_url.as_str()),
                ("CLOUD_DISCORD_GUILD_ID", guild.as_str()),
            ],
        )
    }

    /// Runs `cloud serve --discord` ([`DiscordTester::serve_command`] with the fake's token) in
    /// its own process, and waits until it connected and registered its commands.
    pub async fn start_serve_process(&mut self) -> tokio::process::Child {
        assert!(self.bot.is_none(), "an in-process bot is running");
        let mut cmd = self.serve_command(&self.fake.config().token);
        cmd.stdout(std::process::Stdio::null());
        let before = self.fake.state().identified;
        let child = cmd.spawn().expect("cloud serve starts");
        let ready = self
            .fake
            .wait_for(WAIT, |s| {
                (s.identified > before && s.commands.contains_key("cloud-deploy")).then_some(())
            })
            .await;
        if ready.is_none() {
            panic!(
                "cloud serve did not connect and register its commands\n{}",
                self.transcript()
            );
        }
        child
    }

    /// Stops a `cloud serve` process as an operator does (SIGTERM) and returns its exit status
    /// once it has ended.
    pub async fn stop_serve_process(&self, serve: &mut tokio::process::Child) -> std::process::ExitStatus {
        let pid = serve.id().expect("serve runs") as i32;
        // SAFETY: kill(2) of a child this test started and has not reaped; nothing is dereferenced.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        tokio::time::timeout(WAIT, serve.wait())
            .await
            .unwrap_or_else(|_| panic!("cloud serve did not exit after SIGTERM\n{}", self.transcript()))
            .expect("waiting for cloud serve")
    }

    /// Runs `cloud <args>` in its own process over this tester's configuration and database (a
    /// user at a terminal beside the bot, a local admin like the repository's configuration),
    /// and returns its output.
    pub async fn cloud(&self, args: &[&str]) -> std::process::Output {
        let out = self.cli_command(args).output();
        tokio::time::timeout(WAIT, out)
            .await
            .unwrap_or_else(|_| panic!("cloud {args:?} did not finish"))
            .expect("cloud runs")
    }

    /// `cloud <args>` like [`DiscordTester::cloud`], running in the background in its own
    /// process group (a kill of the group reaches its engine processes too).
    pub fn spawn_cloud(&self, args: &[&str]) -> tokio::process::Child {
        self.cli_command(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .expect("cloud runs")
    }

    /// The command of [`DiscordTester::cloud`]: as `cli:ops`, a local admin.
    fn cli_command(&self, args: &[&str]) -> tokio::process::Command {
        self.cloud_command(args, &[("CLOUD_LOCAL_CLI_ADMIN", "true"), ("CLOUD_USER", "ops")])
    }

    /// `cloud <args>` like [`DiscordTester::cloud`], which must exit 0: its stdout and stderr.
    pub async fn cli(&self, args: &[&str]) -> String {
        let out = self.cloud(args).await;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "cloud {args:?} failed: {text}\n{}",
            self.transcript()
        );
        text
    }

    pub fn core(&self) -> Arc<Core> {
        self.bot.as_ref().expect("the bot runs").core.clone()
    }

    /// A new guild member.
    pub fn user(&mut self, name: &str) -> FakeUser {
        self.next_user += 1;
        FakeUser::new(self.next_user, name)
    }

    /// A new guild member with Discord's Manage Server permission: Discord offers them the
    /// bot's admin commands (registered with `default_member_permissions`); whether the bot lets
    /// them act is its own grants' business.
    pub fn moderator(&mut self, name: &str) -> FakeUser {
        self.user(name)
            .with_permissions(cloud_testkit::fake_discord::permissions::MANAGE_GUILD)
    }

    pub fn principal(user: &FakeUser) -> Principal {
        Principal::new(Platform::Discord, user.id.to_string())
    }

    /// Gives `user` a role on project/env, optionally expiring after `for_`.
    pub async fn grant(&self, user: &FakeUser, project: &str, env: &str, role: Role, for_: Option<Duration>) {
        self.store()
            .await
            .create_grant(NewGrant {
                principal: Self::principal(user),
                project: project.into(),
                env: env.into(),
                role,
                expires_at: for_.map(|d| chrono::Utc::now() + chrono::Duration::from_std(d).unwrap()),
                reason: "test".into(),
                granted_by: "cli:test".into(),
            })
            .await
            .unwrap();
    }

    /// Moves the bot's access clock forward.
    pub fn advance_clock(&self, by: Duration) {
        *self.clock_offset.lock().unwrap() += chrono::Duration::from_std(by).unwrap();
    }

    /// `user` runs `/name options…`.
    pub fn slash(&mut self, user: &FakeUser, name: &str, options: &[(&str, &str)]) -> InteractionRef {
        let opts: Vec<(&str, Value)> = options
            .iter()
            .map(|(k, v)| (*k, Value::String(v.to_string())))
            .collect();
        let i = self.fake.slash(user, self.channel, name, &opts);
        self.asked.push(i.id);
        i
    }

    /// `user` tries `/name options…`; `Err` says why Discord would not send it (e.g. the command
    /// is hidden from this member by its `default_member_permissions`).
    pub fn try_slash(
        &mut self,
        user: &FakeUser,
        name: &str,
        options: &[(&str, &str)],
    ) -> Result<InteractionRef, String> {
        let opts: Vec<(&str, Value)> = options
            .iter()
            .map(|(k, v)| (*k, Value::String(v.to_string())))
            .collect();
        let i = self.fake.try_slash(user, self.channel, name, &opts)?;
        self.asked.push(i.id);
        Ok(i)
    }

    /// `user` runs `/name options…` from a client with an outdated command list (a required
    /// option may be missing).
    pub fn slash_from_stale_client(&mut self, user: &FakeUser, name: &str, options: &[(&str, &str)]) -> InteractionRef {
        let opts: Vec<(&str, Value)> = options
            .iter()
            .map(|(k, v)| (*k, Value::String(v.to_string())))
            .collect();
        let i = self.fake.slash_from_stale_client(user, self.channel, name, &opts);
        self.asked.push(i.id);
        i
    }

    /// `user` asks `/cloud-deploy project:ecommerce env:<env> stacks:<stacks>`; returns the
    /// session's short id (from the reply, marked read) and its lobby once it shows PLAN_READY.
    pub async fn deploy_to_plan_ready(&mut self, user: &FakeUser, env: &str, stacks: &str) -> (String, StoredMessage) {
        let ask = self.slash(
            user,
            "cloud-deploy",
            &[("project", "ecommerce"), ("env", env), ("stacks", stacks)],
        );
        let short = Self::short_id(&self.reply_to(&ask).await);
        let lobby = self.lobby(&short).await;
        let lobby = self.lobby_state(lobby.id, "PLAN_READY").await;
        (short, lobby)
    }

    /// `user` clicks the button `cloud:<action>:…` of `message`; returns the reply, marked read.
    pub async fn press(&mut self, user: &FakeUser, message: u64, action: &str) -> StoredMessage {
        let click = self.click(user, message, action);
        self.reply_to(&click).await
    }

    /// `user` clicks the lobby's button whose id starts with `cloud:<action>:`.
    pub fn click(&mut self, user: &FakeUser, message: u64, action: &str) -> InteractionRef {
        let msg = self
            .fake
            .state()
            .messages
            .get(&message)
            .cloned()
            .expect("the message exists");
        let prefix = format!("cloud:{action}:");
        let comp = msg
            .component(&prefix)
            .unwrap_or_else(|| panic!("no {prefix} component on the lobby\n{}", self.transcript()));
        let id = comp["custom_id"].as_str().unwrap().to_string();
        let i = self
            .fake
            .click(user, message, &id)
            .unwrap_or_else(|e| panic!("{e}\n{}", self.transcript()));
        self.asked.push(i.id);
        i
    }

    /// `user` picks `values` in the lobby's stack picker (`cloud:stacks:…`), values as given (a
    /// picker drawn before the catalog changed can offer a stack that is gone).
    pub fn pick_stacks(&mut self, user: &FakeUser, message: u64, values: &[&str]) -> InteractionRef {
        let msg = self
            .fake
            .state()
            .messages
            .get(&message)
            .cloned()
            .expect("the message exists");
        let picker = msg
            .component("cloud:stacks:")
            .unwrap_or_else(|| panic!("no stack picker on the lobby\n{}", self.transcript()));
        let id = picker["custom_id"].as_str().unwrap().to_string();
        let i = self
            .fake
            .select(user, message, &id, values)
            .unwrap_or_else(|e| panic!("{e}\n{}", self.transcript()));
        self.asked.push(i.id);
        i
    }

    /// Clicks a custom id as given (e.g. an old button).
    pub fn click_id(&mut self, user: &FakeUser, message: u64, custom_id: &str) -> InteractionRef {
        let i = self
            .fake
            .click(user, message, custom_id)
            .unwrap_or_else(|e| panic!("{e}\n{}", self.transcript()));
        self.asked.push(i.id);
        i
    }

    /// The reply to an interaction (its response, or the followup that replaced the loading
    /// message), marked read.
    pub async fn reply_to(&mut self, i: &InteractionRef) -> StoredMessage {
        let id = i.id;
        let found = self
            .fake
            .wait_for(WAIT, |s| {
                let inter = s.interactions.get(&id)?;
                let orig = inter.original?;
                let m = s.messages.get(&orig)?;
                (!m.loading).then(|| m.clone())
            })
            .await;
        match found {
            Some(m) => {
                self.read.insert(id);
                m
            }
            None => panic!("no reply to interaction {id}\n{}", self.transcript()),
        }
    }

    /// Waits for a channel message (not an interaction reply) matching `check`.
    pub async fn wait_message(
        &self,
        channel: u64,
        what: &str,
        check: impl Fn(&StoredMessage) -> bool,
    ) -> StoredMessage {
        let found = self
            .fake
            .wait_for(WAIT, |s| {
                s.messages_in(channel)
                    .into_iter()
                    .find(|m| m.interaction.is_none() && check(m))
                    .cloned()
            })
            .await;
        found.unwrap_or_else(|| panic!("waited for {what} in channel {channel}\n{}", self.transcript()))
    }

    /// Waits until message `id` satisfies `check`.
    pub async fn wait_edit(&self, id: u64, what: &str, check: impl Fn(&StoredMessage) -> bool) -> StoredMessage {
        let found = self
            .fake
            .wait_for(WAIT, |s| s.messages.get(&id).filter(|m| check(m)).cloned())
            .await;
        found.unwrap_or_else(|| panic!("waited for message {id} to show {what}\n{}", self.transcript()))
    }

    /// The lobby posted for a session (its embed names the short id).
    pub async fn lobby(&self, short: &str) -> StoredMessage {
        self.wait_message(self.channel, &format!("the lobby of {short}"), |m| {
            !m.embeds.is_empty() && m.text().contains(short)
        })
        .await
    }

    /// Waits until the lobby shows `state`.
    pub async fn lobby_state(&self, lobby: u64, state: &str) -> StoredMessage {
        let needle = format!(" {state} ·");
        self.wait_edit(lobby, state, |m| {
            m.embeds
                .first()
                .and_then(|e| e["description"].as_str())
                .map(|d| d.contains(&needle))
                .unwrap_or(false)
        })
        .await
    }

    /// The thread opened on a message.
    pub async fn thread(&self, message: u64) -> u64 {
        let found = self
            .fake
            .wait_for(WAIT, |s| s.channels.get(&message).map(|c| c.id))
            .await;
        found.unwrap_or_else(|| panic!("no thread on message {message}\n{}", self.transcript()))
    }

    /// The session short id named in a reply ("Session `0b6a3c1e` …").
    pub fn short_id(reply: &StoredMessage) -> String {
        let text = reply.text();
        let start = text.find('`').expect("a session id in backticks") + 1;
        text[start..start + 8].to_string()
    }

    /// Everything said so far, for failure messages.
    pub fn transcript(&self) -> String {
        let st = self.fake.state();
        let mut out = String::from("---- transcript ----\n");
        for m in st.messages.values() {
            let where_ = st
                .channels
                .get(&m.channel_id)
                .map(|c| c.name.clone())
                .unwrap_or_default();
            let kind = if m.interaction.is_some() {
                if m.is_ephemeral() {
                    "ephemeral"
                } else {
                    "reply"
                }
            } else {
                "message"
            };
            let text = m.text();
            let text: String = text.chars().take(600).collect();
            out.push_str(&format!(
                "[{where_} #{}] {kind} {}: {}\n",
                m.id,
                if m.loading { "(loading)" } else { "" },
                text.replace('\n', "\n    ")
            ));
        }
        for r in st.requests.iter().filter(|r| r.status >= 400) {
            out.push_str(&format!("REFUSED {} {} → {}\n", r.method, r.path, r.status));
        }
        out
    }

    /// Fails on unread replies, refused requests, late/double acks, and a crashed bot.
    pub async fn finish(mut self) {
        let transcript = self.transcript();
        let unread: Vec<u64> = self.asked.iter().copied().filter(|i| !self.read.contains(i)).collect();
        assert!(
            unread.is_empty(),
            "interactions whose replies the test did not read: {unread:?}\n{transcript}"
        );
        {
            let st = self.fake.state();
            // 429s a test injected are Discord's doing, not the bot's mistakes.
            let mut excused = st.injected_429;
            let refused: Vec<String> = st
                .requests
                .iter()
                .filter(|r| r.status >= 400)
                .filter(|r| {
                    let injected = r.status == 429 && excused > 0;
                    excused -= usize::from(injected);
                    !injected
                })
                .map(|r| format!("{} {} → {}", r.method, r.path, r.status))
                .collect();
            assert!(
                refused.is_empty(),
                "the fake refused requests of the bot: {refused:?}\n{transcript}"
            );
            // Every message may echo what someone typed: none may go out without
            // allowed_mentions, and none may notify anyone.
            let careless: Vec<String> = st
                .messages
                .values()
                .filter(|m| !m.loading && (m.allowed_mentions.is_none() || m.pings()))
                .map(|m| format!("{}: {}", m.id, m.text()))
                .collect();
            assert!(
                careless.is_empty(),
                "messages sent without allowed_mentions, or that ping: {careless:?}\n{transcript}"
            );
            for i in st.interactions.values() {
                assert!(
                    i.refused.is_empty(),
                    "interaction {} had refused callbacks {:?}",
                    i.id,
                    i.refused
                );
                assert!(
                    i.acked.is_some(),
                    "interaction {} was never acknowledged\n{transcript}",
                    i.id
                );
            }
        }
        if let Some(bot) = self.bot.take() {
            assert!(
                !bot.task.is_finished(),
                "the bot task ended on its own: {:?}",
                bot.task.await
            );
            bot.stop.cancel();
            let r = tokio::time::timeout(WAIT, bot.task).await.expect("the bot stops");
            r.expect("bot task did not panic").expect("bot ended cleanly");
        }
    }
}
