//! Session commands: deploy, plan, refresh, approve, apply, status, list, cancel, logs, audit,
//! projects.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use clap::{Args, Subcommand};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use tokio::sync::broadcast;

use super::Command;
use crate::app::App;
use cloud_chat::text as render;
use cloud_core::engine::Progress;
use cloud_core::orchestrator::{OrchestratorError, SessionEventKind};
use cloud_core::store::{SessionFilter, SessionRecord, StoreError};
use cloud_domain::error::UserError;
use cloud_domain::session::{SessionId, SessionState, StackName, StackState};

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The business project (e.g. ecommerce)
    pub project: String,
    /// The environment (dev, stage, prod, …)
    pub env: String,
    /// Only these stacks (comma-separated); default: every enabled stack of the deployment
    #[arg(long, value_delimiter = ',')]
    pub stacks: Vec<String>,
    #[command(flatten)]
    pub flow: super::stack_cmds::FlowArgs,
}

/// `cloud plan <project> <env>` opens a session; `cloud plan show …` reads an event log. A
/// subcommand and the positional arguments exclude each other, so `show` is never taken for a
/// project name (a project called `show` is planned with `cloud plan -- show <env>`).
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct PlanArgs {
    #[command(subcommand)]
    pub command: Option<super::plan_show::PlanCmd>,
    /// The business project (e.g. ecommerce)
    #[arg(required = true)]
    pub project: Option<String>,
    /// The environment (dev, stage, prod, …)
    #[arg(required = true)]
    pub env: Option<String>,
    /// Only these stacks (comma-separated)
    #[arg(long, value_delimiter = ',')]
    pub stacks: Vec<String>,
    /// Print the session as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SessionArg {
    /// Session id or its first 8 characters
    pub session: String,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// Session id or its first 8 characters
    pub session: String,
    /// The plan digest you reviewed (16 hex digits, as `status` shows) [default: the current one]
    #[arg(long)]
    pub digest: Option<String>,
    /// Record the approval only; do not apply here even when it completes the approvals
    #[arg(long)]
    pub no_apply: bool,
    /// Approve a plan that is over its project's quota (admin only); the reason is audited
    #[arg(long, value_name = "REASON")]
    pub override_reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Session id or prefix; or a deployment (D1BRV40, org/project): every stack × environment
    /// with its last session, outputs and drift; without it, the active sessions
    pub session: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only sessions in this state (e.g. PLAN_READY)
    #[arg(long)]
    pub state: Option<String>,
    #[arg(long)]
    pub project: Option<String>,
    #[arg(long)]
    pub env: Option<String>,
    /// At most this many, newest first
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Only sessions older than this one (id or prefix): the next page after a list's last line
    #[arg(long)]
    pub before: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    pub session: String,
    /// Why (recorded in the audit log)
    #[arg(long, default_value = "cancelled from the CLI")]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    pub session: String,
    /// Keep printing new lines until the session ends
    #[arg(long, short)]
    pub follow: bool,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: Option<AuditCmd>,
    /// Only the rows of this session
    #[arg(long)]
    pub session: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Check the hash chain; names the first row that does not verify (exit 1)
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum ProjectsCmd {
    /// Create a project
    Create {
        name: String,
        /// The owning organisation (e.g. acme-corp)
        #[arg(long)]
        org: String,
        #[arg(long, default_value = "aws")]
        provider: String,
        /// Environments to enable (comma-separated)
        #[arg(long, value_delimiter = ',', default_value = "dev,stage,prod")]
        environments: Vec<String>,
    },
    /// List projects
    List {
        #[arg(long)]
        json: bool,
    },
}

pub(super) fn user(e: OrchestratorError) -> anyhow::Error {
    e.to_user().into()
}

pub(super) fn store_user(e: StoreError) -> anyhow::Error {
    OrchestratorError::from(e).to_user().into()
}

pub(super) fn stack_names(raw: &[String]) -> anyhow::Result<Option<Vec<StackName>>> {
    if raw.is_empty() {
        return Ok(None);
    }
    raw.iter()
        .map(|s| {
            s.trim()
                .parse::<StackName>()
                .map_err(|e| UserError::invalid(e.to_string()).into())
        })
        .collect::<anyhow::Result<Vec<_>>>()
        .map(Some)
}

pub(super) fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    crate::outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Sessions one per line (or as JSON); `empty` says what to do when there are none.
pub(super) fn print_sessions(sessions: &[SessionRecord], json: bool, empty: &str) -> anyhow::Result<()> {
    if json {
        return print_json(&sessions);
    }
    if sessions.is_empty() {
        crate::outln!("{empty}");
    }
    for s in sessions {
        crate::outln!("{}", render::session_line(s));
    }
    Ok(())
}

/// Whether the command changes something (and so is audited as "acting as" when `--as` names
/// someone other than the OS user).
fn changes_something(command: &Command) -> bool {
    match command {
        Command::Deploy(_)
        | Command::DeployStack(_)
        | Command::Destroy(_)
        | Command::DestroyStack(_)
        | Command::Rollback(_)
        | Command::Queue(_)
        | Command::Refresh(_)
        | Command::Approve(_)
        | Command::Apply(_)
        | Command::Cancel(_)
        | Command::Grant(_)
        | Command::Revoke(_)
        | Command::People(_) => true,
        Command::Plan(args) => args.command.is_none(),
        Command::Projects(cmd) => !matches!(cmd, ProjectsCmd::List { .. }),
        Command::Quota(cmd) => matches!(cmd, super::admin_cmds::QuotaCmd::Set { .. }),
        Command::Admin(cmd) => !matches!(cmd, super::admin_cmds::AdminCmd::List { .. }),
        Command::Tokens(cmd) => !matches!(cmd, super::identity_cmds::TokensCmd::List { .. }),
        Command::Locks(args) => args.cmd.is_some(),
        Command::Prune(args) => args.yes,
        Command::Status(_)
        | Command::List(_)
        | Command::Logs(_)
        | Command::Audit(_)
        | Command::Grants(_)
        | Command::Stats(_)
        | Command::Config(_)
        | Command::Doctor
        | Command::Serve(_)
        | Command::Login(_)
        | Command::Logout
        | Command::Bench(_)
        | Command::Catalog(_) => false,
    }
}

pub async fn run(app: &App, command: Command) -> anyhow::Result<()> {
    let before = if changes_something(&command) {
        Some(app.audit_head().await?)
    } else {
        None
    };
    let result = run_command(app, command).await;
    if let Some(before) = before {
        app.record_acting_as(before).await?;
    }
    result
}

async fn run_command(app: &App, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Tokens(cmd) => super::identity_cmds::cmd_tokens(app, cmd).await,
        Command::People(cmd) => super::identity_cmds::cmd_people(app, cmd).await,
        Command::Deploy(args) => deploy(app, args).await,
        Command::Plan(args) => {
            // clap requires both when there is no subcommand; `plan show` is dispatched earlier.
            let (Some(project), Some(env)) = (args.project, args.env) else {
                return Err(UserError::invalid(
                    "usage: cloud plan <project> <env>, or cloud plan show --event-log FILE",
                )
                .into());
            };
            let stacks = stack_names(&args.stacks)?;
            let s = app
                .orchestrator
                .start_session(&app.actor, &project, &env, stacks.as_deref())
                .await
                .map_err(user)?;
            let s = plan_with_spinner(app, s.id).await?;
            if args.json {
                print_json(&app.orchestrator.status(s.id).await.map_err(user)?)?;
                return plan_failure(app, &s).map_or(Ok(()), |e| Err(e.into()));
            }
            print_plan(app, &s).await?;
            plan_outcome(app, &s)
        }
        Command::Refresh(args) => {
            let s = app.store.find_session(&args.session).await.map_err(store_user)?;
            let s = plan_with_spinner(app, s.id).await?;
            print_plan(app, &s).await?;
            plan_outcome(app, &s)
        }
        Command::Approve(args) => {
            let s = app.store.find_session(&args.session).await.map_err(store_user)?;
            let digest = match args.digest {
                Some(d) => d,
                None => s.digest.as_ref().map(|d| d.0.clone()).ok_or_else(|| {
                    UserError::invalid(format!(
                        "session {} has no plan to approve (it is {})",
                        s.id.short(),
                        s.state
                    ))
                })?,
            };
            // An approval that applies here drives the session from the approval on: killed
            // between the two, the session would otherwise stay APPROVED holding its stacks
            // with no process to apply it and no lease to expire (the kill matrix, issue 15).
            let lease = match args.no_apply {
                false => Some(app.orchestrator.drive_to_approve(s.id).await.map_err(user)?),
                true => None,
            };
            let approved = match &args.override_reason {
                Some(reason) => {
                    app.orchestrator
                        .approve_override(s.id, &app.actor, &digest, reason)
                        .await
                }
                None => app.orchestrator.approve(s.id, &app.actor, &digest).await,
            }
            .map_err(user);
            let result = match approved {
                Ok(s) => {
                    crate::outln!("{} approved session {} ({}).", app.principal, s.id.short(), s.state);
                    if s.state == SessionState::Approved && !args.no_apply {
                        apply_with_progress(app, s.id).await.map(|()| None)
                    } else {
                        Ok(Some(s))
                    }
                }
                Err(e) => Err(e),
            };
            if let Some(lease) = lease {
                lease.release().await;
            }
            let Some(s) = result? else { return Ok(()) };
            if let Some(next) = render::next_step(&s) {
                crate::outln!("next: {next}");
            }
            Ok(())
        }
        Command::Apply(args) => {
            let s = app.store.find_session(&args.session).await.map_err(store_user)?;
            apply_with_progress(app, s.id).await
        }
        Command::Status(args) => match args.session {
            Some(text) if super::deployment_status::is_deployment_selector(&text) => {
                super::deployment_status::cmd_status_deployment(app, &text, args.json).await
            }
            Some(text) => {
                let s = app.store.find_session(&text).await.map_err(store_user)?;
                let view = app.orchestrator.view(s.id, &app.actor).await.map_err(user)?;
                if args.json {
                    print_json(&view)
                } else {
                    crate::out!("{}", render::status(&view));
                    super::stack_cmds::print_follow_ups(app, s.id).await
                }
            }
            None => {
                let sessions = app
                    .orchestrator
                    .list_for(
                        &app.actor,
                        &SessionFilter {
                            active: true,
                            ..Default::default()
                        },
                    )
                    .await
                    .map_err(user)?;
                print_sessions(
                    &sessions,
                    args.json,
                    "No active sessions. Start one with `cloud deploy <project> <env>`.",
                )
            }
        },
        Command::List(args) => {
            let state = args
                .state
                .as_deref()
                .map(str::parse::<SessionState>)
                .transpose()
                .map_err(|e| UserError::invalid(e.to_string()))?;
            let before = match args.before.as_deref() {
                Some(text) => Some(app.store.find_session(text).await.map_err(store_user)?.id),
                None => None,
            };
            let sessions = app
                .orchestrator
                .list_for(
                    &app.actor,
                    &SessionFilter {
                        state,
                        project: args.project,
                        env: args.env,
                        active: false,
                        limit: Some(args.limit),
                        before,
                    },
                )
                .await
                .map_err(user)?;
            print_sessions(&sessions, args.json, "No sessions match.")
        }
        Command::Cancel(args) => {
            let s = app.store.find_session(&args.session).await.map_err(store_user)?;
            let s = app
                .orchestrator
                .cancel(s.id, &app.actor, &args.reason)
                .await
                .map_err(user)?;
            if s.state == SessionState::Applying {
                crate::outln!(
                    "Cancel requested for session {}: in-flight steps finish, then it stops.",
                    s.id.short()
                );
            } else {
                crate::outln!("Session {} is {}.", s.id.short(), s.state);
            }
            Ok(())
        }
        Command::Logs(args) => logs(app, args).await,
        Command::DeployStack(args) => super::stack_cmds::cmd_deploy_stack(app, args).await,
        Command::Destroy(args) => super::stack_cmds::cmd_destroy(app, args).await,
        Command::DestroyStack(args) => super::stack_cmds::cmd_destroy_stack(app, args).await,
        Command::Rollback(args) => super::stack_cmds::cmd_rollback(app, args).await,
        Command::Queue(args) => super::stack_cmds::cmd_queue(app, &args.session).await,
        Command::Audit(args) => audit(app, args).await,
        Command::Projects(cmd) => projects(app, cmd).await,
        Command::Config(_)
        | Command::Doctor
        | Command::Catalog(_)
        | Command::Serve(_)
        | Command::Login(_)
        | Command::Logout
        | Command::Bench(_) => {
            unreachable!("handled before the app starts")
        }
        Command::Grant(args) => super::admin_cmds::cmd_grant(app, args).await,
        Command::Revoke(args) => super::admin_cmds::cmd_revoke(app, args).await,
        Command::Grants(cmd) => super::admin_cmds::cmd_grants(app, cmd).await,
        Command::Quota(cmd) => super::admin_cmds::cmd_quota(app, cmd).await,
        Command::Stats(args) => super::admin_cmds::cmd_stats(app, args).await,
        Command::Prune(args) => super::admin_cmds::cmd_prune(app, args).await,
        Command::Admin(cmd) => super::admin_cmds::cmd_admin(app, cmd).await,
        Command::Locks(args) => super::admin_cmds::cmd_locks(app, args).await,
    }
}

async fn plan_with_spinner(app: &App, id: SessionId) -> anyhow::Result<SessionRecord> {
    let spinner = ProgressBar::new_spinner().with_message("previewing stacks…");
    if std::io::stderr().is_terminal() {
        spinner.enable_steady_tick(Duration::from_millis(120));
    }
    let result = app.orchestrator.plan(id, &app.actor).await.map_err(user);
    spinner.finish_and_clear();
    result
}

async fn print_plan(app: &App, s: &SessionRecord) -> anyhow::Result<()> {
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

fn plan_outcome(app: &App, s: &SessionRecord) -> anyhow::Result<()> {
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
fn plan_failure(app: &App, s: &SessionRecord) -> Option<UserError> {
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

async fn deploy(app: &App, args: DeployArgs) -> anyhow::Result<()> {
    use super::stack_cmds::{run_request, SessionRequest};
    use cloud_domain::session::Operation;
    let stacks = stack_names(&args.stacks)?;
    run_request(
        app,
        SessionRequest {
            project: args.project,
            env: args.env,
            stacks,
            operation: Operation::Deploy,
            flow: args.flow,
            with_dependents: false,
        },
    )
    .await
}

/// Plan an opened session, then approve (where the requester may) and apply it.
pub(super) async fn plan_approve_apply(app: &App, s: SessionRecord, approve: bool) -> anyhow::Result<()> {
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
        eprint!("Approve and apply this plan? [y/N] ");
        std::io::stderr().flush()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        matches!(answer.trim(), "y" | "Y" | "yes")
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
async fn apply_with_progress(app: &App, id: SessionId) -> anyhow::Result<()> {
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
    let result = app.orchestrator.apply(id, &app.actor).await;
    // Let the renderer drain what was published, then stop it.
    tokio::time::sleep(Duration::from_millis(50)).await;
    renderer.abort();
    let s = result.map_err(user)?;
    let view = app.orchestrator.status(s.id).await.map_err(user)?;
    crate::out!("{}", render::status(&view));
    super::stack_cmds::print_follow_ups(app, s.id).await?;
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

async fn logs(app: &App, args: LogsArgs) -> anyhow::Result<()> {
    let s = app.store.find_session(&args.session).await.map_err(store_user)?;
    // Reading a session's output needs `read` on its project/environment.
    app.orchestrator.view(s.id, &app.actor).await.map_err(user)?;
    let mut after = 0;
    loop {
        let lines = app.store.logs(s.id, after).await.map_err(store_user)?;
        for l in &lines {
            crate::outln!("[{}] {}", l.stack, l.line);
            after = l.seq;
        }
        if !args.follow {
            if lines.is_empty() && after == 0 {
                crate::errln!("No engine output recorded for session {} yet.", s.id.short());
            }
            return Ok(());
        }
        let state = app.store.session(s.id).await.map_err(store_user)?.state;
        if !state.is_running() && lines.is_empty() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn audit(app: &App, args: AuditArgs) -> anyhow::Result<()> {
    if let Some(AuditCmd::Verify) = args.command {
        let result = app.orchestrator.audit_verify(&app.actor).await.map_err(user)?;
        if args.json {
            print_json(&result)?;
        }
        if let Some(bad) = &result.first_bad {
            return Err(UserError::failed(format!("audit row #{} does not verify: {}", bad.seq, bad.reason)).into());
        }
        let checkpoint = result.checkpoint.as_ref();
        if let Some(problem) = checkpoint.and_then(|c| c.problem.as_ref()) {
            return Err(UserError::failed(format!("the audit log does not match its signed head: {problem}")).into());
        }
        if !args.json {
            crate::outln!("audit log verified: {} rows, chain intact", result.rows);
            match checkpoint.and_then(|c| c.vouches_since.as_ref()) {
                Some((since, at)) => {
                    crate::outln!(
                        "signed head: vouches for rows {since}–{} (signed since {at}); truncation and re-chaining would show",
                        result.rows
                    );
                    if *since > 1 {
                        crate::outln!(
                            "rows 1–{} predate the audit key: hash-chained only (an edit shows, a re-chained forgery would not)",
                            since - 1
                        );
                    }
                }
                None => crate::outln!("signed head: none yet (no row appended with the audit key)"),
            }
        }
        return Ok(());
    }
    let session = match &args.session {
        Some(text) => Some(app.store.find_session(text).await.map_err(store_user)?.id),
        None => None,
    };
    let entries = app.orchestrator.audit_log(&app.actor, session).await.map_err(user)?;
    if args.json {
        return print_json(&entries);
    }
    crate::out!("{}", render::audit(&entries));
    Ok(())
}

async fn projects(app: &App, cmd: ProjectsCmd) -> anyhow::Result<()> {
    match cmd {
        ProjectsCmd::Create {
            name,
            org,
            provider,
            environments,
        } => {
            let params = cloud_core::orchestrator::ProjectParams {
                name,
                org,
                provider,
                environments,
            };
            let p = app
                .orchestrator
                .create_project(&app.actor, params)
                .await
                .map_err(user)?;
            crate::outln!(
                "Created project {} (org {}, {}, environments {}).",
                p.name,
                p.org,
                p.provider,
                p.environments.join(", ")
            );
            Ok(())
        }
        ProjectsCmd::List { json } => {
            let projects = app.store.projects().await.map_err(store_user)?;
            if json {
                return print_json(&projects);
            }
            if projects.is_empty() {
                crate::outln!(
                    "No projects yet. Create one with `cloud projects create <name> --org <org>` or `cloud init`."
                );
            }
            for p in &projects {
                crate::outln!(
                    "{:<20} org {:<16} {:<5} envs {}",
                    p.name,
                    p.org,
                    p.provider,
                    p.environments.join(",")
                );
            }
            Ok(())
        }
    }
}
