//! Session commands: deploy, plan, refresh, approve, apply, status, list, cancel, logs, audit,
//! projects.

use std::time::Duration;

use clap::{Args, Subcommand};

use super::common::{print_json, stack_names, store_user, user};
use super::flow::{run_request, FlowArgs, SessionRequest};
use crate::app::App;
use cloud_chat::text as render;
use cloud_domain::error::UserError;

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
    pub flow: FlowArgs,
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

pub(super) async fn deploy(app: &App, args: DeployArgs) -> anyhow::Result<()> {
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

pub(super) async fn logs(app: &App, args: LogsArgs) -> anyhow::Result<()> {
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

pub(super) async fn audit(app: &App, args: AuditArgs) -> anyhow::Result<()> {
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

pub(super) async fn projects(app: &App, cmd: ProjectsCmd) -> anyhow::Result<()> {
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
