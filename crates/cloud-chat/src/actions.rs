//! What a chat user can ask, transport-neutral: every function opens with the permission gate,
//! then validates, then calls the orchestrator or the store, and answers with a [`Reply`] (the
//! refusal texts come from [`crate::view`]). Discord and Slack adapters parse their input
//! into these calls and render the replies; they hold no rule of their own.
//!
//! Plans and applies are started on the core's tracked task set so graceful shutdown waits for
//! them.

use std::sync::Arc;

use tracing::{error, warn};

use crate::service::Core;
use crate::view::{self, ButtonAction, ButtonId, Reply};
use cloud_core::orchestrator::{OrchestratorError, SessionView};
use cloud_core::policy::{AccessError, Actor, Intent, Role};
use cloud_core::store::{SessionFilter, SessionRecord, StoreError};
use cloud_domain::session::{Principal, SessionId, SessionState, StackName};

/// The outcome of an action: a value, or the reply that explains why not.
pub type ActionResult<T> = Result<T, Reply>;

/// A short reference tying a chat error message to the log line with the full chain.
fn internal(what: &str, e: impl std::fmt::Display) -> Reply {
    let reference = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    error!(reference, error = %e, "{what}");
    view::internal_error_message(&reference)
}

fn from_orch(e: OrchestratorError) -> Reply {
    match e {
        OrchestratorError::Store(
            StoreError::Db(_) | StoreError::Open { .. } | StoreError::Migrate(_) | StoreError::Corrupt(_),
        ) => internal("store error", e.to_user()),
        other => view::user_error_message(&other.to_user()),
    }
}

fn from_store(e: StoreError) -> Reply {
    from_orch(OrchestratorError::Store(e))
}

fn from_access(e: AccessError) -> Reply {
    match e {
        AccessError::Denied(user) => view::user_error_message(&user),
        AccessError::Store(s) => from_store(s),
    }
}

/// The gate: the actor may `intent` on `project`/`env` right now (grants are read at this moment).
pub async fn gate(core: &Core, actor: &Actor, project: &str, env: &str, intent: Intent) -> ActionResult<Role> {
    core.access()
        .require(actor, project, env, intent)
        .await
        .map_err(from_access)
}

/// Find a session by id or prefix.
pub async fn find(core: &Core, text: &str) -> ActionResult<SessionRecord> {
    core.store.find_session(text).await.map_err(from_store)
}

pub async fn view_of(core: &Core, id: SessionId) -> ActionResult<SessionView> {
    core.orchestrator.status(id).await.map_err(from_orch)
}

/// Parse `network, dns` into stack names.
pub fn parse_stacks(text: &str) -> ActionResult<Vec<StackName>> {
    let mut out = Vec::new();
    for part in text.split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()) {
        let name: StackName = part.parse().map_err(|e: cloud_domain::session::InvalidId| {
            view::bad_input_message(
                "stack",
                &e.to_string(),
                "Pick stacks from the autocomplete list, separated by commas.",
            )
        })?;
        if !out.contains(&name) {
            out.push(name);
        }
    }
    Ok(out)
}

/// The stacks a project's deployment enables in `env` (picker options, autocomplete).
pub fn available_stacks(core: &Core, project: &str, env: &str) -> Vec<StackName> {
    let (deployments, _) = cloud_catalog::manifest::load_deployments(&core.config.workspace);
    deployments
        .iter()
        .find(|d| d.manifest.project == project)
        .map(|d| {
            d.manifest
                .enabled_stacks(Some(env))
                .into_iter()
                .filter_map(|s| s.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Opens a DRAFT session (not yet planned: the adapter posts the lobby, then calls [`plan`]).
pub async fn deploy(
    core: &Core,
    actor: &Actor,
    project: &str,
    env: &str,
    stacks: Option<&str>,
) -> ActionResult<Opened> {
    if !core.accepting() {
        return Err(view::shutting_down_message());
    }
    if !core.config.environments.contains_key(env) {
        let known: Vec<&str> = core.config.environments.keys().map(String::as_str).collect();
        return Err(view::bad_input_message(
            "environment",
            &format!("`{env}` is not configured"),
            &format!("Known environments: {}.", known.join(", ")),
        ));
    }
    gate(core, actor, project, env, Intent::Deploy).await?;
    let stacks = match stacks {
        Some(text) if !text.trim().is_empty() => Some(parse_stacks(text)?),
        _ => None,
    };
    match core
        .orchestrator
        .start_session(actor.clone(), project, env, stacks.as_deref())
        .await
    {
        Ok(record) => Ok(Opened { record, busy: None }),
        // The session exists (DRAFT, without locks): the lobby offers Queue.
        Err(e @ (OrchestratorError::Busy { .. } | OrchestratorError::Waiting { .. })) => {
            let session = match &e {
                OrchestratorError::Busy { session, .. } | OrchestratorError::Waiting { session, .. } => *session,
                _ => unreachable!(),
            };
            let record = core.store.session(session).await.map_err(from_store)?;
            Ok(Opened {
                record,
                busy: Some(e.to_string()),
            })
        }
        Err(e) => Err(from_orch(e)),
    }
}

/// A session `deploy` opened; `busy` says which stacks other sessions hold (then it is not
/// planned until it gets them: the lobby offers Queue).
pub struct Opened {
    pub record: SessionRecord,
    pub busy: Option<String>,
}

/// The Queue button: wait for busy stacks; planning starts when the locks are granted.
pub async fn queue(core: &Arc<Core>, actor: &Actor, id: SessionId) -> ActionResult<Reply> {
    use cloud_core::store::LockOutcome;
    match core
        .orchestrator
        .queue_session(id, actor.clone())
        .await
        .map_err(from_orch)?
    {
        LockOutcome::Granted => {
            plan(core, id, actor.clone());
            Ok(Reply::ephemeral(format!(
                "🔍 The stacks are free: planning session `{}` now.",
                id.short()
            )))
        }
        LockOutcome::Queued { position, .. } => Ok(Reply::ephemeral(format!(
            "⏳ Session `{}` is number {position} in the queue; it is planned when its stacks are free.",
            id.short()
        ))),
        LockOutcome::Busy { holders } => Ok(Reply::ephemeral(format!(
            "⏳ The stacks are still busy: {}",
            holders.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
        ))),
    }
}

/// Plans (or re-plans) a session on the core's tracked tasks.
pub fn plan(core: &Arc<Core>, id: SessionId, by: Actor) {
    let orchestrator = core.orchestrator.clone();
    core.spawn_work(async move {
        if let Err(e) = orchestrator.plan(id, by).await {
            warn!(session = %id, error = %e.to_user(), "plan did not run");
        }
    });
}

/// Applies an APPROVED session on the core's tracked tasks.
fn apply(core: &Arc<Core>, id: SessionId, by: Actor) {
    let orchestrator = core.orchestrator.clone();
    core.spawn_work(async move {
        if let Err(e) = orchestrator.apply(id, by).await {
            warn!(session = %id, error = %e.to_user(), "apply did not run");
        }
    });
}

/// The Approve button: gate, four-eyes, digest; enough approvals start the apply.
pub async fn approve(core: &Arc<Core>, actor: &Actor, button: &ButtonId) -> ActionResult<(SessionRecord, Reply)> {
    let session = core.store.session(button.session).await.map_err(from_store)?;
    gate(core, actor, &session.project, &session.env, Intent::Approve).await?;
    let clicked = button.digest.clone().unwrap_or_default();
    match &session.digest {
        Some(current) if current.matches(&clicked) => {}
        current if session.state == SessionState::PlanReady || current.is_some() => {
            return Err(view::stale_digest_message(
                session.id,
                &clicked,
                current.as_ref().map(|d| d.short()),
            ));
        }
        _ => {}
    }
    if session.requester == actor.principal && !session.allow_self_approve && session.state == SessionState::PlanReady {
        return Err(view::self_approval_message(&session.project, &session.env));
    }
    if !core.accepting() {
        return Err(view::shutting_down_message());
    }
    let record = core
        .orchestrator
        .approve(session.id, actor.clone(), &clicked)
        .await
        .map_err(from_orch)?;
    let view = view_of(core, record.id).await?;
    let lobby = view::LobbyView::new(&view, &Default::default());
    let reply = view::approval_recorded_message(&lobby);
    if record.state == SessionState::Approved {
        apply(core, record.id, actor.clone());
    }
    Ok((record, reply))
}

/// Cancel: the requester with `deploy`, anyone else with `approve`.
pub async fn cancel(core: &Core, actor: &Actor, id: SessionId, reason: &str) -> ActionResult<(SessionRecord, Reply)> {
    let session = core.store.session(id).await.map_err(from_store)?;
    let intent = if session.requester == actor.principal {
        Intent::Deploy
    } else {
        Intent::Approve
    };
    gate(core, actor, &session.project, &session.env, intent).await?;
    let was_applying = session.state == SessionState::Applying;
    let record = core
        .orchestrator
        .cancel(id, actor.clone(), reason)
        .await
        .map_err(from_orch)?;
    let text = if was_applying {
        format!(
            "⏹️ Cancel requested for session `{}`: in-flight steps finish, nothing new starts.",
            id.short()
        )
    } else {
        format!("⏹️ Session `{}` cancelled.", id.short())
    };
    Ok((record, Reply::ephemeral(text)))
}

/// Refresh / retry the plan.
pub async fn refresh(core: &Arc<Core>, actor: &Actor, id: SessionId) -> ActionResult<Reply> {
    let session = core.store.session(id).await.map_err(from_store)?;
    gate(core, actor, &session.project, &session.env, Intent::Deploy).await?;
    if !matches!(
        session.state,
        SessionState::Draft | SessionState::PlanReady | SessionState::PlanFailed
    ) {
        return Err(Reply::ephemeral(format!(
            "⚠️ Session `{}` is {}; only a draft, ready or failed plan can be refreshed.",
            id.short(),
            session.state
        )));
    }
    plan(core, id, actor.clone());
    Ok(Reply::ephemeral(format!(
        "🔍 Re-planning session `{}`; the lobby updates when the plan is ready.",
        id.short()
    )))
}

/// The stack picker: a session's stacks never change, so the old session is cancelled and a new
/// one with the chosen stacks takes over the lobby. Returns the new session.
pub async fn set_stacks(
    core: &Arc<Core>,
    actor: &Actor,
    id: SessionId,
    stacks: &[String],
) -> ActionResult<SessionRecord> {
    let session = core.store.session(id).await.map_err(from_store)?;
    gate(core, actor, &session.project, &session.env, Intent::Deploy).await?;
    if !matches!(
        session.state,
        SessionState::Draft | SessionState::PlanReady | SessionState::PlanFailed
    ) {
        return Err(Reply::ephemeral(format!(
            "⚠️ Session `{}` is {}; stacks can change only before approval.",
            id.short(),
            session.state
        )));
    }
    if stacks.is_empty() {
        return Err(view::bad_input_message(
            "stack selection",
            "no stack chosen",
            "Pick at least one stack, or press Cancel.",
        ));
    }
    let joined = stacks.join(",");
    // Cancel first: the new session needs the stacks this one holds.
    if let Err(e) = core
        .orchestrator
        .cancel(
            id,
            actor.clone(),
            &format!("replaced by a new session with stacks {joined}"),
        )
        .await
    {
        return Err(from_orch(e));
    }
    deploy(core, actor, &session.project, &session.env, Some(&joined))
        .await
        .map(|o| o.record)
}

/// Which button a lobby click named, with the session it belongs to.
pub fn parse_button(id: &str) -> ActionResult<ButtonId> {
    id.parse::<ButtonId>().map_err(|e| view::invalid_button_message(&e))
}

/// `/cloud-list`: active sessions.
pub async fn list(core: &Core) -> ActionResult<Reply> {
    let sessions = core
        .orchestrator
        .list(&SessionFilter {
            active: true,
            limit: Some(20),
            ..Default::default()
        })
        .await
        .map_err(from_orch)?;
    if sessions.is_empty() {
        return Ok(Reply::ephemeral("No active sessions. Start one with `/cloud-deploy`."));
    }
    let lines: Vec<String> = sessions
        .iter()
        .map(|s| {
            format!(
                "`{}` {} {} {}/{} by {}",
                s.id.short(),
                view::state_icon(s.state),
                s.state,
                s.project,
                s.env,
                s.requester
            )
        })
        .collect();
    Ok(Reply::ephemeral(clip(&lines.join("\n"), 1900)))
}

/// `/cloud-status`: one session's lobby text, or the active list.
pub async fn status(core: &Core, actor: &Actor, session: Option<&str>) -> ActionResult<Reply> {
    let Some(text) = session else { return list(core).await };
    let s = find(core, text).await?;
    gate(core, actor, &s.project, &s.env, Intent::Read).await?;
    let v = view_of(core, s.id).await?;
    Ok(Reply::ephemeral(clip(
        &view::LobbyView::new(&v, &Default::default()).render_text(),
        1900,
    )))
}

/// `/cloud-logs`: the tail of a session's engine output.
pub async fn logs(core: &Core, actor: &Actor, session: &str) -> ActionResult<Reply> {
    let s = find(core, session).await?;
    gate(core, actor, &s.project, &s.env, Intent::Read).await?;
    let lines = core.store.logs(s.id, 0).await.map_err(from_store)?;
    if lines.is_empty() {
        return Ok(Reply::ephemeral(format!(
            "Session `{}` has no engine output yet.",
            s.id.short()
        )));
    }
    let mut tail: Vec<String> = Vec::new();
    let mut len = 0;
    for l in lines.iter().rev() {
        let line = format!("[{}] {}", l.stack, l.line.replace("```", "ˋˋˋ"));
        if len + line.len() + 1 > 1700 {
            break;
        }
        len += line.len() + 1;
        tail.push(line);
    }
    tail.reverse();
    Ok(Reply::ephemeral(format!(
        "Last {} of {} lines of session `{}` (all of them: `cloud logs {}`):\n```\n{}\n```",
        tail.len(),
        lines.len(),
        s.id.short(),
        s.id.short(),
        tail.join("\n")
    )))
}

/// `/cloud-projects`.
pub async fn projects(core: &Core) -> ActionResult<Reply> {
    let projects = core.store.projects().await.map_err(from_store)?;
    if projects.is_empty() {
        return Ok(Reply::ephemeral(
            "No projects yet. An admin creates one with `/cloud-create-project`.",
        ));
    }
    let lines: Vec<String> = projects
        .iter()
        .map(|p| format!("**{}** ({}) — {}", p.name, p.org, p.environments.join(", ")))
        .collect();
    Ok(Reply::ephemeral(clip(&lines.join("\n"), 1900)))
}

/// `/cloud-quota`: quotas with usage bars.
pub async fn quota(core: &Core, actor: &Actor, project: &str) -> ActionResult<Reply> {
    let usage = core
        .orchestrator
        .quota_show(actor.clone(), project)
        .await
        .map_err(from_orch)?;
    Ok(Reply::ephemeral(format!("```\n{}```", clip(&usage.render(), 1800))))
}

/// Parameters of `/cloud-grant`.
pub struct GrantParams<'a> {
    pub user: Principal,
    pub project: &'a str,
    pub role: &'a str,
    pub env: Option<&'a str>,
    pub duration: Option<&'a str>,
    pub reason: &'a str,
}

/// `/cloud-grant` (admin).
pub async fn grant(core: &Core, actor: &Actor, p: GrantParams<'_>) -> ActionResult<Reply> {
    use cloud_core::orchestrator::{GrantExpiry, GrantParams as CoreGrant};
    let role: Role = p.role.parse().map_err(|e: cloud_core::policy::UnknownRole| {
        view::bad_input_message("role", &e.to_string(), "Use read, deploy, approve or admin.")
    })?;
    let expiry = match p.duration {
        Some(d) => GrantExpiry::For(
            humantime::parse_duration(d)
                .map_err(|e| view::bad_input_message("duration", &e.to_string(), "Write it like 2h, 30m or 7days."))?,
        ),
        None => GrantExpiry::Never,
    };
    let g = core
        .orchestrator
        .grant(
            actor.clone(),
            CoreGrant {
                principal: p.user,
                project: p.project.into(),
                env: p.env.map(str::to_string),
                role,
                expiry,
                reason: p.reason.into(),
            },
        )
        .await
        .map_err(from_orch)?;
    let until = g
        .expires_at
        .map(|t| format!(" until {}", t.format("%Y-%m-%d %H:%M UTC")))
        .unwrap_or_default();
    Ok(Reply::ephemeral(format!(
        "✅ Grant `{}`: {} has `{}` on {}/{}{until}.",
        g.id, g.principal, g.role, g.project, g.env
    )))
}

/// `/cloud-revoke` (admin of the grant's project).
pub async fn revoke(core: &Core, actor: &Actor, grant_id: &str, reason: &str) -> ActionResult<Reply> {
    let g = core
        .orchestrator
        .revoke(actor.clone(), grant_id, reason)
        .await
        .map_err(from_orch)?;
    Ok(Reply::ephemeral(format!(
        "✅ Grant `{}` of {} revoked.",
        g.id, g.principal
    )))
}

/// `/cloud-create-project` (global admin).
pub async fn create_project(
    core: &Core,
    actor: &Actor,
    name: &str,
    org: &str,
    envs: Option<&str>,
) -> ActionResult<Reply> {
    let environments: Vec<String> = envs
        .unwrap_or("dev,stage,prod")
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let params = cloud_core::orchestrator::ProjectParams {
        name: name.into(),
        org: org.into(),
        provider: "aws".into(),
        environments,
    };
    let p = core
        .orchestrator
        .create_project(actor.clone(), params)
        .await
        .map_err(from_orch)?;
    Ok(Reply::ephemeral(format!(
        "✅ Project **{}** ({}) created with {}.",
        p.name,
        p.org,
        p.environments.join(", ")
    )))
}

/// `/cloud-set-quota` (admin).
pub async fn set_quota(core: &Core, actor: &Actor, project: &str, key: &str, limit: f64) -> ActionResult<Reply> {
    let usage = core
        .orchestrator
        .quota_set(actor.clone(), project, key, limit)
        .await
        .map_err(from_orch)?;
    Ok(Reply::ephemeral(format!(
        "✅ Quota `{key}` of {project} set to {limit}.\n```\n{}```",
        clip(&usage.render(), 1700)
    )))
}

/// `/cloud-admin-list`: every active session with its owner (admin).
pub async fn admin_list(core: &Core, actor: &Actor, project: Option<&str>) -> ActionResult<Reply> {
    let filter = SessionFilter {
        active: true,
        project: project.map(str::to_string),
        limit: Some(25),
        ..Default::default()
    };
    let sessions = core
        .orchestrator
        .admin_list(actor.clone(), &filter)
        .await
        .map_err(from_orch)?;
    if sessions.is_empty() {
        return Ok(Reply::ephemeral("No active sessions."));
    }
    let lines: Vec<String> = sessions
        .iter()
        .map(|s| {
            format!(
                "`{}` {} {} {}/{} by {}",
                s.id.short(),
                view::state_icon(s.state),
                s.state,
                s.project,
                s.env,
                s.requester
            )
        })
        .collect();
    Ok(Reply::ephemeral(clip(&lines.join("\n"), 1900)))
}

/// `/cloud-admin-cancel`: cancel any session (admin of its project).
pub async fn admin_cancel(
    core: &Core,
    actor: &Actor,
    session: &str,
    reason: &str,
) -> ActionResult<(SessionRecord, Reply)> {
    let s = find(core, session).await?;
    let record = core
        .orchestrator
        .admin_cancel(actor.clone(), s.id, reason)
        .await
        .map_err(from_orch)?;
    Ok((
        record,
        Reply::ephemeral(format!(
            "⏹️ Session `{}` cancel requested by an admin: {reason}",
            s.id.short()
        )),
    ))
}

/// `/cloud-stats`: the last 30 days (admin).
pub async fn stats(core: &Core, actor: &Actor) -> ActionResult<Reply> {
    let since = chrono::Utc::now() - chrono::Duration::days(30);
    let stats = core.orchestrator.stats(actor.clone(), since).await.map_err(from_orch)?;
    Ok(Reply::ephemeral(format!(
        "```\n{}```",
        clip(&cloud_core::policy::stats::render(&stats), 1800)
    )))
}

/// `/cloud-audit`: the latest audit rows (of one session when given) and the chain check.
pub async fn audit(core: &Core, actor: &Actor, session: Option<&str>) -> ActionResult<Reply> {
    let sid = match session {
        Some(t) => Some(find(core, t).await?.id),
        None => None,
    };
    let entries = core
        .orchestrator
        .audit_log(actor.clone(), sid)
        .await
        .map_err(from_orch)?;
    let verify = core.orchestrator.audit_verify(actor.clone()).await.map_err(from_orch)?;
    let lines: Vec<String> = entries
        .iter()
        .rev()
        .take(15)
        .map(|e| {
            format!(
                "#{} {} {} {}",
                e.seq,
                e.at.get(..19).unwrap_or(&e.at),
                e.actor,
                e.action
            )
        })
        .collect();
    let chain = match &verify.first_bad {
        None => format!("intact ({} rows)", verify.rows),
        Some(bad) => format!("BROKEN at row #{} — run `cloud audit verify` and investigate", bad.seq),
    };
    Ok(Reply::ephemeral(clip(
        &format!("Audit chain: {chain}\n{}", lines.join("\n")),
        1900,
    )))
}

/// Whether a click's session matches the action (for adapters that route by action).
pub fn is_session_action(action: ButtonAction) -> bool {
    matches!(
        action,
        ButtonAction::Approve
            | ButtonAction::Cancel
            | ButtonAction::Refresh
            | ButtonAction::Queue
            | ButtonAction::Stacks
    )
}

/// Cut text to `max` characters at a line end, saying how much was left out.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out = String::new();
    for line in text.lines() {
        if out.chars().count() + line.chars().count() + 40 > max {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("… (more left out)");
    out
}
