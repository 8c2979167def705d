//! Apply-time re-preview of provisional stacks, and follow-up sessions.
//!
//! A stack is *provisional* when an upstream stack of the same plan changes: its preview saw the
//! upstream outputs of before. Just before such a stack applies (its upstreams are applied by
//! then), it is previewed again. When the steps differ from what was approved, the approval does
//! not cover what would run: the session stops before it — nothing new starts, stacks already
//! running finish, the rest is `skipped`, the session ends FAILED with the reason — and a
//! *follow-up* session for the stacks not applied is opened, planned and left in PLAN_READY for
//! a fresh approval, linked with `follow_up_of`.

use tracing::{info, info_span, warn, Instrument};

use super::{OrchResult, Orchestrator, OrchestratorError, ResolvedStack, SessionEventKind, StackLockProof};
use crate::engine::ResourceStep;
use crate::store::{LockOutcome, SessionRecord};
use cloud_domain::session::{SessionId, StackName, StackPlanEntry, StackState};

/// `(urn, op)` of every step, sorted: what the digest covers, independent of the order in which
/// the engine reported steps that ran in parallel.
fn step_set(steps: &[ResourceStep]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = steps.iter().map(|s| (s.urn.clone(), s.op.to_string())).collect();
    v.sort();
    v
}

/// A short account of how two step lists differ, for the session's reason.
fn describe_drift(approved: &[(String, String)], now: &[(String, String)]) -> String {
    let name = |(urn, op): &(String, String)| format!("{op} {}", ResourceStep::name_from_urn(urn));
    let added: Vec<String> = now.iter().filter(|s| !approved.contains(s)).map(name).collect();
    let gone: Vec<String> = approved.iter().filter(|s| !now.contains(s)).map(name).collect();
    let mut parts = Vec::new();
    if !added.is_empty() {
        parts.push(format!("now also {}", added.join(", ")));
    }
    if !gone.is_empty() {
        parts.push(format!("no longer {}", gone.join(", ")));
    }
    parts.join("; ")
}

impl Orchestrator {
    /// Re-preview provisional stack `stack` (its upstream stacks are applied by now) and compare
    /// it with its `entry` in the approved plan. `None` when the steps match; otherwise why the
    /// session must stop before it.
    pub(super) async fn recheck_provisional(
        &self,
        id: SessionId,
        entry: &StackPlanEntry,
        stack: &ResolvedStack,
        sink: &crate::engine::ProgressSink,
        proof: &StackLockProof,
    ) -> Option<String> {
        debug_assert_eq!(proof.session(), id);
        let _ = self
            .set_stack(id, &stack.name, StackState::Previewing, None, None)
            .await;
        let _ = sink.send(crate::engine::Progress::Phase(crate::engine::EnginePhase::RePreview));
        let result = self
            .engine
            .preview(&stack.target, sink)
            .instrument(info_span!("re-preview", stack = %stack.name))
            .await;
        let _ = self.set_stack(id, &stack.name, StackState::Previewed, None, None).await;
        let approved = step_set(&entry.preview.steps);
        let why = match result {
            Ok(now) => {
                let now = step_set(&now.steps);
                if now == approved {
                    info!(session = %id, stack = %stack.name, "re-preview matches the approved plan");
                    return None;
                }
                format!(
                    "stopped before {}: its re-preview differs from the approved plan ({})",
                    stack.name,
                    describe_drift(&approved, &now)
                )
            }
            Err(e) => format!("stopped before {}: its re-preview failed: {e}", stack.name),
        };
        warn!(session = %id, stack = %stack.name, reason = %why, "provisional stack drifted; stopping");
        Some(why)
    }

    /// Open, lock and plan the follow-up of `parent` for `remaining` stacks. It ends PLAN_READY
    /// (or PLAN_FAILED), or waits in the lock queue when someone took the stacks meanwhile.
    pub(super) async fn open_follow_up(
        &self,
        parent: &SessionRecord,
        remaining: Vec<StackName>,
    ) -> OrchResult<SessionRecord> {
        let requester = parent.requester.clone();
        let follow = match self
            .start_unchecked_in(
                &requester,
                &parent.project,
                Some(&parent.deployment_id),
                &parent.env,
                Some(&remaining),
                parent.operation,
                Some(parent.id),
            )
            .await
        {
            Ok(record) => Some(record),
            Err(OrchestratorError::Busy { session, .. }) => match self.queue_unchecked(session, &requester).await? {
                LockOutcome::Granted => Some(self.store.session(session).await?),
                _ => {
                    if parent.operation.restores_recorded_config() {
                        self.copy_configs(parent.id, session).await?;
                    }
                    self.publish(parent.id, SessionEventKind::FollowUpOpened { follow_up: session })
                        .await;
                    return Ok(self.store.session(session).await?);
                }
            },
            Err(other) => return Err(other),
        };
        let follow = follow.expect("set above");
        if parent.operation.restores_recorded_config() {
            self.copy_configs(parent.id, follow.id).await?;
        }
        info!(session = %parent.id, follow_up = %follow.id, "follow-up session opened");
        self.publish(parent.id, SessionEventKind::FollowUpOpened { follow_up: follow.id })
            .await;
        self.plan_unchecked(self.store.session(follow.id).await?, &requester)
            .await
    }
}
