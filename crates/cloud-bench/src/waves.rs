//! `cloud bench waves`: the scheduler and the engine adapter against the true limit.
//!
//! The sample deployment is planned, applied and destroyed on the Pulumi stand-in in a throwaway
//! data directory, every engine operation (preview, update, destroy) taking a fixed time
//! (`PULUMI_STANDIN_OP_DELAY_MS`, `--delay-ms`). For each phase it reports:
//!
//! * `true_critical_path_s` — the **true limit**: the longest dependency chain, each stack
//!   weighted by the stand-in's *configured* delay times the number of delayed operations the
//!   stack ran in the phase (an apply stack whose upstream changed is re-previewed, then
//!   updated: two operations). Nothing we spend ourselves (process starts, config, scheduling,
//!   tailing) is in it, so `ratio_to_true_critical_path = wall / true critical path` shows all of
//!   our overhead and can fail its goal (≤ 1.10).
//! * `critical_path_s` / `ratio_to_critical_path` — the same chain weighted by *measured* stack
//!   durations (which include our per-stack overhead): how much the scheduler alone loses.
//! * `engine_processes` — the engine processes the phase really started, counted by the stand-in
//!   itself (`PULUMI_STANDIN_INVOCATION_LOG`: one line per process), by command, and per stack
//!   (goal ≤ 3 per stack per operation).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;

use cloud::cli::GlobalArgs;
use cloud_core::orchestrator::{Orchestrator, OrchestratorSettings, ResolvedDeployment, SessionEventKind};
use cloud_core::store::{SessionRecord, Store};
use cloud_domain::error::UserError;
use cloud_domain::session::{Principal, SessionState, StackName, StackState};

/// Goal: wall time at most this multiple of the true critical path (plan, apply and destroy).
pub const RATIO_GOAL: f64 = 1.10;
/// Goal: engine processes per stack in one phase.
pub const PROCESSES_GOAL: f64 = 3.0;

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
    /// Exit 1 when a goal is not met (after printing the report)
    #[arg(long)]
    pub check: bool,
}

/// One phase (plan, apply, destroy) of `bench waves`.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseTimes {
    /// The longest chain, stacks weighted by their measured durations.
    pub critical_path_s: f64,
    pub wall_s: f64,
    /// The sum of the stacks' measured durations (one at a time).
    pub sequential_s: f64,
    pub ratio_to_critical_path: f64,
    /// The chain that makes the measured critical path.
    pub critical_path: Vec<String>,
    /// The longest chain, stacks weighted by configured delay × delayed operations.
    pub true_critical_path_s: f64,
    pub true_critical_path: Vec<String>,
    pub ratio_to_true_critical_path: f64,
    /// Delayed engine operations (preview, up, destroy) the stacks ran in this phase.
    pub engine_operations: u64,
    /// What we add to each engine operation on average: the stacks' measured time beyond the
    /// configured delays (process starts, config, tailing, bookkeeping), per operation.
    pub overhead_per_operation_ms: f64,
    /// Every engine process started in this phase (the stand-in's own count).
    pub engine_processes: u64,
    /// Processes that named a stack, divided by the stacks; the session-wide ones (`version`,
    /// asked once per binary for the plan digest) are only in `engine_processes`.
    pub engine_processes_per_stack: f64,
    pub engine_processes_by_command: BTreeMap<String, u64>,
    /// `ratio_to_true_critical_path ≤ 1.10` and `engine_processes_per_stack ≤ 3`.
    pub goal_met: bool,
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
    /// The destroy session's preview (`destroy --preview-only` per stack).
    pub destroy_plan: PhaseTimes,
    /// The destroy itself, in reverse dependency order.
    pub destroy: PhaseTimes,
    /// The worst phase's engine processes per stack.
    pub engine_processes_per_stack: f64,
    pub goal_ratio_to_true_critical_path: f64,
    pub goal_engine_processes_per_stack: f64,
    pub goals_met: bool,
}

/// Per-stack `[first start, end]` from the session's events, and the phase's own `[begin, end]`
/// (the session moving to PLANNING/APPLYING, then to where the phase ended). Every instant is
/// stamped as the event arrives, so the stacks' spans always lie inside the phase's wall time,
/// however late the events reach the bench on a busy machine.
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

/// The engine processes one phase started, read from the stand-in's invocation log.
#[derive(Debug, Default)]
struct Invocations {
    by_command: BTreeMap<String, u64>,
    /// Delayed operations per stack.
    operations: HashMap<StackName, u64>,
    total: u64,
    /// Processes that named a stack (`--stack`).
    for_stacks: u64,
}

/// Commands that run the engine and so take `PULUMI_STANDIN_OP_DELAY_MS` once each.
const DELAYED: [&str; 5] = ["preview", "up", "destroy", "destroy --preview-only", "refresh"];

impl Invocations {
    /// Parse `<pid> <command…> <stack>` lines; `stacks` maps Pulumi stack names
    /// (`D1BRV40-network-dev`) to catalog names.
    fn parse(text: &str, stacks: &HashMap<String, StackName>) -> Invocations {
        let mut inv = Invocations::default();
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.len() < 3 {
                continue;
            }
            let command = words[1..words.len() - 1].join(" ");
            let stack = words[words.len() - 1].rsplit('/').next().unwrap_or("");
            inv.total += 1;
            if stack != "-" {
                inv.for_stacks += 1;
            }
            if DELAYED.contains(&command.as_str()) {
                if let Some(name) = stacks.get(stack) {
                    *inv.operations.entry(name.clone()).or_default() += 1;
                }
            }
            *inv.by_command.entry(command).or_default() += 1;
        }
        inv
    }
}

/// Reads the invocation log from where the previous phase stopped.
struct InvocationLog {
    path: PathBuf,
    offset: usize,
    stacks: HashMap<String, StackName>,
}

impl InvocationLog {
    fn take(&mut self) -> Invocations {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let new = text.get(self.offset..).unwrap_or("");
        self.offset = text.len();
        Invocations::parse(new, &self.stacks)
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn phase(
    resolved: &ResolvedDeployment,
    reverse: bool,
    spans: &Spans,
    wall: Duration,
    invocations: &Invocations,
    delay: Duration,
) -> anyhow::Result<PhaseTimes> {
    let durations = spans.durations()?;
    let (critical, mut chain) = critical_path(resolved, &durations);
    let true_durations: HashMap<StackName, f64> = resolved
        .stacks
        .iter()
        .map(|s| {
            let ops = invocations.operations.get(&s.name).copied().unwrap_or(0);
            (s.name.clone(), ops as f64 * delay.as_secs_f64())
        })
        .collect();
    // A destroy walks the graph backwards: the same chains, the other way round.
    let (true_critical, mut true_chain) = critical_path(resolved, &true_durations);
    if reverse {
        chain.reverse();
        true_chain.reverse();
    }
    let wall_s = wall.as_secs_f64();
    let ratio_true = wall_s / true_critical.max(f64::EPSILON);
    let per_stack = invocations.for_stacks as f64 / resolved.stacks.len().max(1) as f64;
    let operations: u64 = invocations.operations.values().sum();
    Ok(PhaseTimes {
        critical_path_s: round3(critical),
        wall_s: round3(wall_s),
        sequential_s: round3(durations.values().sum()),
        ratio_to_critical_path: round3(wall_s / critical.max(f64::EPSILON)),
        critical_path: chain,
        true_critical_path_s: round3(true_critical),
        true_critical_path: true_chain,
        ratio_to_true_critical_path: round3(ratio_true),
        engine_operations: operations,
        overhead_per_operation_ms: round3(
            (durations.values().sum::<f64>() - operations as f64 * delay.as_secs_f64()) * 1000.0
                / operations.max(1) as f64,
        ),
        engine_processes: invocations.total,
        engine_processes_per_stack: round3(per_stack),
        engine_processes_by_command: invocations.by_command.clone(),
        goal_met: ratio_true <= RATIO_GOAL && per_stack <= PROCESSES_GOAL,
    })
}

/// A throwaway directory, removed on drop.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new() -> anyhow::Result<Scratch> {
        let dir = std::env::temp_dir().join(format!("cloud-bench-{}", uuid::Uuid::new_v4().simple()));
        // Private, like every data dir `cloud` accepts (it refuses one other users can read).
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700).create(&dir)?;
        Ok(Scratch(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Everything a phase needs to be measured.
struct Bench<'a> {
    orch: &'a Orchestrator,
    who: &'a Principal,
    resolved: &'a ResolvedDeployment,
    spans: &'a Arc<Mutex<Spans>>,
    /// Woken whenever the session changed state (a phase may have ended).
    phase_ended: &'a tokio::sync::Notify,
    log: InvocationLog,
    delay: Duration,
}

impl Bench<'_> {
    /// The phase's wall time, once the recorder has seen its last event: the orchestrator has
    /// returned, but its events may still be on their way.
    async fn recorded(&self) -> anyhow::Result<Duration> {
        let wait = async {
            loop {
                let woken = self.phase_ended.notified();
                if let Some(wall) = self.spans.lock().unwrap().wall() {
                    return wall;
                }
                woken.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(60), wait)
            .await
            .map_err(|_| anyhow::anyhow!("the session's events did not reach the bench"))
    }

    /// Plan `session` and measure it; fails unless it ends PLAN_READY.
    async fn plan(&mut self, session: SessionRecord, reverse: bool) -> anyhow::Result<(SessionRecord, PhaseTimes)> {
        *self.spans.lock().unwrap() = Spans::default();
        self.log.take();
        let s = self.orch.plan(session.id, self.who).await.map_err(|e| e.to_user())?;
        if s.state != SessionState::PlanReady {
            return Err(UserError::failed(format!(
                "the bench plan ended {}: {}",
                s.state,
                s.reason.clone().unwrap_or_default()
            ))
            .into());
        }
        let wall = self.recorded().await?;
        let times = phase(
            self.resolved,
            reverse,
            &self.spans.lock().unwrap(),
            wall,
            &self.log.take(),
            self.delay,
        )?;
        Ok((s, times))
    }

    /// Approve and apply `session` and measure the apply; fails unless it ends APPLIED.
    async fn apply(&mut self, session: SessionRecord, env: &str, reverse: bool) -> anyhow::Result<PhaseTimes> {
        let s = self
            .orch
            .approve(session.id, self.who, session.digest.as_ref().expect("ready").short())
            .await
            .map_err(|e| e.to_user())?;
        if s.state != SessionState::Approved {
            return Err(UserError::invalid(format!(
                "{env} needs approvers other than the requester; bench an environment that allows self-approval (--env dev)"
            ))
            .into());
        }
        *self.spans.lock().unwrap() = Spans::default();
        self.log.take();
        let s = self.orch.apply(s.id, self.who).await.map_err(|e| e.to_user())?;
        if s.state != SessionState::Applied {
            return Err(UserError::failed(format!(
                "the bench apply ended {}: {}",
                s.state,
                s.reason.unwrap_or_default()
            ))
            .into());
        }
        let wall = self.recorded().await?;
        phase(
            self.resolved,
            reverse,
            &self.spans.lock().unwrap(),
            wall,
            &self.log.take(),
            self.delay,
        )
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
    let invocation_log = scratch.path().join("engine-invocations.log");
    let engine = cloud::app::engine_with(
        &config,
        BTreeMap::from([
            ("PULUMI_STANDIN_OP_DELAY_MS".to_string(), args.delay_ms.to_string()),
            (
                "PULUMI_STANDIN_INVOCATION_LOG".to_string(),
                invocation_log.display().to_string(),
            ),
        ]),
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
            lease_ttl: config.leases.ttl,
        },
    );
    let who = Principal::cli("bench");

    // Stack and phase timings from the orchestrator's own events, stamped as they arrive.
    let spans = Arc::new(Mutex::new(Spans::default()));
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
                        phase_ended.notify_waiters();
                    }
                    _ => {}
                }
            }
        })
    };
    let mut bench = Bench {
        orch: &orch,
        who: &who,
        resolved: &resolved,
        spans: &spans,
        phase_ended: &phase_ended,
        log: InvocationLog {
            path: invocation_log,
            offset: 0,
            stacks: resolved
                .stacks
                .iter()
                .map(|s| (s.target.name.pulumi_stack(), s.name.clone()))
                .collect(),
        },
        delay: Duration::from_millis(args.delay_ms),
    };

    let s = orch
        .start_session(&who, &project, &args.env, None)
        .await
        .map_err(|e| e.to_user())?;
    let (s, plan_times) = bench.plan(s, false).await?;
    let apply_times = bench.apply(s, &args.env, false).await?;

    let s = orch
        .start_destroy(&who, &project, &args.env, None)
        .await
        .map_err(|e| e.to_user())?;
    let (s, destroy_plan_times) = bench.plan(s, true).await?;
    let destroy_times = bench.apply(s, &args.env, true).await?;
    recorder.abort();
    store.close().await;

    let phases = [&plan_times, &apply_times, &destroy_plan_times, &destroy_times];
    let per_stack = phases.iter().map(|p| p.engine_processes_per_stack).fold(0.0, f64::max);
    let goals_met = phases.iter().all(|p| p.goal_met);
    Ok(WavesReport {
        deployment: args.deployment.clone(),
        env: args.env.clone(),
        stacks: resolved.stacks.len(),
        waves: resolved.stacks.iter().map(|s| s.wave + 1).max().unwrap_or(0),
        max_parallel,
        delay_ms: args.delay_ms,
        plan: plan_times,
        apply: apply_times,
        destroy_plan: destroy_plan_times,
        destroy: destroy_times,
        engine_processes_per_stack: per_stack,
        goal_ratio_to_true_critical_path: RATIO_GOAL,
        goal_engine_processes_per_stack: PROCESSES_GOAL,
        goals_met,
    })
}

fn verdict(met: bool) -> &'static str {
    if met {
        "PASS"
    } else {
        "FAIL"
    }
}

/// Prints the report; with `check`, a missed goal is an error (exit 1) after printing.
pub fn print_waves(report: &WavesReport, json: bool, check: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        println!(
            "{} {}: {} stacks in {} waves, max_parallel {}, {} ms per engine operation",
            report.deployment, report.env, report.stacks, report.waves, report.max_parallel, report.delay_ms
        );
        for (name, p) in [
            ("plan", &report.plan),
            ("apply", &report.apply),
            ("destroy-plan", &report.destroy_plan),
            ("destroy", &report.destroy),
        ] {
            println!(
                "{name:<12} wall {:>7.3} s  true critical path {:>7.3} s ({} ops, +{:.0} ms each)  ratio {:.3}  |  measured critical path {:>7.3} s, ratio {:.3}  |  {} engine processes, {:.2}/stack  {}",
                p.wall_s,
                p.true_critical_path_s,
                p.engine_operations,
                p.overhead_per_operation_ms,
                p.ratio_to_true_critical_path,
                p.critical_path_s,
                p.ratio_to_critical_path,
                p.engine_processes,
                p.engine_processes_per_stack,
                verdict(p.goal_met),
            );
        }
        println!(
            "waves: wall / true critical path plan {:.3}, apply {:.3}, destroy {:.3} (goal ≤ {:.2}); {:.2} engine processes per stack (goal ≤ {}): {}",
            report.plan.ratio_to_true_critical_path,
            report.apply.ratio_to_true_critical_path,
            report.destroy.ratio_to_true_critical_path,
            report.goal_ratio_to_true_critical_path,
            report.engine_processes_per_stack,
            report.goal_engine_processes_per_stack,
            verdict(report.goals_met),
        );
    }
    if check && !report.goals_met {
        return Err(UserError::failed("bench waves: a goal was not met (see FAIL above)").into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invocations_are_counted_by_command_and_delayed_operations_by_stack() {
        let stacks = HashMap::from([
            (
                "D1BRV40-network-dev".to_string(),
                "network".parse::<StackName>().unwrap(),
            ),
            ("D1BRV40-dns-dev".to_string(), "dns".parse().unwrap()),
        ]);
        let log = "\
10 version -
11 stack select organization/ecommerce/D1BRV40-network-dev
12 config set-all organization/ecommerce/D1BRV40-network-dev
13 preview organization/ecommerce/D1BRV40-network-dev
14 preview organization/ecommerce/D1BRV40-dns-dev
15 up organization/ecommerce/D1BRV40-dns-dev
16 destroy --preview-only organization/ecommerce/D1BRV40-dns-dev
17 stack output organization/ecommerce/D1BRV40-dns-dev
";
        let inv = Invocations::parse(log, &stacks);
        assert_eq!(inv.total, 8);
        assert_eq!(inv.for_stacks, 7, "`version` names no stack");
        assert_eq!(inv.by_command["config set-all"], 1);
        assert_eq!(inv.by_command["destroy --preview-only"], 1);
        assert_eq!(inv.operations[&"network".parse::<StackName>().unwrap()], 1);
        assert_eq!(inv.operations[&"dns".parse::<StackName>().unwrap()], 3);
    }
}
