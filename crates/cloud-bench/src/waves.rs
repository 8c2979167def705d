//! `cloud bench waves` and `cloud bench stream`.
//!
//! * `bench waves` — the sample deployment planned and applied on the Pulumi stand-in, every
//!   stack taking a fixed time (`PULUMI_STANDIN_OP_DELAY_MS`), in a throwaway data directory.
//!   For plan and for apply it reports the critical path (the longest dependency chain, each
//!   stack weighted by its *measured* duration), the wall time, the sequential time (the sum of
//!   the stacks' durations) and `wall / critical path` — 1.0 means the scheduler lost nothing.
//!   Every time is read off the session's own event stream (the session entering and leaving
//!   the phase, each stack starting and ending), stamped as the events arrive: the stacks' spans
//!   then always lie inside the phase's wall time, however late the events reach the bench on a
//!   busy machine.
//! * `bench stream` — the output batcher against a simulated Discord sink (2000 characters per
//!   message, 5 messages per 5 s): lines in and out, messages, budget violations, p95 latency.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;

use cloud::cli::GlobalArgs;
use cloud_core::orchestrator::{Orchestrator, OrchestratorSettings, ResolvedDeployment, SessionEventKind};
use cloud_core::store::Store;
use cloud_domain::error::UserError;
use cloud_domain::session::{Principal, SessionState, StackName, StackState};

#[derive(Debug, Args)]
pub struct WavesArgs {
    /// The deployment (id, directory name or org/project)
    #[arg(long, default_value = "D1BRV40")]
    pub deployment: String,
    /// The environment to plan and apply (must allow self-approval)
    #[arg(long, default_value = "dev")]
    pub env: String,
    /// The fixed time every stack operation (preview or update) takes on the stand-in
    #[arg(long, default_value_t = 1000)]
    pub delay_ms: u64,
    /// Stacks run at once [default: pulumi.max_parallel]
    #[arg(long)]
    pub max_parallel: Option<usize>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StreamArgs {
    /// Engine output lines in the simulated session
    #[arg(long, default_value_t = 50_000)]
    pub lines: usize,
    #[arg(long)]
    pub json: bool,
}

/// One phase (plan or apply) of `bench waves`.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseTimes {
    pub critical_path_s: f64,
    pub wall_s: f64,
    pub sequential_s: f64,
    pub ratio_to_critical_path: f64,
    /// The chain that makes the critical path.
    pub critical_path: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WavesReport {
    pub deployment: String,
    pub env: String,
    pub stacks: usize,
    pub waves: u32,
    pub max_parallel: usize,
    pub delay_ms: u64,
    pub plan: PhaseTimes,
    pub apply: PhaseTimes,
}

/// Per-stack `[first start, end]` from the session's events, and the phase's own `[begin, end]`
/// (the session moving to PLANNING/APPLYING, then to where the phase ended).
#[derive(Default)]
struct Spans {
    spans: HashMap<StackName, (Option<Instant>, Option<Instant>)>,
    phase: (Option<Instant>, Option<Instant>),
}

impl Spans {
    fn record_session(&mut self, to: SessionState, at: Instant) {
        match to {
            SessionState::Planning | SessionState::Applying => {
                self.phase.0.get_or_insert(at);
            }
            SessionState::PlanReady
            | SessionState::PlanFailed
            | SessionState::Applied
            | SessionState::Failed
            | SessionState::Cancelled
            | SessionState::Expired => self.phase.1 = Some(at),
            SessionState::Draft | SessionState::Approved => {}
        }
    }

    /// The phase's wall time, once its last event arrived.
    fn wall(&self) -> Option<Duration> {
        match self.phase {
            (Some(begin), Some(end)) => Some(end.duration_since(begin)),
            _ => None,
        }
    }

    fn record(&mut self, stack: &StackName, state: StackState, at: Instant) {
        let entry = self.spans.entry(stack.clone()).or_default();
        match state {
            StackState::Previewing | StackState::Applying => {
                entry.0.get_or_insert(at);
            }
            StackState::Previewed | StackState::Applied | StackState::Failed => entry.1 = Some(at),
            StackState::Pending | StackState::Skipped => {}
        }
    }

    fn durations(&self) -> anyhow::Result<HashMap<StackName, f64>> {
        self.spans
            .iter()
            .map(|(s, (a, b))| match (a, b) {
                (Some(a), Some(b)) => Ok((s.clone(), b.duration_since(*a).as_secs_f64())),
                _ => Err(anyhow::anyhow!("stack {s} has no complete timing")),
            })
            .collect()
    }
}

/// The longest dependency chain, stacks weighted by `durations`. `resolved` is in wave order.
fn critical_path(resolved: &ResolvedDeployment, durations: &HashMap<StackName, f64>) -> (f64, Vec<String>) {
    let mut best: HashMap<&StackName, (f64, Option<&StackName>)> = HashMap::new();
    for s in &resolved.stacks {
        let before = s
            .depends_on
            .iter()
            .filter_map(|d| best.get(d).map(|(t, _)| (*t, d)))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        let own = durations.get(&s.name).copied().unwrap_or(0.0);
        best.insert(&s.name, (before.map(|b| b.0).unwrap_or(0.0) + own, before.map(|b| b.1)));
    }
    let Some((mut at, (total, _))) = best
        .iter()
        .max_by(|a, b| a.1 .0.total_cmp(&b.1 .0))
        .map(|(k, v)| (*k, *v))
    else {
        return (0.0, vec![]);
    };
    let mut chain = vec![at.to_string()];
    while let Some(prev) = best[at].1 {
        chain.push(prev.to_string());
        at = prev;
    }
    chain.reverse();
    (total, chain)
}

fn phase(resolved: &ResolvedDeployment, spans: &Spans) -> anyhow::Result<PhaseTimes> {
    let wall = spans
        .wall()
        .ok_or_else(|| anyhow::anyhow!("the session's events do not show the phase's start and end"))?;
    let durations = spans.durations()?;
    let (critical, chain) = critical_path(resolved, &durations);
    let wall_s = wall.as_secs_f64();
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    Ok(PhaseTimes {
        critical_path_s: round(critical),
        wall_s: round(wall_s),
        sequential_s: round(durations.values().sum()),
        ratio_to_critical_path: round(wall_s / critical.max(f64::EPSILON)),
        critical_path: chain,
    })
}

/// A throwaway directory, removed on drop.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new() -> anyhow::Result<Scratch> {
        let dir = std::env::temp_dir().join(format!("cloud-bench-{}", uuid::Uuid::new_v4().simple()));
        // Private, like every data dir `cloud` accepts (it refuses one other users can read).
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700).create(&dir)?;
        Ok(Scratch(dir))
    }

    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `cloud bench waves`.
pub async fn cmd_bench_waves(global: &GlobalArgs, args: &WavesArgs) -> anyhow::Result<WavesReport> {
    let scratch = Scratch::new()?;
    let mut config = cloud_core::config::Config::load(&cloud_core::config::Overrides {
        config: global.config.clone(),
        data_dir: Some(scratch.path().to_path_buf()),
    })?;
    // Everything in the scratch directory: never the user's database or Pulumi state.
    config.database_url = format!("sqlite://{}", scratch.path().join("cloud.db").display());
    config.pulumi.backend_url = format!("file://{}", scratch.path().join("pulumi-state").display());
    config.prepare_data_dir()?;
    let help = std::process::Command::new(&config.pulumi.binary).arg("--help").output();
    if !help
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("cloud-engine Pulumi stand-in"))
        .unwrap_or(false)
    {
        return Err(UserError::invalid(format!(
            "`cloud bench waves` runs on the Pulumi stand-in, but pulumi.binary is `{}`; set CLOUD_PULUMI_BINARY=target/release/pulumi-standin",
            config.pulumi.binary
        ))
        .into());
    }
    let max_parallel = args.max_parallel.unwrap_or(config.pulumi.max_parallel);
    let store = Store::open(&config.database_url).await?;
    let engine = cloud::app::engine_with(
        &config,
        BTreeMap::from([("PULUMI_STANDIN_OP_DELAY_MS".to_string(), args.delay_ms.to_string())]),
    )?;
    let resolver = cloud::app::resolver(&config, &store).await?;
    let project = cloud_catalog::find_deployment(&config.workspace, &args.deployment)?
        .manifest
        .project
        .clone();
    let resolved = resolver.resolve(&project, &args.env, None)?;
    let orch = Orchestrator::new(
        store.clone(),
        engine,
        resolver,
        OrchestratorSettings {
            environments: config.environments.clone(),
            max_parallel,
        },
    );
    let who = Principal::cli("bench");

    // Stack and phase timings from the orchestrator's own events, stamped as they arrive.
    let spans = Arc::new(Mutex::new(Spans::default()));
    // Woken when a phase's last event has been recorded.
    let phase_ended = Arc::new(tokio::sync::Notify::new());
    let mut events = orch.subscribe();
    let recorder = {
        let spans = spans.clone();
        let phase_ended = phase_ended.clone();
        tokio::spawn(async move {
            while let Ok(e) = events.recv().await {
                match e.kind {
                    SessionEventKind::StackStateChanged { stack, state, .. } => {
                        spans.lock().unwrap().record(&stack, state, Instant::now())
                    }
                    SessionEventKind::StateChanged { to, .. } => {
                        spans.lock().unwrap().record_session(to, Instant::now());
                        phase_ended.notify_one();
                    }
                    _ => {}
                }
            }
        })
    };
    // The orchestrator has returned; its events may still be on their way to the recorder.
    let recorded = || async {
        let wait = async {
            while spans.lock().unwrap().wall().is_none() {
                phase_ended.notified().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(60), wait)
            .await
            .map_err(|_| anyhow::anyhow!("the session's events did not reach the bench"))
    };

    let s = orch
        .start_session(&who, &project, &args.env, None)
        .await
        .map_err(|e| e.to_user())?;
    let s = orch.plan(s.id, &who).await.map_err(|e| e.to_user())?;
    if s.state != SessionState::PlanReady {
        return Err(UserError::failed(format!(
            "the bench plan ended {}: {}",
            s.state,
            s.reason.unwrap_or_default()
        ))
        .into());
    }
    recorded().await?;
    let plan_times = phase(&resolved, &spans.lock().unwrap())?;
    *spans.lock().unwrap() = Spans::default();

    let s = orch
        .approve(s.id, &who, s.digest.as_ref().expect("ready").short())
        .await
        .map_err(|e| e.to_user())?;
    if s.state != SessionState::Approved {
        return Err(UserError::invalid(format!(
            "{} needs approvers other than the requester; bench an environment that allows self-approval (--env dev)",
            args.env
        ))
        .into());
    }
    let s = orch.apply(s.id, &who).await.map_err(|e| e.to_user())?;
    if s.state != SessionState::Applied {
        return Err(UserError::failed(format!(
            "the bench apply ended {}: {}",
            s.state,
            s.reason.unwrap_or_default()
        ))
        .into());
    }
    recorded().await?;
    let apply_times = phase(&resolved, &spans.lock().unwrap())?;
    recorder.abort();
    store.close().await;
    Ok(WavesReport {
        deployment: args.deployment.clone(),
        env: args.env.clone(),
        stacks: resolved.stacks.len(),
        waves: resolved.stacks.iter().map(|s| s.wave + 1).max().unwrap_or(0),
        max_parallel,
        delay_ms: args.delay_ms,
        plan: plan_times,
        apply: apply_times,
    })
}

pub fn print_waves(report: &WavesReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    println!(
        "{} {}: {} stacks in {} waves, max_parallel {}, {} ms per stack operation",
        report.deployment, report.env, report.stacks, report.waves, report.max_parallel, report.delay_ms
    );
    for (name, p) in [("plan", &report.plan), ("apply", &report.apply)] {
        println!(
            "{name:<6} wall {:>7.3} s  critical path {:>7.3} s  sequential {:>7.3} s  ratio {:.3}  ({})",
            p.wall_s,
            p.critical_path_s,
            p.sequential_s,
            p.ratio_to_critical_path,
            p.critical_path.join(" → ")
        );
    }
    Ok(())
}

/// The numbers `bench stream` reports first; the batcher's whole report follows.
#[derive(Debug, Serialize)]
pub struct StreamSummary {
    pub lines_in: u64,
    pub lines_out: u64,
    pub lines_in_chat: u64,
    pub lines_only_in_full_log: u64,
    pub messages: u64,
    pub edits: u64,
    pub budget_violations: u64,
    pub oversize_messages: u64,
    pub p95_latency_ms: u64,
    pub report: cloud_testkit::batcher_sim::StreamBench,
}

/// `cloud bench stream`.
pub fn cmd_bench_stream(args: &StreamArgs) -> anyhow::Result<()> {
    if args.lines == 0 {
        return Err(UserError::invalid("--lines must be at least 1").into());
    }
    let r = cloud_testkit::batcher_sim::bench_stream(args.lines, cloud_chat::batcher::SinkLimits::discord());
    let summary = StreamSummary {
        lines_in: r.lines_in,
        lines_out: r.lines_in_chat + r.lines_only_in_log,
        lines_in_chat: r.lines_in_chat,
        lines_only_in_full_log: r.lines_only_in_log,
        messages: r.messages_posted,
        edits: r.edits,
        budget_violations: r.budget_violations,
        oversize_messages: r.oversize_messages,
        p95_latency_ms: r.p95_latency_chat_lines_ms,
        report: r,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "{} lines in, {} out ({} in chat, {} only in the full log); {} messages, {} edits; {} budget violations, {} oversize; p95 line→message {} ms",
            summary.lines_in, summary.lines_out, summary.lines_in_chat, summary.lines_only_in_full_log, summary.messages,
            summary.edits, summary.budget_violations, summary.oversize_messages, summary.p95_latency_ms
        );
    }
    if summary.budget_violations > 0 || summary.oversize_messages > 0 {
        return Err(UserError::failed("the batcher broke the sink's limits").into());
    }
    Ok(())
}
