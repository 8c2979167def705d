//! A queued session's turn: the lock queue hands a session its stacks ([`SessionEventKind::LocksGranted`])
//! whichever process freed them — a chat cancel, an apply that ended, `cloud cancel` in a
//! terminal, the sweeper. When no process waits in that session (the chat Queue button, `cloud
//! queue`, a bot that restarted while it waited), nobody would plan it and the sweeper would
//! end it as abandoned. [`Orchestrator::plan_turn`] plans it instead, as its requester, so
//! "queued" keeps its promise: `cloud serve` calls it for every `LocksGranted` it reads from the
//! durable event log, and [`Orchestrator::plan_turns`] finds the ones it missed (at start-up).
//!
//! A process that waits in line itself (`cloud deploy --queue`) holds the session's lease and
//! plans it on its own: [`Orchestrator::plan_turn`] leaves a session alone while any process
//! drives it, so two processes never both plan one turn.

use tracing::{info, info_span, Instrument};

use super::{OrchResult, Orchestrator, OrchestratorError, SessionEventKind};
use crate::store::{SessionRecord, StoreError};
use cloud_domain::session::{SessionId, SessionState};

impl Orchestrator {
    /// Plan session `id` if it is a queued session whose turn came and nobody drives it: DRAFT,
    /// holding its stacks, out of the queue, and no process (this one included) holding its
    /// lease. Planned as its requester (gated when it opened and queued; the concurrency quota
    /// is checked again). `Ok(None)`: nothing to do (not its turn, planned or driven elsewhere).
    pub async fn plan_turn(&self, id: SessionId) -> OrchResult<Option<SessionRecord>> {
        if !self.turn_came(id).await? || self.leases.holds(id) {
            return Ok(None);
        }
        let lease = match self.drive(id).await {
            Ok(lease) => lease,
            // Another process drives it (it waits in line itself, or plans it already).
            Err(OrchestratorError::Store(StoreError::LeaseHeld { .. })) => return Ok(None),
            Err(e) => return Err(e),
        };
        let result = async {
            // Read again under the lease: someone may have planned or cancelled it meanwhile.
            if !self.turn_came(id).await? {
                return Ok(None);
            }
            let session = self.store.session(id).await?;
            self.check_concurrency(&session.project, Some(id)).await?;
            let requester = session.requester.clone();
            info!("its turn came and no process waits in it: planning as its requester");
            match self.plan_unchecked(session, &requester).await {
                Ok(planned) => Ok(Some(planned)),
                // Planned by someone else between the check and the plan.
                Err(OrchestratorError::Store(StoreError::StateChanged { .. })) => Ok(None),
                Err(e) => Err(e),
            }
        }
        .instrument(info_span!("queue_turn", session = %id))
        .await;
        lease.release().await;
        result
    }

    /// [`Orchestrator::plan_turn`] for every DRAFT session the lock queue handed its stacks to
    /// and that holds them now (turns that came while no `cloud serve` was running). The store
    /// answers from an index over those sessions alone, so the cost follows the turns waiting,
    /// not the history. Returns the sessions planned.
    pub async fn plan_turns(&self) -> OrchResult<Vec<SessionId>> {
        let mut planned = Vec::new();
        for id in self.store.queue_turns().await? {
            if self.plan_turn(id).await?.is_some() {
                planned.push(id);
            }
        }
        Ok(planned)
    }

    /// Tells every queued session whose place in the queue changed since it was last told (a
    /// session ahead of it got its stacks, or ended while it waited): a `Queued` event with the
    /// new position, so lobbies show where they are as the queue moves. The store compares with
    /// the position each session's last `Queued` event recorded, reading the queue only.
    pub(crate) async fn announce_queue_moves(&self) -> OrchResult<()> {
        for entry in self.store.queue_moves().await? {
            info!(session = %entry.session, position = entry.position, "moved up in the queue");
            self.publish(
                entry.session,
                SessionEventKind::Queued {
                    position: entry.position,
                },
            )
            .await;
        }
        Ok(())
    }

    /// DRAFT, holding its stacks and no longer in the queue.
    async fn turn_came(&self, id: SessionId) -> OrchResult<bool> {
        let session = self.store.session(id).await?;
        Ok(session.state == SessionState::Draft
            && self.store.queue_entry(id).await?.is_none()
            && !self.store.session_locks(id).await?.is_empty())
    }
}
