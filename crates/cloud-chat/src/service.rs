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
use cloud_core::orchestrator::{Orchestrator, SessionEventKind};
use cloud_core::policy::Access;
use cloud_core::store::{NewAudit, SessionFilter, Store};
use cloud_domain::session::{Principal, SessionId, SessionState, StackName, StackState};

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
        let core = Arc::new(Core {
            config,
            store,
            orchestrator,
            draining: CancellationToken::new(),
            work: TaskTracker::new(),
            connected: Mutex::new(BTreeMap::new()),
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

    /// Graceful shutdown: stop taking sessions, give running work `timeout` to finish, then
    /// cancel running applies gracefully (in-flight steps finish), record it, and wait up to
    /// `grace` more. Returns the sessions it had to cancel.
    pub async fn shutdown(&self, timeout: Duration, grace: Duration) -> Vec<SessionId> {
        self.draining.cancel();
        self.work.close();
        info!(running = self.work.len(), timeout = %humantime::format_duration(timeout), "shutting down: no new sessions; waiting for running work");
        if tokio::time::timeout(timeout, self.work.wait()).await.is_ok() {
            return vec![];
        }
        let system = Principal::cli("cloud-serve");
        let mut cancelled = Vec::new();
        let applying = self
            .store
            .sessions(&SessionFilter {
                state: Some(SessionState::Applying),
                ..Default::default()
            })
            .await
            .unwrap_or_default();
        for s in applying {
            let reason = format!(
                "cloud serve is shutting down and the apply outlived the {} shutdown timeout",
                humantime::format_duration(timeout)
            );
            match self.orchestrator.cancel_as_system(s.id, &system, &reason).await {
                Ok(_) => {
                    let _ = self
                        .store
                        .audit(NewAudit {
                            actor: system.to_string(),
                            action: "serve.shutdown_cancel".into(),
                            session_id: Some(s.id),
                            project: Some(s.project.clone()),
                            details: serde_json::json!({"reason": reason}),
                        })
                        .await;
                    warn!(session = %s.id, "cancelled a running apply for shutdown");
                    cancelled.push(s.id);
                }
                Err(e) => warn!(session = %s.id, error = %e.to_user(), "could not cancel for shutdown"),
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
}

/// A chat adapter that runs inside `cloud serve`.
#[async_trait::async_trait]
pub trait Transport: Send {
    /// `discord`, `slack`.
    fn name(&self) -> &'static str;
    /// Connect and serve until `stop` is cancelled. An error before serving (missing or rejected
    /// token) is returned at once; `cloud serve` exits 2 on a [`cloud_domain::error::UserError`].
    async fn run(self: Box<Self>, core: Arc<Core>, stop: CancellationToken) -> anyhow::Result<()>;
}
