//! Multi-stack session commands: `deploy-stack`, `destroy`, `destroy-stack`, `rollback` and
//! `queue`; they run the flow they share with `deploy` ([`super::flow`]).

use clap::Args;

use super::common::{stack_names, store_user, user};
use super::flow::{print_holders, run_request, FlowArgs, SessionRequest};
use crate::app::App;
use cloud_core::store::LockOutcome;
use cloud_domain::error::UserError;
use cloud_domain::session::{Operation, StackName};

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
    let stacks = stack_names(&args.stacks)?;
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
