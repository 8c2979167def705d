//! `cloud serve`: runs the chat transports over one shared [`Core`], serves `/healthz` and
//! Prometheus `/metrics` on a local address, and shuts down gracefully on SIGTERM/SIGINT.
//!
//! Several replicas may serve one PostgreSQL database (docs/operations.md). Transports that
//! need a single connection per bot (the Discord gateway, Slack Socket Mode) run only on the
//! replica holding their leader lease ([`cloud_core::leader`]); the others stand by and take
//! over when it dies. Everything else (Slack HTTP events, the sweeper) runs on every replica.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use cloud_chat::{Core, Transport};
use cloud_core::leader::LeaderLease;
use cloud_domain::session::Platform;

/// A transport `cloud serve` runs, and on which replicas.
pub enum Served {
    /// On every replica (Slack's HTTP Events: any replica can answer any request).
    Everywhere(Box<dyn Transport>),
    /// Only on the replica holding the leader lease `lease`; `make` builds a fresh transport
    /// each time this replica becomes the leader.
    Leader {
        lease: &'static str,
        make: Box<dyn Fn() -> Box<dyn Transport> + Send + Sync>,
    },
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

/// The Prometheus text, with the session gauge refreshed from the store.
async fn metrics_text(core: &Core) -> String {
    core.refresh_session_gauge().await;
    metrics_handle().render()
}

/// Serves `/healthz` and `/metrics` on `addr` until `stop`.
pub async fn serve_ops(
    core: Arc<Core>,
    addr: &str,
    stop: CancellationToken,
) -> anyhow::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    serve_http(core, addr, stop, false, Vec::new()).await
}

/// Serves `/healthz` and `/metrics` on `addr` until `stop`, and the HTTP API (`/api/v1`, see
/// [`crate::api`]) when `api` is set. `/healthz` names this replica's role for each leader lease
/// (`"leader": {"discord-gateway": "leader" | "standby"}`); a standby is healthy.
pub async fn serve_http(
    core: Arc<Core>,
    addr: &str,
    stop: CancellationToken,
    api: bool,
    leases: Vec<Arc<LeaderLease>>,
) -> anyhow::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    use axum::http::StatusCode;
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("Cannot listen on {addr} for /healthz and /metrics; set serve.listen or CLOUD_SERVE_LISTEN to a free address"))?;
    let local = listener.local_addr()?;
    let health_core = core.clone();
    let api_router = api.then(|| crate::api::router(core.clone()));
    let metrics_core = core;
    let mut app = axum::Router::new()
        .route(
            "/healthz",
            get(move || {
                let core = health_core.clone();
                let leases = leases.clone();
                async move {
                    let (ok, mut report) = core.health().await;
                    let roles: serde_json::Map<String, serde_json::Value> =
                        leases.iter().map(|l| (l.name().to_string(), l.health())).collect();
                    report["leader"] = serde_json::Value::Object(roles);
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
                        metrics_text(&core).await,
                    )
                }
            }),
        );
    if let Some(api_router) = api_router {
        app = app.merge(api_router);
    }
    // Answers leave at once, not after the client's delayed ACK (Nagle's algorithm).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
    });
    Ok((local, handle))
}

/// How often `cloud serve` applies the retention (`retention.logs` / `retention.plans`): once at
/// start-up, then daily. A day's delay costs a day's logs of disk, nothing else.
const RETENTION_EVERY: Duration = Duration::from_secs(24 * 3600);

/// The retention sweep: the same prune as `cloud prune --yes`, as the process itself.
fn spawn_retention_sweep(core: Arc<Core>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let system = cloud_domain::session::Principal::cli("cloud-serve");
        loop {
            tick.tick().await;
            match core
                .orchestrator()
                .prune_as_system(&system, core.config.retention)
                .await
            {
                Ok(r) => info!(
                    log_entries = r.counts.log_entries,
                    plans = r.counts.plans,
                    bytes = r.counts.log_bytes + r.counts.plan_bytes,
                    "retention sweep"
                ),
                Err(e) => warn!(error = %e, "retention sweep failed; the next one runs in a day"),
            }
        }
    })
}

/// How long a stopping `cloud serve` waits for chat to show the sessions' outcomes (lobby edits
/// are paced to about one a second per channel; a summary and a log file are a few posts).
const CHAT_FLUSH_LIMIT: Duration = Duration::from_secs(30);

impl Served {
    /// The platform it serves.
    fn platform(&self) -> Option<Platform> {
        match self {
            Served::Everywhere(t) => platform_of(t.name()),
            Served::Leader { lease, .. } if lease.starts_with("discord") => Some(Platform::Discord),
            Served::Leader { lease, .. } if lease.starts_with("slack") => Some(Platform::Slack),
            Served::Leader { .. } => None,
        }
    }
}

/// The platform a transport serves.
fn platform_of(transport: &str) -> Option<Platform> {
    match transport {
        "discord" => Some(Platform::Discord),
        "slack" => Some(Platform::Slack),
        _ => None,
    }
}

/// Runs the transports over `core` until SIGTERM/SIGINT (or `stop`), then shuts down gracefully.
/// Errors of a transport at start-up end the whole serve.
pub async fn run(core: Arc<Core>, served: Vec<Served>, stop: CancellationToken) -> anyhow::Result<()> {
    run_with(core, served, stop, false).await
}

/// [`run`], with the HTTP API on the `/healthz` listener when `api` is set (`cloud serve --api`).
pub async fn run_with(core: Arc<Core>, served: Vec<Served>, stop: CancellationToken, api: bool) -> anyhow::Result<()> {
    // One leader lease per role, taken and renewed on the sweep interval for the lease TTL.
    let lease_stop = CancellationToken::new();
    let mut leases: Vec<Arc<LeaderLease>> = Vec::new();
    for s in &served {
        if let Served::Leader { lease, .. } = s {
            if !leases.iter().any(|l| l.name() == *lease) {
                let l = LeaderLease::new(
                    core.store().clone(),
                    lease,
                    core.config.leases.ttl,
                    core.config.leases.sweep,
                );
                leases.push(l);
            }
        }
    }
    let ops_stop = CancellationToken::new();
    let (addr, ops) = serve_http(
        core.clone(),
        &core.config.serve.listen,
        ops_stop.clone(),
        api,
        leases.clone(),
    )
    .await?;
    info!(%addr, "serving /healthz and /metrics");
    if api {
        info!(%addr, url = %format!("http://{addr}/api/v1"), "serving the HTTP API");
    }
    let lease_tasks: Vec<_> = leases.iter().map(|l| l.spawn(lease_stop.clone())).collect();
    // Every `leases.sweep`: sessions whose driving process stopped are taken over within the
    // lease TTL plus one pass; stale plans expire; the lock queue moves on.
    let sweeper = core.spawn_sweeper(core.config.leases.sweep);
    let retention = spawn_retention_sweep(core.clone(), RETENTION_EVERY);
    let transport_stop = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    let platforms: Vec<Platform> = served.iter().filter_map(Served::platform).collect();
    for s in served {
        let core = core.clone();
        let stop = transport_stop.clone();
        match s {
            Served::Everywhere(t) => {
                let name = t.name();
                core.set_connected(name, false);
                tasks.spawn(async move { (name, t.run(core, stop).await) });
            }
            Served::Leader { lease, make } => {
                let lease = leases
                    .iter()
                    .find(|l| l.name() == lease)
                    .expect("every role has its lease")
                    .clone();
                let first = make();
                let name = first.name();
                tasks.spawn(async move { (name, run_while_leader(core, lease, first, make, stop).await) });
            }
        }
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
    // post their progress; cancel what outlives the grace; let chat draw every outcome (lobbies
    // terminal, summaries and log files in the threads); then stop the transports and the ops
    // endpoint.
    let cancelled = core
        .shutdown(
            core.config.serve.shutdown_timeout,
            core.config.pulumi.cancel_grace + Duration::from_secs(10),
        )
        .await;
    if !cancelled.is_empty() {
        warn!(count = cancelled.len(), "running applies were cancelled for shutdown");
    }
    if failure.is_none() {
        core.flush_chat(&platforms, CHAT_FLUSH_LIMIT).await;
    }
    transport_stop.cancel();
    while let Some(done) = tasks.join_next().await {
        if let Ok((name, Err(e))) = done {
            if failure.is_none() {
                failure = Some(e.context(format!("the {name} transport failed")));
            }
        }
    }
    // The gateway is closed: hand the roles over now rather than after the TTL.
    lease_stop.cancel();
    for t in lease_tasks {
        let _ = t.await;
    }
    sweeper.abort();
    retention.abort();
    ops_stop.cancel();
    let _ = ops.await;
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Runs a leader-only transport whenever this replica holds `lease`, until `stop`: waits for
/// the role, connects, and disconnects when the role is lost (another replica took it over
/// because this one could not renew in time), then stands by again.
async fn run_while_leader(
    core: Arc<Core>,
    lease: Arc<LeaderLease>,
    first: Box<dyn Transport>,
    make: Box<dyn Fn() -> Box<dyn Transport> + Send + Sync>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let mut next = Some(first);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            _ = lease.acquired() => {}
        }
        let transport = next.take().unwrap_or_else(&make);
        let name = transport.name();
        info!(
            transport = name,
            lease = lease.name(),
            "this replica leads: connecting {name}"
        );
        core.set_connected(name, false);
        let term = stop.child_token();
        let mut task = tokio::spawn(transport.run(core.clone(), term.clone()));
        tokio::select! {
            done = &mut task => {
                return done.map_err(|e| anyhow::anyhow!("the {name} transport panicked: {e}"))?;
            }
            _ = lease.lost() => {
                term.cancel();
                if let Ok(Err(e)) = task.await {
                    warn!(transport = name, error = %e, "the transport failed while it stopped");
                }
                core.forget_transport(name);
                warn!(transport = name, lease = lease.name(), "disconnected: another replica holds the leader lease");
            }
            _ = stop.cancelled() => {
                return task.await.map_err(|e| anyhow::anyhow!("the {name} transport panicked: {e}"))?;
            }
        }
    }
}
