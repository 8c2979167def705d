//! The service the chat transports run in (`cloud serve`): one transport-neutral core shared by
//! the chat adapters (Discord, Slack), and graceful shutdown.
//!
//! - [`Core`]: configuration, store, orchestrator and access policy, the set of plans and applies
//!   the adapters started, and the "draining" flag that stops new sessions on SIGTERM.
//! - [`Transport`]: what a chat adapter implements to run inside `cloud serve`;
//!   `cloud serve --discord --slack` runs both over one core.
//! - [`Core::shutdown`]: stop taking sessions, let running applies finish up to the configured
//!   timeout, then cancel them gracefully (recorded in the audit log) and wait for them to stop.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use cloud_core::config::Config;
use cloud_core::orchestrator::{Orchestrator, SessionEventKind, SHUTDOWN_ACTOR};
use cloud_core::policy::Access;
use cloud_core::store::{NewAudit, Store};
use cloud_domain::session::{Platform, SessionId, SessionState, StackName, StackState};

/// How long an action may take and still be answered in the first response. After this, both
/// adapters acknowledge at once (Discord's deferral, "cloud is thinking…"; Slack's
/// "⏳ Working on it…") and the answer replaces the acknowledgement when it is ready, so a
/// person sees a response within tens of milliseconds however busy the store is
/// (`cloud bench chat` times both the first response and the answer).
pub const ANSWER_IN_FIRST_RESPONSE_WITHIN: Duration = Duration::from_millis(25);

/// Metric names, in one place (docs/discord.md lists them).
pub mod metric {
    /// Gauge, label `state`: sessions in the store by state (computed at scrape).
    pub const SESSIONS: &str = "cloud_sessions";
    /// Counter, labels `platform`, `kind` (command, component, autocomplete).
    pub const INTERACTIONS: &str = "cloud_interactions_total";
    /// Histogram, label `platform`: seconds from receiving an interaction to its first response.
    pub const FIRST_RESPONSE: &str = "cloud_interaction_first_response_seconds";
    /// Histogram, label `op` (preview, up): seconds one stack's engine run took.
    pub const ENGINE_RUN: &str = "cloud_engine_run_seconds";
    /// Counter, labels `platform`, `route`: chat API calls made.
    pub const CHAT_CALLS: &str = "cloud_chat_api_calls_total";
    /// Counter, label `platform`: chat API calls answered 429.
    pub const CHAT_429: &str = "cloud_chat_api_429_total";
}

/// The shared core of `cloud serve`. Chat adapters read its configuration and pass it to
/// [`crate::actions`] and [`crate::feed`]; they never reach the store or the orchestrator.
pub struct Core {
    /// The effective configuration (adapters read their own section and the environments).
    pub config: Config,
    store: Store,
    orchestrator: Arc<Orchestrator>,
    /// Cancelled when shutdown starts: adapters refuse new sessions from then on.
    draining: CancellationToken,
    /// Plans and applies the adapters started, so shutdown can wait for them.
    work: TaskTracker,
    /// Connection state of each transport's link to its platform, for `/healthz`.
    connected: Mutex<BTreeMap<&'static str, bool>>,
    /// Chat output in flight (a thread's batcher and its sender): shutdown waits for it before
    /// the transports stop, so a summary and a log file are posted, not dropped.
    output: Arc<OutputInFlight>,
    /// Stops the queue's turn planner when the core is dropped (shutdown stops it earlier).
    _turns: tokio_util::sync::DropGuard,
}

/// Counts the threads whose output is still being posted ([`Core::output_guard`]).
#[derive(Default)]
struct OutputInFlight {
    count: std::sync::atomic::AtomicUsize,
    changed: tokio::sync::Notify,
}

/// Held while a thread's output is being posted; dropping it says the output is done.
pub struct OutputGuard(Arc<OutputInFlight>);

impl Drop for OutputGuard {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        self.0.changed.notify_waiters();
    }
}

impl Core {
    /// The stacks a project's deployment (or the deployment of that id) enables in `env` (the
    /// stack picker, autocompletion).
    pub fn available_stacks(&self, project: &str, env: &str) -> Vec<cloud_domain::session::StackName> {
        let (deployments, _) = cloud_catalog::manifest::load_deployments(&self.config.workspace);
        deployments
            .iter()
            .find(|d| d.manifest.project == project || d.id().is_some_and(|id| id.as_str() == project))
            .map(|d| {
                d.manifest
                    .enabled_stacks(Some(env))
                    .into_iter()
                    .filter_map(|s| s.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A core over an orchestrator (whose access policy and clock it uses).
    pub fn new(config: Config, store: Store, orchestrator: Arc<Orchestrator>) -> Arc<Core> {
        let draining = CancellationToken::new();
        let work = TaskTracker::new();
        let turns = draining.child_token();
        crate::turns::spawn_turn_planner(crate::turns::TurnPlanner {
            store: store.clone(),
            orchestrator: orchestrator.clone(),
            work: work.clone(),
            stop: turns.clone(),
        });
        let core = Arc::new(Core {
            config,
            store,
            orchestrator,
            draining,
            work,
            connected: Mutex::new(BTreeMap::new()),
            output: Arc::new(OutputInFlight::default()),
            _turns: turns.drop_guard(),
        });
        core.spawn_engine_timer();
        core
    }

    /// The store, for the composition root and tests. Chat adapters go through
    /// [`crate::actions`] and [`crate::feed`] instead.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The orchestrator, for the composition root and tests. Chat adapters go through
    /// [`crate::actions`] and [`crate::feed`] instead.
    pub fn orchestrator(&self) -> &Arc<Orchestrator> {
        &self.orchestrator
    }

    /// The access policy (the orchestrator's).
    pub(crate) fn access(&self) -> &Access {
        self.orchestrator.access()
    }

    /// Whether new sessions are taken (false once shutdown started).
    pub fn accepting(&self) -> bool {
        !self.draining.is_cancelled()
    }

    /// Cancelled when shutdown starts.
    pub fn draining(&self) -> CancellationToken {
        self.draining.clone()
    }

    /// Run session work (a plan, an apply) so that shutdown waits for it.
    pub fn spawn_work<F>(&self, fut: F) -> tokio::task::JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.work.spawn(fut)
    }

    /// Number of session tasks running.
    pub fn running_work(&self) -> usize {
        self.work.len()
    }

    /// Records whether `transport` is connected to its platform (for `/healthz`). A change is
    /// logged once the flag is set, so the log tells an operator (and a test of `cloud serve`)
    /// exactly when `/healthz` changed its answer.
    pub fn set_connected(&self, transport: &'static str, up: bool) {
        let before = self.connected.lock().expect("health lock").insert(transport, up);
        // The first report of a transport that has not connected yet is not a change.
        if before != Some(up) && (up || before.is_some()) {
            if up {
                info!(transport, "chat transport connected");
            } else {
                info!(transport, "chat transport disconnected");
            }
        }
    }

    /// Drops `transport` from `/healthz`: a standby replica does not run it (another replica
    /// holds its leader lease), which is not a fault.
    pub fn forget_transport(&self, transport: &'static str) {
        self.connected.lock().expect("health lock").remove(transport);
    }

    /// `(healthy, report)` for `/healthz`.
    pub async fn health(&self) -> (bool, serde_json::Value) {
        let store_ok = self.store.ping().await;
        let transports = self.connected.lock().expect("health lock").clone();
        let ok = store_ok && transports.values().all(|up| *up);
        let report = serde_json::json!({
            "status": if ok { "ok" } else { "unhealthy" },
            "store": if store_ok { "ok" } else { "unreachable" },
            "transports": transports.iter().map(|(k, v)| (k.to_string(), serde_json::json!(if *v { "connected" } else { "disconnected" }))).collect::<serde_json::Map<_, _>>(),
            "draining": self.draining.is_cancelled(),
            "running_sessions": self.work.len(),
        });
        (ok, report)
    }

    /// Refreshes the session gauge from the store (called when `/metrics` is scraped).
    pub async fn refresh_session_gauge(&self) {
        if let Ok(counts) = self.store.session_counts().await {
            for state in SessionState::ALL {
                let n = counts.get(&state).copied().unwrap_or(0);
                metrics::gauge!(metric::SESSIONS, "state" => state.as_str()).set(n as f64);
            }
        }
    }

    /// Measures every stack's engine run from the session events (transport-neutral).
    fn spawn_engine_timer(self: &Arc<Self>) {
        let mut rx = self.orchestrator.subscribe();
        tokio::spawn(async move {
            let mut started: BTreeMap<(SessionId, StackName), (Instant, &'static str)> = BTreeMap::new();
            loop {
                let event = match rx.recv().await {
                    Ok(e) => e,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => break,
                };
                if let SessionEventKind::StackStateChanged { stack, state, .. } = event.kind {
                    let key = (event.session, stack);
                    match state {
                        StackState::Previewing => {
                            started.insert(key, (Instant::now(), "preview"));
                        }
                        StackState::Applying => {
                            started.insert(key, (Instant::now(), "up"));
                        }
                        StackState::Previewed | StackState::Applied | StackState::Failed => {
                            if let Some((t, op)) = started.remove(&key) {
                                metrics::histogram!(metric::ENGINE_RUN, "op" => op).record(t.elapsed().as_secs_f64());
                            }
                        }
                        StackState::Pending | StackState::Skipped => {
                            started.remove(&key);
                        }
                    }
                }
            }
        });
    }

    /// The orchestrator's sweeper on the core's clock until shutdown starts: expires stale
    /// plans, cancels refused sessions nobody queued, hands freed stacks to the lock queue.
    pub fn spawn_sweeper(self: &Arc<Self>, every: Duration) -> tokio::task::JoinHandle<()> {
        let orchestrator = Arc::downgrade(&self.orchestrator);
        let clock: cloud_core::policy::Clock = Arc::new(move || {
            orchestrator
                .upgrade()
                .map(|o| o.access().now())
                .unwrap_or_else(chrono::Utc::now)
        });
        self.orchestrator.spawn_sweeper(every, clock, self.draining.clone())
    }

    /// Marks a thread's output as in flight until the guard is dropped (an adapter holds it from
    /// the apply's start until its summary and log file are posted).
    pub fn output_guard(&self) -> OutputGuard {
        self.output.count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.output.changed.notify_waiters();
        OutputGuard(self.output.clone())
    }

    /// Graceful shutdown: stop taking sessions, say in the thread of every apply this process
    /// runs that it is stopping, give running work `timeout` to finish, then cancel this
    /// process's applies through the engine (in-flight steps finish; the audit log names
    /// [`SHUTDOWN_ACTOR`]), and wait up to `grace` more for them to record their outcome.
    /// Returns the sessions it had to cancel. Applies other processes run (a CLI) are left alone.
    pub async fn shutdown(&self, timeout: Duration, grace: Duration) -> Vec<SessionId> {
        self.draining.cancel();
        self.work.close();
        info!(running = self.work.len(), timeout = %humantime::format_duration(timeout), "shutting down: no new sessions; waiting for running work");
        let running = self.orchestrator.running_applies();
        for id in &running {
            self.orchestrator
                .announce_shutdown(
                    *id,
                    &format!(
                        "The bot is shutting down: this apply has {} to finish, then it is cancelled gracefully (running steps finish).",
                        humantime::format_duration(timeout)
                    ),
                )
                .await;
        }
        if tokio::time::timeout(timeout, self.work.wait()).await.is_ok() {
            return vec![];
        }
        let mut cancelled = Vec::new();
        for id in self.orchestrator.running_applies() {
            let reason = format!(
                "cloud serve is shutting down and the apply outlived the {} shutdown timeout",
                humantime::format_duration(timeout)
            );
            match self.orchestrator.cancel_running_as(id, SHUTDOWN_ACTOR, &reason).await {
                Ok(true) => {
                    let project = self.store.session(id).await.ok().map(|s| s.project);
                    let _ = self
                        .store
                        .audit(NewAudit {
                            actor: SHUTDOWN_ACTOR.to_string(),
                            action: "serve.shutdown_cancel".into(),
                            session_id: Some(id),
                            project,
                            details: serde_json::json!({"reason": reason}),
                        })
                        .await;
                    warn!(session = %id, "cancelled a running apply for shutdown");
                    cancelled.push(id);
                }
                Ok(false) => {}
                Err(e) => warn!(session = %id, error = %e.to_user(), "could not cancel for shutdown"),
            }
        }
        if tokio::time::timeout(grace, self.work.wait()).await.is_err() {
            warn!(
                running = self.work.len(),
                "work still running after the cancel grace; exiting anyway"
            );
        }
        cancelled
    }

    /// Waits, up to `timeout`, until the chat on `platforms` shows everything the session log
    /// held when the wait began: every lobby drawn up to its session's last event and every
    /// thread's output (summary, log file) posted. What `cloud serve` does between
    /// [`Core::shutdown`] and stopping the transports. False when the time ran out.
    pub async fn flush_chat(&self, platforms: &[Platform], timeout: Duration) -> bool {
        let target = match self.store.last_event_id().await {
            Ok(t) => t,
            Err(e) => {
                warn!(error = %e, "cannot read the session log; not waiting for chat to catch up");
                return false;
            }
        };
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.output.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let in_flight = self.output.count.load(std::sync::atomic::Ordering::SeqCst);
            let behind = self.lobbies_behind_until(platforms, target).await;
            if in_flight == 0 && behind.is_empty() {
                info!("chat shows every session's outcome");
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                warn!(
                    threads = in_flight,
                    lobbies = behind.len(),
                    "chat did not catch up before the shutdown deadline; stopping anyway"
                );
                return false;
            }
            // Lobby edits are paced (about one a second); the output counter wakes us at once.
            tokio::select! {
                _ = changed => {}
                _ = tokio::time::sleep(FLUSH_POLL) => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    /// The sessions whose lobby on one of `platforms` has not been drawn up to their last event
    /// at or before `target`.
    async fn lobbies_behind_until(&self, platforms: &[Platform], target: i64) -> Vec<SessionId> {
        let mut behind = Vec::new();
        for platform in platforms {
            let rows = match self.store.lobbies_behind(*platform).await {
                Ok(rows) => rows,
                Err(e) => {
                    warn!(error = %e, "cannot list the lobbies behind their sessions");
                    continue;
                }
            };
            for (row, cursor) in rows {
                let next = self.store.events_after(row.session_id, cursor, 1).await;
                if next.ok().and_then(|events| events.first().map(|e| e.id <= target)) == Some(true) {
                    behind.push(row.session_id);
                }
            }
        }
        behind
    }
}

/// How often [`Core::flush_chat`] looks at the lobbies' cursors while it waits.
const FLUSH_POLL: Duration = Duration::from_millis(100);

/// A chat adapter that runs inside `cloud serve`.
#[async_trait::async_trait]
pub trait Transport: Send {
    /// `discord`, `slack`.
    fn name(&self) -> &'static str;
    /// Connect and serve until `stop` is cancelled. An error before serving (missing or rejected
    /// token) is returned at once; `cloud serve` exits 2 on a [`cloud_domain::error::UserError`].
    async fn run(self: Box<Self>, core: Arc<Core>, stop: CancellationToken) -> anyhow::Result<()>;
}
