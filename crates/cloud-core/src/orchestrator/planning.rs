//! Planning: opening a session (deploy or destroy; a rollback opens in `rollback`), previewing its
//! stacks over the dependency graph into a [`Plan`] whose digest approvals carry, and recording
//! those approvals. A session leaves this module APPROVED, ready for `applying`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use tracing::{info, info_span, Instrument};

use super::race::Attempt;
use super::{
    dependency_graph, rollback, OrchResult, Orchestrator, OrchestratorError, ResolvedDeployment, ResolvedStack,
    SessionEventKind, StackLockProof,
};
use crate::engine::{EngineError, EnginePhase, Progress, StackPreview};
use crate::policy::{Actor, Intent};
use crate::store::{NewSession, SessionRecord, SessionUpdate, StoreError};
use cloud_domain::error::UserError;
use cloud_domain::session::{
    DeploymentId, Operation, Plan, Principal, SessionId, SessionState, StackName, StackPlanEntry, StackState,
};

impl Orchestrator {
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

    /// Open a DRAFT destroy session: the same stacks, walked in reverse order. Destroying some
    /// stacks of a deployment is refused while stacks that depend on them are deployed (their
    /// names are listed): see [`Orchestrator::start_destroy_with_dependents`].
    pub async fn start_destroy(
        &self,
        actor: impl Into<Actor>,
        project: &str,
        env: &str,
        stacks: Option<&[StackName]>,
    ) -> OrchResult<SessionRecord> {
        let actor = actor.into();
        let stacks = self.destroy_scope(&actor, project, env, stacks, false).await?;
        self.start(&actor, project, env, stacks.as_deref(), Operation::Destroy, None)
            .await
    }

    /// [`Orchestrator::start_destroy`] that adds the deployed dependents of `stacks` to the same
    /// session: one plan, one approval, dependents destroyed first (reverse dependency order).
    pub async fn start_destroy_with_dependents(
        &self,
        actor: impl Into<Actor>,
        project: &str,
        env: &str,
        stacks: Option<&[StackName]>,
    ) -> OrchResult<SessionRecord> {
        let actor = actor.into();
        let stacks = self.destroy_scope(&actor, project, env, stacks, true).await?;
        self.start(&actor, project, env, stacks.as_deref(), Operation::Destroy, None)
            .await
    }

    /// The stacks a destroy of `stacks` (`None`: all of them, nothing can be left dangling)
    /// covers: refused while deployed dependents are left out, or with them added.
    async fn destroy_scope(
        &self,
        actor: &Actor,
        name: &str,
        env: &str,
        stacks: Option<&[StackName]>,
        with_dependents: bool,
    ) -> OrchResult<Option<Vec<StackName>>> {
        let Some(stacks) = stacks else { return Ok(None) };
        self.env_policy(env)?;
        let target = self.deployment_target(name).await?;
        let project = target.project.as_str();
        self.known_project(project).await?;
        // Gate first: who may not destroy here learns nothing about what is deployed.
        self.gate(actor, project, env, Intent::Deploy).await?;
        let Some(deployment) = target.deployment else {
            return Ok(Some(stacks.to_vec()));
        };
        let dependents = self.dependents(project, &deployment, env, stacks).await?;
        if dependents.is_empty() {
            return Ok(Some(stacks.to_vec()));
        }
        let outputs = self.store.project_stack_outputs(project, env).await?;
        let applied = outputs.get(deployment.as_str());
        let deployed: Vec<StackName> = dependents
            .into_iter()
            .filter(|d| applied.is_some_and(|a| a.contains_key(d)))
            .collect();
        if deployed.is_empty() {
            return Ok(Some(stacks.to_vec()));
        }
        let list = |v: &[StackName]| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
        if !with_dependents {
            return Err(UserError::invalid(format!(
                "{} cannot be destroyed in {deployment}/{env} while stacks that depend on it are deployed: {}; \
                 destroy those first, or destroy them together (dependents first) with `--with-dependents`",
                list(stacks),
                list(&deployed)
            ))
            .into());
        }
        info!(project, env, stacks = %list(stacks), dependents = %list(&deployed), "destroy takes its deployed dependents along");
        let mut all = stacks.to_vec();
        all.extend(deployed);
        Ok(Some(all))
    }

    /// Open a deploy or destroy session only when its stacks are free: when other sessions hold
    /// them (or queued for them earlier), refuse with [`OrchestratorError::Refused`] and store
    /// nothing — no session is left behind for a refusal (`cloud deploy` without `--queue`).
    pub async fn start_if_free(
        &self,
        actor: impl Into<Actor>,
        project: &str,
        env: &str,
        stacks: Option<&[StackName]>,
        operation: Operation,
        with_dependents: bool,
    ) -> OrchResult<SessionRecord> {
        let actor = actor.into();
        // A destroy covers what destroying `stacks` would leave dangling (refused, or taken
        // along with `with_dependents`), exactly as `start_destroy` decides.
        let scoped = match operation {
            Operation::Destroy => {
                self.destroy_scope(&actor, project, env, stacks, with_dependents)
                    .await?
            }
            _ => stacks.map(<[StackName]>::to_vec),
        };
        let stacks = scoped.as_deref();
        self.env_policy(env)?;
        // Where a project is accepted, a deployment id is too (`cloud deploy D1BRV40 dev`).
        let target = self.deployment_target(project).await?;
        let project = target.project.as_str();
        self.known_project(project).await?;
        self.gate(&actor, project, env, Intent::Deploy).await?;
        self.check_concurrency(project, None).await?;
        let resolved = self
            .resolve_current(project, target.deployment.as_ref(), env, stacks)
            .await?;
        let keys = resolved
            .stacks
            .iter()
            .map(|s| crate::store::lock_key(project, resolved.deployment_id.as_str(), &s.name, env))
            .collect();
        let holders = self.store.stack_holders(&keys).await?;
        if !holders.is_empty() {
            return Err(OrchestratorError::Refused { holders });
        }
        // Taken between the check and the open (a race): the session is opened and refused with
        // its holders as before, and the caller cancels it. The gates above were `start`'s own:
        // open it without passing them a second time.
        self.start_unchecked_in(
            &actor.principal,
            project,
            target.deployment.as_ref(),
            env,
            stacks,
            operation,
            None,
        )
        .await
    }

    pub(super) async fn start(
        &self,
        actor: &Actor,
        project: &str,
        env: &str,
        stacks: Option<&[StackName]>,
        operation: Operation,
        follow_up_of: Option<SessionId>,
    ) -> OrchResult<SessionRecord> {
        self.env_policy(env)?;
        // Where a project is accepted, a deployment id is too (`cloud deploy D1BRV40 dev`).
        let target = self.deployment_target(project).await?;
        let project = target.project.as_str();
        self.known_project(project).await?;
        // Gate first: the role, then the concurrency quota, then the work.
        self.gate(actor, project, env, Intent::Deploy).await?;
        self.check_concurrency(project, None).await?;
        self.start_unchecked_in(
            &actor.principal,
            project,
            target.deployment.as_ref(),
            env,
            stacks,
            operation,
            follow_up_of,
        )
        .await
    }

    /// [`Orchestrator::start`] without the role and quota gates: for sessions the core opens
    /// itself on behalf of an authorised one (follow-ups of an approved apply, which need their
    /// own approval anyway).
    ///
    /// `deployment` picks one deployment of the project (`None`: its only one).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn start_unchecked_in(
        &self,
        principal: &Principal,
        project: &str,
        deployment: Option<&DeploymentId>,
        env: &str,
        stacks: Option<&[StackName]>,
        operation: Operation,
        follow_up_of: Option<SessionId>,
    ) -> OrchResult<SessionRecord> {
        // The project is known: `start` checked it, and a follow-up's parent session had it.
        let policy = self.env_policy(env)?.clone();
        let resolved = self.resolve_current(project, deployment, env, stacks).await?;
        let mut ordered: Vec<(StackName, u32)> = resolved.stacks.iter().map(|s| (s.name.clone(), s.wave)).collect();
        if operation.walks_backwards() {
            let max_wave = ordered.iter().map(|(_, w)| *w).max().unwrap_or(0);
            ordered.reverse();
            for (_, wave) in &mut ordered {
                *wave = max_wave - *wave;
            }
        }
        // The session owns its stacks from the start, taken in the transaction that opens it.
        // When they are busy it stays DRAFT without locks and the caller learns who holds them;
        // it can then queue (or cancel) it.
        let (record, locks) = self
            .store
            .create_session_taking_locks(NewSession {
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
        self.publish(record.id, SessionEventKind::Created).await;
        super::locks::granted(record.id, locks)?;
        Ok(record)
    }

    /// Preview every stack of the session over the dependency graph (see `schedule`).
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
            // Planned under this process's lease: if it dies mid-plan, another process ends the
            // session and frees its stacks (`recovery`). Given back when the plan ends: a planned
            // session waits for people, not for this process.
            let lease = self.drive(id).await?;
            let result = async {
                let proof = self.lock_proof(id).await?;
                self.plan_inner(session, principal, &proof).await
            }
            .await;
            lease.release().await;
            result
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
        let operation = session.operation;
        let by_name: HashMap<&StackName, &ResolvedStack> = resolved.stacks.iter().map(|s| (&s.name, s)).collect();
        let order = ordered_waves(&session, &resolved);
        let mut previews: BTreeMap<StackName, Result<StackPreview, EngineError>> = BTreeMap::new();
        // Over the DAG (see `schedule`): a stack previews once its upstream stacks have. A failed
        // preview does not hold others back: every stack's outcome is reported, nothing skipped.
        let mut run = self.stack_scheduler(&session, &resolved, |name: StackName| {
            let stack = by_name[&name];
            let sink = sink.for_stack(&name);
            async move {
                let _ = self
                    .set_stack(id, &stack.name, StackState::Previewing, None, None)
                    .await;
                let _ = sink.send(Progress::Phase(EnginePhase::Preview));
                let preview = match operation {
                    Operation::Destroy => self.engine.preview_destroy(&stack.target, &sink),
                    Operation::Deploy | Operation::Rollback => self.engine.preview(&stack.target, &sink),
                };
                preview.instrument(info_span!("preview", stack = %stack.name)).await
            }
        });
        while let Some((name, result)) = run.next().await {
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
        // The jobs borrowed the sink; the log task ends once every sender is gone.
        drop(run);
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
                    provisional: match operation {
                        Operation::Deploy | Operation::Rollback => graph
                            .upstream_closure(name.as_str())
                            .iter()
                            .any(|u| changing.contains(u)),
                        // A destroy removes what is there: no upstream output feeds it.
                        Operation::Destroy => false,
                    },
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
        match session.state {
            SessionState::PlanReady => {}
            // Not planned yet (or planning again): nothing was decided, the plan is not ready.
            SessionState::Draft | SessionState::Planning | SessionState::PlanFailed => {
                return Err(UserError::invalid(format!(
                    "session {} is {}, not PLAN_READY: only a ready plan can be approved",
                    id.short(),
                    session.state
                ))
                .into());
            }
            // Someone approved or cancelled it first: the one answer every loser gets.
            SessionState::Approved
            | SessionState::Applying
            | SessionState::Applied
            | SessionState::Failed
            | SessionState::Cancelled
            | SessionState::Expired => return Err(self.lost_race(id, Attempt::Approve).await),
        }
        // Four-eyes compares people, not identities: the requester's Discord, Slack and CLI
        // identities linked into one person (`cloud people link`) are all the requester.
        if !session.allow_self_approve && self.same_person(&session.requester, principal).await? {
            let via = if &session.requester == principal {
                String::new()
            } else {
                format!(" (as {}, linked to the same person)", session.requester)
            };
            return Err(UserError::denied(format!(
                "you requested this session{via}, and in {} someone else must approve it (four-eyes rule); ask a teammate with `approve` on {}/{}",
                session.env, session.project, session.env
            ))
            .into());
        }
        // One person approves once, whichever identity they click with.
        for earlier in self.store.approvals(id).await? {
            if earlier.digest == digest
                && &earlier.approver != principal
                && self.same_person(&earlier.approver, principal).await?
            {
                return Err(UserError::denied(format!(
                    "you already approved this plan as {} (linked to the same person); approvals must come from different people",
                    earlier.approver
                ))
                .into());
            }
        }
        if override_reason.is_none() {
            self.refuse_over_quota(&session).await?;
        }
        let record = match self.store.record_approval(id, principal, digest, override_reason).await {
            Ok(record) => record,
            // Another approval (or a cancel) committed between the check above and this one.
            Err(e @ (StoreError::StateChanged { .. } | StoreError::Transition(_))) => {
                info!(session = %id, error = %e, "approval lost a race");
                return Err(self.lost_race(id, Attempt::Approve).await);
            }
            Err(e) => return Err(e.into()),
        };
        info!(session = %id, approver = %principal, state = %record.state, "approval recorded");
        self.publish(id, SessionEventKind::Approved { by: principal.clone() })
            .await;
        if record.state == SessionState::Approved {
            self.publish(
                id,
                SessionEventKind::StateChanged {
                    from: SessionState::PlanReady,
                    to: SessionState::Approved,
                },
            )
            .await;
        }
        Ok(record)
    }
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
