//! `cloud serve`: one transport-neutral core shared by the chat adapters (Discord, Slack), plus
//! the operations endpoint and graceful shutdown.
//!
//! - [`Core`]: configuration, store, orchestrator and access policy, the set of plans and applies
//!   the adapters started, and the "draining" flag that stops new sessions on SIGTERM.
//! - [`Transport`]: what a chat adapter implements to run inside `cloud serve`;
//!   `cloud serve --discord --slack` runs both over one core.
//! - [`serve_ops`]: `/healthz` (store reachable, every transport connected) and Prometheus
//!   `/metrics` on a local address.
//! - [`Core::shutdown`]: stop taking sessions, let running applies finish up to the configured
//!   timeout, then cancel them gracefully (recorded in the audit log) and wait for them to stop.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::config::Config;
use crate::orchestrator::{Orchestrator, SessionEventKind};
use crate::policy::Access;
use crate::session::{Principal, SessionId, SessionState, StackName, StackState};
use crate::store::{NewAudit, SessionFilter, Store};

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

/// The process-wide Prometheus recorder (a recorder can be installed once per process).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
                ])
                .expect("static buckets are valid");
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (tests embedding the library): then
            // metrics go there and this handle renders what it saw (nothing).
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// The shared core of `cloud serve`.
pub struct Core {
    pub config: Config,
    pub store: Store,
    pub orchestrator: Arc<Orchestrator>,
    /// Cancelled when shutdown starts: adapters refuse new sessions from then on.
    draining: CancellationToken,
    /// Plans and applies the adapters started, so shutdown can wait for them.
    work: TaskTracker,
    /// Connection state of each transport's link to its platform, for `/healthz`.
    connected: Mutex<BTreeMap<&'static str, bool>>,
}

impl Core {
    /// A core over an orchestrator (whose access policy and clock it uses).
    pub fn new(config: Config, store: Store, orchestrator: Arc<Orchestrator>) -> Arc<Core> {
        metrics_handle();
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

    /// Build from the configuration, as the `cloud` CLI does.
    pub async fn from_app(app: crate::cli::App) -> Arc<Core> {
        Core::new(app.config, app.store, app.orchestrator)
    }

    /// The access policy (the orchestrator's).
    pub fn access(&self) -> &Access {
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

    pub fn set_connected(&self, transport: &'static str, up: bool) {
        self.connected.lock().expect("health lock").insert(transport, up);
    }

    /// `(healthy, report)` for `/healthz`.
    pub async fn health(&self) -> (bool, serde_json::Value) {
        let store_ok = sqlx::query("SELECT 1").execute(self.store.pool()).await.is_ok();
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

    /// The Prometheus text, with the session gauge refreshed from the store.
    pub async fn metrics_text(&self) -> String {
        if let Ok(counts) = self.store.session_counts().await {
            for state in SessionState::ALL {
                let n = counts.get(&state).copied().unwrap_or(0);
                metrics::gauge!(metric::SESSIONS, "state" => state.as_str()).set(n as f64);
            }
        }
        metrics_handle().render()
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
        let clock: crate::policy::Clock = Arc::new(move || {
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
    /// token) is returned at once; `cloud serve` exits 2 on a [`crate::error::UserError`].
    async fn run(self: Box<Self>, core: Arc<Core>, stop: CancellationToken) -> anyhow::Result<()>;
}

/// Serves `/healthz` and `/metrics` on `addr` until `stop`.
pub async fn serve_ops(
    core: Arc<Core>,
    addr: &str,
    stop: CancellationToken,
) -> anyhow::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    use axum::http::StatusCode;
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("Cannot listen on {addr} for /healthz and /metrics; set serve.listen or CLOUD_SERVE_LISTEN to a free address"))?;
    let local = listener.local_addr()?;
    let health_core = core.clone();
    let metrics_core = core;
    let app = axum::Router::new()
        .route(
            "/healthz",
            get(move || {
                let core = health_core.clone();
                async move {
                    let (ok, report) = core.health().await;
                    let status = if ok {
                        StatusCode::OK
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE
                    };
                    (status, axum::Json(report))
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let core = metrics_core.clone();
                async move {
                    (
                        [("content-type", "text/plain; version=0.0.4")],
                        core.metrics_text().await,
                    )
                }
            }),
        );
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
    });
    Ok((local, handle))
}

/// Runs the transports over `core` until SIGTERM/SIGINT (or `stop`), then shuts down gracefully.
/// Errors of a transport at start-up end the whole serve.
pub async fn run(core: Arc<Core>, transports: Vec<Box<dyn Transport>>, stop: CancellationToken) -> anyhow::Result<()> {
    let ops_stop = CancellationToken::new();
    let (addr, ops) = serve_ops(core.clone(), &core.config.serve.listen, ops_stop.clone()).await?;
    info!(%addr, "serving /healthz and /metrics");
    let sweeper = core.spawn_sweeper(Duration::from_secs(30));
    let transport_stop = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    for t in transports {
        let name = t.name();
        core.set_connected(name, false);
        let core = core.clone();
        let stop = transport_stop.clone();
        tasks.spawn(async move { (name, t.run(core, stop).await) });
    }
    let signal = async {
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
            tokio::select! {
                _ = term.recv() => info!("SIGTERM received"),
                _ = tokio::signal::ctrl_c() => info!("SIGINT received"),
                _ = stop.cancelled() => {}
            }
        }
        #[cfg(not(unix))]
        {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = stop.cancelled() => {}
            }
        }
    };
    let mut failure = None;
    tokio::select! {
        _ = signal => {}
        Some(done) = tasks.join_next() => {
            match done {
                Ok((name, Err(e))) => failure = Some(e.context(format!("the {name} transport stopped"))),
                Ok((name, Ok(()))) => warn!(transport = name, "transport ended"),
                Err(e) => failure = Some(anyhow::anyhow!("a transport task panicked: {e}")),
            }
        }
    }
    // Shutdown order: stop new sessions, keep the transports up so running applies can still
    // post their progress, then stop the transports and the ops endpoint.
    let cancelled = core
        .shutdown(
            core.config.serve.shutdown_timeout,
            core.config.pulumi.cancel_grace + Duration::from_secs(10),
        )
        .await;
    if !cancelled.is_empty() {
        warn!(count = cancelled.len(), "running applies were cancelled for shutdown");
    }
    transport_stop.cancel();
    while let Some(done) = tasks.join_next().await {
        if let Ok((name, Err(e))) = done {
            if failure.is_none() {
                failure = Some(e.context(format!("the {name} transport failed")));
            }
        }
    }
    sweeper.abort();
    ops_stop.cancel();
    let _ = ops.await;
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
