//! The flow every session command shares: open the session (or queue it when its stacks are
//! busy and `--queue` was given), show its waves, plan, approve where allowed, apply with live
//! progress, then point at follow-ups.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use tokio::sync::broadcast;

use super::common::{store_user, user};
use crate::app::App;
use cloud_chat::text as render;
use cloud_core::engine::Progress;
use cloud_core::orchestrator::{LeaseGuard, OrchestratorError, SessionEventKind};
use cloud_core::store::{LockHolder, LockOutcome, SessionRecord};
use cloud_domain::error::UserError;
use cloud_domain::session::{Operation, SessionId, SessionState, StackName, StackState};

/// Options of every command that opens and runs a session.
#[derive(Debug, Args, Clone, Copy, Default)]
pub struct FlowArgs {
    /// Approve your own plan without a prompt (only where the environment allows self-approval)
    #[arg(long)]
    pub approve: bool,
    /// When another session holds the stacks, wait for them in line (FIFO) instead of failing
    #[arg(long)]
    pub queue: bool,
}

/// A request to open and run one session.
#[derive(Debug, Clone)]
pub struct SessionRequest {
    pub project: String,
    pub env: String,
    pub stacks: Option<Vec<StackName>>,
    pub operation: Operation,
    pub flow: FlowArgs,
    /// A destroy of some stacks takes their deployed dependents along (`--with-dependents`).
    pub with_dependents: bool,
}

pub(super) async fn plan_with_spinner(app: &App, id: SessionId) -> anyhow::Result<SessionRecord> {
    let spinner = ProgressBar::new_spinner().with_message("previewing stacks…");
    if std::io::stderr().is_terminal() {
        spinner.enable_steady_tick(Duration::from_millis(120));
    }
    let plan = async { app.orchestrator.plan(id, &app.actor).await.map_err(user) };
    let result = super::interrupt::planning(app, id, plan).await;
    spinner.finish_and_clear();
    result
}

pub(super) async fn print_plan(app: &App, s: &SessionRecord) -> anyhow::Result<()> {
    crate::outln!(
        "Session {}  {}/{}  deployment {}  {}",
        s.id.short(),
        s.project,
        s.env,
        s.deployment_id,
        s.state
    );
    if let Some(plan) = &s.plan {
        crate::out!("{}", render::plan_table(plan));
        let view = app.orchestrator.status(s.id).await.map_err(user)?;
        crate::out!("{}", render::cost_and_quota(&view));
    }
    if let Some(d) = &s.digest {
        crate::outln!("digest {}", d.short());
    }
    if let Some(reason) = &s.reason {
        crate::outln!("{reason}");
    }
    Ok(())
}

pub(super) fn plan_outcome(app: &App, s: &SessionRecord) -> anyhow::Result<()> {
    if let Some(e) = plan_failure(app, s) {
        return Err(e.into());
    }
    if let Some(next) = render::next_step(s) {
        crate::outln!("next: {next}");
    }
    Ok(())
}

/// The error for a PLAN_FAILED session: exit 2 when the cause is the configuration (the engine
/// binary cannot be found — nothing ran), exit 1 when the engine ran and the plan failed.
pub(super) fn plan_failure(app: &App, s: &SessionRecord) -> Option<UserError> {
    if s.state != SessionState::PlanFailed {
        return None;
    }
    if let Err(why) = super::doctor::locate_binary(&app.config.pulumi.binary) {
        return Some(UserError::invalid(format!(
            "the plan failed because {why}: {}; then run `cloud refresh {}` (`cloud doctor` checks the whole setup)",
            super::doctor::binary_fix(&app.config),
            s.id.short()
        )));
    }
    Some(UserError::failed(format!(
        "the plan failed; fix the problem and run `cloud refresh {}`",
        s.id.short()
    )))
}

/// Plan an opened session, then approve (where the requester may) and apply it.
pub(super) async fn plan_approve_apply(app: &App, s: SessionRecord, approve: bool) -> anyhow::Result<()> {
    let _signals = super::interrupt::Interrupts::listen(); // Ctrl-C cancels the session from here on
    let s = plan_with_spinner(app, s.id).await?;
    print_plan(app, &s).await?;
    plan_outcome(app, &s)?;
    let digest = s.digest.clone().expect("PLAN_READY has a digest");

    if !s.allow_self_approve {
        if approve {
            return Err(UserError::denied(format!(
                "{} requires approval by someone other than the requester; ask a teammate to run `cloud approve {}`",
                s.env,
                s.id.short()
            ))
            .into());
        }
        crate::outln!(
            "Waiting for approval: {} approval(s) from someone other than you. They run `cloud approve {}`.",
            s.approvals_required,
            s.id.short()
        );
        return Ok(());
    }
    let approved = if approve {
        true
    } else if std::io::stdin().is_terminal() {
        super::interrupt::ask_approval(app, s.id).await?
    } else {
        false
    };
    if !approved {
        crate::outln!(
            "Not approved. The plan waits: `cloud approve {}` (or `cloud cancel {}`).",
            s.id.short(),
            s.id.short()
        );
        return Ok(());
    }
    let s = app
        .orchestrator
        .approve(s.id, &app.actor, &digest.0)
        .await
        .map_err(user)?;
    if s.state != SessionState::Approved {
        crate::outln!(
            "Approval recorded ({} needed). next: {}",
            s.approvals_required,
            render::next_step(&s).unwrap_or_default()
        );
        return Ok(());
    }
    apply_with_progress(app, s.id).await
}

/// Apply with one progress bar per running stack (plain lines when stdout is not a terminal),
/// then the summary. Exit 1 unless APPLIED.
pub(super) async fn apply_with_progress(app: &App, id: SessionId) -> anyhow::Result<()> {
    let session = app.store.session(id).await.map_err(store_user)?;
    let planned: HashMap<String, u64> = session
        .plan
        .as_ref()
        .map(|p| {
            p.stacks
                .iter()
                .map(|e| {
                    (
                        e.stack.to_string(),
                        e.preview
                            .steps
                            .iter()
                            .filter(|s| s.op.as_str() != "same")
                            .count()
                            .max(1) as u64,
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let rows = app.store.session_stacks(id).await.map_err(store_user)?;
    let waves: HashMap<String, u32> = rows.iter().map(|r| (r.stack.to_string(), r.wave)).collect();
    let events = app.orchestrator.subscribe();
    let mode = if std::io::stdout().is_terminal() {
        ProgressMode::Bars
    } else {
        ProgressMode::Lines
    };
    let renderer = tokio::spawn(render_progress(events, id, ProgressPlan { planned, waves, mode }));
    let (result, interrupted) = super::interrupt::applying(app, id).await;
    // Let the renderer drain what was published, then stop it.
    tokio::time::sleep(Duration::from_millis(50)).await;
    renderer.abort();
    let s = result.map_err(user)?;
    let view = app.orchestrator.status(s.id).await.map_err(user)?;
    crate::out!("{}", render::status(&view));
    print_follow_ups(app, s.id).await?;
    if let Some(signal) = interrupted {
        return Err(super::interrupt::ended(signal, &s).into());
    }
    match s.state {
        SessionState::Applied => {
            crate::outln!("Applied.");
            Ok(())
        }
        other => Err(UserError::failed(format!("session {} ended {other}", s.id.short())).into()),
    }
}

/// How apply progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProgressMode {
    /// indicatif bars on a terminal: one live bar per running stack.
    Bars,
    /// One plain line per event, for logs and pipes.
    Lines,
}

struct ProgressPlan {
    /// Changing steps each stack's plan expects (the bar's length).
    planned: HashMap<String, u64>,
    /// Each stack's wave (0-based as stored; shown from 1 like `cloud graph`).
    waves: HashMap<String, u32>,
    mode: ProgressMode,
}

/// `2 updating, 1 creating`: the steps of one stack that are running now.
fn in_flight_text(in_flight: &HashMap<String, u32>) -> String {
    let mut parts: Vec<String> = in_flight
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(op, n)| format!("{n} {}", render::verb_ing(op)))
        .collect();
    parts.sort();
    parts.join(", ")
}

async fn render_progress(
    mut events: broadcast::Receiver<cloud_core::orchestrator::SessionEvent>,
    id: SessionId,
    plan: ProgressPlan,
) {
    let multi = MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stdout());
    if plan.mode == ProgressMode::Lines {
        multi.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let wave_numbers = cloud_chat::text::wave_numbers(plan.waves.values().copied());
    let say = |line: String| match plan.mode {
        ProgressMode::Bars => {
            let _ = multi.println(line);
        }
        ProgressMode::Lines => crate::outln!("{line}"),
    };
    let style = ProgressStyle::with_template("{prefix:<20} {pos:>3}/{len:<3} {bar:10} {percent:>3}%  {msg}")
        .expect("static template")
        .progress_chars("▓▓░");
    let mut bars: HashMap<String, ProgressBar> = HashMap::new();
    let mut in_flight: HashMap<String, HashMap<String, u32>> = HashMap::new();
    let mut waves_started: std::collections::BTreeSet<u32> = Default::default();
    // Per stack: whether its current engine phase is the apply (whose steps move the bar).
    let mut counting: HashMap<String, bool> = HashMap::new();
    loop {
        let event = match events.recv().await {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => break,
        };
        if event.session != id {
            continue;
        }
        match event.kind {
            SessionEventKind::StackStateChanged { stack, state, error } => {
                let name = stack.to_string();
                let wave = plan.waves.get(&name).copied().unwrap_or(0);
                if matches!(state, StackState::Applying | StackState::Previewing) && waves_started.insert(wave) {
                    let members: Vec<&str> = {
                        let mut m: Vec<&str> = plan
                            .waves
                            .iter()
                            .filter(|(_, w)| **w == wave)
                            .map(|(s, _)| s.as_str())
                            .collect();
                        m.sort();
                        m
                    };
                    let (n, total) = wave_numbers.get(&wave).copied().unwrap_or((1, 1));
                    say(format!("wave {n}/{total}: {}", members.join(", ")));
                }
                let bar = bars.entry(name.clone()).or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new(plan.planned.get(&name).copied().unwrap_or(1)));
                    bar.set_style(style.clone());
                    bar.set_prefix(name.clone());
                    bar
                });
                let first_line = error.as_deref().unwrap_or("").lines().next().unwrap_or("").to_string();
                match state {
                    StackState::Previewing => {
                        bar.set_message("re-previewing (provisional)");
                        if plan.mode == ProgressMode::Lines {
                            say(format!("{name}: re-previewing (provisional: its upstream changed)"));
                        }
                    }
                    StackState::Applying => {
                        bar.set_message("starting");
                        if plan.mode == ProgressMode::Lines {
                            say(format!("{name}: applying"));
                        }
                    }
                    StackState::Applied => {
                        bar.finish_with_message("applied");
                        if plan.mode == ProgressMode::Lines {
                            say(format!("{name}: applied"));
                        }
                    }
                    StackState::Failed => {
                        bar.abandon_with_message(format!("failed: {first_line}"));
                        if plan.mode == ProgressMode::Lines {
                            say(format!("{name}: failed: {first_line}"));
                        }
                    }
                    StackState::Skipped => {
                        bar.abandon_with_message(format!("skipped {first_line}"));
                        if plan.mode == ProgressMode::Lines {
                            say(format!("{name}: skipped ({first_line})"));
                        }
                    }
                    StackState::Pending | StackState::Previewed => {}
                }
            }
            SessionEventKind::Progress { stack, progress } => {
                let name = stack.to_string();
                let flight = in_flight.entry(name.clone()).or_default();
                match &progress {
                    Progress::StepStarted { op, .. } => *flight.entry(op.to_string()).or_default() += 1,
                    Progress::StepDone { op, .. } | Progress::StepFailed { op, .. } => {
                        if let Some(n) = flight.get_mut(&op.to_string()) {
                            *n = n.saturating_sub(1);
                        }
                    }
                    Progress::Line(_) | Progress::Phase(_) => {}
                }
                if let Progress::Phase(phase) = &progress {
                    counting.insert(name.clone(), phase.changes_resources());
                }
                let Some(bar) = bars.get(&name) else { continue };
                if !counting.get(&name).copied().unwrap_or(true) {
                    // A re-preview's steps: the apply reports them again.
                    continue;
                }
                match progress {
                    Progress::StepDone { op, .. } if op.as_str() != "same" => {
                        bar.inc(1);
                        bar.set_message(in_flight_text(flight));
                    }
                    Progress::StepFailed { urn, .. } => {
                        bar.set_message(format!(
                            "failed {}",
                            cloud_core::engine::ResourceStep::name_from_urn(&urn)
                        ));
                    }
                    Progress::StepStarted { .. } | Progress::StepDone { .. } => bar.set_message(in_flight_text(flight)),
                    Progress::Line(_) | Progress::Phase(_) => {}
                }
            }
            _ => {}
        }
    }
}

pub(super) fn print_holders(holders: &[LockHolder]) {
    for h in holders {
        crate::outln!("  {h}");
    }
}

/// Open the session the request asks for; busy stacks either fail the command (the refused
/// draft is cancelled, nothing else changes) or, with `--queue`, wait for the stacks here.
///
/// A session that waited in line comes back with the lease this command drives it under, still
/// held: given back in between, `cloud serve` would take its turn and plan it (`plan_turn`)
/// while this command is about to.
async fn open(app: &App, req: &SessionRequest) -> anyhow::Result<(SessionRecord, Option<LeaseGuard>)> {
    let orch = &app.orchestrator;
    let stacks = req.stacks.as_deref();
    if !req.flow.queue && req.operation != Operation::Rollback {
        // Without --queue a busy stack refuses the request before anything is stored: no
        // CANCELLED session is left behind in `cloud list` for a refusal.
        match orch
            .start_if_free(
                &app.actor,
                &req.project,
                &req.env,
                stacks,
                req.operation,
                req.with_dependents,
            )
            .await
        {
            Ok(s) => return Ok((s, None)),
            Err(OrchestratorError::Busy { session, holders }) => {
                // Lost a race between the check and the open: cancel what was opened.
                let _ = orch
                    .cancel(session, &app.actor, "refused: its stacks are held by other sessions")
                    .await;
                return Err(user(OrchestratorError::Refused { holders }));
            }
            Err(e) => return Err(user(e)),
        }
    }
    let started = match req.operation {
        Operation::Deploy => orch.start_session(&app.actor, &req.project, &req.env, stacks).await,
        Operation::Destroy if req.with_dependents => {
            orch.start_destroy_with_dependents(&app.actor, &req.project, &req.env, stacks)
                .await
        }
        Operation::Destroy => orch.start_destroy(&app.actor, &req.project, &req.env, stacks).await,
        Operation::Rollback => orch.start_rollback(&app.actor, &req.project, &req.env).await,
    };
    let (id, holders) = match started {
        Ok(s) => return Ok((s, None)),
        Err(OrchestratorError::Busy { session, holders }) => (session, holders),
        Err(e) => return Err(user(e)),
    };
    if !req.flow.queue {
        let _ = orch
            .cancel(id, &app.actor, "refused: its stacks are held by other sessions")
            .await;
        let list: Vec<String> = holders.iter().map(|h| format!("  {h}")).collect();
        return Err(UserError::failed(format!(
            "the stacks are busy:\n{}\nRun the same command with --queue to wait in line and run as soon as they are released.",
            list.join("\n")
        ))
        .into());
    }
    // Waiting in line is driving the session too: if this process dies while it waits, the
    // session is cancelled and its place freed once its lease expires.
    let lease = orch.drive(id).await.map_err(user)?;
    let waited = async {
        match orch.queue_session(id, &app.actor).await.map_err(user)? {
            LockOutcome::Granted => {}
            LockOutcome::Queued { position, holders } => {
                crate::outln!("Session {} is queued for its stacks: position {position}.", id.short());
                print_holders(&holders);
                orch.wait_for_locks(id).await.map_err(user)?;
                crate::outln!("Session {} holds its stacks now.", id.short());
            }
            LockOutcome::Busy { .. } => unreachable!("queueing never refuses"),
        }
        anyhow::Ok(())
    }
    .await;
    if let Err(e) = waited {
        lease.release().await;
        return Err(e);
    }
    let session = app.store.session(id).await.map_err(store_user)?;
    Ok((session, Some(lease)))
}

/// The whole flow: open, show the waves, plan, approve where allowed, apply with progress.
///
/// The command drives the session under its lease from the moment it is open until it returns
/// (`Orchestrator::drive`): if this process is killed, another `cloud` process or the bot's
/// sweeper ends the session and frees its stacks within the lease TTL, whatever state it was in.
/// When the command returns normally the lease is given back and the session waits (for an
/// approval, a queue turn) as it always did.
pub async fn run_request(app: &App, req: SessionRequest) -> anyhow::Result<()> {
    let (s, waited) = open(app, &req).await?;
    let lease = match waited {
        Some(lease) => lease,
        None => app.orchestrator.drive(s.id).await.map_err(user)?,
    };
    let result = async {
        let view = app.orchestrator.status(s.id).await.map_err(user)?;
        crate::out!("{}", cloud_chat::text::waves(&view.stacks));
        plan_approve_apply(app, s, req.flow.approve).await
    }
    .await;
    lease.release().await;
    result
}

/// Sessions of the same environment that followed up on `id` (opened when its apply stopped).
pub async fn follow_ups(app: &App, id: cloud_domain::session::SessionId) -> anyhow::Result<Vec<SessionRecord>> {
    app.store.follow_ups(id).await.map_err(store_user)
}

/// After an apply ends: point at the follow-up session, when one was opened.
pub async fn print_follow_ups(app: &App, id: cloud_domain::session::SessionId) -> anyhow::Result<()> {
    for f in follow_ups(app, id).await? {
        let next = match f.state {
            SessionState::PlanReady => format!("cloud approve {}", f.id.short()),
            _ => format!("cloud status {}", f.id.short()),
        };
        crate::outln!(
            "Follow-up session {} for the remaining stacks is {}: {next}",
            f.id.short(),
            f.state
        );
    }
    Ok(())
}
