//! The orchestrator drives sessions: start → plan → approve → apply → finish. It knows no chat
//! platform: adapters and the CLI call these methods with a [`Principal`] and subscribe to
//! [`SessionEvent`]s to render progress.
//!
//! Concurrency model: every state change is a compare-and-set in the store, so two processes (or
//! two clicks) racing on one session cannot both win. Engine work for one session runs in the
//! caller's task; stacks run concurrently over the dependency graph (a stack starts when its
//! dependencies are done, see `dag`), bounded by `max_parallel`. Stack locks (`locks`) keep two
//! unfinished sessions off one stack; `recovery` reconciles sessions a dead process left running.

mod admin;
mod dag;
mod events;
mod followup;
mod gate;
mod locks;
pub mod recovery;
mod resolve;
mod rollback;
mod sweeper;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{info, info_span, warn, Instrument};

pub use admin::{
    check_principal, AdminSessionRow, GrantExpiry, GrantParams, GrantsFilter, ProjectParams, MAX_GRANT_DURATION,
};
pub use events::{SessionEvent, SessionEventKind};
pub use gate::PolicySettings;
pub use locks::StackLockProof;
pub use resolve::{DeploymentResolver, ResolvedDeployment, ResolvedStack};
pub use sweeper::DEFAULT_SWEEP_INTERVAL;

use crate::config::EnvironmentPolicy;
use crate::engine::{Engine, EngineError, Progress, StackPreview};
use crate::policy::{Access, Actor, CostEstimate, Intent, Pricing, QuotaCheck};
use crate::store::{
    LockHolder, NewSession, QueueEntry, SessionFilter, SessionRecord, SessionUpdate, StackRow, Store, StoreError,
    Transition,
};
use cloud_catalog::DependencyGraph;
use cloud_domain::error::UserError;
use cloud_domain::session::{
    Operation, Plan, Principal, SessionId, SessionState, StackName, StackPlanEntry, StackState,
};

/// Errors of orchestrator operations.
#[derive(Debug, thiserror::Error)]
pub enum OrchestratorError {
    /// Shown to the person verbatim.
    #[error(transparent)]
    User(#[from] UserError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Other sessions hold (or queued earlier for) stacks this session needs. The session stays
    /// DRAFT without locks, so it can still be queued (`queue_session`) or cancelled.
    #[error("{}", locks::busy_message(*session, holders))]
    Busy {
        session: SessionId,
        holders: Vec<LockHolder>,
    },
    /// The session is queued and its turn has not come yet.
    #[error("{}", locks::waiting_message(*session, *position, holders))]
    Waiting {
        session: SessionId,
        position: u32,
        holders: Vec<LockHolder>,
    },
}

impl OrchestratorError {
    /// The text and exit code a person should see.
    pub fn to_user(&self) -> UserError {
        match self {
            OrchestratorError::User(user) => user.clone(),
            OrchestratorError::Store(
                e @ (StoreError::StateChanged { .. }
                | StoreError::Transition(_)
                | StoreError::Conflict(_)
                | StoreError::SessionNotFound(_)
                | StoreError::AmbiguousSession(_)),
            ) => UserError::invalid(e.to_string()),
            OrchestratorError::Store(other) => UserError::failed(format!("internal error: {other}")),
            busy @ (OrchestratorError::Busy { .. } | OrchestratorError::Waiting { .. }) => {
                UserError::failed(busy.to_string())
            }
        }
    }
}

pub type OrchResult<T> = Result<T, OrchestratorError>;

/// Settings the orchestrator needs from configuration.
#[derive(Debug, Clone)]
pub struct OrchestratorSettings {
    pub environments: BTreeMap<String, EnvironmentPolicy>,
    /// How many stacks run at once (plan and apply).
    pub max_parallel: usize,
}

/// A session with its per-stack rows and approvals — what `status` shows and the lobby renders.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SessionView {
    pub session: SessionRecord,
    pub stacks: Vec<StackRow>,
    pub approvals: Vec<crate::store::ApprovalRow>,
    /// The plan's estimated monthly cost, per stack and total (once there is a plan).
    pub cost: Option<CostEstimate>,
    /// How the plan stands against the project's quotas (once there is a plan). An over-quota
    /// plan can only be approved by an admin with an override reason.
    pub quota: Option<QuotaCheck>,
    /// The stack locks the session holds.
    pub locks: Vec<String>,
    /// Its place in the lock queue, while it waits for stacks.
    pub queue: Option<QueueEntry>,
}

/// The transport-free core.
pub struct Orchestrator {
    store: Store,
    engine: Arc<dyn Engine>,
    resolver: Arc<dyn DeploymentResolver>,
    settings: OrchestratorSettings,
    /// Fan-out of session events to every subscriber (CLI renderer, chat adapters). Lagging
    /// subscribers lose old events rather than slowing the engine down; the store keeps the
    /// truth and the full log.
    events: broadcast::Sender<SessionEvent>,
    /// Cancel handles of the applies this process is running, so `cancel` can stop them
    /// gracefully. Only the process running an apply holds its token.
    running: DashMap<SessionId, CancellationToken>,
    /// Who may do what; checked at the start of every intent, at the moment it happens.
    access: Access,
    /// The price list for cost estimates and the cost quota.
    pricing: Arc<Pricing>,
}

impl Orchestrator {
    pub fn new(
        store: Store,
        engine: Arc<dyn Engine>,
        resolver: Arc<dyn DeploymentResolver>,
        settings: OrchestratorSettings,
    ) -> Arc<Orchestrator> {
        Orchestrator::with_policy(store, engine, resolver, settings, PolicySettings::local())
    }

    /// An orchestrator with an explicit access policy and price list (what the CLI and the bots
    /// build from configuration).
    pub fn with_policy(
        store: Store,
        engine: Arc<dyn Engine>,
        resolver: Arc<dyn DeploymentResolver>,
        settings: OrchestratorSettings,
        policy: PolicySettings,
    ) -> Arc<Orchestrator> {
        let (events, _) = broadcast::channel(4096);
        let access = Access::new(
            store.clone(),
            policy.admins,
            policy.role_mappings,
            policy.local_cli_admin,
            policy.clock,
        );
        Arc::new(Orchestrator {
            store,
            engine,
            resolver,
            settings,
            events,
            running: DashMap::new(),
            access,
            pricing: policy.pricing,
        })
    }

    /// The access policy (role checks for adapters that show or hide buttons).
    pub fn access(&self) -> &Access {
        &self.access
    }

    pub fn pricing(&self) -> &Pricing {
        &self.pricing
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Subscribe to every session's events.
    pub fn subscribe(&self) -> broadcast::Receiver<SessionEvent> {
        self.events.subscribe()
    }

    fn publish(&self, session: SessionId, kind: SessionEventKind) {
        // No subscriber is fine: the store has the truth.
        let _ = self.events.send(SessionEvent { session, kind });
    }

    fn env_policy(&self, env: &str) -> OrchResult<&EnvironmentPolicy> {
        self.settings.environments.get(env).ok_or_else(|| {
            let known: Vec<&str> = self.settings.environments.keys().map(String::as_str).collect();
            UserError::invalid(format!(
                "unknown environment `{env}`; known environments: {}",
                known.join(", ")
            ))
            .into()
        })
    }

    async fn move_session(
        &self,
        id: SessionId,
        from: SessionState,
        to: SessionState,
        actor: &str,
        update: SessionUpdate,
    ) -> OrchResult<SessionRecord> {
        let record = self
            .store
            .transition(Transition {
                id,
                from,
                to,
                actor: actor.to_string(),
                details: serde_json::json!({}),
                update,
            })
            .await?;
        info!(session = %id, %from, %to, actor, "session moved");
        self.publish(id, SessionEventKind::StateChanged { from, to });
        if to.is_terminal() {
            // Its locks were released with the move: the queue may go on. A failure here only
            // delays the queue (every waiter retries), it does not undo the move.
            if let Err(e) = self.promote_queue().await {
                warn!(session = %id, error = %e, "cannot promote the lock queue");
            }
        }
        Ok(record)
    }

    async fn set_stack(
        &self,
        id: SessionId,
        stack: &StackName,
        state: StackState,
        counts: Option<&crate::engine::ChangeCounts>,
        error: Option<&str>,
    ) -> OrchResult<()> {
        self.store.set_stack_state(id, stack, state, counts, error).await?;
        self.publish(
            id,
            SessionEventKind::StackStateChanged {
                stack: stack.clone(),
                state,
                error: error.map(str::to_string),
            },
        );
        Ok(())
    }

    /// Open a DRAFT session for `project`/`env`, optionally limited to some stacks (their
    /// upstream dependencies are not added: a subset plans only what was asked).
    pub async fn start_session(
        &self,
        actor: impl Into<Actor>,
        project: &str,
        env: &str,
        stacks: Option<&[StackName]>,
    ) -> OrchResult<SessionRecord> {
        self.start(&actor.into(), project, env, stacks, Operation::Deploy, None)
            .await
    }

    /// Open a DRAFT destroy session: the same stacks, walked in reverse order.
    pub async fn start_destroy(
        &self,
        actor: impl Into<Actor>,
        project: &str,
        env: &str,
        stacks: Option<&[StackName]>,
    ) -> OrchResult<SessionRecord> {
        self.start(&actor.into(), project, env, stacks, Operation::Destroy, None)
            .await
    }

    async fn start(
        &self,
        actor: &Actor,
        project: &str,
        env: &str,
        stacks: Option<&[StackName]>,
        operation: Operation,
        follow_up_of: Option<SessionId>,
    ) -> OrchResult<SessionRecord> {
        self.env_policy(env)?;
        self.known_project(project).await?;
        // Gate first: the role, then the concurrency quota, then the work.
        self.gate(actor, project, env, Intent::Deploy).await?;
        self.check_concurrency(project, None).await?;
        self.start_unchecked(&actor.principal, project, env, stacks, operation, follow_up_of)
            .await
    }

    /// [`Orchestrator::start`] without the role and quota gates: for sessions the core opens
    /// itself on behalf of an authorised one (follow-ups of an approved apply, which need their
    /// own approval anyway).
    pub(crate) async fn start_unchecked(
        &self,
        principal: &Principal,
        project: &str,
        env: &str,
        stacks: Option<&[StackName]>,
        operation: Operation,
        follow_up_of: Option<SessionId>,
    ) -> OrchResult<SessionRecord> {
        // The project is known: `start` checked it, and a follow-up's parent session had it.
        let policy = self.env_policy(env)?.clone();
        let resolved = self.resolver.resolve(project, env, stacks)?;
        let mut ordered: Vec<(StackName, u32)> = resolved.stacks.iter().map(|s| (s.name.clone(), s.wave)).collect();
        if operation.walks_backwards() {
            let max_wave = ordered.iter().map(|(_, w)| *w).max().unwrap_or(0);
            ordered.reverse();
            for (_, wave) in &mut ordered {
                *wave = max_wave - *wave;
            }
        }
        let record = self
            .store
            .create_session(NewSession {
                id: SessionId::new(),
                project: project.to_string(),
                env: env.to_string(),
                deployment_id: resolved.deployment_id.clone(),
                requester: principal.clone(),
                operation,
                stacks: ordered,
                approvals_required: policy.approvals_required,
                allow_self_approve: policy.allow_self_approve,
                follow_up_of,
            })
            .await?;
        info!(session = %record.id, project, env, %operation, requester = %principal, "session started");
        self.publish(record.id, SessionEventKind::Created);
        // The session owns its stacks from the start. When they are busy it stays DRAFT without
        // locks and the caller learns who holds them; it can then queue (or cancel) it.
        self.lock_proof(record.id).await?;
        Ok(record)
    }

    /// Preview every stack of the session, wave by wave (stacks of a wave in parallel).
    /// DRAFT, PLAN_FAILED (retry) and PLAN_READY (refresh) sessions can be planned.
    /// Ends PLAN_READY when every preview succeeded, otherwise PLAN_FAILED.
    pub async fn plan(&self, id: SessionId, actor: impl Into<Actor>) -> OrchResult<SessionRecord> {
        let actor = actor.into();
        let session = self.store.session(id).await?;
        self.gate(&actor, &session.project, &session.env, Intent::Deploy)
            .await?;
        self.check_concurrency(&session.project, Some(id)).await?;
        self.plan_unchecked(session, &actor.principal).await
    }

    /// [`Orchestrator::plan`] without the role and quota gates: for follow-ups the core opens
    /// on behalf of an authorised apply (the plan still needs its own approval).
    pub(crate) async fn plan_unchecked(
        &self,
        session: SessionRecord,
        principal: &Principal,
    ) -> OrchResult<SessionRecord> {
        let id = session.id;
        let span = info_span!("plan", session = %id, project = %session.project, env = %session.env);
        async {
            let proof = self.lock_proof(id).await?;
            self.plan_inner(session, principal, &proof).await
        }
        .instrument(span)
        .await
    }

    async fn plan_inner(
        &self,
        session: SessionRecord,
        actor: &Principal,
        proof: &StackLockProof,
    ) -> OrchResult<SessionRecord> {
        let id = session.id;
        debug_assert_eq!(proof.session(), id);
        let actor_text = actor.to_string();
        let resolved = self.resolve_session(&session).await?;
        let graph = dependency_graph(&resolved)?;
        self.move_session(
            id,
            session.state,
            SessionState::Planning,
            &actor_text,
            SessionUpdate::default(),
        )
        .await?;
        // What each stack is planned with, for a later rollback to it (secret values dropped).
        for stack in &resolved.stacks {
            self.store
                .set_stack_config(id, &stack.name, &rollback::saved(&stack.target.config))
                .await?;
        }

        let engine_version = match self.engine.version().await {
            Ok(v) => v,
            Err(e) => {
                let reason = e.to_string();
                return self
                    .move_session(
                        id,
                        SessionState::Planning,
                        SessionState::PlanFailed,
                        &actor_text,
                        SessionUpdate {
                            plan: None,
                            reason: Some(reason),
                        },
                    )
                    .await;
            }
        };

        let (sink, log_task) = self.progress_sink(id);
        let destroy = session.operation.walks_backwards();
        let by_name: HashMap<&StackName, &ResolvedStack> = resolved.stacks.iter().map(|s| (&s.name, s)).collect();
        let order = ordered_waves(&session, &resolved);
        let mut previews: BTreeMap<StackName, Result<StackPreview, EngineError>> = BTreeMap::new();
        // Over the DAG: a stack previews once its upstream stacks have (see `dag`), at most
        // `max_parallel` at once. A failed preview does not hold others back: every stack's
        // outcome is reported.
        let mut sched = dag::DagScheduler::new(&session_deps(&session, &resolved), destroy);
        let preview_job = |name: StackName| {
            let stack = by_name[&name];
            let sink = sink.for_stack(&name);
            async move {
                let _ = self
                    .set_stack(id, &stack.name, StackState::Previewing, None, None)
                    .await;
                let preview = if destroy {
                    self.engine.preview_destroy(&stack.target, &sink)
                } else {
                    self.engine.preview(&stack.target, &sink)
                };
                let result = preview.instrument(info_span!("preview", stack = %stack.name)).await;
                (name, result)
            }
        };
        let mut running = FuturesUnordered::new();
        loop {
            while running.len() < self.settings.max_parallel {
                match sched.next_ready() {
                    Some(name) => running.push(preview_job(name)),
                    None => break,
                }
            }
            let Some((name, result)) = running.next().await else {
                break;
            };
            sched.finish(&name);
            match &result {
                Ok(preview) => {
                    self.set_stack(id, &name, StackState::Previewed, Some(&preview.counts), None)
                        .await?
                }
                Err(e) => {
                    self.set_stack(id, &name, StackState::Failed, None, Some(&e.to_string()))
                        .await?
                }
            }
            previews.insert(name, result);
        }
        drop(sink);
        let _ = log_task.await;

        let failures: Vec<String> = previews
            .iter()
            .filter_map(|(name, r)| r.as_ref().err().map(|e| format!("{name}: {e}")))
            .collect();
        if !failures.is_empty() {
            return self
                .move_session(
                    id,
                    SessionState::Planning,
                    SessionState::PlanFailed,
                    &actor_text,
                    SessionUpdate {
                        plan: None,
                        reason: Some(failures.join("\n")),
                    },
                )
                .await;
        }

        // A stack is provisional when an upstream stack of this same plan changes something:
        // its preview saw the old upstream outputs.
        let changing: BTreeSet<StackName> = previews
            .iter()
            .filter(|(_, r)| r.as_ref().map(|p| p.change_count() > 0).unwrap_or(false))
            .map(|(n, _)| n.clone())
            .collect();
        let stacks = order
            .iter()
            .flatten()
            .map(|name| {
                let preview = previews
                    .remove(name)
                    .expect("every stack previewed")
                    .expect("no failures");
                StackPlanEntry {
                    stack: name.clone(),
                    content_hash: by_name[name].content_hash.clone(),
                    // A destroy removes what is there: no upstream output feeds it.
                    provisional: !destroy
                        && graph
                            .upstream_closure(name.as_str())
                            .iter()
                            .any(|u| changing.contains(u)),
                    preview,
                }
            })
            .collect();
        let plan = Plan { engine_version, stacks };
        self.move_session(
            id,
            SessionState::Planning,
            SessionState::PlanReady,
            &actor_text,
            SessionUpdate {
                plan: Some(plan),
                reason: None,
            },
        )
        .await
    }

    /// Approve the session's plan as `principal`. The digest must be the current one (16-hex
    /// prefix or full). Enough approvals move the session to APPROVED.
    pub async fn approve(&self, id: SessionId, actor: impl Into<Actor>, digest: &str) -> OrchResult<SessionRecord> {
        self.approve_with(id, &actor.into(), digest, None).await
    }

    /// Approve an over-quota plan as an admin, with the reason recorded in the audit log. Also
    /// accepted on a plan within quota (the reason is recorded all the same).
    pub async fn approve_override(
        &self,
        id: SessionId,
        actor: impl Into<Actor>,
        digest: &str,
        reason: &str,
    ) -> OrchResult<SessionRecord> {
        if reason.trim().is_empty() {
            return Err(UserError::invalid(
                "an override needs a reason (--override-reason \"…\"); it goes into the audit log",
            )
            .into());
        }
        self.approve_with(id, &actor.into(), digest, Some(reason.trim())).await
    }

    async fn approve_with(
        &self,
        id: SessionId,
        actor: &Actor,
        digest: &str,
        override_reason: Option<&str>,
    ) -> OrchResult<SessionRecord> {
        let principal = &actor.principal;
        let session = self.store.session(id).await?;
        // Checked at click time: a grant that expired since the plan was shown does not count.
        self.gate(actor, &session.project, &session.env, Intent::Approve)
            .await?;
        if override_reason.is_some() {
            self.gate(actor, &session.project, &session.env, Intent::OverrideQuota)
                .await?;
        }
        if session.state != SessionState::PlanReady {
            return Err(UserError::invalid(format!(
                "session {} is {}, not PLAN_READY: only a ready plan can be approved",
                id.short(),
                session.state
            ))
            .into());
        }
        if &session.requester == principal && !session.allow_self_approve {
            return Err(UserError::denied(format!(
                "you requested this session, and in {} someone else must approve it (four-eyes rule); ask a teammate with `approve` on {}/{}",
                session.env, session.project, session.env
            ))
            .into());
        }
        if override_reason.is_none() {
            self.refuse_over_quota(&session).await?;
        }
        let record = self
            .store
            .record_approval(id, principal, digest, override_reason)
            .await?;
        info!(session = %id, approver = %principal, state = %record.state, "approval recorded");
        self.publish(id, SessionEventKind::Approved { by: principal.clone() });
        if record.state == SessionState::Approved {
            self.publish(
                id,
                SessionEventKind::StateChanged {
                    from: SessionState::PlanReady,
                    to: SessionState::Approved,
                },
            );
        }
        Ok(record)
    }

    /// Apply an APPROVED session, wave by wave. A failed stack skips its dependents; independent
    /// stacks finish. Ends APPLIED, FAILED or (when cancelled) CANCELLED.
    pub async fn apply(&self, id: SessionId, actor: impl Into<Actor>) -> OrchResult<SessionRecord> {
        let actor = actor.into();
        let session = self.store.session(id).await?;
        self.gate(&actor, &session.project, &session.env, Intent::Deploy)
            .await?;
        let span = info_span!("apply", session = %id, project = %session.project, env = %session.env);
        self.apply_inner(session, &actor.principal).instrument(span).await
    }

    async fn apply_inner(&self, session: SessionRecord, actor: &Principal) -> OrchResult<SessionRecord> {
        let id = session.id;
        let actor_text = actor.to_string();
        if session.state != SessionState::Approved {
            return Err(UserError::invalid(format!(
                "session {} is {}; only an APPROVED session can be applied",
                id.short(),
                session.state
            ))
            .into());
        }
        let plan = session
            .plan
            .clone()
            .ok_or_else(|| StoreError::Corrupt("APPROVED session without a plan".into()))?;
        let resolved = self.resolve_session(&session).await?;

        // The program or its configuration changed since the plan: the approval no longer
        // describes what would run.
        let changed: Vec<String> = plan
            .stacks
            .iter()
            .filter(|entry| {
                resolved
                    .stacks
                    .iter()
                    .find(|s| s.name == entry.stack)
                    .map(|s| s.content_hash != entry.content_hash)
                    .unwrap_or(true)
            })
            .map(|entry| entry.stack.to_string())
            .collect();
        if !changed.is_empty() {
            return Err(UserError::invalid(format!(
                "the program or configuration of {} changed since the plan was approved; refresh the plan (`cloud refresh {}`) and approve again",
                changed.join(", "),
                id.short()
            ))
            .into());
        }
        let proof = self.lock_proof(id).await?;

        let token = CancellationToken::new();
        self.running.insert(id, token.clone());
        let result = self
            .run_apply(&session, &plan, &resolved, &actor_text, token.clone(), &proof)
            .await;
        self.running.remove(&id);
        let (record, remaining) = result?;
        if let Some(remaining) = remaining {
            self.open_follow_up(&record, remaining).await?;
        }
        Ok(record)
    }

    async fn run_apply(
        &self,
        session: &SessionRecord,
        plan: &Plan,
        resolved: &ResolvedDeployment,
        actor_text: &str,
        token: CancellationToken,
        proof: &StackLockProof,
    ) -> OrchResult<(SessionRecord, Option<Vec<StackName>>)> {
        let id = session.id;
        debug_assert_eq!(proof.session(), id);
        // What a failed stack takes down with it. Destroy walks the reverse order: dependents
        // were handled first, so a failure there only matters to the stacks it depends on.
        let graph = dependency_graph(resolved)?;
        self.move_session(
            id,
            SessionState::Approved,
            SessionState::Applying,
            actor_text,
            SessionUpdate::default(),
        )
        .await?;
        let destroy = session.operation.walks_backwards();
        let (sink, log_task) = self.progress_sink(id);
        let by_name: HashMap<&StackName, &ResolvedStack> = resolved.stacks.iter().map(|s| (&s.name, s)).collect();
        let mut failed: Vec<String> = Vec::new();
        let mut cancelled = false;
        // Set when a provisional stack's re-preview no longer matches the approved plan: nothing
        // new starts, and the stacks not applied go to a follow-up session.
        let mut drifted: Vec<(StackName, String)> = Vec::new();
        let entries: HashMap<&StackName, &StackPlanEntry> = plan.stacks.iter().map(|e| (&e.stack, e)).collect();

        // Over the DAG: a stack starts once its upstream stacks are applied (destroy: once its
        // dependents are gone), at most `max_parallel` at once. A started stack runs to its end;
        // a failure skips what depends on it, a cancel or a drift starts nothing new.
        let mut sched = dag::DagScheduler::new(&session_deps(session, resolved), destroy);
        let apply_job = |name: StackName| {
            let stack = by_name[&name];
            let entry = entries.get(&name).copied();
            let sink = sink.for_stack(&name);
            let token = token.clone();
            async move {
                if let Some(entry) = entry.filter(|e| e.provisional && !destroy) {
                    if let Some(why) = self.recheck_provisional(id, entry, stack, &sink, proof).await {
                        return (name, StackRun::Drifted(why));
                    }
                }
                let _ = self.set_stack(id, &stack.name, StackState::Applying, None, None).await;
                let op = if destroy {
                    self.engine.destroy(&stack.target, &sink, token)
                } else {
                    self.engine.up(&stack.target, &sink, token)
                };
                let result = op.instrument(info_span!("up", stack = %stack.name)).await;
                (name, StackRun::Ran(result))
            }
        };
        let mut running = FuturesUnordered::new();
        let mut stop = false;
        loop {
            while !stop && running.len() < self.settings.max_parallel {
                if token.is_cancelled() {
                    cancelled = true;
                    stop = true;
                    break;
                }
                match sched.next_ready() {
                    Some(name) => running.push(apply_job(name)),
                    None => break,
                }
            }
            let Some((name, run)) = running.next().await else { break };
            sched.finish(&name);
            match run {
                StackRun::Drifted(why) => {
                    drifted.push((name, why));
                    stop = true;
                }
                StackRun::Ran(Ok(done)) => {
                    self.set_stack(id, &name, StackState::Applied, Some(&done.counts), None)
                        .await?;
                }
                StackRun::Ran(Err(EngineError::Cancelled { .. })) => {
                    cancelled = true;
                    stop = true;
                    self.set_stack(id, &name, StackState::Failed, None, Some("cancelled"))
                        .await?;
                }
                StackRun::Ran(Err(e)) => {
                    let text = e.to_string();
                    warn!(session = %id, stack = %name, error = %text, "stack failed");
                    self.set_stack(id, &name, StackState::Failed, None, Some(&text)).await?;
                    failed.push(format!("{name}: {text}"));
                    let affected = if destroy {
                        graph.upstream_closure(name.as_str())
                    } else {
                        graph.downstream_closure(name.as_str())
                    };
                    for skipped in sched.drop_pending(&affected) {
                        self.set_stack(
                            id,
                            &skipped,
                            StackState::Skipped,
                            None,
                            Some("an upstream stack failed"),
                        )
                        .await?;
                    }
                }
            }
        }
        let not_started = sched.take_pending();
        // Stacks never reached (cancel, drift) are skipped too.
        let never_reached = if !drifted.is_empty() {
            "not applied: the session stopped before it (see the reason)"
        } else {
            "not reached"
        };
        for row in self.store.session_stacks(id).await? {
            if matches!(
                row.state,
                StackState::Pending | StackState::Previewed | StackState::Previewing
            ) {
                self.set_stack(id, &row.stack, StackState::Skipped, None, Some(never_reached))
                    .await?;
            }
        }
        drop(sink);
        let _ = log_task.await;

        if cancelled {
            let record = self
                .move_session(
                    id,
                    SessionState::Applying,
                    SessionState::Cancelled,
                    actor_text,
                    SessionUpdate {
                        plan: None,
                        reason: Some("cancelled during apply; in-flight steps finished".into()),
                    },
                )
                .await?;
            return Ok((record, None));
        }
        let mut follow_up = None;
        if !drifted.is_empty() {
            let mut reasons: Vec<String> = drifted.iter().map(|(_, why)| why.clone()).collect();
            reasons.sort();
            failed.push(format!(
                "{}; a follow-up session for the remaining stacks was opened for a fresh approval",
                reasons.join("; ")
            ));
            let remaining: BTreeSet<&StackName> = drifted.iter().map(|(n, _)| n).chain(not_started.iter()).collect();
            follow_up = Some(
                session
                    .stacks
                    .iter()
                    .filter(|n| remaining.contains(n))
                    .cloned()
                    .collect(),
            );
        }
        let record = if failed.is_empty() {
            self.move_session(
                id,
                SessionState::Applying,
                SessionState::Applied,
                actor_text,
                SessionUpdate::default(),
            )
            .await?
        } else {
            self.move_session(
                id,
                SessionState::Applying,
                SessionState::Failed,
                actor_text,
                SessionUpdate {
                    plan: None,
                    reason: Some(failed.join("\n")),
                },
            )
            .await?
        };
        Ok((record, follow_up))
    }

    /// Cancel a session. A running apply is stopped gracefully (in-flight steps finish) and the
    /// apply itself records CANCELLED; any other non-terminal session is cancelled at once.
    pub async fn cancel(&self, id: SessionId, actor: impl Into<Actor>, reason: &str) -> OrchResult<SessionRecord> {
        let actor = actor.into();
        let session = self.store.session(id).await?;
        // One's own session needs `deploy`; someone else's needs `approve`.
        let intent = if session.requester == actor.principal {
            Intent::Deploy
        } else {
            Intent::Approve
        };
        self.gate(&actor, &session.project, &session.env, intent).await?;
        self.cancel_unchecked(session, &actor.principal, reason).await
    }

    /// Cancel a session on behalf of the process itself — `cloud serve` shutting down with applies
    /// still running past its timeout. No permission gate (nobody asked); `principal` names the
    /// process in the audit log.
    pub async fn cancel_as_system(
        &self,
        id: SessionId,
        principal: &Principal,
        reason: &str,
    ) -> OrchResult<SessionRecord> {
        let session = self.store.session(id).await?;
        self.cancel_unchecked(session, principal, reason).await
    }

    async fn cancel_unchecked(
        &self,
        session: SessionRecord,
        principal: &Principal,
        reason: &str,
    ) -> OrchResult<SessionRecord> {
        let id = session.id;
        if session.state == SessionState::Applying {
            if let Some(token) = self.running.get(&id) {
                info!(session = %id, by = %principal, "graceful cancel requested");
                self.store
                    .audit(crate::store::NewAudit {
                        actor: principal.to_string(),
                        action: "session.cancel_requested".into(),
                        session_id: Some(id),
                        project: Some(session.project.clone()),
                        details: serde_json::json!({"reason": reason}),
                    })
                    .await?;
                token.cancel();
                return Ok(session);
            }
            return Err(UserError::invalid(format!(
                "session {} is applying in another process; cancel it there (chat or the `cloud` process running it)",
                id.short()
            ))
            .into());
        }
        self.move_session(
            id,
            session.state,
            SessionState::Cancelled,
            &principal.to_string(),
            SessionUpdate {
                plan: None,
                reason: Some(format!("cancelled by {principal}: {reason}")),
            },
        )
        .await
    }

    /// A session with its stacks, approvals, cost estimate and quota standing.
    pub async fn status(&self, id: SessionId) -> OrchResult<SessionView> {
        let session = self.store.session(id).await?;
        let (cost, quota) = match &session.plan {
            Some(plan) => {
                let cost = crate::policy::cost::estimate_plan(&self.pricing, plan);
                let quota = self.quota_check(&session, &cost).await?;
                (Some(cost), Some(quota))
            }
            None => (None, None),
        };
        Ok(SessionView {
            stacks: self.store.session_stacks(id).await?,
            approvals: self.store.approvals(id).await?,
            locks: self.store.session_locks(id).await?,
            queue: self.store.queue_entry(id).await?,
            session,
            cost,
            quota,
        })
    }

    /// [`Orchestrator::status`] for an actor who needs `read` on the session's project/env.
    pub async fn view(&self, id: SessionId, actor: impl Into<Actor>) -> OrchResult<SessionView> {
        let actor = actor.into();
        let session = self.store.session(id).await?;
        self.gate(&actor, &session.project, &session.env, Intent::Read).await?;
        self.status(id).await
    }

    /// Sessions matching a filter, newest first (unchecked: for the core and for callers that
    /// already checked; people get [`Orchestrator::list_for`]).
    pub async fn list(&self, filter: &SessionFilter) -> OrchResult<Vec<SessionRecord>> {
        Ok(self.store.sessions(filter).await?)
    }

    /// The sessions matching a filter that `actor` may read (`read` on their project/env),
    /// newest first.
    pub async fn list_for(&self, actor: impl Into<Actor>, filter: &SessionFilter) -> OrchResult<Vec<SessionRecord>> {
        let actor = actor.into();
        let mut readable: HashMap<(String, String), bool> = HashMap::new();
        let mut out = Vec::new();
        for s in self.store.sessions(filter).await? {
            let key = (s.project.clone(), s.env.clone());
            let ok = match readable.get(&key) {
                Some(ok) => *ok,
                None => {
                    let role = self.access.role_of(&actor, &s.project, &s.env).await?;
                    let ok = role.is_some_and(|r| r >= Intent::Read.required_role());
                    readable.insert(key, ok);
                    ok
                }
            };
            if ok {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// Expire PLAN_READY and APPROVED sessions whose plan is older than their environment's TTL.
    /// Returns the sessions it expired. `now` is injectable for tests.
    pub async fn expire_stale(&self, now: chrono::DateTime<chrono::Utc>) -> OrchResult<Vec<SessionId>> {
        let mut expired = Vec::new();
        for state in [SessionState::PlanReady, SessionState::Approved] {
            let sessions = self
                .store
                .sessions(&SessionFilter {
                    state: Some(state),
                    ..Default::default()
                })
                .await?;
            for s in sessions {
                let Some(ready_at) = s.plan_ready_at else { continue };
                let ttl = self
                    .env_policy(&s.env)
                    .map(|p| p.plan_ttl)
                    .unwrap_or(Duration::from_secs(3600));
                let age = now.signed_duration_since(ready_at).to_std().unwrap_or_default();
                if age >= ttl {
                    match self
                        .move_session(
                            s.id,
                            state,
                            SessionState::Expired,
                            "system:sweeper",
                            SessionUpdate {
                                plan: None,
                                reason: Some(format!(
                                    "the plan is older than the {} TTL of {}",
                                    humantime::format_duration(ttl),
                                    s.env
                                )),
                            },
                        )
                        .await
                    {
                        Ok(_) => expired.push(s.id),
                        // Someone approved or applied it meanwhile: nothing to expire.
                        Err(OrchestratorError::Store(StoreError::StateChanged { .. })) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Ok(expired)
    }

    /// A sink for engine progress: forwards each item as a [`SessionEvent`] at once and keeps
    /// the lines in the store (batched) for `cloud logs`. The returned task ends when every
    /// sender is dropped and the last lines are written.
    fn progress_sink(&self, id: SessionId) -> (StackSinkFactory, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<(StackName, Progress)>();
        let events = self.events.clone();
        let store = self.store.clone();
        let task = tokio::spawn(async move {
            let mut pending: Vec<(String, String)> = Vec::new();
            let mut flush_at = tokio::time::Instant::now() + Duration::from_millis(250);
            loop {
                let next = tokio::select! {
                    item = rx.recv() => item,
                    _ = tokio::time::sleep_until(flush_at) => {
                        if let Err(e) = store.append_logs(id, &pending).await {
                            warn!(session = %id, error = %e, "cannot store log lines");
                        }
                        pending.clear();
                        flush_at = tokio::time::Instant::now() + Duration::from_millis(250);
                        continue;
                    }
                };
                let Some((stack, progress)) = next else { break };
                if let Some(line) = events::log_line(&progress) {
                    pending.push((stack.to_string(), line));
                }
                let _ = events.send(SessionEvent {
                    session: id,
                    kind: SessionEventKind::Progress { stack, progress },
                });
            }
            if let Err(e) = store.append_logs(id, &pending).await {
                warn!(session = %id, error = %e, "cannot store log lines");
            }
        });
        (StackSinkFactory { tx }, task)
    }
}

/// Hands each stack its own [`crate::engine::ProgressSink`] that tags items with the stack name.
#[derive(Clone)]
struct StackSinkFactory {
    tx: mpsc::UnboundedSender<(StackName, Progress)>,
}

impl StackSinkFactory {
    fn for_stack(&self, stack: &StackName) -> crate::engine::ProgressSink {
        let (tx, mut rx) = mpsc::unbounded_channel::<Progress>();
        let out = self.tx.clone();
        let stack = stack.clone();
        tokio::spawn(async move {
            while let Some(p) = rx.recv().await {
                if out.send((stack.clone(), p)).is_err() {
                    break;
                }
            }
        });
        tx
    }
}

/// What running one stack of an apply came to.
enum StackRun {
    /// Its re-preview no longer matched the approved plan: not applied.
    Drifted(String),
    Ran(Result<crate::engine::StackApply, EngineError>),
}

/// The session's stacks (stored order) with their direct dependencies, for the scheduler.
fn session_deps(session: &SessionRecord, resolved: &ResolvedDeployment) -> Vec<(StackName, Vec<StackName>)> {
    session
        .stacks
        .iter()
        .filter_map(|n| {
            resolved
                .stacks
                .iter()
                .find(|s| &s.name == n)
                .map(|s| (n.clone(), s.depends_on.clone()))
        })
        .collect()
}

/// The session's stacks grouped by wave, in the session's stored order.
fn ordered_waves(session: &SessionRecord, resolved: &ResolvedDeployment) -> Vec<Vec<StackName>> {
    let wave_of: HashMap<&StackName, u32> = resolved.stacks.iter().map(|s| (&s.name, s.wave)).collect();
    let mut waves: BTreeMap<u32, Vec<StackName>> = BTreeMap::new();
    for name in &session.stacks {
        let wave = wave_of.get(name).copied().unwrap_or(0);
        waves.entry(wave).or_default().push(name.clone());
    }
    let mut out: Vec<Vec<StackName>> = waves.into_values().collect();
    if session.operation.walks_backwards() {
        out.reverse();
    }
    out
}

/// The resolved stacks as the catalog's dependency graph. Dependencies outside the resolved set
/// (stacks a `--stacks` subset leaves out) are not edges: they are not part of this session.
fn dependency_graph(resolved: &ResolvedDeployment) -> OrchResult<DependencyGraph> {
    let names: BTreeSet<&StackName> = resolved.stacks.iter().map(|s| &s.name).collect();
    let nodes: Vec<(StackName, Vec<StackName>)> = resolved
        .stacks
        .iter()
        .map(|s| {
            (
                s.name.clone(),
                s.depends_on.iter().filter(|d| names.contains(d)).cloned().collect(),
            )
        })
        .collect();
    DependencyGraph::from_deps(&nodes).map_err(|errors| {
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        UserError::invalid(format!(
            "the deployment's stacks do not form a dependency graph: {}",
            text.join("; ")
        ))
        .into()
    })
}
