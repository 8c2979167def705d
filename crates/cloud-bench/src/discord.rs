//! `cloud bench discord`: the real bot (poise + serenity, the real core and store) against the
//! fake Discord on loopback, with the in-process [`FloodEngine`] so the numbers are the bot's own:
//!
//! - interaction → first response, p50/p99 (measured by the fake: dispatch to acknowledgement);
//! - 429s while one thread streams a long apply;
//! - the bot's resident memory idle and with N live sessions (each with a lobby).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use cloud_chat::service::{Core, Transport};
use cloud_core::config::Config;
use cloud_core::policy::Role;
use cloud_core::store::NewGrant;
use cloud_discord::{DiscordTransport, HttpMode};
use cloud_domain::session::{Platform, Principal};
use cloud_testkit::fake_discord::{FakeConfig, FakeDiscord, FakeUser, InteractionRef};
use cloud_testkit::flood_engine::FloodEngine;

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchParams {
    pub interactions: u32,
    pub lines: u32,
    pub sessions: u32,
}

/// The results (`--json` prints this).
#[derive(Debug, Clone, Serialize)]
pub struct DiscordBench {
    pub interactions: u32,
    pub first_response_p50_ms: f64,
    pub first_response_p99_ms: f64,
    pub first_response_max_ms: f64,
    pub streamed_lines: u32,
    pub stream_seconds: f64,
    pub stream_thread_messages: usize,
    pub status_429: usize,
    pub rss_idle_mb: f64,
    pub live_sessions: u32,
    pub rss_live_sessions_mb: f64,
    /// Goals: p99 ≤ 50 ms, 0 × 429, RSS ≤ 40 MB idle and ≤ 120 MB with 50 sessions.
    pub goals_met: bool,
    pub build: &'static str,
}

impl DiscordBench {
    pub fn render(&self) -> String {
        format!(
            "interaction → first response ({} interactions): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (goal p99 ≤ 50 ms)\n\
             streaming {} lines: {:.1} s, {} thread messages, {} × 429 (goal 0)\n\
             bot RSS: idle {:.1} MB (goal ≤ 40), with {} live sessions {:.1} MB (goal ≤ 120)\n\
             build: {}; goals met: {}\n",
            self.interactions,
            self.first_response_p50_ms,
            self.first_response_p99_ms,
            self.first_response_max_ms,
            self.streamed_lines,
            self.stream_seconds,
            self.stream_thread_messages,
            self.status_429,
            self.rss_idle_mb,
            self.live_sessions,
            self.rss_live_sessions_mb,
            self.build,
            self.goals_met
        )
    }
}

/// This process's resident set size in MB (Linux `/proc/self/status`).
pub fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

async fn acked(fake: &FakeDiscord, i: &InteractionRef) -> anyhow::Result<Duration> {
    let id = i.id;
    fake.wait_for(Duration::from_secs(30), |s| {
        s.interactions.get(&id).and_then(|x| x.acked.map(|(_, age)| age))
    })
    .await
    .with_context(|| format!("interaction {id} was not answered within 30 s"))
}

/// Runs the benchmark over `config` (the workspace's deployments and stacks, with a scratch data
/// directory: [`crate::scratch`]).
pub async fn run(config: Config, params: BenchParams) -> anyhow::Result<DiscordBench> {
    let fake = FakeDiscord::start(FakeConfig::default()).await?;
    let engine = Arc::new(FloodEngine {
        lines: params.lines as usize,
    });
    let app = cloud::App::from_parts(
        config,
        Principal::cli("bench"),
        engine,
        cloud_core::policy::system_clock(),
    )
    .await?;
    let core = Core::new(app.config, app.store, app.orchestrator);
    let stop = CancellationToken::new();
    let transport = Box::new(DiscordTransport {
        token: fake.config().token.into(),
        guild_id: Some(fake.config().guild_id),
        http: HttpMode::Proxy(fake.base_url()),
    });
    let bot = tokio::spawn(transport.run(core.clone(), stop.clone()));
    fake.wait_for(Duration::from_secs(30), |s| {
        s.commands.contains_key("cloud-deploy").then_some(())
    })
    .await
    .context("the bot did not connect to the fake Discord")?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let user = FakeUser::new(4242, "bench");
    core.store()
        .create_grant(NewGrant {
            principal: Principal::new(Platform::Discord, "4242"),
            project: "*".into(),
            env: "*".into(),
            role: Role::Admin,
            expires_at: None,
            reason: "benchmark".into(),
            granted_by: "cli:bench".into(),
        })
        .await?;
    let rss_idle_mb = rss_mb();

    // 1. Interaction → first response.
    let channel = fake.add_channel("bench");
    let mut samples = Vec::new();
    for n in 0..params.interactions {
        let name = if n % 2 == 0 { "cloud-list" } else { "cloud-projects" };
        let i = fake.slash(&user, channel, name, &[]);
        samples.push(acked(&fake, &i).await?.as_secs_f64() * 1000.0);
    }
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());

    // 2. One long apply streamed into a thread.
    let stream_channel = fake.add_channel("stream");
    let started = Instant::now();
    let ask = fake.slash(
        &user,
        stream_channel,
        "cloud-deploy",
        &[
            ("project", json!("ecommerce")),
            ("env", json!("dev")),
            ("stacks", json!("network")),
        ],
    );
    acked(&fake, &ask).await?;
    let lobby = fake
        .wait_for(Duration::from_secs(30), |s| {
            s.messages_in(stream_channel)
                .into_iter()
                .find(|m| {
                    m.interaction.is_none()
                        && m.component("cloud:approve:")
                            .map(|c| c["disabled"] == false)
                            .unwrap_or(false)
                })
                .cloned()
        })
        .await
        .context("the lobby did not become ready")?;
    let approve = lobby.component("cloud:approve:").expect("checked")["custom_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let click = fake.click(&user, lobby.id, &approve).map_err(|e| anyhow::anyhow!(e))?;
    acked(&fake, &click).await?;
    let lobby_id = lobby.id;
    let thread_messages = fake
        .wait_for(Duration::from_secs(600), |s| {
            let msgs = s.messages_in(lobby_id);
            msgs.iter()
                .any(|m| m.content.contains("applied in"))
                .then_some(msgs.len())
        })
        .await
        .context("the streamed apply did not finish within 10 minutes")?;
    let stream_seconds = started.elapsed().as_secs_f64();

    // 3. Live sessions, five lobbies per channel.
    let stacks = [
        "network",
        "security",
        "dns",
        "storage",
        "secrets",
        "containers-images",
        "services-ecr",
        "compute-ec2",
    ];
    let mut lobby_channels = Vec::new();
    for n in 0..params.sessions {
        if n % 5 == 0 {
            lobby_channels.push(fake.add_channel(&format!("live-{n}")));
        }
        let ch = *lobby_channels.last().expect("pushed");
        let i = fake.slash(
            &user,
            ch,
            "cloud-deploy",
            &[
                ("project", json!("ecommerce")),
                ("env", json!("dev")),
                ("stacks", json!(stacks[n as usize % stacks.len()])),
            ],
        );
        acked(&fake, &i).await?;
    }
    let want = params.sessions as usize;
    fake.wait_for(Duration::from_secs(120), |s| {
        let lobbies = lobby_channels
            .iter()
            .map(|c| {
                s.messages_in(*c)
                    .into_iter()
                    .filter(|m| m.interaction.is_none())
                    .count()
            })
            .sum::<usize>();
        (lobbies >= want).then_some(())
    })
    .await
    .context("the lobbies of the live sessions were not all posted")?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_live_sessions_mb = rss_mb();
    let status_429 = fake.state().count_status(429);

    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), bot).await;
    let p99 = percentile(&samples, 0.99);
    let result = DiscordBench {
        interactions: params.interactions,
        first_response_p50_ms: percentile(&samples, 0.5),
        first_response_p99_ms: p99,
        first_response_max_ms: samples.last().copied().unwrap_or(0.0),
        streamed_lines: params.lines,
        stream_seconds,
        stream_thread_messages: thread_messages,
        status_429,
        rss_idle_mb,
        live_sessions: params.sessions,
        rss_live_sessions_mb,
        goals_met: p99 <= 50.0 && status_429 == 0 && rss_idle_mb <= 40.0 && rss_live_sessions_mb <= 120.0,
        build: if cfg!(debug_assertions) { "debug" } else { "release" },
    };
    Ok(result)
}
