//! Two `cloud serve --discord` replicas on one PostgreSQL database (issue 15.7): exactly one
//! holds the Discord gateway (the leader lease), the other stands by. Twenty sessions run — ten
//! opened in Discord (driven by the leader), ten by `cloud deploy` processes — with every apply
//! held by the stand-in's gate. The leader is killed with SIGKILL mid-apply: the standby takes
//! the gateway over, ends the sessions the dead replica drove with each stack's truth, renders
//! that in their threads, and drives what is approved after the takeover; every stack is applied
//! exactly once and no thread shows an event twice or misses one.
//!
//! Needs `CLOUD_TEST_POSTGRES_URL`; without it the test says so and does nothing.

#[path = "support/cli.rs"]
mod cli;

use std::collections::BTreeMap;

use cli::{Cli, LogLines, Running};
use cloud_core::event_feed::EventFeed;
use cloud_core::policy::Role;
use cloud_core::store::{NewGrant, Store, DISCORD_GATEWAY};
use cloud_domain::session::{Platform, Principal, SessionState};
use cloud_testkit::db::{TestDatabase, POSTGRES_URL_VAR};
use cloud_testkit::fake_discord::{FakeConfig, FakeDiscord, FakeUser, StoredMessage};
use cloud_testkit::wait::SAFETY_NET;

/// Sessions opened in Discord (projects shop00…) and by `cloud deploy` (the rest).
const IN_DISCORD: usize = 10;
const BY_CLI: usize = 10;
/// Of the Discord sessions, how many are applying when the leader dies (the others wait for
/// their approval, which comes after the takeover).
const APPLYING_AT_KILL: usize = 6;

fn project(n: usize) -> String {
    format!("shop{n:02}")
}

/// One deployment per project (`D9REP<nn>`, dev only), so that every session has its own stack.
fn add_projects(cli: &Cli) {
    let sample = cli.workspace.path("deploy/D1BRV40-acme-corp-ecommerce/manifest.yaml");
    let text = std::fs::read_to_string(sample).unwrap();
    for n in 0..IN_DISCORD + BY_CLI {
        let id = format!("D9REP{n:02}");
        let text = text
            .replace("deployment_id: D1BRV40", &format!("deployment_id: {id}"))
            .replace("project: ecommerce", &format!("project: {}", project(n)))
            .replace("  stage:\n    enabled: true", "  stage:\n    enabled: false")
            .replace("  prod:\n    enabled: true", "  prod:\n    enabled: false");
        let dir = cli.workspace.path(&format!("deploy/{id}-acme-corp-{}", project(n)));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("manifest.yaml"), text).unwrap();
    }
}

/// A running `cloud serve --discord`, its JSON log and its `/healthz` address.
struct Replica {
    child: tokio::process::Child,
    log: LogLines,
    ops: String,
}

impl Replica {
    async fn start(cli: &Cli, fake: &FakeDiscord) -> Replica {
        let mut child = tokio::process::Command::from(cli.command(&["serve", "--discord"], &[]))
            .env("DISCORD_TOKEN", fake.config().token)
            .env("CLOUD_DISCORD_API_URL", fake.base_url())
            .env("CLOUD_SERVE_LISTEN", "127.0.0.1:0")
            .env("CLOUD_LOG", "info")
            .env("CLOUD_LOG_FORMAT", "json")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut log = LogLines::new(child.stderr.take().unwrap());
        let serving = log
            .wait_for("/healthz listening", |e| {
                e["fields"]["message"] == "serving /healthz and /metrics"
            })
            .await;
        let ops = serving["fields"]["addr"].as_str().unwrap().to_string();
        Replica { child, log, ops }
    }

    /// Waits until the log says this replica took the gateway's leader lease, then that its
    /// Discord transport connected.
    async fn wait_leader(&mut self) {
        self.log
            .wait_for("the leader lease", |e| {
                e["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("leader lease acquired") && m.ends_with(DISCORD_GATEWAY))
            })
            .await;
        self.log
            .wait_for("the gateway connected", |e| {
                e["fields"]["message"] == "chat transport connected" && e["fields"]["transport"] == "discord"
            })
            .await;
    }

    async fn health(&self) -> (u16, serde_json::Value) {
        let r = reqwest::get(format!("http://{}/healthz", self.ops)).await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }
}

/// Waits, on the session event log (PostgreSQL NOTIFY wakes it), until `done` holds for the
/// sessions of the store.
async fn wait_store<T>(store: &Store, what: &str, mut done: impl AsyncFnMut(&Store) -> Option<T>) -> T {
    let mut feed = EventFeed::all(store, 0);
    let deadline = tokio::time::Instant::now() + SAFETY_NET;
    loop {
        if let Some(v) = done(store).await {
            return v;
        }
        match tokio::time::timeout_at(deadline, feed.next()).await {
            Ok(r) => {
                r.unwrap();
            }
            Err(_) => {
                let states: Vec<String> = store
                    .sessions(&Default::default())
                    .await
                    .unwrap()
                    .iter()
                    .map(|s| format!("{} {} {:?}", s.project, s.id.short(), s.state))
                    .collect();
                panic!("waited {SAFETY_NET:?} for {what}; sessions:\n{}", states.join("\n"))
            }
        }
    }
}

async fn state_of(store: &Store, project: &str) -> Option<SessionState> {
    let all = store.sessions(&Default::default()).await.unwrap();
    all.into_iter().find(|s| s.project == project).map(|s| s.state)
}

/// The lobby of the session of `project` in `channel`.
async fn lobby(fake: &FakeDiscord, channel: u64, short: &str) -> StoredMessage {
    fake.wait_for(SAFETY_NET, |s| {
        s.messages_in(channel)
            .into_iter()
            .find(|m| m.interaction.is_none() && !m.embeds.is_empty() && m.text().contains(short))
            .cloned()
    })
    .await
    .unwrap_or_else(|| panic!("no lobby for {short}"))
}

async fn lobby_state(fake: &FakeDiscord, lobby: u64, state: &str) -> StoredMessage {
    let needle = format!(" {state} ·");
    fake.wait_for(SAFETY_NET, |s| {
        s.messages
            .get(&lobby)
            .filter(|m| {
                m.embeds
                    .first()
                    .and_then(|e| e["description"].as_str())
                    .is_some_and(|d| d.contains(&needle))
            })
            .cloned()
    })
    .await
    .unwrap_or_else(|| {
        let now = fake.state().messages.get(&lobby).map(|m| m.text()).unwrap_or_default();
        panic!("lobby {lobby} never showed {state}; it shows:\n{now}")
    })
}

/// The (non-loading) reply to interaction `id`.
async fn reply(fake: &FakeDiscord, id: u64) -> StoredMessage {
    fake.wait_for(SAFETY_NET, |s| {
        let orig = s.interactions.get(&id)?.original?;
        let m = s.messages.get(&orig)?;
        (!m.loading).then(|| m.clone())
    })
    .await
    .unwrap_or_else(|| {
        let st = fake.state();
        let i = st.interactions.get(&id).map(|i| {
            format!(
                "acked {:?}, refused {:?}, original {:?}",
                i.acked, i.refused, i.original
            )
        });
        panic!("no reply to interaction {id}: {i:?}")
    })
}

fn short_id(reply: &StoredMessage) -> String {
    let text = reply.text();
    let start = text.find('`').expect("a session id in backticks") + 1;
    text[start..start + 8].to_string()
}

async fn approve(fake: &FakeDiscord, user: &FakeUser, lobby_id: u64) {
    let msg = fake.state().messages.get(&lobby_id).cloned().unwrap();
    let id = msg.component("cloud:approve:").expect("an approve button")["custom_id"]
        .as_str()
        .unwrap()
        .to_string();
    let click = fake.click(user, lobby_id, &id).unwrap();
    reply(fake, click.id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_one_gateway_and_the_survivor_finishes_what_the_killed_one_drove() {
    if std::env::var(POSTGRES_URL_VAR).is_err() {
        eprintln!("skipped: set {POSTGRES_URL_VAR} to a PostgreSQL server (./scripts/test.sh starts one)");
        return;
    }
    let started = std::time::Instant::now();
    let db = TestDatabase::postgres().await;
    // Discord's per-channel buckets count the requests of both replicas together, and a new
    // leader's pacer starts empty: right after a takeover its first edits can meet a 429 the
    // dead leader earned. Against Discord, serenity's rate limiter (or the REST proxy of
    // `discord.api_url`) waits those out; the fake behind `CLOUD_DISCORD_API_URL` answers them
    // as errors instead. This test is about the takeover, not pacing (discord_e2e covers it):
    // the fake's channel buckets are wide.
    let fake = FakeDiscord::start(FakeConfig {
        channel_bucket: (1_000, std::time::Duration::from_secs(5)),
        ..FakeConfig::default()
    })
    .await
    .unwrap();
    let channel = fake.add_channel("deployments");
    let mut cli = Cli::new();
    add_projects(&cli);
    let gate = cli.path("gate");
    let invocations = cli.path("invocations.log");
    cli.set("CLOUD_DATABASE_URL", &db.url)
        .set("PULUMI_STANDIN_APPLY_GATE", &gate.display().to_string())
        .set("PULUMI_STANDIN_INVOCATION_LOG", &invocations.display().to_string())
        .set("CLOUD_LEASE_TTL", "5s")
        .set("CLOUD_SWEEP_INTERVAL", "300ms");

    // Replica A starts first and takes the gateway; B stands by.
    let mut a = Replica::start(&cli, &fake).await;
    a.wait_leader().await;
    assert!(fake.wait_connected(SAFETY_NET).await, "A did not connect");
    let mut b = Replica::start(&cli, &fake).await;
    b.log
        .wait_for("B standing by", |e| {
            e["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("standing by: another replica holds"))
        })
        .await;
    assert_eq!(fake.connections(), 1, "exactly one replica holds the gateway");
    let (status, health) = a.health().await;
    assert_eq!(
        (status, &health["leader"][DISCORD_GATEWAY]),
        (200, &serde_json::json!("leader")),
        "{health}"
    );
    let (status, health) = b.health().await;
    assert_eq!(
        (status, &health["leader"][DISCORD_GATEWAY]),
        (200, &serde_json::json!("standby")),
        "{health}"
    );
    fake.wait_for(SAFETY_NET, |s| s.commands.contains_key("cloud-deploy").then_some(()))
        .await
        .expect("commands registered");

    let store = db.open().await;
    let alice = FakeUser::new(100_000_000_000_000_002, "alice");
    for n in 0..IN_DISCORD {
        store
            .create_grant(NewGrant {
                principal: Principal::new(Platform::Discord, alice.id.to_string()),
                project: project(n),
                env: "dev".into(),
                role: Role::Approve,
                expires_at: None,
                reason: "test".into(),
                granted_by: "cli:test".into(),
            })
            .await
            .unwrap();
    }

    // Ten `cloud deploy` runs drive their own sessions; their applies wait at the gate.
    let mut deploys: Vec<Running> = (IN_DISCORD..IN_DISCORD + BY_CLI)
        .map(|n| cli.spawn(&["deploy", &project(n), "dev", "--stacks", "network", "--approve"], &[]))
        .collect();

    wait_store(&store, "every CLI session applying", async |s: &Store| {
        for n in IN_DISCORD..IN_DISCORD + BY_CLI {
            if state_of(s, &project(n)).await != Some(SessionState::Applying) {
                return None;
            }
        }
        Some(())
    })
    .await;

    // Ten sessions opened in Discord; six approved now (A applies them, held at the gate).
    let mut lobbies = BTreeMap::new();
    for n in 0..IN_DISCORD {
        let ask = fake.slash(
            &alice,
            channel,
            "cloud-deploy",
            &[
                ("project", serde_json::json!(project(n))),
                ("env", serde_json::json!("dev")),
                ("stacks", serde_json::json!("network")),
            ],
        );
        let short = short_id(&reply(&fake, ask.id).await);
        let l = lobby(&fake, channel, &short).await;
        lobbies.insert(n, (short, l.id));
    }
    for (n, (_, l)) in &lobbies {
        lobby_state(&fake, *l, "PLAN_READY").await;
        if *n < APPLYING_AT_KILL {
            approve(&fake, &alice, *l).await;
        }
    }
    for (n, (_, l)) in lobbies.iter().take(APPLYING_AT_KILL) {
        lobby_state(&fake, *l, "APPLYING").await;
        let _ = n;
    }

    // A dies mid-apply. B takes the gateway over and ends what A drove.
    a.child.start_kill().unwrap();
    a.child.wait().await.unwrap();
    b.wait_leader().await;
    fake.wait_for(SAFETY_NET, |s| (s.identified == 2).then_some(()))
        .await
        .expect("B identified on the gateway");
    let (status, health) = b.health().await;
    assert_eq!(
        (status, &health["leader"][DISCORD_GATEWAY]),
        (200, &serde_json::json!("leader")),
        "{health}"
    );
    wait_store(&store, "the killed replica's sessions ended", async |s: &Store| {
        for n in 0..APPLYING_AT_KILL {
            if state_of(s, &project(n)).await != Some(SessionState::Failed) {
                return None;
            }
        }
        Some(())
    })
    .await;
    for (_, l) in lobbies.values().take(APPLYING_AT_KILL) {
        lobby_state(&fake, *l, "FAILED").await;
    }
    // The rest are approved on B, and everything held goes on.
    for (_, l) in lobbies.values().skip(APPLYING_AT_KILL) {
        approve(&fake, &alice, *l).await;
    }
    std::fs::write(&gate, "").unwrap();
    for (_, l) in lobbies.values().skip(APPLYING_AT_KILL) {
        lobby_state(&fake, *l, "APPLIED").await;
    }
    for d in &mut deploys {
        let status = d.child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "a cloud deploy failed");
    }

    // Every session ended with its stack's truth.
    for n in 0..IN_DISCORD + BY_CLI {
        let want = if n < APPLYING_AT_KILL {
            SessionState::Failed
        } else {
            SessionState::Applied
        };
        assert_eq!(state_of(&store, &project(n)).await, Some(want), "{}", project(n));
    }

    // Each stack applied exactly once: one `up` per project's stack, never a second one.
    let log = std::fs::read_to_string(&invocations).unwrap();
    let mut ups: BTreeMap<String, usize> = BTreeMap::new();
    for line in log.lines() {
        let mut parts = line.split(' ');
        let (_pid, command, stack) = (parts.next(), parts.next(), parts.next());
        if command == Some("up") {
            *ups.entry(stack.unwrap_or("-").to_string()).or_default() += 1;
        }
    }
    assert_eq!(ups.len(), IN_DISCORD + BY_CLI, "{log}");
    assert!(ups.values().all(|n| *n == 1), "a stack was applied twice: {ups:?}");

    // No event lost or duplicated in any thread: each approval is announced once, each
    // takeover once, the outcome once, and no message appears twice.
    for (n, (short, l)) in &lobbies {
        let session = store.find_session(short).await.unwrap();
        let events = store.events_after(session.id, 0, 10_000).await.unwrap();
        let count = |kind: cloud_core::store::EventKind| events.iter().filter(|e| e.kind == kind).count();
        let thread = fake
            .wait_for(SAFETY_NET, |s| s.channels.get(l).map(|c| c.id))
            .await
            .unwrap_or_else(|| {
                let st = fake.state();
                let refused: Vec<String> = st
                    .requests
                    .iter()
                    .filter(|r| r.status >= 400)
                    .map(|r| format!("{} {} → {}", r.method, r.path, r.status))
                    .collect();
                let shown = st.messages.get(l).map(|m| m.text()).unwrap_or_default();
                panic!(
                    "no thread for {} ({short}); its lobby shows:\n{shown}\nrefused: {refused:#?}",
                    project(*n)
                )
            });
        let want_recovered = count(cloud_core::store::EventKind::Recovered);
        assert_eq!(want_recovered, usize::from(*n < APPLYING_AT_KILL), "{short}");
        // The summary is the thread's last message: wait for it.
        let messages = fake
            .wait_for(SAFETY_NET, |s| {
                let texts: Vec<String> = s.messages_in(thread).into_iter().map(|m| m.text()).collect();
                let outcome = if *n < APPLYING_AT_KILL { ": failed" } else { ": applied" };
                let ended = texts
                    .iter()
                    .any(|t| t.contains(&format!("{}/dev", project(*n))) && t.contains(outcome));
                ended.then_some(texts)
            })
            .await
            .unwrap_or_else(|| panic!("the thread of {short} never showed the outcome"));
        let approvals = messages.iter().filter(|t| t.contains("Approved by")).count();
        assert_eq!(
            approvals,
            count(cloud_core::store::EventKind::Approved),
            "{short}: {messages:#?}"
        );
        let recovered = messages
            .iter()
            .filter(|t| t.starts_with("The process driving this session died"))
            .count();
        assert_eq!(
            recovered,
            want_recovered,
            "{short}: {messages:#?}\nthe survivor's warnings:\n{}",
            b.log.warnings()
        );
        // The outcome once: the summary (and, for an applied stack, its finished progress
        // message), whoever posted the start of the thread.
        let outcome = if *n < APPLYING_AT_KILL { ": failed" } else { ": applied" };
        let summaries = messages
            .iter()
            .filter(|t| t.contains(&format!("{}/dev", project(*n))) && t.contains(outcome))
            .count();
        assert_eq!(summaries, 1, "{short}: {messages:#?}");
        if *n >= APPLYING_AT_KILL {
            let done = messages
                .iter()
                .filter(|t| t.contains("network") && t.contains("100%"))
                .count();
            assert_eq!(done, 1, "{short}: {messages:#?}");
        }
        let mut seen = std::collections::BTreeSet::new();
        for t in &messages {
            assert!(
                seen.insert(t.clone()),
                "{short}: a message was posted twice: {t}\n{messages:#?}"
            );
        }
    }

    // B stops gracefully and gives the role back.
    unsafe { libc::kill(b.child.id().unwrap() as i32, libc::SIGTERM) };
    assert_eq!(b.child.wait().await.unwrap().code(), Some(0));
    assert!(store.service_lease(DISCORD_GATEWAY).await.unwrap().is_none());
    eprintln!(
        "two replicas, {} sessions, kill and takeover: {:.1?}",
        IN_DISCORD + BY_CLI,
        started.elapsed()
    );
}
