//! Multi-stack session commands: `deploy-stack`, `destroy`, `destroy-stack`, `rollback` and
//! `queue`, and the one flow they share with `deploy`: open the session (or queue it when its
//! stacks are busy and `--queue` was given), show its waves, plan, approve where allowed, apply
//! with live progress.

use clap::Args;

use super::session_cmds::{self, store_user, user};
use crate::app::App;
use cloud_core::orchestrator::{LeaseGuard, OrchestratorError};
use cloud_core::store::{LockHolder, LockOutcome, SessionRecord};
use cloud_domain::error::UserError;
use cloud_domain::session::{Operation, SessionState, StackName};

#[derive(Debug, Args)]
pub struct DeployStackArgs {
    /// The deployment: its id (D1BRV40), directory name, or org/project
    pub deployment: String,
    /// The stack (e.g. network); its dependencies are not added
    pub stack: String,
    /// The environment (dev, stage, prod, …)
    pub env: String,
    #[command(flatten)]
    pub flow: FlowArgs,
}

#[derive(Debug, Args)]
pub struct DestroyStackArgs {
    #[command(flatten)]
    pub target: DeployStackArgs,
    /// Also destroy the deployed stacks that depend on it, in the same session (dependents
    /// first); without it the command refuses while any is deployed
    #[arg(long)]
    pub with_dependents: bool,
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// The business project (e.g. ecommerce)
    pub project: String,
    /// The environment (dev, stage, prod, …)
    pub env: String,
    /// Only these stacks (comma-separated); default: every enabled stack of the deployment
    #[arg(long, value_delimiter = ',')]
    pub stacks: Vec<String>,
    #[command(flatten)]
    pub flow: FlowArgs,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The deployment: its id (D1BRV40), directory name, or org/project
    pub deployment: String,
    /// The environment (dev, stage, prod, …)
    pub env: String,
    #[command(flatten)]
    pub flow: FlowArgs,
}

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

/// What a session is opened for, from a deployment selector (id, directory name or
/// org/project): the deployment's id, so that a project with several deployments opens this one.
fn project_of(app: &App, deployment: &str) -> anyhow::Result<String> {
    let d = cloud_catalog::find_deployment(&app.config.workspace, deployment)?;
    Ok(d.id()
        .map(|id| id.to_string())
        .unwrap_or_else(|| d.manifest.project.clone()))
}

fn stack_name(text: &str) -> anyhow::Result<StackName> {
    text.trim()
        .parse::<StackName>()
        .map_err(|e| UserError::invalid(e.to_string()).into())
}

pub async fn cmd_deploy_stack(app: &App, args: DeployStackArgs) -> anyhow::Result<()> {
    let stack = stack_name(&args.stack)?;
    let project = project_of(app, &args.deployment)?;
    run_request(
        app,
        SessionRequest {
            project,
            env: args.env,
            stacks: Some(vec![stack]),
            operation: Operation::Deploy,
            flow: args.flow,
            with_dependents: false,
        },
    )
    .await
}

pub async fn cmd_destroy(app: &App, args: DestroyArgs) -> anyhow::Result<()> {
    let stacks = session_cmds::stack_names(&args.stacks)?;
    run_request(
        app,
        SessionRequest {
            project: args.project,
            env: args.env,
            stacks,
            operation: Operation::Destroy,
            flow: args.flow,
            with_dependents: false,
        },
    )
    .await
}

pub async fn cmd_destroy_stack(app: &App, args: DestroyStackArgs) -> anyhow::Result<()> {
    let DestroyStackArgs {
        target: args,
        with_dependents,
    } = args;
    let stack = stack_name(&args.stack)?;
    let project = project_of(app, &args.deployment)?;
    run_request(
        app,
        SessionRequest {
            project,
            env: args.env,
            stacks: Some(vec![stack]),
            operation: Operation::Destroy,
            flow: args.flow,
            with_dependents,
        },
    )
    .await
}

pub async fn cmd_rollback(app: &App, args: RollbackArgs) -> anyhow::Result<()> {
    let project = project_of(app, &args.deployment)?;
    run_request(
        app,
        SessionRequest {
            project,
            env: args.env,
            stacks: None,
            operation: Operation::Rollback,
            flow: args.flow,
            with_dependents: false,
        },
    )
    .await
}

/// `cloud queue <session>`: put a DRAFT session in line for its stacks.
pub async fn cmd_queue(app: &App, session: &str) -> anyhow::Result<()> {
    let s = app.store.find_session(session).await.map_err(store_user)?;
    match app.orchestrator.queue_session(s.id, &app.actor).await.map_err(user)? {
        LockOutcome::Granted => crate::outln!(
            "Session {} holds its stacks now: a running `cloud serve` plans it; otherwise: cloud refresh {}",
            s.id.short(),
            s.id.short()
        ),
        LockOutcome::Queued { position, holders } => {
            crate::outln!("Session {} is queued: position {position}.", s.id.short());
            print_holders(&holders);
            crate::outln!(
                "When its turn comes it holds the stacks and a running `cloud serve` plans it; without one, `cloud refresh {}` does.",
                s.id.short()
            );
        }
        LockOutcome::Busy { .. } => unreachable!("queueing never refuses"),
    }
    Ok(())
}

fn print_holders(holders: &[LockHolder]) {
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
        session_cmds::plan_approve_apply(app, s, req.flow.approve).await
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
