//! `cloud login <url>`, `cloud logout`, and the commands that run against the server once
//! logged in (`status`, `list`, `deploy`, `approve`, `cancel`, `logs`): see [`crate::remote`].

use std::io::Read;

use clap::Args;

use super::common::print_json;
use super::Command;
use crate::api::model::{ApproveRequest, CancelRequest, DeployRequest, LogEvent, Session, SessionPage};
use crate::remote::{Login, Remote};
use cloud_domain::error::UserError;

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The server's URL (`cloud serve --api`), e.g. https://cloud.example.com
    pub url: String,
    /// The API token; without it, read from standard input (or CLOUD_TOKEN)
    #[arg(long, env = "CLOUD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// `cloud login <url>`: checks the token against the server (`GET /api/v1/whoami`), then saves
/// both (mode 0600).
pub async fn cmd_login(args: &LoginArgs) -> anyhow::Result<()> {
    let token = match args.token.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => t.to_string(),
        None => {
            let mut text = String::new();
            std::io::stdin()
                .take(4096)
                .read_to_string(&mut text)
                .map_err(|e| UserError::invalid(format!("cannot read the token from standard input: {e}")))?;
            let text = text.trim().to_string();
            if text.is_empty() {
                return Err(UserError::invalid(
                    "no token: pass --token <token>, set CLOUD_TOKEN, or pipe it on standard input",
                )
                .into());
            }
            text
        }
    };
    let remote = Remote::new(&args.url, &token)?;
    let me = remote.whoami().await?;
    let login = Login {
        url: args.url.trim().trim_end_matches('/').to_string(),
        token,
        principal: me.principal.clone(),
    };
    let path = login.save()?;
    crate::outln!(
        "Logged in to {} as {} (token {}, role {}); saved in {} (mode 0600).",
        login.url,
        me.principal,
        me.token_id,
        me.role,
        path.display()
    );
    Ok(())
}

/// `cloud logout`.
pub fn cmd_logout() -> anyhow::Result<()> {
    if Login::remove()? {
        crate::outln!("Logged out; commands use the local store again.");
    } else {
        crate::outln!("Not logged in.");
    }
    Ok(())
}

/// Whether the command runs against the server when logged in.
pub fn is_remote(command: &Command) -> bool {
    matches!(
        command,
        Command::Status(_)
            | Command::List(_)
            | Command::Deploy(_)
            | Command::Approve(_)
            | Command::Cancel(_)
            | Command::Logs(_)
    )
}

fn session_line(s: &Session) -> String {
    format!(
        "{}  {:<11} {}/{}  {}  by {}  {}",
        &s.id[..s.id.len().min(8)],
        s.state,
        s.project,
        s.env,
        s.operation,
        s.requester,
        s.created_at
    )
}

fn print_session(s: &Session) {
    crate::outln!(
        "Session {}  {}/{}  deployment {}  {}",
        &s.id[..s.id.len().min(8)],
        s.project,
        s.env,
        s.deployment,
        s.state
    );
    crate::outln!("requested by {}", s.requester);
    for st in &s.stacks {
        match &st.error {
            Some(e) => crate::outln!("  {:<24} {}  {}", st.stack, st.state, e),
            None => crate::outln!("  {:<24} {}", st.stack, st.state),
        }
    }
    if let Some(d) = &s.digest {
        crate::outln!("digest {}", &d[..d.len().min(16)]);
    }
    crate::outln!("approvals {}/{}", s.approvals.len(), s.approvals_required);
    for a in &s.approvals {
        crate::outln!("  approved by {}", a.approver);
    }
    if let Some(r) = &s.reason {
        crate::outln!("{r}");
    }
}

fn print_sessions(sessions: &[Session], json: bool, empty: &str) -> anyhow::Result<()> {
    if json {
        return print_json(&sessions);
    }
    if sessions.is_empty() {
        crate::outln!("{empty}");
    }
    for s in sessions {
        crate::outln!("{}", session_line(s));
    }
    Ok(())
}

/// Follows a session's log stream, printing engine lines, until it ends or `stop_at` says a
/// state is far enough; returns the last state seen.
async fn follow(remote: &Remote, id: &str, stop_at: impl Fn(&str) -> bool) -> anyhow::Result<String> {
    let mut last = String::new();
    remote
        .stream_lines(&format!("/sessions/{id}/logs"), &[("follow", "true".into())], |line| {
            match serde_json::from_str::<LogEvent>(line) {
                Ok(LogEvent::Log { stack, line, .. }) => crate::outln!("[{stack}] {line}"),
                Ok(LogEvent::State { state }) => {
                    crate::errln!("session {}: {state}", &id[..id.len().min(8)]);
                    last = state;
                    return !stop_at(&last);
                }
                Ok(LogEvent::End { state }) => {
                    last = state;
                    return false;
                }
                Err(_) => crate::errln!("note: an unknown line in the log stream was skipped"),
            }
            true
        })
        .await?;
    Ok(last)
}

/// Runs a command against the server of `login`.
pub async fn run(login: &Login, command: Command) -> anyhow::Result<()> {
    let remote = Remote::from_login(login)?;
    tracing::debug!(server = %login.url, principal = %login.principal, "running against the server");
    match command {
        Command::Status(args) => match args.session {
            Some(id) => {
                let s: Session = remote.get(&format!("/sessions/{}", id.trim()), &[]).await?;
                if args.json {
                    return print_json(&s);
                }
                print_session(&s);
                Ok(())
            }
            None => {
                let page: SessionPage = remote.get("/sessions", &[("active", "true".into())]).await?;
                print_sessions(
                    &page.sessions,
                    args.json,
                    "No active sessions. Start one with `cloud deploy <project> <env>`.",
                )
            }
        },
        Command::List(args) => {
            let mut query = vec![("limit", args.limit.to_string())];
            for (k, v) in [
                ("state", args.state),
                ("project", args.project),
                ("env", args.env),
                ("before", args.before),
            ] {
                if let Some(v) = v {
                    query.push((k, v));
                }
            }
            let page: SessionPage = remote.get("/sessions", &query).await?;
            print_sessions(&page.sessions, args.json, "No sessions match.")
        }
        Command::Approve(args) => {
            if args.override_reason.is_some() {
                return Err(UserError::invalid(
                    "--override-reason is not available against a server yet; run it on the server's host",
                )
                .into());
            }
            let s: Session = remote
                .post(
                    &format!("/sessions/{}/approve", args.session.trim()),
                    &ApproveRequest { digest: args.digest },
                )
                .await?;
            crate::outln!(
                "{} approved session {} ({}).",
                login.principal,
                &s.id[..8.min(s.id.len())],
                s.state
            );
            if s.state == "APPROVED" && !args.no_apply {
                let end = follow(&remote, &s.id, |_| false).await?;
                crate::outln!("Session {} is {end}.", &s.id[..8.min(s.id.len())]);
                if end != "APPLIED" {
                    return Err(UserError::failed(format!("session {} ended {end}", &s.id[..8])).into());
                }
            }
            Ok(())
        }
        Command::Cancel(args) => {
            let s: Session = remote
                .post(
                    &format!("/sessions/{}/cancel", args.session.trim()),
                    &CancelRequest {
                        reason: Some(args.reason),
                    },
                )
                .await?;
            crate::outln!("Session {} is {}.", &s.id[..8.min(s.id.len())], s.state);
            Ok(())
        }
        Command::Logs(args) => {
            let query = if args.follow {
                vec![("follow", "true".to_string())]
            } else {
                vec![]
            };
            remote
                .stream_lines(&format!("/sessions/{}/logs", args.session.trim()), &query, |line| {
                    if let Ok(LogEvent::Log { stack, line, .. }) = serde_json::from_str::<LogEvent>(line) {
                        crate::outln!("[{stack}] {line}");
                    }
                    true
                })
                .await?;
            Ok(())
        }
        Command::Deploy(args) => {
            if args.flow.approve || args.flow.queue {
                return Err(UserError::invalid(
                    "--approve and --queue are not available against a server: the server plans, then approve with `cloud approve <session>`",
                )
                .into());
            }
            let body = DeployRequest {
                stacks: (!args.stacks.is_empty()).then_some(args.stacks),
            };
            let s: Session = remote
                .post(&format!("/deployments/{}/{}/sessions", args.project, args.env), &body)
                .await?;
            let short = s.id[..8.min(s.id.len())].to_string();
            crate::outln!("Session {short} opened on {} ({}).", login.url, s.state);
            let state = follow(&remote, &s.id, |st| st != "DRAFT" && st != "PLANNING").await?;
            let s: Session = remote.get(&format!("/sessions/{}", s.id), &[]).await?;
            print_session(&s);
            match state.as_str() {
                "PLAN_READY" => {
                    crate::outln!("next: a teammate approves with `cloud approve {short}`");
                    Ok(())
                }
                "PLAN_FAILED" => Err(UserError::failed(format!("the plan failed; see `cloud logs {short}`")).into()),
                _ => Ok(()),
            }
        }
        _ => unreachable!("only commands for which is_remote() holds"),
    }
}
