//! Recovery: taking over sessions whose driving process stopped, whatever state it stopped in.
//!
//! A process drives a session under a lease (`leases`). [`Orchestrator::recover`] (at start-up
//! and on every sweeper pass) claims the leases that expired — their owner stopped renewing them
//! — and the leases of owners on this host that provably died (same pid, other start time; no
//! need to wait for the expiry then). A claim gives this process a bigger fencing token, so the
//! old owner, should it wake up, can write nothing more. Per claimed session, as the system:
//!
//! - DRAFT, PLAN_READY, APPROVED: CANCELLED (nobody is going to plan or apply it), which
//!   releases its stack locks at once instead of after the plan TTL;
//! - PLAN_FAILED: its stack locks are released (audited), so the stacks are free again;
//! - PLANNING, APPLYING: as below.
//!
//! Sessions left PLANNING or APPLYING by a version without leases are recognised by the owner
//! recorded on the row ([`ProcessOwner`]: pid plus the kernel's start time of that pid). Per
//! running session:
//!
//! 1. asks the engine to release what the dead run held (`pulumi cancel`: on the local backend it
//!    deletes the stale lock files) for every stack that was applying,
//! 2. reads each touched stack's state (`pulumi stack export`) and records the truth on the
//!    stack row — resources in state, operations that never finished,
//! 3. ends the session FAILED (from APPLYING) or PLAN_FAILED (from PLANNING) with the reason and
//!    releases its stack locks (FAILED is terminal and releases them with the move; PLAN_FAILED
//!    is not, so they are released right after, audited) — the queue moves on,
//! 4. publishes [`SessionEventKind::Recovered`] so a chat thread that followed the session is told.
//!
//! A process never recovers a session whose owner is alive — its own included.

use tracing::{info, warn};

use super::{OrchResult, Orchestrator, OrchestratorError, SessionEventKind};
use crate::store::{
    is_alive, lease_owner_is_gone, ClaimedLease, SessionFilter, SessionRecord, SessionUpdate, StoreError,
};
use cloud_domain::session::{SessionState, StackName, StackState};

/// What recovery did to one session.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RecoveryReport {
    pub session: SessionRecord,
    pub from: SessionState,
    /// `(stack, what was found)` for the stacks the dead run was working on.
    pub stacks: Vec<(StackName, String)>,
}

impl Orchestrator {
    /// Reconcile the sessions dead processes left in PLANNING or APPLYING (see the module
    /// documentation). Call once at start-up; safe to call again and from several processes
    /// (the state compare-and-set lets exactly one finish each session).
    pub async fn recover(&self) -> OrchResult<Vec<RecoveryReport>> {
        let mut reports = self.take_over_stopped().await?;
        self.release_leftover_locks().await?;
        for state in [SessionState::Planning, SessionState::Applying] {
            let sessions = self
                .store
                .sessions(&SessionFilter {
                    state: Some(state),
                    ..Default::default()
                })
                .await?;
            for session in sessions {
                if self.running.contains_key(&session.id) {
                    continue;
                }
                if session.owner.as_ref().is_some_and(is_alive) {
                    continue;
                }
                // Driven under a lease: its lease says whether the driver is gone, not the pid.
                if self.store.lease(session.id).await?.is_some() {
                    continue;
                }
                let owner = session
                    .owner
                    .as_ref()
                    .map(|o| format!("pid {}", o.pid))
                    .unwrap_or_else(|| "an unknown process".into());
                match self.recover_one(session, &owner).await {
                    Ok(report) => reports.push(report),
                    // Another process recovered it first.
                    Err(OrchestratorError::Store(StoreError::StateChanged { .. })) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(reports)
    }

    /// Claim the leases whose owners stopped (expired, or provably dead on this host) and end
    /// their sessions (see the module documentation).
    pub async fn take_over_stopped(&self) -> OrchResult<Vec<RecoveryReport>> {
        let (owner, ttl) = (self.leases.owner().to_string(), self.leases.ttl());
        let mut claimed = self.store.claim_expired_leases(&owner, ttl).await?;
        for lease in self.store.leases().await? {
            if self.leases.holds(lease.session) || !lease_owner_is_gone(&lease.owner) {
                continue;
            }
            if let Some(new) = self.store.claim_lease(&lease, &owner, ttl).await? {
                claimed.push(ClaimedLease {
                    lease: new,
                    previous_owner: lease.owner,
                    previous_expiry: lease.expires_at,
                });
            }
        }
        let mut reports = Vec::new();
        for claim in claimed {
            let guard = self.adopt_lease(&claim.lease);
            let result = self.take_over(&claim).await;
            guard.release().await;
            match result {
                Ok(Some(report)) => reports.push(report),
                Ok(None) => {}
                // Someone (an admin's cancel) moved it meanwhile: nothing left to take over.
                Err(OrchestratorError::Store(StoreError::StateChanged { .. })) => {}
                Err(e) => {
                    warn!(session = %claim.lease.session, error = %e, "cannot take the session over; its lease is given back and the next pass retries")
                }
            }
        }
        Ok(reports)
    }

    /// Release stack locks still held by finished sessions. A terminal move releases them in its
    /// own transaction, so none should exist; this keeps "locks always come back" true even for
    /// rows written by hand or by an older version.
    pub(crate) async fn release_leftover_locks(&self) -> OrchResult<()> {
        let mut released = false;
        let mut seen = std::collections::BTreeSet::new();
        for lock in self.store.held_locks().await? {
            if lock.state.is_terminal() && seen.insert(lock.session) {
                let keys = self
                    .store
                    .release_session_locks(
                        lock.session,
                        "system:sweeper",
                        &format!("left over by a session that is already {}", lock.state),
                    )
                    .await?;
                warn!(session = %lock.session, locks = keys.len(), state = %lock.state, "released stack locks a finished session still held");
                released = true;
            }
        }
        if released {
            self.promote_queue().await?;
        }
        Ok(())
    }

    async fn take_over(&self, claim: &ClaimedLease) -> OrchResult<Option<RecoveryReport>> {
        let id = claim.lease.session;
        let session = self.store.session(id).await?;
        let owner = describe_owner(&claim.previous_owner);
        let from = session.state;
        warn!(session = %id, state = %from, owner = %owner, "taking over a session whose driving process stopped");
        let waiting = |what: &str| {
            format!(
                "the process driving this session ({owner}) stopped while it was {from}, {what}; taken over by the system, its stacks are free again"
            )
        };
        let (to, reason) = match from {
            SessionState::Planning | SessionState::Applying => {
                return self.recover_one(session, &owner).await.map(Some)
            }
            SessionState::Draft => (SessionState::Cancelled, waiting("before planning it")),
            SessionState::PlanReady | SessionState::Approved => {
                (SessionState::Cancelled, waiting("before applying it"))
            }
            SessionState::PlanFailed => {
                let released = self
                    .store
                    .release_session_locks(id, "system:recovery", &waiting("after its plan failed"))
                    .await?;
                if !released.is_empty() {
                    info!(session = %id, locks = released.len(), "released the stack locks of a PLAN_FAILED session nobody drives");
                    self.promote_queue().await?;
                }
                return Ok(None);
            }
            SessionState::Applied | SessionState::Failed | SessionState::Cancelled | SessionState::Expired => {
                return Ok(None)
            }
        };
        let record = self
            .move_session(
                id,
                from,
                to,
                "system:recovery",
                SessionUpdate {
                    plan: None,
                    reason: Some(reason),
                },
            )
            .await?;
        self.publish(
            id,
            SessionEventKind::Recovered {
                from,
                to,
                stacks: Vec::new(),
            },
        )
        .await;
        Ok(Some(RecoveryReport {
            session: record,
            from,
            stacks: Vec::new(),
        }))
    }

    async fn recover_one(&self, session: SessionRecord, owner: &str) -> OrchResult<RecoveryReport> {
        let id = session.id;
        let from = session.state;
        warn!(session = %id, state = %from, owner = %owner, "recovering a session left behind by a dead process");
        // The stacks' targets; when the manifest no longer resolves, the rows still get an honest
        // "unknown" instead of the session staying stuck.
        let resolved = self.resolve_session(&session).await;
        let mut found = Vec::new();
        for row in self.store.session_stacks(id).await? {
            let in_flight = matches!(row.state, StackState::Applying | StackState::Previewing);
            let truth = if !in_flight {
                if matches!(row.state, StackState::Pending | StackState::Previewed) && from == SessionState::Applying {
                    self.set_stack(
                        id,
                        &row.stack,
                        StackState::Skipped,
                        None,
                        Some("not reached: the process running the session died"),
                    )
                    .await?;
                }
                continue;
            } else {
                let target = resolved
                    .as_ref()
                    .ok()
                    .and_then(|r| r.stacks.iter().find(|s| s.name == row.stack))
                    .map(|s| s.target.clone());
                match target {
                    None => "state unknown: the deployment no longer resolves this stack".to_string(),
                    Some(target) => {
                        let mut notes = Vec::new();
                        if row.state == StackState::Applying {
                            if let Err(e) = self.engine.unlock(&target).await {
                                notes.push(format!("could not release the engine lock: {e}"));
                            }
                        }
                        match self.engine.export(&target).await {
                            Ok(export) => notes.insert(0, export.describe()),
                            Err(e) => notes.insert(0, format!("state unknown: {e}")),
                        }
                        notes.join("; ")
                    }
                }
            };
            let what = if row.state == StackState::Applying {
                "update"
            } else {
                "preview"
            };
            let text = format!("interrupted: the process running the {what} died; {truth}");
            self.set_stack(id, &row.stack, StackState::Failed, None, Some(&text))
                .await?;
            found.push((row.stack.clone(), text));
        }
        let to = if from == SessionState::Applying {
            SessionState::Failed
        } else {
            SessionState::PlanFailed
        };
        let reason = format!(
            "the process running this session ({owner}) died while it was {from}; recovered by the system{}",
            if found.is_empty() {
                String::new()
            } else {
                format!(
                    ": {}",
                    found
                        .iter()
                        .map(|(s, t)| format!("{s}: {t}"))
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            }
        );
        let record = self
            .move_session(
                id,
                from,
                to,
                "system:recovery",
                SessionUpdate {
                    plan: None,
                    reason: Some(reason),
                },
            )
            .await?;
        if to == SessionState::PlanFailed {
            // PLAN_FAILED is not final, but nobody drives this one any more: free its stacks
            // (a retry takes them again).
            self.store
                .release_session_locks(
                    id,
                    "system:recovery",
                    "its plan was interrupted: the process running it died",
                )
                .await?;
            self.promote_queue().await?;
        }
        info!(session = %id, %from, %to, "session recovered");
        self.publish(
            id,
            SessionEventKind::Recovered {
                from,
                to,
                stacks: found.clone(),
            },
        )
        .await;
        Ok(RecoveryReport {
            session: record,
            from,
            stacks: found,
        })
    }
}

/// A lease owner (`<host>/<pid>/<start>/<run>`) for people: `pid 4242 on build-3`.
fn describe_owner(owner: &str) -> String {
    let mut parts = owner.split('/');
    match (parts.next(), parts.next()) {
        (Some(host), Some(pid)) if !host.is_empty() => format!("pid {pid} on {host}"),
        (Some(_), Some(pid)) => format!("pid {pid}"),
        _ => owner.to_string(),
    }
}
