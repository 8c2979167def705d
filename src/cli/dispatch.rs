//! One command, one call: routes a parsed [`Command`] to the module that runs it, and audits a
//! command that changes something as "acting as" when `--as` names someone else.

use super::common::{print_json, print_sessions, stack_names, store_user, user};
use super::flow::{apply_with_progress, plan_failure, plan_outcome, plan_with_spinner, print_follow_ups, print_plan};
use super::session_cmds::{audit, deploy, logs, projects, ProjectsCmd};
use super::{admin_cmds, deployment_status, identity_cmds, stack_cmds, Command};
use crate::app::App;
use cloud_chat::text as render;
use cloud_core::store::SessionFilter;
use cloud_domain::error::UserError;
use cloud_domain::session::SessionState;

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
        Command::Quota(cmd) => matches!(cmd, admin_cmds::QuotaCmd::Set { .. }),
        Command::Admin(cmd) => !matches!(cmd, admin_cmds::AdminCmd::List { .. }),
        Command::Tokens(cmd) => !matches!(cmd, identity_cmds::TokensCmd::List { .. }),
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
        Command::Tokens(cmd) => identity_cmds::cmd_tokens(app, cmd).await,
        Command::People(cmd) => identity_cmds::cmd_people(app, cmd).await,
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
            Some(text) if deployment_status::is_deployment_selector(&text) => {
                deployment_status::cmd_status_deployment(app, &text, args.json).await
            }
            Some(text) => {
                let s = app.store.find_session(&text).await.map_err(store_user)?;
                let view = app.orchestrator.view(s.id, &app.actor).await.map_err(user)?;
                if args.json {
                    print_json(&view)
                } else {
                    crate::out!("{}", render::status(&view));
                    print_follow_ups(app, s.id).await
                }
            }
            None => {
                let sessions = app
                    .orchestrator
                    .list_for(
                        &app.actor,
                        &SessionFilter {
                            active: true,
                            // One line each; `--json` prints the whole sessions, plans included.
                            without_plans: !args.json,
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
                        // One line each; `--json` prints the whole sessions, plans included.
                        without_plans: !args.json,
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
        Command::DeployStack(args) => stack_cmds::cmd_deploy_stack(app, args).await,
        Command::Destroy(args) => stack_cmds::cmd_destroy(app, args).await,
        Command::DestroyStack(args) => stack_cmds::cmd_destroy_stack(app, args).await,
        Command::Rollback(args) => stack_cmds::cmd_rollback(app, args).await,
        Command::Queue(args) => stack_cmds::cmd_queue(app, &args.session).await,
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
        Command::Grant(args) => admin_cmds::cmd_grant(app, args).await,
        Command::Revoke(args) => admin_cmds::cmd_revoke(app, args).await,
        Command::Grants(cmd) => admin_cmds::cmd_grants(app, cmd).await,
        Command::Quota(cmd) => admin_cmds::cmd_quota(app, cmd).await,
        Command::Stats(args) => admin_cmds::cmd_stats(app, args).await,
        Command::Prune(args) => admin_cmds::cmd_prune(app, args).await,
        Command::Admin(cmd) => admin_cmds::cmd_admin(app, cmd).await,
        Command::Locks(args) => admin_cmds::cmd_locks(app, args).await,
    }
}
