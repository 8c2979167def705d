//! The Queue button's promise: a queued session is planned when its turn comes, with no further
//! click, whichever process freed its stacks. The lock queue announces a turn with
//! `LocksGranted` in the durable session log (the process that freed the stacks promotes the
//! queue: a chat cancel, an apply that ended, `cloud cancel` in a terminal, the sweeper), so
//! `cloud serve` follows the log, not this process's memory, and asks the orchestrator to plan
//! each granted session nobody drives (`Orchestrator::plan_turn`). Turns that came while no
//! `cloud serve` ran are planned when it starts (`Orchestrator::plan_turns`).
//!
//! The plan runs on the core's tracked work (shutdown waits for it); replicas all follow the
//! log, and the session's lease lets exactly one of them plan a turn.

use std::sync::{Arc, Weak};

use tracing::{info, info_span, warn, Instrument};

use crate::service::Core;
use cloud_core::event_feed::EventFeed;
use cloud_core::orchestrator::SessionEventKind;
use cloud_domain::session::SessionId;

/// Follows the session log from now on and plans the queued sessions whose turn came, until
/// shutdown starts or the core is gone (a stopped bot plans nothing).
pub(crate) fn spawn_turn_planner(core: &Arc<Core>) {
    let weak = Arc::downgrade(core);
    let store = core.store().clone();
    let draining = core.draining();
    tokio::spawn(
        async move {
            // Opened before the start-up scan, so a turn that comes during it is not missed.
            let mut log = loop {
                match EventFeed::all_from_now(&store).await {
                    Ok(log) => break log,
                    Err(e) if store.is_closed() => return warn!(error = %e, "the store closed"),
                    Err(e) => {
                        warn!(error = %e, "cannot read the session event log; retrying");
                        tokio::select! {
                            _ = draining.cancelled() => return,
                            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                        }
                    }
                }
            };
            plan_missed_turns(&weak);
            loop {
                let events = tokio::select! {
                    _ = draining.cancelled() => return,
                    events = log.next() => events,
                };
                match events {
                    Ok(events) if events.is_empty() => return, // the store is closed
                    Ok(events) => {
                        for event in events {
                            if event.kind == SessionEventKind::LocksGranted && !plan_turn(&weak, event.session) {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        warn!(error = %e, "cannot read the session event log; retrying");
                        tokio::select! {
                            _ = draining.cancelled() => return,
                            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                        }
                    }
                }
            }
        }
        .instrument(info_span!("queue_turns")),
    );
}

/// Plans session `id` if its turn came and nobody drives it. False when the core is gone.
fn plan_turn(core: &Weak<Core>, id: SessionId) -> bool {
    let Some(core) = core.upgrade() else { return false };
    let orchestrator = core.orchestrator().clone();
    core.spawn_work(
        async move {
            match orchestrator.plan_turn(id).await {
                Ok(Some(planned)) => info!(state = %planned.state, "planned the queued session whose turn came"),
                Ok(None) => {}
                Err(e) => warn!(error = %e.to_user(), "could not plan the queued session whose turn came"),
            }
        }
        .instrument(info_span!("queue_turn", session = %id)),
    );
    true
}

/// Plans the turns that came while no `cloud serve` followed the log.
fn plan_missed_turns(core: &Weak<Core>) {
    let Some(core) = core.upgrade() else { return };
    let orchestrator = core.orchestrator().clone();
    core.spawn_work(async move {
        match orchestrator.plan_turns().await {
            Ok(planned) if !planned.is_empty() => {
                info!(
                    count = planned.len(),
                    "planned queued sessions whose turn came while no bot ran"
                )
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e.to_user(), "could not plan the queued sessions whose turn came"),
        }
    });
}
