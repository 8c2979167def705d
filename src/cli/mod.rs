//! The `cloud` command line: the same core as the chat bots, driven from a terminal. Every
//! command maps to one orchestrator or store call; this module only parses, renders and maps
//! outcomes to exit codes (0 ok, 1 failed, 2 invalid input, 3 not permitted, 130 interrupted).

mod admin_cmds;
pub mod aliases;
mod bench;
pub mod catalog;
mod common;
mod deployment_status;
mod dispatch;
pub mod doctor;
mod flow;
mod identity_cmds;
pub mod interrupt;
pub mod output;
pub mod plan_show;
mod remote_cmds;
mod serve_cmd;
mod session_cmds;
mod stack_cmds;

use clap::{Parser, Subcommand};

pub use crate::app::App;
pub use crate::global_args::{GlobalArgs, LogFormat};

use cloud_domain::error::UserError;

/// Deploy infrastructure with a plan-first, four-eyes approval workflow.
///
/// `cloud deploy <project> <env>` previews every stack of the project's deployment, shows the
/// plan, asks for approval and applies it stack by stack. The same sessions are visible to the
/// Discord and Slack bots.
#[derive(Debug, Parser)]
#[command(name = "cloud", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Parse the process's command line: flat aliases ([`aliases`]) become their nested commands
/// and `cloud --help` lists them.
pub fn parse() -> Cli {
    use clap::{CommandFactory, FromArgMatches};
    let args = aliases::expand(std::env::args().collect());
    let matches = Cli::command().after_help(aliases::help()).get_matches_from(args);
    match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Plan, approve and apply a deployment in one go (the main job)
    Deploy(session_cmds::DeployArgs),
    /// Plan, approve and apply one stack of a deployment (its dependencies are not added)
    DeployStack(stack_cmds::DeployStackArgs),
    /// Destroy a project's stacks in an environment, in reverse dependency order (plan first)
    Destroy(stack_cmds::DestroyArgs),
    /// Destroy one stack of a deployment (plan first)
    DestroyStack(stack_cmds::DestroyStackArgs),
    /// Return a deployment's stacks to the configuration of the last APPLIED session whose
    /// configuration differs from the manifest's (a new session: plan, approve, apply)
    Rollback(stack_cmds::RollbackArgs),
    /// Put a session whose stacks are busy in line for them (FIFO)
    ///
    /// Nothing needs to wait in this terminal: when its turn comes the session holds its stacks
    /// and a running `cloud serve` plans it at once, as its requester, whichever process freed
    /// them. Without a running `cloud serve`, `cloud refresh <SESSION>` plans it (and
    /// `cloud serve` plans it when it starts). `cloud status <SESSION>` shows the position.
    Queue(session_cmds::SessionArg),
    /// Open a session and preview it, without applying; `plan show` summarises an event log
    Plan(session_cmds::PlanArgs),
    /// Re-preview a session (PLAN_READY or PLAN_FAILED); an identical plan keeps its approvals
    Refresh(session_cmds::SessionArg),
    /// Approve a session's plan; when it has enough approvals it is applied here
    Approve(session_cmds::ApproveArgs),
    /// Apply an APPROVED session
    Apply(session_cmds::SessionArg),
    /// Show one session (or the active ones)
    Status(session_cmds::StatusArgs),
    /// List sessions
    List(session_cmds::ListArgs),
    /// Cancel a session (a running apply stops gracefully)
    Cancel(session_cmds::CancelArgs),
    /// Print a session's engine output
    Logs(session_cmds::LogsArgs),
    /// Read or verify the audit log
    Audit(session_cmds::AuditArgs),
    /// Projects: create (admin) and list
    #[command(subcommand)]
    Projects(session_cmds::ProjectsCmd),
    /// Give a user a role on a project, optionally for one environment and for a limited time (admin)
    Grant(admin_cmds::GrantArgs),
    /// Revoke a grant (admin)
    Revoke(admin_cmds::RevokeArgs),
    /// List grants (admin)
    #[command(subcommand)]
    Grants(admin_cmds::GrantsCmd),
    /// Per-project quotas: set a limit, show usage (admin)
    #[command(subcommand)]
    Quota(admin_cmds::QuotaCmd),
    /// Sessions by state, success rate, lead time, top projects and requesters (admin)
    Stats(admin_cmds::StatsArgs),
    /// Every session of every project; cancel anyone's session (admin)
    #[command(subcommand)]
    Admin(admin_cmds::AdminCmd),
    /// API tokens: how the CLI proves who it is on a shared store (CLOUD_TOKEN)
    #[command(subcommand)]
    Tokens(identity_cmds::TokensCmd),
    /// People: link one person's Discord, Slack and CLI identities (four-eyes counts them once)
    #[command(subcommand)]
    People(identity_cmds::PeopleCmd),
    /// Held stack locks: who holds them, who drives that session, what releases them;
    /// `release` frees one (admin, audited)
    Locks(admin_cmds::LocksArgs),
    /// Remove the engine logs and plan documents of sessions that ended longer ago than the
    /// configured retention; a dry run unless --yes (admin)
    Prune(admin_cmds::PruneArgs),
    /// Configuration
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Check the installation: pulumi binary, backend, passphrase, credentials, data dir, database
    Doctor,
    /// Run the chat bots (Discord, Slack) and/or the HTTP API with /healthz and /metrics;
    /// SIGTERM shuts down gracefully
    Serve(serve_cmd::ServeArgs),
    /// Use a `cloud serve --api` server: checks the token and saves URL and token (mode 0600);
    /// status, list, deploy, approve, cancel and logs then run there
    Login(remote_cmds::LoginArgs),
    /// Forget the saved server login (commands use the local store again)
    Logout,
    /// Benchmarks (`waves`, `stream`, `discord`, `parser`, …): runs the separate `cloud-bench`
    /// program, which is not part of the release binary (`cargo build -p cloud-bench`)
    Bench(bench::BenchArgs),
    #[command(flatten)]
    Catalog(catalog::CatalogCommand),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Print the effective configuration (secrets masked)
    Show,
}

/// Run a parsed command line; returns the process exit code.
pub async fn run(cli: Cli) -> i32 {
    match dispatch(cli).await {
        Ok(()) => 0,
        Err(e) => report_error(&e),
    }
}

/// Prints an error the way every `cloud` command does and returns its exit code: a
/// [`UserError`] verbatim with its code, a configuration error with 2, anything else with 1.
///
/// Input is often part of the message (a name, a path, a file's line); control and bidi
/// characters in it are written escaped, so an error can neither drive the terminal nor reorder
/// what the reader sees.
/// Prints the reply of a chat action as the CLI's answer (plain text), or returns its refusal as
/// the CLI's error (its text and exit code): commands that mean the same as a chat command call
/// the same action and say the same thing.
pub(crate) fn print_reply(reply: cloud_chat::view::Reply) -> anyhow::Result<()> {
    if let Some(error) = reply.as_user_error() {
        return Err(error.into());
    }
    crate::out!("{}", reply.plain());
    Ok(())
}

pub fn report_error(e: &anyhow::Error) -> i32 {
    use cloud_domain::error_code::Coded;
    if let Some(interrupted) = e.downcast_ref::<interrupt::Interrupted>() {
        crate::outln!("{interrupted}");
        return interrupted.signal.exit_code();
    }
    let (text, code, specific) = if let Some(user) = e.downcast_ref::<UserError>() {
        (user.message.clone(), user.code.code(), user.error_code)
    } else if let Some(config) = e.downcast_ref::<cloud_core::config::ConfigError>() {
        (config.to_string(), 2, Some(config.error_code()))
    } else if let Some(store) = e.downcast_ref::<cloud_core::store::StoreError>() {
        (format!("{e:#}"), 1, Some(store.error_code()))
    } else {
        (format!("{e:#}"), 1, None)
    };
    crate::errln!("error: {}", cloud_domain::input::escape_for_display(&text));
    // A specific kind of failure has its page: the code and where cause and fix are written.
    if let Some(specific) = specific {
        crate::errln!("  see: {}", specific.doc_link());
    }
    code
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let global = cli.global;
    match cli.command {
        Command::Config(ConfigCmd::Show) => {
            let config = crate::app::load_config(&global)?;
            crate::out!("{}", config.show());
            Ok(())
        }
        // Commands that work on files only: no database, no engine.
        Command::Plan(session_cmds::PlanArgs {
            command: Some(plan_show::PlanCmd::Show(args)),
            ..
        }) => Ok(plan_show::cmd_plan_show(&args, &mut output::Stdout)?),
        Command::Catalog(cmd) => {
            let config = crate::app::load_config(&global)?;
            Ok(catalog::run(&config.workspace, &cmd, &mut output::Stdout)?)
        }
        Command::Bench(args) => bench::run(&global, &args),
        Command::Doctor => {
            let overrides = cloud_core::config::Overrides {
                config: global.config.clone(),
                data_dir: global.data_dir.clone(),
            };
            let report = doctor::run_checks(&overrides).await;
            Ok(doctor::cmd_doctor(&report, &mut output::Stdout)?)
        }
        Command::Serve(args) => serve_cmd::cmd_serve(&global, &args).await,
        Command::Login(args) => remote_cmds::cmd_login(&args).await,
        Command::Logout => remote_cmds::cmd_logout(),
        other if remote_cmds::is_remote(&other) && crate::remote::Login::load()?.is_some() => {
            let login = crate::remote::Login::load()?.expect("checked just above");
            remote_cmds::run(&login, other).await
        }
        other => {
            let app = App::start(&global).await?;
            let result = dispatch::run(&app, other).await;
            // Copy the signed audit head outside the database, whatever the command did: what
            // lets `audit verify` notice a deleted or rolled-back database later.
            if let Err(e) = app.store.export_audit_head().await {
                tracing::warn!(error = %e, "cannot read the audit head to export it");
            }
            result
        }
    }
}
