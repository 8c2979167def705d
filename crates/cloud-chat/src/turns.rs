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

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, info_span, warn, Instrument};

use cloud_core::event_feed::EventFeed;
use cloud_core::orchestrator::{Orchestrator, SessionEventKind};
use cloud_core::store::Store;
use cloud_domain::session::SessionId;

/// What the turn planner needs of the service: the store whose log it follows, the orchestrator
/// that plans, the tracked work shutdown waits for, and a token cancelled when it must stop
/// (shutdown started, or the core was dropped: a stopped bot plans nothing).
pub(crate) struct TurnPlanner {
    pub store: Store,
    pub orchestrator: Arc<Orchestrator>,
    pub work: TaskTracker,
    pub stop: CancellationToken,
}

/// Follows the session log from now on and plans the queued sessions whose turn came, until
/// `planner.stop` is cancelled.
pub(crate) fn spawn_turn_planner(planner: TurnPlanner) {
    let TurnPlanner {
        store,
        orchestrator,
        work,
        stop,
    } = planner;
    let planner = Planner {
        orchestrator,
        work,
        stop: stop.clone(),
    };
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
                            _ = stop.cancelled() => return,
                            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                        }
                    }
                }
            };
            planner.plan_missed_turns();
            loop {
                let events = tokio::select! {
                    _ = stop.cancelled() => return,
                    events = log.next() => events,
                };
                match events {
                    Ok(events) if events.is_empty() => return, // the store is closed
                    Ok(events) => {
                        for event in events {
                            if event.kind == SessionEventKind::LocksGranted && !planner.plan_turn(event.session) {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        warn!(error = %e, "cannot read the session event log; retrying");
                        tokio::select! {
                            _ = stop.cancelled() => return,
                            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                        }
                    }
                }
            }
        }
        .instrument(info_span!("queue_turns")),
    );
}

/// Plans on the service's tracked work while the service runs.
struct Planner {
    orchestrator: Arc<Orchestrator>,
    work: TaskTracker,
    stop: CancellationToken,
}

impl Planner {
    /// Plans session `id` if its turn came and nobody drives it. False when the planner must
    /// stop.
    fn plan_turn(&self, id: SessionId) -> bool {
        if self.stop.is_cancelled() {
            return false;
        }
        let orchestrator = self.orchestrator.clone();
        self.work.spawn(
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
    fn plan_missed_turns(&self) {
        if self.stop.is_cancelled() {
            return;
        }
        let orchestrator = self.orchestrator.clone();
        self.work.spawn(async move {
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
}
