//! The orchestrator drives sessions: start → plan → approve → apply → finish. It knows no chat
//! platform: adapters and the CLI call these methods with an [`Actor`](crate::policy::Actor) and subscribe to
//! [`SessionEvent`]s to render progress.
//!
//! [`Orchestrator`] is a facade: its public methods are the whole API front ends use, each
//! responsibility in its own module (internals are `pub(crate)` or `pub(super)`):
//!
//! | module | public methods |
//! |---|---|
//! | `mod.rs` | [`new`](Orchestrator::new), [`with_policy`](Orchestrator::with_policy), [`subscribe`](Orchestrator::subscribe), [`access`](Orchestrator::access), [`store`](Orchestrator::store) |
//! | `planning` | [`start_session`](Orchestrator::start_session), [`start_destroy`](Orchestrator::start_destroy), [`plan`](Orchestrator::plan), [`approve`](Orchestrator::approve), [`approve_override`](Orchestrator::approve_override) |
//! | `rollback` | [`start_rollback`](Orchestrator::start_rollback) |
//! | `applying` | [`apply`](Orchestrator::apply), [`cancel`](Orchestrator::cancel), [`cancel_as_system`](Orchestrator::cancel_as_system) |
//! | `locks` | [`queue_session`](Orchestrator::queue_session), [`wait_for_locks`](Orchestrator::wait_for_locks) |
//! | `queries` | [`status`](Orchestrator::status), [`view`](Orchestrator::view), [`list`](Orchestrator::list), [`list_for`](Orchestrator::list_for) |
//! | `recovery` | [`recover`](Orchestrator::recover) |
//! | `race` | [`lost_race`](Orchestrator::lost_race), [`drive_to_approve`](Orchestrator::drive_to_approve) (what a race loser is told: [`LostRace`]) |
//! | `turns` | [`plan_turn`](Orchestrator::plan_turn), [`plan_turns`](Orchestrator::plan_turns) |
//! | `sweeper` | [`spawn_sweeper`](Orchestrator::spawn_sweeper), [`expire_stale`](Orchestrator::expire_stale), [`cancel_abandoned_drafts`](Orchestrator::cancel_abandoned_drafts) |
//! | `admin` | [`grant`](Orchestrator::grant), [`revoke`](Orchestrator::revoke), [`grants`](Orchestrator::grants), [`sweep_grant_expiries`](Orchestrator::sweep_grant_expiries), [`quota_set`](Orchestrator::quota_set), [`quota_show`](Orchestrator::quota_show), [`create_project`](Orchestrator::create_project), [`admin_list`](Orchestrator::admin_list), [`admin_cancel`](Orchestrator::admin_cancel), [`audit_log`](Orchestrator::audit_log), [`audit_verify`](Orchestrator::audit_verify), [`stats`](Orchestrator::stats), [`now`](Orchestrator::now) |
//!
//! and, beside them, `schedule` (the one scheduler of plan, apply and destroy), `gate` (roles
//! and quotas, checked first by every intent), `followup` (re-preview of provisional stacks),
//! `resolve` (the seam to the stack catalog) and `events` (what subscribers are told).
//!
//! Concurrency model: every state change is a compare-and-set in the store, so two processes (or
//! two clicks) racing on one session cannot both win. Engine work for one session runs in the
//! caller's task; stacks run concurrently over the dependency graph (a stack starts when its
//! dependencies are done, see `schedule`), bounded by `max_parallel`. Stack locks (`locks`) keep
//! two unfinished sessions off one stack; `recovery` reconciles sessions a dead process left
//! running.

mod admin;
mod applying;
mod events;
mod followup;
mod gate;
mod identity;
mod leases;
mod locks;
mod planning;
mod queries;
mod race;
mod recovery;
mod resolve;
mod retention;
mod rollback;
mod schedule;
mod sweeper;
mod turns;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use dashmap::DashMap;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use admin::{GrantExpiry, GrantParams, GrantsFilter, LockView, ProjectParams};
pub use events::{LoggedEvent, SessionEvent, SessionEventKind, OUTPUT_BATCH_ITEMS, OUTPUT_FLUSH_EVERY};
pub use gate::PolicySettings;
pub use identity::{IssuedToken, TokenParams, DEFAULT_TOKEN_TTL, MAX_TOKEN_TTL};
pub use leases::{LeaseGuard, DEFAULT_LEASE_TTL};
pub use locks::StackLockProof;
pub use queries::SessionView;
pub use race::{Attempt, LostRace};
pub use recovery::RecoveryReport;
pub use resolve::{AppliedOutputs, DeploymentResolver, DeploymentTarget, ResolvedDeployment, ResolvedStack};
pub use retention::PruneReport;

use crate::config::EnvironmentPolicy;
use crate::engine::{ChangeCounts, Engine};
use crate::policy::{Access, Pricing};
use crate::store::{LockHolder, SessionRecord, SessionUpdate, Store, StoreError, Transition};
use cloud_domain::error::UserError;
use cloud_domain::session::{SessionId, SessionState, StackName, StackState};
use resolve::dependency_graph;
use schedule::{Direction, StackScheduler};

/// Errors of orchestrator operations.
#[derive(Debug, thiserror::Error)]
pub enum OrchestratorError {
    /// Shown to the person verbatim.
    #[error(transparent)]
    User(#[from] UserError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Someone else approved, cancelled or finished the session first (see `race`).
    #[error("{0}")]
    LostRace(Box<LostRace>),
    /// Other sessions hold (or queued earlier for) stacks this session needs. The session stays
    /// DRAFT without locks, so it can still be queued (`queue_session`) or cancelled.
    #[error("{}", locks::busy_message(*session, holders))]
    Busy {
        session: SessionId,
        holders: Vec<LockHolder>,
    },
    /// Refused before anything was stored: other sessions hold (or queued earlier for) the stacks
    /// a new session would need ([`Orchestrator::start_if_free`]).
    #[error("{}", locks::refused_message(holders))]
    Refused { holders: Vec<LockHolder> },
    /// The session is queued and its turn has not come yet.
    #[error("{}", locks::waiting_message(*session, *position, holders))]
    Waiting {
        session: SessionId,
        position: u32,
        holders: Vec<LockHolder>,
    },
}

impl OrchestratorError {
    /// The text and exit code a person should see.
    pub fn to_user(&self) -> UserError {
        let code = cloud_domain::error_code::Coded::error_code(self);
        let user = match self {
            OrchestratorError::User(user) => user.clone(),
            OrchestratorError::LostRace(race) => race.to_user(),
            OrchestratorError::Store(
                e @ (StoreError::StateChanged { .. }
                | StoreError::Transition(_)
                | StoreError::Conflict(_)
                | StoreError::SessionNotFound(_)
                | StoreError::AmbiguousSession(_)
                | StoreError::LeaseHeld { .. }),
            ) => UserError::invalid(e.to_string()),
            OrchestratorError::Store(e @ StoreError::Fenced { .. }) => UserError::failed(e.to_string()),
            OrchestratorError::Store(other) => UserError::failed(format!("internal error: {other}")),
            busy @ (OrchestratorError::Busy { .. }
            | OrchestratorError::Waiting { .. }
            | OrchestratorError::Refused { .. }) => UserError::failed(busy.to_string()),
        };
        match user.error_code {
            Some(_) => user,
            None if code == cloud_domain::error_code::ErrorCode::generic(user.code) => user,
            None => user.with_code(code),
        }
    }
}

pub(crate) type OrchResult<T> = Result<T, OrchestratorError>;

/// Settings the orchestrator needs from configuration.
#[derive(Debug, Clone)]
pub struct OrchestratorSettings {
    pub environments: BTreeMap<String, EnvironmentPolicy>,
    /// How many stacks run at once (plan and apply).
    pub max_parallel: usize,
    /// How long a driving process may go without renewing a session's lease before another
    /// process takes the session over (`leases.ttl`, default [`DEFAULT_LEASE_TTL`]).
    pub lease_ttl: std::time::Duration,
}

/// The actor the audit log and the session history name when `cloud serve` cancels an apply
/// because it is shutting down.
pub const SHUTDOWN_ACTOR: &str = "system:shutdown";

/// The transport-free core.
pub struct Orchestrator {
    store: Store,
    engine: Arc<dyn Engine>,
    resolver: Arc<dyn DeploymentResolver>,
    settings: OrchestratorSettings,
    /// Fan-out of session events to every subscriber (CLI renderer, chat adapters). Lagging
    /// subscribers lose old events rather than slowing the engine down; the store keeps the
    /// truth and the full log.
    events: broadcast::Sender<SessionEvent>,
    /// Cancel handles of the applies this process is running, so `cancel` can stop them
    /// gracefully. Only the process running an apply holds its token.
    running: DashMap<SessionId, CancellationToken>,
    /// Who cancelled a running apply of this process, and why (actor, reason): the CANCELLED
    /// state change names them, not whoever started the apply.
    cancellers: Arc<DashMap<SessionId, (String, String)>>,
    /// Who may do what; checked at the start of every intent, at the moment it happens.
    access: Access,
    /// The price list for cost estimates and the cost quota.
    pricing: Arc<Pricing>,
    /// How many passes the background sweeper has finished. Its work (expiries, cancelled
    /// drafts, audited grant expiries) shows only in the store, so this is how an observer
    /// knows that a pass which began after some change has run, without polling the store.
    sweeps: watch::Sender<u64>,
    /// The session leases this process holds (see `leases`): the fence its writes carry, and
    /// their renewal while it works.
    leases: Arc<leases::LeaseBook>,
}

impl Orchestrator {
    /// An orchestrator with the local policy (`PolicySettings::local`): for a single-user
    /// checkout and for tests.
    pub fn new(
        store: Store,
        engine: Arc<dyn Engine>,
        resolver: Arc<dyn DeploymentResolver>,
        settings: OrchestratorSettings,
    ) -> Arc<Orchestrator> {
        Orchestrator::with_policy(store, engine, resolver, settings, PolicySettings::local())
    }

    /// An orchestrator with an explicit access policy and price list (what the CLI and the bots
    /// build from configuration).
    pub fn with_policy(
        store: Store,
        engine: Arc<dyn Engine>,
        resolver: Arc<dyn DeploymentResolver>,
        settings: OrchestratorSettings,
        policy: PolicySettings,
    ) -> Arc<Orchestrator> {
        let (events, _) = broadcast::channel(4096);
        let access = Access::new(
            store.clone(),
            policy.admins,
            policy.role_mappings,
            policy.local_cli_admin,
            policy.clock,
        );
        let leases = leases::LeaseBook::new(store.clone(), settings.lease_ttl);
        Arc::new(Orchestrator {
            leases,
            store,
            engine,
            resolver,
            settings,
            events,
            running: DashMap::new(),
            cancellers: Arc::new(DashMap::new()),
            access,
            pricing: policy.pricing,
            sweeps: watch::Sender::new(0),
        })
    }

    /// The access policy (role checks for adapters that show or hide buttons).
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// The store, for reads the orchestrator has no query for (logs, chat lobbies).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Subscribe to every session's events.
    pub fn subscribe(&self) -> broadcast::Receiver<SessionEvent> {
        self.events.subscribe()
    }

    /// The number of finished sweeper passes, updated as each pass ends (see
    /// [`Orchestrator::spawn_sweeper`]).
    pub fn sweeper_passes(&self) -> watch::Receiver<u64> {
        self.sweeps.subscribe()
    }

    /// Tell every process: append the event to the session event log unless the store already
    /// wrote it with its change, then tell this process's subscribers. A log append that fails
    /// is logged, not returned: the change it describes is already committed. A `Queued` event
    /// also records its position as the one last told, in the append's transaction (what
    /// [`Orchestrator::announce_queue_moves`] compares with instead of reading the log).
    pub(super) async fn publish(&self, session: SessionId, kind: SessionEventKind) {
        if !kind.is_logged_by_store() {
            if let Some(event) = kind.to_new_event() {
                let appended = match &kind {
                    SessionEventKind::Queued { position } => {
                        self.store.tell_queue_position(session, *position, &event).await
                    }
                    _ => self.store.append_events(session, &[event]).await,
                };
                if let Err(e) = appended {
                    warn!(session = %session, error = %e, "cannot append to the session event log");
                }
            }
        }
        // No subscriber is fine: the store has the truth.
        let _ = self.events.send(SessionEvent { session, kind });
    }

    pub(super) fn env_policy(&self, env: &str) -> OrchResult<&EnvironmentPolicy> {
        self.settings.environments.get(env).ok_or_else(|| {
            let known: Vec<&str> = self.settings.environments.keys().map(String::as_str).collect();
            UserError::invalid(format!(
                "unknown environment `{env}`; known environments: {}",
                known.join(", ")
            ))
            .into()
        })
    }

    pub(super) async fn move_session(
        &self,
        id: SessionId,
        from: SessionState,
        to: SessionState,
        actor: &str,
        update: SessionUpdate,
    ) -> OrchResult<SessionRecord> {
        // Under this process's lease when it holds one: a stale driver cannot move the session.
        let fence = self.leases.fence(id);
        let record = self
            .store
            .transition_fenced(
                Transition {
                    id,
                    from,
                    to,
                    actor: actor.to_string(),
                    details: serde_json::json!({}),
                    update,
                },
                fence.as_ref(),
            )
            .await?;
        info!(session = %id, %from, %to, actor, "session moved");
        self.publish(id, SessionEventKind::StateChanged { from, to }).await;
        if to.is_terminal() {
            // Its locks were released with the move: the queue may go on. A failure here only
            // delays the queue (every waiter retries), it does not undo the move.
            match self.promote_queue().await {
                Err(e) => warn!(session = %id, error = %e, "cannot promote the lock queue"),
                // A draft that ended may have waited in the queue: those behind it moved up
                // (a promotion announces the moves itself).
                Ok(granted) if granted.is_empty() && from == SessionState::Draft => {
                    if let Err(e) = self.announce_queue_moves().await {
                        warn!(session = %id, error = %e, "cannot announce the queue's moves");
                    }
                }
                Ok(_) => {}
            }
        }
        Ok(record)
    }

    pub(super) async fn set_stack(
        &self,
        id: SessionId,
        stack: &StackName,
        state: StackState,
        counts: Option<&ChangeCounts>,
        error: Option<&str>,
    ) -> OrchResult<()> {
        let fence = self.leases.fence(id);
        self.store
            .set_stack_state_fenced(id, stack, state, counts, error, fence.as_ref())
            .await?;
        self.publish(
            id,
            SessionEventKind::StackStateChanged {
                stack: stack.clone(),
                state,
                error: error.map(str::to_string),
            },
        )
        .await;
        Ok(())
    }

    /// The scheduler for one run over `session`'s stacks (see `schedule`): walked the way its
    /// operation goes, `max_parallel` stacks at once.
    pub(super) fn stack_scheduler<F, Fut>(
        &self,
        session: &SessionRecord,
        resolved: &ResolvedDeployment,
        start: F,
    ) -> StackScheduler<F, Fut>
    where
        F: FnMut(StackName) -> Fut,
        Fut: Future,
    {
        let direction = if session.operation.walks_backwards() {
            Direction::Backward
        } else {
            Direction::Forward
        };
        StackScheduler::new(
            &resolve::session_deps(session, resolved),
            direction,
            self.settings.max_parallel,
            start,
        )
    }
}
