//! Apply-time re-preview of provisional stacks, and follow-up sessions.
//!
//! A stack is *provisional* when an upstream stack of the same plan changes: its preview saw the
//! upstream outputs of before. Just before such a stack's wave applies (its upstreams are applied
//! by then), it is previewed again. When the steps differ from what was approved, the approval
//! does not cover what would run: the session stops before that wave (the rest `skipped`, the
//! session FAILED with the reason) and a *follow-up* session for the remaining stacks is opened,
//! planned and left in PLAN_READY for a fresh approval, linked with `follow_up_of`.

use std::collections::HashMap;

use futures::stream::{self, StreamExt};
use tracing::{info, info_span, warn, Instrument};

use super::{OrchResult, Orchestrator, OrchestratorError, ResolvedStack, SessionEventKind, StackLockProof, StackSinkFactory};
use crate::engine::ResourceStep;
use crate::policy::Actor;
use crate::session::{Plan, SessionId, StackName, StackState};
use crate::store::{LockOutcome, SessionRecord};

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
    /// Re-preview the provisional stacks among `wave` and compare them with the approved plan.
    /// `None` when every one matches (or none is provisional); otherwise why the session must
    /// stop before this wave.
    pub(super) async fn recheck_provisional(
        &self,
        id: SessionId,
        plan: &Plan,
        wave: &[&StackName],
        by_name: &HashMap<&StackName, &ResolvedStack>,
        sink: &StackSinkFactory,
        proof: &StackLockProof,
    ) -> Option<String> {
        debug_assert_eq!(proof.session(), id);
        let entries: Vec<_> = wave
            .iter()
            .filter_map(|name| plan.stacks.iter().find(|e| &&e.stack == name && e.provisional))
            .collect();
        if entries.is_empty() {
            return None;
        }
        let jobs: Vec<_> = entries.into_iter().map(|entry| {
            let stack = by_name[&entry.stack];
            let sink = sink.for_stack(&entry.stack);
            async move {
                let _ = self.set_stack(id, &stack.name, StackState::Previewing, None, None).await;
                let result = self
                    .engine
                    .preview(&stack.target, &sink)
                    .instrument(info_span!("re-preview", stack = %stack.name))
                    .await;
                let _ = self.set_stack(id, &stack.name, StackState::Previewed, None, None).await;
                let approved = step_set(&entry.preview.steps);
                match result {
                    Ok(now) => {
                        let now = step_set(&now.steps);
                        if now == approved {
                            info!(session = %id, stack = %stack.name, "re-preview matches the approved plan");
                            None
                        } else {
                            Some(format!(
                                "stopped before {}: its re-preview differs from the approved plan ({})",
                                stack.name,
                                describe_drift(&approved, &now)
                            ))
                        }
                    }
                    Err(e) => Some(format!("stopped before {}: its re-preview failed: {e}", stack.name)),
                }
            }
        }).collect();
        let results: Vec<Option<String>> = stream::iter(jobs).buffer_unordered(self.settings.max_parallel).collect().await;
        let reasons: Vec<String> = results.into_iter().flatten().collect();
        if reasons.is_empty() {
            return None;
        }
        let mut reasons = reasons;
        reasons.sort();
        warn!(session = %id, reasons = ?reasons, "provisional stacks drifted; stopping");
        Some(format!(
            "{}; a follow-up session for the remaining stacks was opened for a fresh approval",
            reasons.join("; ")
        ))
    }

    /// Open, lock and plan the follow-up of `parent` for `remaining` stacks. It ends PLAN_READY
    /// (or PLAN_FAILED), or waits in the lock queue when someone took the stacks meanwhile.
    pub(super) async fn open_follow_up(&self, parent: &SessionRecord, remaining: Vec<StackName>) -> OrchResult<SessionRecord> {
        let requester = parent.requester.clone();
        let follow = match self
            .start(&Actor::from(&requester), &parent.project, &parent.env, Some(&remaining), &parent.operation, Some(parent.id))
            .await
        {
            Ok(record) => Some(record),
            Err(OrchestratorError::Busy { session, .. }) => {
                match self.queue_session(session, &requester).await? {
                    LockOutcome::Granted => Some(self.store.session(session).await?),
                    _ => {
                        if parent.operation == "rollback" {
                            self.copy_configs(parent.id, session).await?;
                        }
                        self.publish(parent.id, SessionEventKind::FollowUpOpened { follow_up: session });
                        return Ok(self.store.session(session).await?);
                    }
                }
            }
            Err(other) => return Err(other),
        };
        let follow = follow.expect("set above");
        if parent.operation == "rollback" {
            self.copy_configs(parent.id, follow.id).await?;
        }
        info!(session = %parent.id, follow_up = %follow.id, "follow-up session opened");
        self.publish(parent.id, SessionEventKind::FollowUpOpened { follow_up: follow.id });
        self.plan(follow.id, &requester).await
    }
}
