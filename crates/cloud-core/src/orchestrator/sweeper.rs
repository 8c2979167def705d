//! The background sweeper: takes over sessions whose driving process stopped (`recovery`),
//! expires plans older than their environment's TTL (PLAN_READY and
//! APPROVED sessions → EXPIRED, which releases their stack locks), cancels sessions refused for
//! busy stacks that nobody queued within that TTL (a chat refusal offers a Queue button; a DRAFT
//! left without it would count as active forever), hands freed stacks to the lock queue and
//! records expired grants in the audit log. The clock is injected so tests move time instead of
//! waiting for it.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{OrchResult, Orchestrator, OrchestratorError};
use crate::policy::Clock;
use crate::store::{SessionFilter, SessionUpdate, StoreError};
use cloud_domain::session::{SessionId, SessionState};

impl Orchestrator {
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

    /// Cancel DRAFT sessions nobody is going to plan: refused for busy stacks and not queued
    /// within their environment's plan TTL, or holding stack locks for longer than that TTL
    /// without planning (e.g. a `cloud deploy --queue` that got its turn after its terminal was
    /// closed). A session waiting in the queue is left alone: waiting is what it was asked to do.
    pub async fn cancel_abandoned_drafts(&self, now: chrono::DateTime<chrono::Utc>) -> OrchResult<Vec<SessionId>> {
        let drafts = self
            .store
            .sessions(&SessionFilter {
                state: Some(SessionState::Draft),
                ..Default::default()
            })
            .await?;
        let mut cancelled = Vec::new();
        for s in drafts {
            let ttl = self
                .env_policy(&s.env)
                .map(|p| p.plan_ttl)
                .unwrap_or(Duration::from_secs(3600));
            if self.store.queue_entry(s.id).await?.is_some() {
                continue;
            }
            let since = self.store.locks_acquired_at(s.id).await?.unwrap_or(s.created_at);
            let age = now.signed_duration_since(since).to_std().unwrap_or_default();
            if age < ttl {
                continue;
            }
            let held = !self.store.session_locks(s.id).await?.is_empty();
            let reason = if held {
                format!(
                    "never planned: it held its stacks for longer than the {} TTL of {} without planning",
                    humantime::format_duration(ttl),
                    s.env
                )
            } else {
                format!(
                    "never started: its stacks were busy and it was not queued within the {} TTL of {}",
                    humantime::format_duration(ttl),
                    s.env
                )
            };
            match self
                .move_session(
                    s.id,
                    SessionState::Draft,
                    SessionState::Cancelled,
                    "system:sweeper",
                    SessionUpdate {
                        plan: None,
                        reason: Some(reason),
                    },
                )
                .await
            {
                Ok(_) => cancelled.push(s.id),
                Err(OrchestratorError::Store(StoreError::StateChanged { .. })) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(cancelled)
    }

    /// Run the sweeper every `interval` until `stop` is cancelled. Each pass expires stale plans
    /// as of `clock()` and promotes the lock queue; a failing pass is logged and retried on the
    /// next tick (the store is the truth, nothing is lost by waiting).
    pub fn spawn_sweeper(
        self: &Arc<Self>,
        interval: Duration,
        clock: Clock,
        stop: CancellationToken,
    ) -> JoinHandle<()> {
        let orch = Arc::clone(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = ticks.tick() => {}
                }
                // Sessions whose driving process stopped (lease expired, or its owner provably
                // died on this host): ended and their stacks freed within lease TTL + one pass.
                match orch.recover().await {
                    Ok(taken) if !taken.is_empty() => {
                        info!(count = taken.len(), "sweeper took over sessions whose process stopped")
                    }
                    Ok(_) => {}
                    Err(e) => warn!(error = %e, "sweeper could not take over stopped sessions"),
                }
                match orch.expire_stale(clock()).await {
                    Ok(expired) if !expired.is_empty() => info!(count = expired.len(), "sweeper expired stale plans"),
                    Ok(_) => {}
                    Err(e) => warn!(error = %e, "sweeper pass failed; retrying on the next tick"),
                }
                match orch.cancel_abandoned_drafts(clock()).await {
                    Ok(cancelled) if !cancelled.is_empty() => {
                        info!(count = cancelled.len(), "sweeper cancelled abandoned drafts")
                    }
                    Ok(_) => {}
                    Err(e) => warn!(error = %e, "sweeper could not cancel abandoned drafts"),
                }
                if let Err(e) = orch.promote_queue().await {
                    warn!(error = %e, "sweeper could not promote the lock queue");
                }
                // Expired grants are recorded in the audit log (by the policy clock); access
                // checks never wait for this, they refuse an expired grant on their own.
                match orch.sweep_grant_expiries().await {
                    Ok(ids) if !ids.is_empty() => info!(count = ids.len(), "sweeper recorded grant expiries"),
                    Ok(_) => {}
                    Err(e) => warn!(error = %e, "sweeper could not record grant expiries"),
                }
                // The signed audit head, copied outside the database (see `Store::export_audit_head`).
                if let Err(e) = orch.store.export_audit_head().await {
                    warn!(error = %e, "sweeper could not export the audit head");
                }
                orch.sweeps.send_modify(|passes| *passes += 1);
            }
        })
    }
}
