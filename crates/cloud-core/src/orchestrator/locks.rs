//! Stack locks as the orchestrator sees them: a session takes the locks of all its stacks when it
//! opens (or queues for them), and engine work — previews, updates, destroys — requires a
//! [`StackLockProof`], a value only this module can make, after checking the store. So "runs the
//! engine without holding the stacks" does not compile, instead of being a review comment.
//!
//! Locks are rows (`stack_locks`, `lock_queue`), not in-process mutexes: the CLI and the chat bot
//! are different processes sharing one database. They are released in the same transaction as
//! the session's terminal transition; right after, [`Orchestrator::promote_queue`] hands them to
//! the next queued sessions and announces it with [`SessionEventKind::LocksGranted`].

use std::time::Duration;

use tracing::info;

use super::{OrchResult, Orchestrator, OrchestratorError, SessionEventKind};
use crate::store::{LockHolder, LockOutcome, NewAudit};
use cloud_domain::error::UserError;
use cloud_domain::session::{Principal, SessionId};

/// Proof that session `session` holds the locks of every one of its stacks. Only
/// `Orchestrator::lock_proof` creates one (the field is private), and only after the store said
/// so; engine work for a session takes it by reference.
#[derive(Debug)]
pub struct StackLockProof {
    session: SessionId,
}

impl StackLockProof {
    /// The session whose stacks are held.
    pub fn session(&self) -> SessionId {
        self.session
    }
}

/// How often a waiting process looks at the queue again when no event woke it: locks are
/// released by other processes too (the CLI, the bot), whose events this process never sees.
const QUEUE_POLL: Duration = Duration::from_millis(250);

/// The text people see when stacks are busy: who holds what, and how to wait instead.
pub(crate) fn busy_message(session: SessionId, holders: &[LockHolder]) -> String {
    let list: Vec<String> = holders.iter().map(|h| format!("  {h}")).collect();
    format!(
        "session {short} cannot run: its stacks are busy\n{}\nQueue for the stacks to run as soon as they are released: `cloud queue {short}` (or deploy with --queue; the Queue button in chat).",
        list.join("\n"),
        short = session.short()
    )
}

/// The text of a refusal that stored nothing: who holds what, and how to wait in line instead.
pub(crate) fn refused_message(holders: &[LockHolder]) -> String {
    let list: Vec<String> = holders.iter().map(|h| format!("  {h}")).collect();
    format!(
        "the stacks are busy:\n{}\nNo session was opened. Run the same command with --queue to wait in line and run as soon as they are released.",
        list.join("\n")
    )
}

pub(crate) fn waiting_message(session: SessionId, position: u32, holders: &[LockHolder]) -> String {
    let list: Vec<String> = holders.iter().map(|h| format!("  {h}")).collect();
    format!(
        "session {} waits for its stacks: position {position} in the queue\n{}\nIt can be planned as soon as they are free (`cloud status {}` shows the position).",
        session.short(),
        list.join("\n"),
        session.short()
    )
}

impl Orchestrator {
    /// A proof that session `id` holds all its stack locks, taking them when they are free and
    /// nobody queued ahead of it. Refused with the holders (or the queue position) otherwise.
    pub(crate) async fn lock_proof(&self, id: SessionId) -> OrchResult<StackLockProof> {
        let taken = self.store.take_locks(id, false).await?;
        if taken.left_queue && matches!(taken.outcome, LockOutcome::Granted) {
            // Its turn came and it took the stacks before the queue was promoted: tell
            // subscribers as a promotion would (the chat lobbies plan on this event).
            info!(session = %id, "queued session got its stacks");
            self.publish(id, SessionEventKind::LocksGranted).await;
        }
        granted(id, taken.outcome)?;
        Ok(StackLockProof { session: id })
    }

    /// Queue session `id` for its stacks (the CLI's `--queue` / `cloud queue`, the chat Queue
    /// button). When the stacks are free it gets them at once (`Granted`); otherwise it waits in
    /// FIFO order and is told with [`SessionEventKind::LocksGranted`] when its turn comes.
    pub async fn queue_session(
        &self,
        id: SessionId,
        actor: impl Into<crate::policy::Actor>,
    ) -> OrchResult<LockOutcome> {
        let actor = actor.into();
        let session = self.store.session(id).await?;
        self.gate(&actor, &session.project, &session.env, crate::policy::Intent::Deploy)
            .await?;
        self.queue_unchecked(id, &actor.principal).await
    }

    /// [`Orchestrator::queue_session`] without the role gate (follow-ups the core opens itself).
    pub(crate) async fn queue_unchecked(&self, id: SessionId, principal: &Principal) -> OrchResult<LockOutcome> {
        let session = self.store.session(id).await?;
        let outcome = self.store.acquire_locks(id, true).await?;
        self.store
            .audit(NewAudit {
                actor: principal.to_string(),
                action: "session.queue".into(),
                session_id: Some(id),
                project: Some(session.project.clone()),
                details: serde_json::to_value(&outcome).unwrap_or_default(),
            })
            .await?;
        match &outcome {
            LockOutcome::Granted => {
                info!(session = %id, "stacks free: locks granted");
                self.publish(id, SessionEventKind::LocksGranted).await;
            }
            LockOutcome::Queued { position, .. } => {
                info!(session = %id, position, "queued for stacks");
                self.publish(id, SessionEventKind::Queued { position: *position }).await;
            }
            LockOutcome::Busy { .. } => {}
        }
        Ok(outcome)
    }

    /// Wait until queued session `id` holds its stacks. Gives up with the session's state when
    /// it ends meanwhile (cancelled, expired).
    pub async fn wait_for_locks(&self, id: SessionId) -> OrchResult<StackLockProof> {
        let mut events = self.subscribe();
        loop {
            self.promote_queue().await?;
            match self.lock_proof(id).await {
                Ok(proof) => return Ok(proof),
                Err(OrchestratorError::Waiting { .. }) => {}
                Err(other) => return Err(other),
            }
            let session = self.store.session(id).await?;
            if session.state.is_terminal() {
                return Err(UserError::invalid(format!(
                    "session {} ended {} while it waited for its stacks",
                    id.short(),
                    session.state
                ))
                .into());
            }
            // Woken by a local event, or by the poll for releases in other processes.
            let _ = tokio::time::timeout(QUEUE_POLL, async {
                loop {
                    match events.recv().await {
                        Ok(e)
                            if matches!(
                                e.kind,
                                SessionEventKind::LocksGranted | SessionEventKind::StateChanged { .. }
                            ) =>
                        {
                            break
                        }
                        Ok(_) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
                    }
                }
            })
            .await;
        }
    }

    /// Hand freed stacks to the queue and tell the sessions that got them.
    pub(crate) async fn promote_queue(&self) -> OrchResult<Vec<SessionId>> {
        let granted = self.store.promote_queue().await?;
        for id in &granted {
            info!(session = %id, "queued session got its stacks");
            self.publish(*id, SessionEventKind::LocksGranted).await;
        }
        if !granted.is_empty() {
            // Those still waiting behind them moved up.
            self.announce_queue_moves().await?;
        }
        Ok(granted)
    }
}

/// Session `id`'s lock outcome as a result: `Ok` when it got its stacks, otherwise who holds
/// them (and its place in the queue if it waits).
pub(super) fn granted(id: SessionId, outcome: LockOutcome) -> OrchResult<()> {
    match outcome {
        LockOutcome::Granted => Ok(()),
        LockOutcome::Busy { holders } => Err(OrchestratorError::Busy { session: id, holders }),
        LockOutcome::Queued { position, holders } => Err(OrchestratorError::Waiting {
            session: id,
            position,
            holders,
        }),
    }
}
