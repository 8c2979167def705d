//! `cloud bench chat`: first-response latency of the Discord bot and the Slack app with many
//! people at once on a store with a history (issue 17: "first response p99 ≤ 50 ms at 10k
//! sessions with 20 concurrent users").
//!
//! One store, one core: the real Discord bot ([`DiscordTransport`], poise + serenity) against the
//! fake Discord and the real Slack app ([`SlackServer`], slack-morphism, HTTP transport) against
//! the fake Slack, both on loopback, with the in-process [`FloodEngine`] so engine time is not
//! measured. Before anyone types, the store gets
//!
//! * `--sessions` past sessions ([`crate::seed`], copies of one real deploy of every stack);
//! * quotas on the project (concurrent sessions, monthly cost, VMs) — every deploy is checked
//!   against them;
//! * an `approve` grant on the project for each person.
//!
//! Then, platform after platform, `--users` people work at once for `--rounds` rounds; in each
//! round a person deploys one stack (their own stack and environment, so nobody waits for
//! another's lock), asks for the session's status, the list, the project's quota, and the next
//! person (a colleague: stage has four-eyes) clicks Approve on the lobby; then the person waits
//! for the apply to end. The first response of each of these
//! five is what the fakes measure: from the dispatch of the interaction (Discord) or the request
//! (Slack, HTTP 200 of the slash command or the button's action) to the bot's acknowledgement.
//! A bot that acknowledges before it has the answer (Discord's deferral, "is thinking…"; Slack's
//! "⏳ Working on it…" or a click's empty ack) is then timed to its answer as well: the followup
//! that replaces the loading message, or the post to the response URL. Both figures are
//! reported; the goal is on the first response.
//! The fake Slack's posting budget is relaxed here (its default is Slack's: one post a second per
//! channel, 50 updates a minute), so lobbies are not held back by it; acknowledgements never wait
//! for a post.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use cloud::cli::GlobalArgs;
use cloud_chat::service::{Core, Transport};
use cloud_core::config::SlackTransport;
use cloud_core::orchestrator::Orchestrator;
use cloud_core::policy::Role;
use cloud_core::store::NewGrant;
use cloud_discord::{DiscordTransport, HttpMode};
use cloud_domain::error::UserError;
use cloud_domain::session::{Platform, Principal, SessionId};
use cloud_slack::{SlackBot, SlackServer};
use cloud_testkit::fake_discord::{FakeConfig, FakeDiscord, FakeUser};
use cloud_testkit::fake_slack::{self, FakeSlack};
use cloud_testkit::flood_engine::FloodEngine;

use crate::discord::percentile;

/// Goal: first response p99 on each platform.
pub const P99_GOAL_MS: f64 = 50.0;
/// What each person does per round (each one first response).
pub const COMMANDS: [&str; 5] = ["deploy", "status", "list", "quota", "approve"];
/// Environments the people deploy to (prod needs two approvers; it is left out).
const ENVS: [&str; 2] = ["dev", "stage"];
/// How long one acknowledgement, lobby or apply may take before the bench gives up.
const PATIENCE: Duration = Duration::from_secs(120);

#[derive(Debug, Args)]
pub struct ChatArgs {
    /// Past sessions written into the store before the run
    #[arg(long, default_value_t = 10_000)]
    pub sessions: u64,
    /// People working at once on each platform
    #[arg(long, default_value_t = 20)]
    pub users: u32,
    /// Rounds of deploy, status, list, quota and approve per person
    #[arg(long, default_value_t = 3)]
    pub rounds: u32,
    /// The deployment the people deploy (id, directory name or org/project)
    #[arg(long, default_value = "D1BRV40")]
    pub deployment: String,
    #[arg(long)]
    pub json: bool,
    /// Exit 1 when a goal is not met (after printing the report)
    #[arg(long)]
    pub check: bool,
}

/// First responses on one platform.
#[derive(Debug, Clone, Serialize)]
pub struct PlatformReport {
    /// First responses measured (users × rounds × commands when nothing failed).
    pub count: usize,
    pub first_response_p50_ms: f64,
    pub first_response_p99_ms: f64,
    pub first_response_max_ms: f64,
    /// p99 per command (`deploy`, `status`, `list`, `quota`, `approve`).
    pub p99_ms_by_command: std::collections::BTreeMap<String, f64>,
    /// Until the answer itself could be read (the first response, or what followed a deferral
    /// or a bare acknowledgement).
    pub answer_p50_ms: f64,
    pub answer_p99_ms: f64,
    /// Answer p99 per command.
    pub answer_p99_ms_by_command: std::collections::BTreeMap<String, f64>,
    /// First responses that were not yet the answer (deferrals, "working on it").
    pub deferred: usize,
    /// Requests without an acknowledgement, or refused by the fake / answered non-200.
    pub errors: usize,
    pub goal_met: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChatReport {
    /// Past sessions generated (`--sessions`).
    pub sessions: u64,
    /// Sessions in the store when the people started (generated + the bench's template deploy).
    pub stored_sessions_at_start: u64,
    pub users: u32,
    pub rounds: u32,
    pub commands: Vec<&'static str>,
    pub discord: PlatformReport,
    pub slack: PlatformReport,
    pub goal_p99_ms: f64,
    pub goals_met: bool,
    pub build: &'static str,
}

/// One measured command: its first response and its answer (ms), or a failure to get them.
type Sample = (&'static str, Result<Timing, String>);

#[derive(Debug, Clone, Copy)]
struct Timing {
    first_ms: f64,
    answer_ms: f64,
}

fn sorted(samples: &[Sample], command: Option<&str>, pick: fn(&Timing) -> f64) -> Vec<f64> {
    let mut of: Vec<f64> = samples
        .iter()
        .filter(|(c, _)| command.is_none_or(|want| *c == want))
        .filter_map(|(_, r)| r.as_ref().ok().map(pick))
        .collect();
    of.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    of
}

fn report(samples: Vec<Sample>) -> PlatformReport {
    let first = |t: &Timing| t.first_ms;
    let answer = |t: &Timing| t.answer_ms;
    let all = sorted(&samples, None, first);
    let answers = sorted(&samples, None, answer);
    let errors = samples.iter().filter(|(_, r)| r.is_err()).count();
    for (command, e) in samples
        .iter()
        .filter_map(|(c, r)| r.as_ref().err().map(|e| (c, e)))
        .take(5)
    {
        eprintln!("bench chat: {command}: {e}");
    }
    let deferred = samples
        .iter()
        .filter(|(_, r)| r.as_ref().is_ok_and(|t| t.answer_ms > t.first_ms))
        .count();
    let by_command = |pick: fn(&Timing) -> f64| {
        COMMANDS
            .iter()
            .map(|c| {
                (
                    c.to_string(),
                    round1(percentile(&sorted(&samples, Some(c), pick), 0.99)),
                )
            })
            .collect()
    };
    let p99 = percentile(&all, 0.99);
    PlatformReport {
        count: all.len(),
        first_response_p50_ms: round1(percentile(&all, 0.5)),
        first_response_p99_ms: round1(p99),
        first_response_max_ms: round1(all.last().copied().unwrap_or(0.0)),
        p99_ms_by_command: by_command(first),
        answer_p50_ms: round1(percentile(&answers, 0.5)),
        answer_p99_ms: round1(percentile(&answers, 0.99)),
        answer_p99_ms_by_command: by_command(answer),
        deferred,
        errors,
        goal_met: errors == 0 && !all.is_empty() && p99 <= P99_GOAL_MS,
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Waits until session `id` has ended (the apply after the approval), on the orchestrator's
/// events; the store is read again after each of them.
async fn wait_ended(orchestrator: &Orchestrator, id: SessionId) -> anyhow::Result<()> {
    let mut events = orchestrator.subscribe();
    tokio::time::timeout(PATIENCE, async {
        loop {
            if orchestrator.store().session(id).await?.state.is_terminal() {
                return Ok::<_, anyhow::Error>(());
            }
            match events.recv().await {
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
    })
    .await
    .with_context(|| format!("session {} did not end within {PATIENCE:?}", id.short()))?
}

/// The session id in an approve button's id (`cloud:approve:<session>:<digest>`).
fn approve_session(id: &str) -> Option<SessionId> {
    id.strip_prefix("cloud:approve:")?.split(':').next()?.parse().ok()
}

/// Who deploys what: person `n` gets their own (environment, stack).
fn assignments(manifest: &cloud_catalog::manifest::Manifest, users: u32) -> anyhow::Result<Vec<(String, String)>> {
    let pairs: Vec<(String, String)> = ENVS
        .iter()
        .flat_map(|env| {
            manifest
                .enabled_stacks(Some(env))
                .into_iter()
                .map(move |s| (env.to_string(), s.to_string()))
        })
        .collect();
    if (users as usize) > pairs.len() {
        return Err(UserError::invalid(format!(
            "--users {users} is more than the {} (environment, stack) pairs people can deploy without waiting for each other",
            pairs.len()
        ))
        .into());
    }
    Ok(pairs.into_iter().take(users as usize).collect())
}

/// One person on Discord: their own channel, `rounds` rounds.
async fn discord_user(
    fake: Arc<FakeDiscord>,
    orchestrator: Arc<Orchestrator>,
    (n, users): (u32, u32),
    project: String,
    (env, stack): (String, String),
    rounds: u32,
) -> anyhow::Result<Vec<Sample>> {
    let user = FakeUser::new(discord_id(n), &format!("bench{n:03}"));
    let colleague = FakeUser::new(
        discord_id(colleague_of(n, users)),
        &format!("bench{:03}", colleague_of(n, users)),
    );
    let channel = fake.add_channel(&format!("bench-{n:03}"));
    let mut samples = Vec::new();
    let acked = |id: u64| {
        let fake = fake.clone();
        async move {
            fake.wait_for(PATIENCE, |s| {
                let x = s.interactions.get(&id)?;
                let (_, first) = x.acked?;
                Some(Timing {
                    first_ms: first.as_secs_f64() * 1000.0,
                    answer_ms: x.answered?.as_secs_f64() * 1000.0,
                })
            })
            .await
            .ok_or_else(|| format!("interaction {id} was not answered within {PATIENCE:?}"))
        }
    };
    let mut approved: HashSet<String> = HashSet::new();
    for _ in 0..rounds {
        let deploy = fake.slash(
            &user,
            channel,
            "cloud-deploy",
            &[
                ("project", json!(project)),
                ("env", json!(env)),
                ("stacks", json!(stack)),
            ],
        );
        samples.push(("deploy", acked(deploy.id).await));
        // The lobby is posted after the command (snowflakes grow): only newer messages are
        // looked at, so twenty people waiting cost the fake (and the bot beside it) little.
        let (lobby, button) = fake
            .wait_for(PATIENCE, |s| {
                s.messages.range(deploy.id..).rev().find_map(|(_, m)| {
                    if m.channel_id != channel {
                        return None;
                    }
                    let c = m.component("cloud:approve:")?;
                    let id = c["custom_id"].as_str()?.to_string();
                    (c["disabled"] != true && !approved.contains(&id)).then_some((m.id, id))
                })
            })
            .await
            .with_context(|| format!("the lobby of discord user {n} was not ready within {PATIENCE:?}"))?;
        let session = approve_session(&button).context("an approve button without a session id")?;
        let short = session.short().to_string();
        let status = fake.slash(&user, channel, "cloud-status", &[("session", json!(short))]);
        samples.push(("status", acked(status.id).await));
        let list = fake.slash(&user, channel, "cloud-list", &[]);
        samples.push(("list", acked(list.id).await));
        let quota = fake.slash(&user, channel, "cloud-quota", &[("project", json!(project))]);
        samples.push(("quota", acked(quota.id).await));
        approved.insert(button.clone());
        match fake.click(&colleague, lobby, &button) {
            Ok(click) => samples.push(("approve", acked(click.id).await)),
            Err(e) => samples.push(("approve", Err(e))),
        }
        wait_ended(&orchestrator, session).await?;
    }
    Ok(samples)
}

/// Who approves person `n`'s plans (alone, one approves their own: only dev then, see
/// [`assignments`]).
fn colleague_of(n: u32, users: u32) -> u32 {
    (n + 1) % users
}

fn discord_id(n: u32) -> u64 {
    7_000_000_000 + n as u64
}

fn slack_id(n: u32) -> String {
    format!("U0BENCH{n:03}")
}

/// One person on Slack (everyone in the fake's one channel), `rounds` rounds.
async fn slack_user(
    fake: Arc<FakeSlack>,
    transport: fake_slack::Transport,
    orchestrator: Arc<Orchestrator>,
    (n, users): (u32, u32),
    project: String,
    (env, stack): (String, String),
    rounds: u32,
) -> anyhow::Result<Vec<Sample>> {
    let user = slack_id(n);
    let mine = [format!("slack:{user}"), format!("<@{user}>")];
    // The answer is the acknowledgement unless that only said the answer follows (a click's
    // empty ack, a command's "working on it"): then it is the post to the response URL.
    let timed = |started: Instant, ack: fake_slack::Ack| {
        let fake = fake.clone();
        async move {
            if ack.status != 200 {
                return Err(format!("HTTP {}: {}", ack.status, ack.body));
            }
            let first_ms = ack.elapsed.as_secs_f64() * 1000.0;
            if !ack.body.is_null() && ack.text() != cloud_slack::WORKING_ON_IT {
                return Ok(Timing {
                    first_ms,
                    answer_ms: first_ms,
                });
            }
            let at = fake
                .wait_for("the answer through the response URL", |f| f.response_at(ack.request))
                .await;
            Ok(Timing {
                first_ms,
                answer_ms: at.duration_since(started).as_secs_f64() * 1000.0,
            })
        }
    };
    let mut approved: HashSet<String> = HashSet::new();
    let mut samples = Vec::new();
    for _ in 0..rounds {
        // The lobby is posted after the command: only newer messages are looked at, none
        // copied, so twenty people waiting cost the fake (and the app beside it) little.
        let mark = fake.message_count();
        let started = Instant::now();
        let deploy = fake
            .slash(&transport, &user, "/cloud-deploy", &format!("{project} {env} {stack}"))
            .await;
        samples.push(("deploy", timed(started, deploy).await));
        let (ts, button) = fake
            .wait_for(&format!("the lobby of slack user {n}"), |f| {
                f.find_top_level_since(mark, |m| {
                    let id = m
                        .action_ids()
                        .into_iter()
                        .find(|id| id.starts_with("cloud:approve:") && !approved.contains(id))?;
                    let text = m.rendered();
                    mine.iter()
                        .any(|who| text.contains(who.as_str()))
                        .then(|| (m.ts.clone(), id))
                })
            })
            .await;
        let session = approve_session(&button).context("an approve button without a session id")?;
        let short = session.short().to_string();
        for (command, name, text) in [
            ("status", "/cloud-status", short.as_str()),
            ("list", "/cloud-list", ""),
            ("quota", "/cloud-quota", project.as_str()),
        ] {
            let started = Instant::now();
            let ack = fake.slash(&transport, &user, name, text).await;
            samples.push((command, timed(started, ack).await));
        }
        approved.insert(button.clone());
        let started = Instant::now();
        let click = fake
            .click(&transport, &slack_id(colleague_of(n, users)), &ts, &button)
            .await;
        samples.push(("approve", timed(started, click).await));
        wait_ended(&orchestrator, session).await?;
    }
    Ok(samples)
}

/// Runs everyone's rounds at once; the samples of all of them.
async fn all_at_once(tasks: Vec<tokio::task::JoinHandle<anyhow::Result<Vec<Sample>>>>) -> anyhow::Result<Vec<Sample>> {
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await.context("a simulated person panicked")??);
    }
    Ok(samples)
}

/// `cloud bench chat`.
pub async fn cmd_bench_chat(global: &GlobalArgs, args: &ChatArgs) -> anyhow::Result<ChatReport> {
    if args.users == 0 || args.rounds == 0 {
        return Err(UserError::invalid("--users and --rounds must be at least 1").into());
    }
    let (_scratch, mut config) = crate::scratch::config(global)?;
    let deployment = cloud_catalog::find_deployment(&config.workspace, &args.deployment)?;
    let project = deployment.manifest.project.clone();
    let plan = assignments(&deployment.manifest, args.users)?;

    // The platforms and the people run on their own runtime: what the fakes and twenty
    // simulated people do (locking the fakes' state, scanning it on every change) must not
    // hold up the threads the bot runs on, as remote platforms would not.
    let platforms = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-platforms")
        .enable_all()
        .build()?;
    let discord_fake = Arc::new(
        platforms
            .spawn(FakeDiscord::start(FakeConfig::default()))
            .await
            .context("the fake Discord did not start")??,
    );
    let slack_fake = Arc::new(
        platforms
            .spawn(FakeSlack::start_with(fake_slack::Limits {
                post_burst: 10_000,
                post_interval: Duration::from_millis(1),
                updates_per_minute: 1_000_000,
            }))
            .await
            .context("the fake Slack did not start")?,
    );
    config.slack.transport = SlackTransport::Http;
    config.slack.api_url = slack_fake.api_url();
    config.slack.bot_token = Some(slack_fake.bot_token.clone().into());
    config.slack.signing_secret = Some(slack_fake.signing_secret.clone().into());
    config.slack.app_token = Some(slack_fake.app_token.clone().into());

    let app = cloud::App::from_parts(
        config,
        Principal::cli("bench"),
        Arc::new(FloodEngine { lines: 5 }),
        cloud_core::policy::system_clock(),
    )
    .await?;
    let store = app.store.clone();
    let orchestrator = app.orchestrator.clone();
    let grant = |principal: Principal, role: Role| NewGrant {
        principal,
        project: project.clone(),
        env: "*".into(),
        role,
        expires_at: None,
        reason: "benchmark".into(),
        granted_by: "cli:bench".into(),
    };
    let admin = Principal::cli("bench");
    store.create_grant(grant(admin.clone(), Role::Admin)).await?;
    // Quotas every deploy is checked against (generous: the bench measures the check, not a
    // refusal).
    for (key, limit) in [("sessions", 1000.0), ("cost", 10_000_000.0), ("vm", 10_000.0)] {
        orchestrator.quota_set(admin.clone(), &project, key, limit).await?;
    }
    // One real deploy of every stack, copied into the history.
    let first = orchestrator
        .start_session(admin.clone(), &args.deployment, "dev", None)
        .await?;
    let planned = orchestrator.plan(first.id, admin.clone()).await?;
    let digest = planned
        .digest
        .clone()
        .ok_or_else(|| UserError::failed("the template session has no plan digest"))?;
    orchestrator.approve(first.id, admin.clone(), &digest.0).await?;
    orchestrator.apply(first.id, admin.clone()).await?;
    let template = crate::seed::template(&store, first.id, 20).await?;
    crate::seed::generate(&store, &template, 0, args.sessions, args.sessions, chrono::Utc::now()).await?;
    for n in 0..args.users {
        store
            .create_grant(grant(
                Principal::new(Platform::Discord, discord_id(n).to_string()),
                Role::Approve,
            ))
            .await?;
        store
            .create_grant(grant(Principal::new(Platform::Slack, slack_id(n)), Role::Approve))
            .await?;
    }

    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
        .fetch_one(store.pool())
        .await?;

    let core = Core::new(app.config.clone(), store.clone(), orchestrator.clone());
    let stop = CancellationToken::new();
    let transport = Box::new(DiscordTransport {
        token: discord_fake.config().token.into(),
        guild_id: Some(discord_fake.config().guild_id),
        http: HttpMode::Proxy(discord_fake.base_url()),
    });
    let bot = tokio::spawn(transport.run(core.clone(), stop.clone()));
    discord_fake
        .wait_for(PATIENCE, |s| s.commands.contains_key("cloud-deploy").then_some(()))
        .await
        .context("the bot did not connect to the fake Discord")?;
    let slack_bot = SlackBot::new(core.clone())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let slack = SlackServer::start(slack_bot, &app.config.slack, Some(listener)).await?;
    let slack_transport = fake_slack::Transport::Http(format!(
        "http://{}",
        slack.local_addr.context("the Slack app has no HTTP address")?
    ));

    let discord_samples = all_at_once(
        plan.iter()
            .enumerate()
            .map(|(n, pair)| {
                platforms.spawn(discord_user(
                    discord_fake.clone(),
                    orchestrator.clone(),
                    (n as u32, args.users),
                    project.clone(),
                    pair.clone(),
                    args.rounds,
                ))
            })
            .collect(),
    )
    .await?;
    let slack_samples = all_at_once(
        plan.iter()
            .enumerate()
            .map(|(n, pair)| {
                platforms.spawn(slack_user(
                    slack_fake.clone(),
                    slack_transport.clone(),
                    orchestrator.clone(),
                    (n as u32, args.users),
                    project.clone(),
                    pair.clone(),
                    args.rounds,
                ))
            })
            .collect(),
    )
    .await?;

    stop.cancel();
    slack.shutdown().await;
    let _ = tokio::time::timeout(Duration::from_secs(10), bot).await;
    // Dropping a runtime may not block inside another one.
    platforms.shutdown_background();
    let discord = report(discord_samples);
    let slack = report(slack_samples);
    Ok(ChatReport {
        sessions: args.sessions,
        stored_sessions_at_start: stored as u64,
        users: args.users,
        rounds: args.rounds,
        commands: COMMANDS.to_vec(),
        goals_met: discord.goal_met && slack.goal_met,
        discord,
        slack,
        goal_p99_ms: P99_GOAL_MS,
        build: if cfg!(debug_assertions) { "debug" } else { "release" },
    })
}

pub fn print_chat(report: &ChatReport, json: bool, check: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        let platform = |name: &str, p: &PlatformReport| {
            format!(
                "{name} p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} responses, {} deferred, answer p99 {:.1} ms, {} errors)",
                p.first_response_p50_ms,
                p.first_response_p99_ms,
                p.first_response_max_ms,
                p.count,
                p.deferred,
                p.answer_p99_ms,
                p.errors
            )
        };
        println!(
            "chat: first response with {} concurrent users × {} rounds × {} commands at {} past sessions ({} build): {}; {} (goal p99 ≤ {:.0} ms): {}",
            report.users,
            report.rounds,
            report.commands.len(),
            report.sessions,
            report.build,
            platform("discord", &report.discord),
            platform("slack", &report.slack),
            report.goal_p99_ms,
            if report.goals_met { "PASS" } else { "FAIL" },
        );
    }
    if check && !report.goals_met {
        return Err(UserError::failed("bench chat: a goal was not met (see FAIL above)").into());
    }
    Ok(())
}
