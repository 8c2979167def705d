//! What a person can ask, the same for every front end: one function per intent. Each opens
//! with the checks everyone gets in the same order — is the input about something that exists
//! (environment, project, session), may this person do it (the gate), is it allowed now
//! (state, four-eyes, digest, draining) — then calls the orchestrator, and answers with one
//! transport-neutral [`Reply`] (texts from [`crate::view`]). The Discord bot, the Slack app and
//! the CLI parse their input into these calls and render the reply; they hold no rule of their
//! own, so the same mistake gets the same answer everywhere.
//!
//! An action never fails: a refusal is a [`Reply`] too, with [`Reply::code`] saying what kind.
//! What the answer changes elsewhere in chat (a lobby to post or redraw, a line for the thread,
//! a file) comes back as [`FollowUp`]s for the adapter to carry out.
//!
//! Plans, applies and queue waits run on the core's tracked task set, so graceful shutdown waits
//! for them.

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, info_span, warn, Instrument};

use crate::refusal::from_orch;
use crate::service::Core;
use crate::view::{self, ButtonAction, ButtonId, FollowUp, Reply};
use cloud_core::orchestrator::{GrantExpiry, OrchestratorError, ProjectParams, SessionView};
use cloud_core::policy::{AccessError, Actor, Intent, Role};
use cloud_core::store::{LockOutcome, SessionFilter, SessionRecord, StoreError};
use cloud_domain::error::{ExitCode, UserError};
use cloud_domain::session::{Platform, Principal, SessionId, SessionState, StackName};

/// The outcome of a step of an action: a value, or the reply that explains why not.
type ActionResult<T> = Result<T, Reply>;

/// Longest reply text, in characters: Discord's 2000 with room for the markup around it (Slack
/// takes more; both get the same cut so they say the same).
const MAX_REPLY: usize = 1900;

fn from_store(e: StoreError) -> Reply {
    from_orch(OrchestratorError::Store(e))
}

fn from_access(e: AccessError) -> Reply {
    match e {
        AccessError::Denied(user) => view::user_error_message(&user),
        AccessError::Store(s) => from_store(s),
    }
}

/// An orchestrator refusal as `actor` reads it: a lost race names people the way `actor`'s
/// platform shows them (mentions), anything else as [`from_orch`] says.
fn refused_for(actor: &Actor) -> impl Fn(OrchestratorError) -> Reply + '_ {
    move |e| match e {
        OrchestratorError::LostRace(race) => view::lost_race_message(&race, audience(actor)),
        other => from_orch(other),
    }
}

/// Both arms of a step's result are the answer.
fn answer(result: ActionResult<Reply>) -> Reply {
    result.unwrap_or_else(|refusal| refusal)
}

/// The gate: the actor may `intent` on `project`/`env` right now (grants are read at this moment).
async fn gate(core: &Core, actor: &Actor, project: &str, env: &str, intent: Intent) -> ActionResult<Role> {
    core.access()
        .require(actor, project, env, intent)
        .await
        .map_err(from_access)
}

/// The environment exists in the configuration (said before any permission check: naming an
/// environment that does not exist is a typo, whoever makes it).
fn known_environment(core: &Core, env: &str) -> ActionResult<()> {
    if core.config.environments.contains_key(env) {
        return Ok(());
    }
    let known: Vec<&str> = core.config.environments.keys().map(String::as_str).collect();
    Err(view::unknown_environment_message(env, &known))
}

/// The project exists (said before any permission check, for the same reason).
async fn known_project(core: &Core, actor: &Actor, project: &str) -> ActionResult<()> {
    match core.store().project(project).await.map_err(from_store)? {
        Some(_) => Ok(()),
        None => Err(view::unknown_project_message(project, audience(actor))),
    }
}

/// A session by id or prefix.
async fn find(core: &Core, text: &str) -> ActionResult<SessionRecord> {
    core.store().find_session(text.trim()).await.map_err(from_store)
}

async fn view_of(core: &Core, id: SessionId) -> ActionResult<SessionView> {
    core.orchestrator().status(id).await.map_err(from_orch)
}

/// How people of the actor's platform see principals (mentions on their own platform).
fn audience(actor: &Actor) -> Platform {
    actor.principal.platform
}

/// Where an intent came from, for the default reasons in the audit log.
fn origin(actor: &Actor) -> &'static str {
    match actor.principal.platform {
        Platform::Cli => "the CLI",
        Platform::Discord => "Discord",
        Platform::Slack => "Slack",
    }
}

// ---------------------------------------------------------------------------------------------
// Input helpers adapters share
// ---------------------------------------------------------------------------------------------

/// Parse `network, dns` (commas or spaces) into stack names.
fn parse_stacks(text: &str) -> ActionResult<Vec<StackName>> {
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

/// A role name (`read`, `deploy`, `approve`, `admin`), or the reply saying which exist.
pub fn parse_role(text: &str) -> Result<Role, Reply> {
    text.parse().map_err(|e: cloud_core::policy::UnknownRole| {
        view::bad_input_message("role", &e.to_string(), "Use read, deploy, approve or admin.")
    })
}

/// A duration such as `2h`, `30m` or `7days`, or the reply saying how to write one.
pub fn parse_duration(text: &str) -> Result<Duration, Reply> {
    humantime::parse_duration(text.trim())
        .map_err(|e| view::bad_input_message("duration", &e.to_string(), "Write it like 2h, 30m or 7days."))
}

// ---------------------------------------------------------------------------------------------
// Queries for autocompletion
// ---------------------------------------------------------------------------------------------

/// The projects' names (autocompletion).
pub async fn project_names(core: &Core) -> Vec<String> {
    match core.store().projects().await {
        Ok(projects) => projects.into_iter().map(|p| p.name).collect(),
        Err(e) => {
            warn!(error = %e, "cannot list the projects for autocompletion");
            vec![]
        }
    }
}

/// What the project option of a chat command offers: each deployment as `D1BRV40 shop (dev,
/// prod)` with its id as the value (a project may have several deployments, and the id picks one
/// exactly), then the projects that have no deployment manifest, by name. `(label, value)` pairs.
pub async fn deployment_choices(core: &Core) -> Vec<(String, String)> {
    let (deployments, _) = cloud_catalog::manifest::load_deployments(&core.config.workspace);
    let mut choices: Vec<(String, String)> = deployments
        .iter()
        .filter_map(|d| {
            let id = d.id()?.to_string();
            Some((cloud_catalog::validate::deployment_label(d), id))
        })
        .collect();
    choices.sort();
    for project in project_names(core).await {
        if !deployments.iter().any(|d| d.manifest.project == project) {
            choices.push((project.clone(), project));
        }
    }
    choices
}

/// The configured environments (autocompletion).
pub fn environment_names(core: &Core) -> Vec<String> {
    core.config.environments.keys().cloned().collect()
}

/// The stacks a project's deployment (or the deployment of that id) enables in `env` (the stack
/// picker, autocompletion).
pub fn available_stacks(core: &Core, project: &str, env: &str) -> Vec<StackName> {
    core.available_stacks(project, env)
}

/// Short ids of the newest active sessions (autocompletion).
pub async fn active_session_ids(core: &Core) -> Vec<String> {
    let filter = SessionFilter {
        active: true,
        limit: Some(25),
        without_plans: true,
        ..Default::default()
    };
    match core.store().sessions(&filter).await {
        Ok(sessions) => sessions.into_iter().map(|s| s.id.short()).collect(),
        Err(e) => {
            warn!(error = %e, "cannot list the sessions for autocompletion");
            vec![]
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------------

/// `/cloud-deploy project env [stacks]`: opens a DRAFT session and asks the adapter to post its
/// lobby ([`FollowUp::PostLobby`]); the plan starts once the lobby is there
/// ([`lobby_posted`]), so its events reach it.
pub async fn deploy(core: &Arc<Core>, actor: &Actor, project: &str, env: &str, stacks: Option<&str>) -> Reply {
    answer(deploy_inner(core, actor, project, env, stacks, None).await)
}

/// `/cloud-deploy project env [stacks] [provider]`: [`deploy`], refused unless `provider` (when
/// given) is the one the project deploys to.
pub async fn deploy_on(
    core: &Arc<Core>,
    actor: &Actor,
    project: &str,
    env: &str,
    stacks: Option<&str>,
    provider: Option<&str>,
) -> Reply {
    answer(deploy_inner(core, actor, project, env, stacks, provider).await)
}

/// The providers `provider:` may take for `project` (a project name or deployment id): the
/// project's own; every provider when the name is not a project yet (autocompletion).
pub async fn provider_choices(core: &Core, project: &str) -> Vec<String> {
    let name = core
        .orchestrator()
        .deployment_target(project.trim())
        .await
        .map(|t| t.project)
        .unwrap_or_else(|_| project.trim().to_string());
    match core.store().project(&name).await {
        Ok(Some(row)) => vec![row.provider],
        _ => cloud_domain::session::Provider::ALL.map(|p| p.to_string()).to_vec(),
    }
}

/// `provider:` of a deploy must be the project's provider.
async fn check_provider_choice(core: &Core, project: &str, wanted: &str) -> ActionResult<()> {
    let wanted: cloud_domain::session::Provider =
        wanted.parse().map_err(|e: cloud_domain::session::UnknownProvider| {
            view::user_error_message(&UserError::invalid(e.to_string()))
        })?;
    let Some(row) = core.store().project(project).await.map_err(from_store)? else {
        return Ok(());
    };
    if row.provider == wanted.as_str() {
        return Ok(());
    }
    Err(view::user_error_message(&UserError::invalid(format!(
        "project `{project}` deploys to {}, not {wanted}: its deployments run {} stacks only; leave provider out, or deploy a project created with provider {wanted}",
        row.provider, row.provider
    ))))
}

async fn deploy_inner(
    core: &Arc<Core>,
    actor: &Actor,
    project: &str,
    env: &str,
    stacks: Option<&str>,
    provider: Option<&str>,
) -> ActionResult<Reply> {
    if !core.accepting() {
        return Err(view::shutting_down_message());
    }
    known_environment(core, env)?;
    // The option takes a deployment id too (what autocompletion offers); grants and messages
    // are about its project. The orchestrator picks the same deployment from the same name.
    let named = project;
    let target = core.orchestrator().deployment_target(named).await.map_err(from_orch)?;
    let project = target.project.as_str();
    known_project(core, actor, project).await?;
    gate(core, actor, project, env, Intent::Deploy).await?;
    if let Some(wanted) = provider.filter(|p| !p.trim().is_empty()) {
        check_provider_choice(core, project, wanted).await?;
    }
    let stacks = match stacks {
        Some(text) if !text.trim().is_empty() => Some(parse_stacks(text)?),
        _ => None,
    };
    let (record, busy) = match core
        .orchestrator()
        .start_session(actor.clone(), named, env, stacks.as_deref())
        .await
    {
        Ok(record) => (record, None),
        // The session exists (DRAFT, without locks): the lobby offers Queue.
        Err(e @ (OrchestratorError::Busy { session, .. } | OrchestratorError::Waiting { session, .. })) => {
            let record = core.store().session(session).await.map_err(from_store)?;
            (record, Some(e.to_string()))
        }
        Err(e) => return Err(from_orch(e)),
    };
    info!(session = %record.id, project, env, busy = busy.is_some(), "session opened from chat");
    let reply = match busy {
        None => view::session_started_message(record.id, project, env),
        Some(busy) => view::session_busy_message(record.id, project, env, &busy),
    };
    Ok(reply.with_follow_up(FollowUp::PostLobby { session: record.id }))
}

/// The adapter posted (or moved) the lobby of `session`: plan it now, unless other sessions hold
/// its stacks (then it waits for a Queue click) or it is past planning.
pub async fn lobby_posted(core: &Arc<Core>, actor: &Actor, session: SessionId) {
    let record = match core.store().session(session).await {
        Ok(r) => r,
        Err(e) => return warn!(%session, error = %e, "cannot read the session whose lobby was posted"),
    };
    if record.state != SessionState::Draft {
        return;
    }
    match core.store().holds_all_locks(session).await {
        Ok(true) => plan(core, session, actor.clone()),
        Ok(false) => info!(%session, "its stacks are busy: not planned until it is queued"),
        Err(e) => warn!(%session, error = %e, "cannot read the session's locks"),
    }
}

/// The adapter could not post the lobby of `session` (`problem` says what the platform
/// answered, `fix` how to solve it there): without a lobby nobody can see or approve the plan,
/// so the session gives its stacks back. The reply goes to the requester.
pub async fn lobby_failed(core: &Arc<Core>, actor: &Actor, session: SessionId, problem: &str, fix: &str) -> Reply {
    warn!(%session, problem, "the lobby could not be posted; cancelling the session");
    if let Err(e) = core
        .orchestrator()
        .cancel(session, actor.clone(), "the lobby could not be posted in chat")
        .await
    {
        warn!(%session, error = %e.to_user(), "cannot cancel the session whose lobby failed");
    }
    Reply::refusal(
        ExitCode::Failed,
        format!(
            "⚠️ I could not post the lobby in this channel ({problem}). {fix} Session `{}` was cancelled; nothing ran.",
            session.short()
        ),
    )
}

/// Plans (or re-plans) a session on the core's tracked tasks.
fn plan(core: &Arc<Core>, id: SessionId, by: Actor) {
    let orchestrator = core.orchestrator().clone();
    core.spawn_work(
        async move {
            if let Err(e) = orchestrator.plan(id, by).await {
                warn!(session = %id, error = %e.to_user(), "plan did not run");
            }
        }
        .instrument(info_span!("plan", session = %id)),
    );
}

/// Applies an APPROVED session on the core's tracked tasks.
fn apply(core: &Arc<Core>, id: SessionId, by: Actor) {
    let orchestrator = core.orchestrator().clone();
    core.spawn_work(
        async move {
            if let Err(e) = orchestrator.apply(id, by).await {
                warn!(session = %id, error = %e.to_user(), "apply did not run");
            }
        }
        .instrument(info_span!("apply", session = %id)),
    );
}

/// A lobby component was clicked: `custom_id` names the button (and the session and digest it
/// was drawn for), `selected` the stack picker's choice.
pub async fn click(core: &Arc<Core>, actor: &Actor, custom_id: &str, selected: &[String]) -> Reply {
    let button = match custom_id.parse::<ButtonId>() {
        Ok(b) => b,
        Err(e) => return view::invalid_button_message(&e),
    };
    let span = info_span!("click", session = %button.session, action = %button.action, actor = %actor.principal);
    async {
        let id = button.session;
        let reply = match button.action {
            ButtonAction::Approve => approve_button(core, actor, &button).await,
            ButtonAction::Cancel => {
                let reason = format!("cancelled from the {} lobby", origin(actor));
                cancel_session(core, actor, id, &reason).await
            }
            ButtonAction::Refresh => refresh(core, actor, id).await,
            ButtonAction::Queue => queue(core, actor, id).await,
            ButtonAction::Stacks => set_stacks(core, actor, id, selected).await,
        };
        answer(reply).with_follow_up(FollowUp::RefreshLobby { session: id })
    }
    .instrument(span)
    .await
}

/// The Approve button: gate, digest, four-eyes, draining; enough approvals start the apply.
async fn approve_button(core: &Arc<Core>, actor: &Actor, button: &ButtonId) -> ActionResult<Reply> {
    let session = core.store().session(button.session).await.map_err(from_store)?;
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
        .orchestrator()
        .approve(session.id, actor.clone(), &clicked)
        .await
        .map_err(refused_for(actor))?;
    let view = view_of(core, record.id).await?;
    let lobby = view::LobbyView::new(&view, &Default::default());
    if record.state == SessionState::Approved {
        apply(core, record.id, actor.clone());
    }
    Ok(view::approval_recorded_message(&lobby, actor.principal.platform))
}

/// `/cloud-approve session [digest]`: the typed twin of the Approve button (the digest defaults
/// to the plan the session has now).
pub async fn approve(core: &Arc<Core>, actor: &Actor, session: &str, digest: Option<&str>) -> Reply {
    let result = async {
        let s = find(core, session).await?;
        let digest = match digest
            .map(str::to_string)
            .or_else(|| s.digest.as_ref().map(|d| d.short().to_string()))
        {
            Some(d) => d,
            None => {
                return Err(Reply::refusal(
                    ExitCode::Invalid,
                    format!(
                        "⚠️ Session `{}` has no plan to approve (it is {}).",
                        s.id.short(),
                        s.state
                    ),
                ))
            }
        };
        let reply = approve_button(core, actor, &ButtonId::approve(s.id, &digest)).await;
        Ok(answer(reply).with_follow_up(FollowUp::RefreshLobby { session: s.id }))
    };
    answer(result.await)
}

/// `/cloud-override session reason` (admin of the session's project/environment): approves the
/// current plan even over quota, the reason recorded in the audit log — the chat twin of
/// `cloud approve <session> --override-reason "…"`. Four-eyes still applies.
pub async fn approve_override(core: &Arc<Core>, actor: &Actor, session: &str, reason: &str) -> Reply {
    let result = async {
        let s = find(core, session).await?;
        gate(core, actor, &s.project, &s.env, Intent::OverrideQuota).await?;
        let Some(digest) = s.digest.as_ref().map(|d| d.short().to_string()) else {
            return Err(Reply::refusal(
                ExitCode::Invalid,
                format!(
                    "⚠️ Session `{}` has no plan to approve (it is {}).",
                    s.id.short(),
                    s.state
                ),
            ));
        };
        if s.requester == actor.principal && !s.allow_self_approve && s.state == SessionState::PlanReady {
            return Err(view::self_approval_message(&s.project, &s.env));
        }
        if !core.accepting() {
            return Err(view::shutting_down_message());
        }
        let record = core
            .orchestrator()
            .approve_override(s.id, actor.clone(), &digest, reason)
            .await
            .map_err(refused_for(actor))?;
        let view = view_of(core, record.id).await?;
        let lobby = view::LobbyView::new(&view, &Default::default());
        if record.state == SessionState::Approved {
            apply(core, record.id, actor.clone());
        }
        Ok(view::approval_recorded_message(&lobby, actor.principal.platform)
            .with_follow_up(FollowUp::RefreshLobby { session: s.id }))
    };
    answer(result.await)
}

/// `/cloud-cancel session [reason]`: the requester with `deploy`, anyone else with `approve`.
pub async fn cancel(core: &Arc<Core>, actor: &Actor, session: &str, reason: Option<&str>) -> Reply {
    let result = async {
        let s = find(core, session).await?;
        let reason = match reason.map(str::trim).filter(|r| !r.is_empty()) {
            Some(r) => r.to_string(),
            None => format!("cancelled from {}", origin(actor)),
        };
        let reply = cancel_session(core, actor, s.id, &reason).await;
        Ok(answer(reply).with_follow_up(FollowUp::RefreshLobby { session: s.id }))
    };
    answer(result.await)
}

async fn cancel_session(core: &Arc<Core>, actor: &Actor, id: SessionId, reason: &str) -> ActionResult<Reply> {
    let session = core.store().session(id).await.map_err(from_store)?;
    let intent = if session.requester == actor.principal {
        Intent::Deploy
    } else {
        Intent::Approve
    };
    gate(core, actor, &session.project, &session.env, intent).await?;
    let was_applying = session.state == SessionState::Applying;
    core.orchestrator()
        .cancel(id, actor.clone(), reason)
        .await
        .map_err(refused_for(actor))?;
    if was_applying {
        let by = view::who(&actor.principal, audience(actor));
        Ok(Reply::ephemeral(format!(
            "⏹️ Cancel requested for session `{}`: in-flight steps finish, nothing new starts.",
            id.short()
        ))
        .with_follow_up(FollowUp::Announce {
            session: id,
            text: view::cancel_requested_announcement(&by),
        }))
    } else {
        Ok(Reply::ephemeral(format!("⏹️ Session `{}` cancelled.", id.short())))
    }
}

/// Refresh / retry the plan.
async fn refresh(core: &Arc<Core>, actor: &Actor, id: SessionId) -> ActionResult<Reply> {
    let session = core.store().session(id).await.map_err(from_store)?;
    gate(core, actor, &session.project, &session.env, Intent::Deploy).await?;
    if !matches!(
        session.state,
        SessionState::Draft | SessionState::PlanReady | SessionState::PlanFailed
    ) {
        return Err(Reply::refusal(
            ExitCode::Invalid,
            format!(
                "⚠️ Session `{}` is {}; only a draft, ready or failed plan can be refreshed.",
                id.short(),
                session.state
            ),
        ));
    }
    plan(core, id, actor.clone());
    Ok(Reply::ephemeral(format!(
        "🔍 Re-planning session `{}`; the lobby updates when the plan is ready.",
        id.short()
    )))
}

/// The Queue button: wait for busy stacks. Planning starts when the locks are granted, at once
/// when they are free: `cloud serve` plans every session the queue hands its stacks to
/// (`turns`), whichever process freed them, so nothing here waits in memory for the turn.
async fn queue(core: &Arc<Core>, actor: &Actor, id: SessionId) -> ActionResult<Reply> {
    match core
        .orchestrator()
        .queue_session(id, actor.clone())
        .await
        .map_err(from_orch)?
    {
        LockOutcome::Granted => Ok(Reply::ephemeral(format!(
            "🔍 The stacks are free: planning session `{}` now.",
            id.short()
        ))),
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

/// The stack picker: a session's stacks never change, so the old session is cancelled and a new
/// one with the chosen stacks takes over its lobby ([`FollowUp::MoveLobby`]).
async fn set_stacks(core: &Arc<Core>, actor: &Actor, id: SessionId, stacks: &[String]) -> ActionResult<Reply> {
    let session = core.store().session(id).await.map_err(from_store)?;
    gate(core, actor, &session.project, &session.env, Intent::Deploy).await?;
    if !matches!(
        session.state,
        SessionState::Draft | SessionState::PlanReady | SessionState::PlanFailed
    ) {
        return Err(Reply::refusal(
            ExitCode::Invalid,
            format!(
                "⚠️ Session `{}` is {}; stacks can change only before approval.",
                id.short(),
                session.state
            ),
        ));
    }
    if stacks.is_empty() {
        return Err(view::bad_input_message(
            "stack selection",
            "no stack chosen",
            "Pick at least one stack, or press Cancel.",
        ));
    }
    let joined = stacks.join(",");
    let chosen = parse_stacks(&joined)?;
    // Everything about the choice is checked before the session is touched: a refused choice
    // leaves the session (and its plan and approvals) as it was.
    let available = core.available_stacks(&session.project, &session.env);
    let unknown: Vec<String> = chosen
        .iter()
        .filter(|s| !available.contains(s))
        .map(ToString::to_string)
        .collect();
    if !unknown.is_empty() {
        return Err(view::bad_input_message(
            "stack selection",
            &format!(
                "{} {} not enabled in {}/{}",
                unknown.join(", "),
                if unknown.len() == 1 { "is" } else { "are" },
                session.project,
                session.env
            ),
            "Pick stacks from the list; the session is unchanged.",
        ));
    }
    let mut same = chosen.clone();
    same.sort();
    let mut current = session.stacks.clone();
    current.sort();
    if same == current {
        return Ok(Reply::ephemeral(format!(
            "Session `{}` already has exactly these stacks; nothing changed.",
            id.short()
        )));
    }
    // Cancel first: the new session needs the stacks this one holds.
    core.orchestrator()
        .cancel(
            id,
            actor.clone(),
            &format!("replaced by a new session with stacks {joined}"),
        )
        .await
        .map_err(from_orch)?;
    let opened = deploy_inner(core, actor, &session.project, &session.env, Some(&joined), None).await?;
    let new = opened
        .follow_ups
        .iter()
        .find_map(|f| match f {
            FollowUp::PostLobby { session } => Some(*session),
            _ => None,
        })
        .expect("deploy asks for a lobby");
    Ok(Reply::ephemeral(format!(
        "🔍 Re-planning with {} as session `{}`.",
        stacks.join(", "),
        new.short()
    ))
    .with_follow_up(FollowUp::MoveLobby { from: id, to: new }))
}

/// One line per session: `` `0b6a3c1e` 🟢 PLAN_READY ecommerce/stage deploy by <@U1> ``.
fn session_lines(sessions: &[SessionRecord], audience: Platform) -> String {
    sessions
        .iter()
        .map(|s| {
            format!(
                "`{}` {} {} {}/{} {} by {}",
                s.id.short(),
                view::state_icon(s.state),
                s.state,
                s.project,
                s.env,
                s.operation,
                view::who(&s.requester, audience)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `/cloud-list`: the latest sessions the actor may read.
pub async fn list(core: &Arc<Core>, actor: &Actor) -> Reply {
    let filter = SessionFilter {
        limit: Some(50),
        without_plans: true,
        ..Default::default()
    };
    match core.orchestrator().list_for(actor.clone(), &filter).await {
        Ok(sessions) if sessions.is_empty() => {
            Reply::ephemeral("**Latest sessions you can read**: none. Start one with `/cloud-deploy <project> <env>`.")
        }
        Ok(sessions) => Reply::ephemeral(clip(
            &format!(
                "**Latest sessions you can read**\n{}",
                session_lines(&sessions[..sessions.len().min(20)], audience(actor))
            ),
            MAX_REPLY,
        )),
        Err(e) => from_orch(e),
    }
}

/// `/cloud-status [session]`: one session's lobby (text and buttons), or the active sessions the
/// actor may read.
pub async fn status(core: &Arc<Core>, actor: &Actor, session: Option<&str>) -> Reply {
    let Some(text) = session.map(str::trim).filter(|s| !s.is_empty()) else {
        let filter = SessionFilter {
            active: true,
            without_plans: true,
            ..Default::default()
        };
        return match core.orchestrator().list_for(actor.clone(), &filter).await {
            Ok(sessions) if sessions.is_empty() => Reply::ephemeral(
                "**Active sessions you can read**: none. Start one with `/cloud-deploy <project> <env>`.",
            ),
            Ok(sessions) => Reply::ephemeral(clip(
                &format!(
                    "**Active sessions you can read**\n{}",
                    session_lines(&sessions, audience(actor))
                ),
                MAX_REPLY,
            )),
            Err(e) => from_orch(e),
        };
    };
    let result = async {
        let s = find(core, text).await?;
        gate(core, actor, &s.project, &s.env, Intent::Read).await?;
        let lobby = crate::feed::lobby(core, s.id).await?;
        let buttons = lobby.buttons.iter().filter(|b| b.enabled).cloned().collect();
        Ok(Reply::ephemeral(clip(&lobby.render_text(), MAX_REPLY)).with_buttons(buttons))
    };
    answer(result.await)
}

/// `/cloud-logs session`: the tail of a session's engine output, and the whole log as a file
/// when the tail does not hold it.
pub async fn logs(core: &Arc<Core>, actor: &Actor, session: &str) -> Reply {
    let result = async {
        let s = find(core, session).await?;
        gate(core, actor, &s.project, &s.env, Intent::Read).await?;
        let lines = core.store().logs(s.id, 0).await.map_err(from_store)?;
        if lines.is_empty() {
            return Ok(Reply::ephemeral(format!(
                "Session `{}` has no engine output yet.",
                s.id.short()
            )));
        }
        let mut tail: Vec<String> = Vec::new();
        let mut len = 0;
        for l in lines.iter().rev() {
            let line = format!("[{}] {}", l.stack, l.line);
            if len + line.len() + 1 > 1600 {
                break;
            }
            len += line.len() + 1;
            tail.push(line);
        }
        tail.reverse();
        let filename = format!("session-{}.log", s.id.short());
        let mut reply = Reply::ephemeral(format!(
            "Last {} of {} lines of session `{}`:",
            tail.len(),
            lines.len(),
            s.id.short()
        ))
        .with_code(tail.join("\n"));
        if tail.len() < lines.len() {
            let mut content = String::with_capacity(lines.len() * 64);
            for l in &lines {
                content.push_str(&format!("[{}] {}\n", l.stack, l.line));
            }
            reply = reply
                .with_text(format!("The whole log follows as `{filename}`."))
                .with_follow_up(FollowUp::Attach {
                    session: s.id,
                    filename,
                    content,
                });
        }
        Ok(reply)
    };
    answer(result.await)
}

// ---------------------------------------------------------------------------------------------
// Projects, quotas, grants
// ---------------------------------------------------------------------------------------------

/// `/cloud-projects`.
pub async fn projects(core: &Arc<Core>) -> Reply {
    let projects = match core.store().projects().await {
        Ok(p) => p,
        Err(e) => return from_store(e),
    };
    if projects.is_empty() {
        return Reply::ephemeral("No projects yet. An admin creates one with `/cloud-create-project <name> <org>`.");
    }
    let lines: Vec<String> = projects
        .iter()
        .map(|p| {
            format!(
                "• **{}** (org {}, {}) — {}",
                p.name,
                p.org,
                p.provider,
                p.environments.join(", ")
            )
        })
        .collect();
    Reply::ephemeral(clip(&lines.join("\n"), MAX_REPLY))
}

/// `/cloud-quota project`, `cloud quota show project`: quotas with usage bars.
pub async fn quota(core: &Arc<Core>, actor: &Actor, project: &str) -> Reply {
    let result = async {
        known_project(core, actor, project).await?;
        let usage = core
            .orchestrator()
            .quota_show(actor.clone(), project)
            .await
            .map_err(from_orch)?;
        // What the usage counts, so nobody mistakes it for a live inventory.
        let text = format!("{}  ({})", usage.render(), usage.basis);
        Ok(Reply::preformatted(clip(&text, 1800)))
    };
    answer(result.await)
}

/// `/cloud-set-quota project key limit` (admin).
pub async fn set_quota(core: &Arc<Core>, actor: &Actor, project: &str, key: &str, limit: f64) -> Reply {
    let result = async {
        known_project(core, actor, project).await?;
        let usage = core
            .orchestrator()
            .quota_set(actor.clone(), project, key, limit)
            .await
            .map_err(from_orch)?;
        Ok(
            Reply::ephemeral(format!("✅ Quota `{key}` of {project} set to {limit}."))
                .with_code(clip(&usage.render(), 1700)),
        )
    };
    answer(result.await)
}

/// What `/cloud-grant` asks for.
pub struct GrantParams<'a> {
    /// Who gets the role.
    pub user: Principal,
    /// A project, or `*` for every project.
    pub project: &'a str,
    pub role: Role,
    /// An environment; `None` (or `*`) for every one.
    pub env: Option<&'a str>,
    /// How long; `None` until revoked.
    pub duration: Option<Duration>,
    /// Why (goes to the audit log, and into the announcement).
    pub reason: &'a str,
}

/// `/cloud-grant` (admin). Announced in the channel: who may deploy or approve is everyone's
/// business.
pub async fn grant(core: &Arc<Core>, actor: &Actor, p: GrantParams<'_>) -> Reply {
    let result = async {
        if p.project != "*" {
            known_project(core, actor, p.project).await?;
        }
        let expiry = match p.duration {
            Some(d) => GrantExpiry::For(d),
            None => GrantExpiry::Never,
        };
        let params = cloud_core::orchestrator::GrantParams {
            principal: p.user.clone(),
            project: p.project.into(),
            env: p.env.filter(|e| *e != "*").map(str::to_string),
            role: p.role,
            expiry,
            reason: p.reason.into(),
        };
        let g = core
            .orchestrator()
            .grant(actor.clone(), params)
            .await
            .map_err(from_orch)?;
        let until = g
            .expires_at
            .map(|t| format!(" until {}", t.format("%Y-%m-%d %H:%M UTC")))
            .unwrap_or_default();
        let to = audience(actor);
        Ok(Reply::public(format!(
            "✅ {} granted {} `{}` on {}/{}{until}: {} (grant `{}`; `/cloud-revoke {} <reason>` ends it)",
            view::who(&actor.principal, to),
            view::who(&g.principal, to),
            g.role,
            g.project,
            g.env,
            p.reason,
            g.id,
            g.id
        )))
    };
    answer(result.await)
}

/// `/cloud-revoke grant reason` (admin of the grant's project). Announced like the grant.
pub async fn revoke(core: &Arc<Core>, actor: &Actor, grant_id: &str, reason: &str) -> Reply {
    match core.orchestrator().revoke(actor.clone(), grant_id, reason).await {
        Ok(g) => {
            let to = audience(actor);
            Reply::public(format!(
                "✅ {} revoked grant `{}` ({} `{}` on {}/{}): {reason}",
                view::who(&actor.principal, to),
                g.id,
                view::who(&g.principal, to),
                g.role,
                g.project,
                g.env
            ))
        }
        Err(e) => from_orch(e),
    }
}

/// `/cloud-grants [project]` (admin of that project, or of every project without one): the
/// active grants with their ids, for `/cloud-revoke`. A project that does not exist is "unknown
/// project" whoever asks; a non-admin learns nothing about the grants.
pub async fn grants(core: &Arc<Core>, actor: &Actor, project: Option<&str>) -> Reply {
    let result = async {
        let project = project.map(str::trim).filter(|p| !p.is_empty() && *p != "*");
        if let Some(p) = project {
            known_project(core, actor, p).await?;
        }
        let filter = cloud_core::orchestrator::GrantsFilter {
            principal: None,
            project: project.map(str::to_string),
            all: false,
        };
        let rows = core
            .orchestrator()
            .grants(actor.clone(), &filter)
            .await
            .map_err(from_orch)?;
        let scope = project.unwrap_or("every project");
        if rows.is_empty() {
            return Ok(Reply::ephemeral(format!("No active grants on {scope}.")));
        }
        let to = audience(actor);
        let lines: Vec<String> = rows
            .iter()
            .map(|g| {
                let until = g
                    .expires_at
                    .map(|t| format!(" until {}", t.format("%Y-%m-%d %H:%M UTC")))
                    .unwrap_or_default();
                format!(
                    "• `{}` {} `{}` on {}/{}{until}: {}",
                    g.id,
                    view::who(&g.principal, to),
                    g.role,
                    g.project,
                    g.env,
                    g.reason
                )
            })
            .collect();
        Ok(Reply::ephemeral(clip(
            &format!(
                "Active grants on {scope} (`/cloud-revoke <id> <reason>` ends one):\n{}",
                lines.join("\n")
            ),
            MAX_REPLY,
        )))
    };
    answer(result.await)
}

/// `/cloud-create-project name org [environments]` (global admin); no environments means
/// dev, stage and prod; the provider is aws.
pub async fn create_project(core: &Arc<Core>, actor: &Actor, name: &str, org: &str, environments: &[String]) -> Reply {
    create_project_on(core, actor, name, org, environments, None).await
}

/// `/cloud-create-project name org [environments] [provider]`: [`create_project`] for a
/// provider (`aws` when not given).
pub async fn create_project_on(
    core: &Arc<Core>,
    actor: &Actor,
    name: &str,
    org: &str,
    environments: &[String],
    provider: Option<&str>,
) -> Reply {
    let mut environments: Vec<String> = environments
        .iter()
        .flat_map(|e| e.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if environments.is_empty() {
        environments = vec!["dev".into(), "stage".into(), "prod".into()];
    }
    let params = ProjectParams {
        name: name.into(),
        org: org.into(),
        provider: provider
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .unwrap_or("aws")
            .into(),
        environments,
    };
    match core.orchestrator().create_project(actor.clone(), params).await {
        Ok(p) => Reply::ephemeral(format!(
            "✅ Project **{}** (org {}, {}) created with environments {}.",
            p.name,
            p.org,
            p.provider,
            p.environments.join(", ")
        )),
        Err(e) => from_orch(e),
    }
}

// ---------------------------------------------------------------------------------------------
// Administration
// ---------------------------------------------------------------------------------------------

/// `/cloud-admin-list [project]`: every active session with its requester (admin).
pub async fn admin_list(core: &Arc<Core>, actor: &Actor, project: Option<&str>) -> Reply {
    let result = async {
        if let Some(p) = project {
            known_project(core, actor, p).await?;
        }
        let filter = SessionFilter {
            active: true,
            project: project.map(str::to_string),
            limit: Some(25),
            without_plans: true,
            ..Default::default()
        };
        let sessions = core
            .orchestrator()
            .admin_list(actor.clone(), &filter)
            .await
            .map_err(from_orch)?;
        if sessions.is_empty() {
            return Ok(Reply::ephemeral("**Active sessions**: none."));
        }
        Ok(Reply::ephemeral(clip(
            &format!("**Active sessions**\n{}", session_lines(&sessions, audience(actor))),
            MAX_REPLY,
        )))
    };
    answer(result.await)
}

/// `/cloud-locks [stack-or-key reason…]`: the held stack locks — holder, the process driving
/// it, what releases it — or, with a lock and a reason, force-release one (admin, audited).
pub async fn locks(core: &Arc<Core>, actor: &Actor, release: Option<(&str, &str)>) -> Reply {
    let result = async {
        if let Some((lock, reason)) = release {
            let (key, holder) = core
                .orchestrator()
                .force_release_lock(actor.clone(), lock, reason)
                .await
                .map_err(from_orch)?;
            return Ok(Reply::ephemeral(format!(
                "🔓 Released `{key}` (held by session `{}`); recorded in the audit log.",
                holder.short()
            ))
            .with_follow_up(FollowUp::RefreshLobby { session: holder }));
        }
        let locks = core
            .orchestrator()
            .admin_locks(actor.clone())
            .await
            .map_err(from_orch)?;
        if locks.is_empty() {
            return Ok(Reply::ephemeral("**Stack locks**: none held."));
        }
        let lines: Vec<String> = locks
            .iter()
            .map(|l| {
                format!(
                    "• `{}` — session `{}` ({}, {}): {}",
                    l.lock.stack,
                    l.lock.session.short(),
                    l.lock.requester,
                    l.lock.state,
                    l.released_when
                )
            })
            .collect();
        Ok(Reply::ephemeral(clip(
            &format!("**Stack locks**\n{}", lines.join("\n")),
            MAX_REPLY,
        )))
    };
    answer(result.await)
}

/// `/cloud-admin-cancel session reason`: cancel anyone's session (admin of its project).
pub async fn admin_cancel(core: &Arc<Core>, actor: &Actor, session: &str, reason: &str) -> Reply {
    let result = async {
        let s = find(core, session).await?;
        let record = core
            .orchestrator()
            .admin_cancel(actor.clone(), s.id, reason)
            .await
            .map_err(refused_for(actor))?;
        Ok(Reply::ephemeral(format!(
            "⏹️ Session `{}` is {} (cancelled by an admin: {reason}).",
            s.id.short(),
            record.state
        ))
        .with_follow_up(FollowUp::RefreshLobby { session: s.id }))
    };
    answer(result.await)
}

/// `/cloud-stats [days]`: sessions of the last `days` days by state, success rate, lead time
/// (admin).
pub async fn stats(core: &Arc<Core>, actor: &Actor, days: u32) -> Reply {
    let since = core.orchestrator().now() - chrono::Duration::days(i64::from(days.max(1)));
    match core.orchestrator().stats(actor.clone(), since).await {
        Ok(stats) => Reply::ephemeral(format!("Sessions of the last {} days:", days.max(1)))
            .with_code(clip(&cloud_core::policy::stats::render(&stats), 1800)),
        Err(e) => from_orch(e),
    }
}

/// `/cloud-audit [session]`: whether the hash chain verifies, and the latest audit rows (of one
/// session when given).
pub async fn audit(core: &Arc<Core>, actor: &Actor, session: Option<&str>) -> Reply {
    let result = async {
        let sid = match session.map(str::trim).filter(|s| !s.is_empty()) {
            Some(t) => Some(find(core, t).await?.id),
            None => None,
        };
        let entries = core
            .orchestrator()
            .audit_log(actor.clone(), sid)
            .await
            .map_err(from_orch)?;
        let verify = core
            .orchestrator()
            .audit_verify(actor.clone())
            .await
            .map_err(from_orch)?;
        let problem = verify.checkpoint.as_ref().and_then(|c| c.problem.as_ref());
        let chain = match (&verify.first_bad, problem) {
            (None, None) => format!("intact ({} rows)", verify.rows),
            (Some(bad), _) => format!(
                "**BROKEN** at row #{} — run `cloud audit verify` and investigate",
                bad.seq
            ),
            (None, Some(_)) => {
                "**NOT VOUCHED FOR**: the signed head does not match — run `cloud audit verify` and investigate"
                    .to_string()
            }
        };
        let latest = &entries[entries.len().saturating_sub(15)..];
        Ok(Reply::ephemeral(format!("Audit chain: {chain}")).with_code(clip(&crate::text::audit(latest), 1700)))
    };
    answer(result.await)
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
