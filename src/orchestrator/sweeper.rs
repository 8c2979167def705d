//! The background sweeper: expires plans older than their environment's TTL (PLAN_READY and
//! APPROVED sessions → EXPIRED, which releases their stack locks) and hands freed stacks to the
//! lock queue. The clock is injected so tests move time instead of waiting for it.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::Orchestrator;
use crate::policy::Clock;

/// How often the bot sweeps by default: TTLs are hours, a minute of slack is invisible.
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(60);

impl Orchestrator {
    /// Run the sweeper every `interval` until `stop` is cancelled. Each pass expires stale plans
    /// as of `clock()` and promotes the lock queue; a failing pass is logged and retried on the
    /// next tick (the store is the truth, nothing is lost by waiting).
    pub fn spawn_sweeper(self: &Arc<Self>, interval: Duration, clock: Clock, stop: CancellationToken) -> JoinHandle<()> {
        let orch = Arc::clone(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = ticks.tick() => {}
                }
                match orch.expire_stale(clock()).await {
                    Ok(expired) if !expired.is_empty() => info!(count = expired.len(), "sweeper expired stale plans"),
                    Ok(_) => {}
                    Err(e) => warn!(error = %e, "sweeper pass failed; retrying on the next tick"),
                }
                if let Err(e) = orch.promote_queue().await {
                    warn!(error = %e, "sweeper could not promote the lock queue");
                }
            }
        })
    }
}
