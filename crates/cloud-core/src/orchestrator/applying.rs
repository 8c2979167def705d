//! Applying: running an APPROVED session's updates (or destroys) over the dependency graph, and
//! cancelling sessions — at once when nothing runs, gracefully (in-flight steps finish) when this
//! process runs their apply. A drifted provisional stack stops the apply and opens a follow-up
//! (`followup`).

use std::collections::{BTreeSet, HashMap};

use tokio_util::sync::CancellationToken;
use tracing::{info, info_span, warn, Instrument};

use super::race::Attempt;
use super::SessionEventKind;
use super::{dependency_graph, OrchResult, Orchestrator, ResolvedDeployment, ResolvedStack, StackLockProof};
use crate::engine::{EngineError, EnginePhase, Progress, StackApply};
use crate::event_feed::EventFeed;
use crate::policy::{Actor, Intent};
use crate::store::{NewAudit, SessionRecord, SessionUpdate, StoreError};
use cloud_domain::error::UserError;
use cloud_domain::session::{
    Operation, Plan, Principal, SessionId, SessionState, StackName, StackPlanEntry, StackState,
};

impl Orchestrator {
    /// Apply an APPROVED session over the dependency graph (see `schedule`). A failed stack skips
    /// its dependents; independent stacks finish. Ends APPLIED, FAILED or (when cancelled) CANCELLED.
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

        // Applied under this process's lease (see `leases`). Should another process take the
        // session over (this one stalled past the lease TTL), the engine work stops here too.
        let lease = self.drive(id).await?;
        let token = CancellationToken::new();
        let lost = lease.lost();
        let stop_on_loss = {
            let token = token.clone();
            tokio::spawn(async move {
                lost.cancelled().await;
                token.cancel();
            })
        };
        self.running.insert(id, token.clone());
        // A cancel asked for in another process (an admin's `cloud cancel`, another replica's
        // chat button) reaches this one through the session's log: SQLite's poll or PostgreSQL's
        // NOTIFY wakes the watcher well within a second.
        let watcher = match self.store.last_event_id().await {
            Ok(from) => Some(tokio::spawn(watch_for_cancel(
                EventFeed::session(&self.store, id, from),
                token.clone(),
                self.cancellers.clone(),
                id,
            ))),
            Err(e) => {
                warn!(session = %id, error = %e, "cannot watch the log for cancel requests");
                None
            }
        };
        let result = self
            .run_apply(&session, &plan, &resolved, &actor_text, token.clone(), &proof)
            .await;
        if let Some(watcher) = watcher {
            watcher.abort();
        }
        self.running.remove(&id);
        self.cancellers.remove(&id);
        stop_on_loss.abort();
        lease.release().await;
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
        // The stacks must still form a graph (the plan checked it; refuse before anything runs).
        dependency_graph(resolved)?;
        self.move_session(
            id,
            SessionState::Approved,
            SessionState::Applying,
            actor_text,
            SessionUpdate::default(),
        )
        .await?;
        let operation = session.operation;
        let (sink, log_task) = self.progress_sink(id);
        let by_name: HashMap<&StackName, &ResolvedStack> = resolved.stacks.iter().map(|s| (&s.name, s)).collect();
        let mut failed: Vec<String> = Vec::new();
        let mut cancelled = false;
        // Set when a provisional stack's re-preview no longer matches the approved plan: nothing
        // new starts, and the stacks not applied go to a follow-up session.
        let mut drifted: Vec<(StackName, String)> = Vec::new();
        let entries: HashMap<&StackName, &StackPlanEntry> = plan.stacks.iter().map(|e| (&e.stack, e)).collect();

        // Over the DAG (see `schedule`): a stack starts once its upstream stacks are applied
        // (destroy: once its dependents are gone). A started stack runs to its end; a failure
        // skips what waits on it, a cancel or a drift starts nothing new.
        let in_session: BTreeSet<&StackName> = session.stacks.iter().collect();
        let mut run = self.stack_scheduler(session, resolved, |name: StackName| {
            let planned = by_name[&name];
            let entry = entries.get(&name).copied();
            let sink = sink.for_stack(&name);
            let token = token.clone();
            let in_session = &in_session;
            async move {
                // Upstream stacks of this session were applied just now: resolve the stack's
                // `{{<stack>.<output>}}` placeholders again from the outputs they recorded (the
                // plan saw the outputs of before, or a provisional value).
                let fresh;
                let stack =
                    if operation == Operation::Deploy && planned.depends_on.iter().any(|d| in_session.contains(d)) {
                        match self.fresh_stack(session, planned).await {
                            Ok(s) => {
                                fresh = s;
                                &fresh
                            }
                            Err(why) => return StackRun::Unresolved(why),
                        }
                    } else {
                        planned
                    };
                let recheck = match operation {
                    Operation::Deploy | Operation::Rollback => entry.filter(|e| e.provisional),
                    // Never provisional: a destroy reads no upstream output.
                    Operation::Destroy => None,
                };
                if let Some(entry) = recheck {
                    if let Some(why) = self.recheck_provisional(id, entry, stack, &sink, proof).await {
                        return StackRun::Drifted(why);
                    }
                }
                let _ = self.set_stack(id, &stack.name, StackState::Applying, None, None).await;
                let phase = match operation {
                    Operation::Deploy | Operation::Rollback => EnginePhase::Apply,
                    Operation::Destroy => EnginePhase::Destroy,
                };
                let _ = sink.send(Progress::Phase(phase));
                let op = match operation {
                    Operation::Deploy | Operation::Rollback => self.engine.up(&stack.target, &sink, token),
                    Operation::Destroy => self.engine.destroy(&stack.target, &sink, token),
                };
                StackRun::Ran(op.instrument(info_span!("up", stack = %stack.name)).await)
            }
        });
        loop {
            if !run.is_stopped() && token.is_cancelled() {
                cancelled = true;
                run.stop();
            }
            let Some((name, outcome)) = run.next().await else { break };
            match outcome {
                StackRun::Drifted(why) => {
                    drifted.push((name, why));
                    run.stop();
                }
                StackRun::Ran(Ok(done)) => {
                    // Dependents resolve their placeholders from these (now, and in later plans).
                    match operation {
                        Operation::Deploy | Operation::Rollback => {
                            self.store
                                .save_stack_outputs(
                                    session.deployment_id.as_str(),
                                    &session.env,
                                    &name,
                                    &done.outputs,
                                    id,
                                )
                                .await?
                        }
                        Operation::Destroy => {
                            self.store
                                .delete_stack_outputs(session.deployment_id.as_str(), &session.env, &name)
                                .await?
                        }
                    }
                    self.set_stack(id, &name, StackState::Applied, Some(&done.counts), None)
                        .await?;
                }
                StackRun::Unresolved(text) => {
                    warn!(session = %id, stack = %name, error = %text, "stack configuration does not resolve");
                    self.set_stack(id, &name, StackState::Failed, None, Some(&text)).await?;
                    failed.push(format!("{name}: {text}"));
                    for skipped in run.skip_dependents(&name) {
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
                StackRun::Ran(Err(EngineError::Cancelled { .. })) => {
                    cancelled = true;
                    run.stop();
                    // A hard stop (the second SIGINT) leaves the engine's lock file behind; the
                    // process has exited by now, so releasing it cannot hurt a running update.
                    if let Err(unlock) = self.engine.unlock(&by_name[&name].target).await {
                        warn!(session = %id, stack = %name, error = %unlock, "cannot release the engine's stack lock");
                    }
                    self.set_stack(id, &name, StackState::Failed, None, Some("cancelled"))
                        .await?;
                }
                StackRun::Ran(Err(e)) => {
                    let mut text = e.to_string();
                    warn!(session = %id, stack = %name, error = %text, "stack failed");
                    // A crashed, timed-out or failed engine may leave its own stack lock behind
                    // (Pulumi's lock file): release it now (`pulumi cancel`), so the stack can be
                    // deployed again at once instead of needing hand work.
                    let unlocked = if e.may_leave_engine_lock() {
                        self.engine.unlock(&by_name[&name].target).await
                    } else {
                        Ok(())
                    };
                    if let Err(unlock) = unlocked {
                        warn!(session = %id, stack = %name, error = %unlock, "cannot release the engine's stack lock");
                        text = format!("{text}; the engine's stack lock could not be released: {unlock}");
                    }
                    self.set_stack(id, &name, StackState::Failed, None, Some(&text)).await?;
                    failed.push(format!("{name}: {text}"));
                    for skipped in run.skip_dependents(&name) {
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
        let not_started = run.not_started();
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
            // The CANCELLED change names whoever asked for the cancel (a person, another
            // process's request, `system:shutdown`), not whoever started the apply.
            let (by, reason) = match self.cancellers.get(&id).map(|c| c.clone()) {
                Some((by, why)) => (
                    by.clone(),
                    format!("cancelled by {by} during apply ({why}); in-flight steps finished"),
                ),
                None => (
                    actor_text.to_string(),
                    "cancelled during apply; in-flight steps finished".into(),
                ),
            };
            let record = self
                .move_session(
                    id,
                    SessionState::Applying,
                    SessionState::Cancelled,
                    &by,
                    SessionUpdate {
                        plan: None,
                        reason: Some(reason),
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

    /// The sessions whose apply this process is running right now.
    pub fn running_applies(&self) -> Vec<SessionId> {
        let mut ids: Vec<SessionId> = self.running.iter().map(|e| *e.key()).collect();
        ids.sort();
        ids
    }

    /// Says in a session's log that the process running it is stopping (chat shows it in the
    /// session's thread): `reason` tells what happens to the apply.
    pub async fn announce_shutdown(&self, id: SessionId, reason: &str) {
        self.publish(
            id,
            SessionEventKind::Shutdown {
                reason: reason.to_string(),
            },
        )
        .await;
    }

    /// Cancels, on behalf of the process itself, an apply this process runs (`cloud serve`
    /// shutting down, Ctrl-C in `cloud deploy`): the engine is stopped gracefully (in-flight
    /// steps finish), and the audit log and the CANCELLED change name `actor` (e.g.
    /// [`super::SHUTDOWN_ACTOR`]), not the approver. False when this process runs no apply of `id`.
    pub async fn cancel_running_as(&self, id: SessionId, actor: &str, reason: &str) -> OrchResult<bool> {
        let Some(token) = self.running.get(&id).map(|t| t.clone()) else {
            return Ok(false);
        };
        let session = self.store.session(id).await?;
        info!(session = %id, by = actor, "graceful cancel requested");
        self.store
            .audit(NewAudit {
                actor: actor.to_string(),
                action: "session.cancel_requested".into(),
                session_id: Some(id),
                project: Some(session.project.clone()),
                details: serde_json::json!({"reason": reason}),
            })
            .await?;
        self.cancellers
            .entry(id)
            .or_insert_with(|| (actor.to_string(), reason.to_string()));
        token.cancel();
        Ok(true)
    }

    pub(super) async fn cancel_unchecked(
        &self,
        session: SessionRecord,
        principal: &Principal,
        reason: &str,
    ) -> OrchResult<SessionRecord> {
        let id = session.id;
        // Finished before this cancel arrived (another cancel, an expiry, the end of an apply).
        if session.state.is_terminal() {
            return Err(self.lost_race(id, Attempt::Cancel).await);
        }
        if session.state == SessionState::Applying {
            if let Some(token) = self.running.get(&id) {
                info!(session = %id, by = %principal, "graceful cancel requested");
                self.cancellers
                    .entry(id)
                    .or_insert_with(|| (principal.to_string(), reason.to_string()));
                self.store
                    .audit(NewAudit {
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
            // Another process runs it: ask it through the log; it records CANCELLED.
            info!(session = %id, by = %principal, "cancel requested of the process running the apply");
            self.store
                .audit(NewAudit {
                    actor: principal.to_string(),
                    action: "session.cancel_requested".into(),
                    session_id: Some(id),
                    project: Some(session.project.clone()),
                    details: serde_json::json!({"reason": reason, "elsewhere": true}),
                })
                .await?;
            self.publish(
                id,
                SessionEventKind::CancelRequested {
                    by: principal.clone(),
                    reason: reason.to_string(),
                },
            )
            .await;
            return Ok(session);
        }
        let moved = self
            .move_session(
                id,
                session.state,
                SessionState::Cancelled,
                &principal.to_string(),
                SessionUpdate {
                    plan: None,
                    reason: Some(format!("cancelled by {principal}: {reason}")),
                },
            )
            .await;
        match moved {
            // Someone else moved it first (approved, cancelled, expired it).
            Err(e) if super::race::is_lost_race(&e) => {
                let now = self.store.session(id).await?;
                if now.state.is_terminal() {
                    return Err(self.lost_race(id, Attempt::Cancel).await);
                }
                // Approved (or applying) meanwhile: still cancellable, once more from there.
                Box::pin(self.cancel_unchecked(now, principal, reason)).await
            }
            other => other,
        }
    }
}

/// What running one stack of an apply came to.
enum StackRun {
    /// Its configuration did not resolve from the outputs its upstream stacks just recorded.
    Unresolved(String),
    /// Its re-preview no longer matched the approved plan: not applied.
    Drifted(String),
    Ran(Result<StackApply, EngineError>),
}

impl Orchestrator {
    /// `planned` resolved again with the outputs recorded so far (its upstream stacks of this
    /// session have just been applied). The configuration's shape is what the plan approved: the
    /// content hash covers placeholders, not the values they take.
    async fn fresh_stack(&self, session: &SessionRecord, planned: &ResolvedStack) -> Result<ResolvedStack, String> {
        let only = std::slice::from_ref(&planned.name);
        let resolved = self
            .resolve_current(&session.project, Some(&session.deployment_id), &session.env, Some(only))
            .await
            .map_err(|e| e.to_user().message)?;
        let stack = resolved
            .stacks
            .into_iter()
            .find(|s| s.name == planned.name)
            .ok_or_else(|| format!("stack {} is no longer part of the deployment", planned.name))?;
        Ok(ResolvedStack {
            target: stack.target,
            ..planned.clone()
        })
    }
}

/// Cancels `token` when the session's log asks for a cancel (written by another process).
async fn watch_for_cancel(
    mut log: EventFeed,
    token: CancellationToken,
    cancellers: std::sync::Arc<dashmap::DashMap<SessionId, (String, String)>>,
    id: SessionId,
) {
    loop {
        let events = tokio::select! {
            _ = token.cancelled() => return,
            events = log.next() => events,
        };
        match events {
            Ok(events) if events.is_empty() => return,
            Ok(events) => {
                let asked = events.iter().find_map(|e| match &e.kind {
                    SessionEventKind::CancelRequested { by, reason } => Some((by.to_string(), reason.clone())),
                    _ => None,
                });
                if let Some(asked) = asked {
                    cancellers.entry(id).or_insert(asked);
                    info!("cancel requested through the session log: stopping the apply");
                    token.cancel();
                    return;
                }
            }
            Err(e) => {
                warn!(error = %e, "cannot read the session log for cancel requests; retrying");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}
