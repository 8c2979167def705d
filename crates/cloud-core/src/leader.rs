//! Leader election between `cloud serve` replicas: what lets two or more replicas share one
//! database while exactly one of them holds the Discord gateway connection (and Slack's Socket
//! Mode connection). Everything else — HTTP events, sweeps, takeovers — runs on every replica.
//!
//! A [`LeaderLease`] keeps trying to take a named row of `service_leases` every `every`
//! (`leases.sweep`) for `ttl` (`leases.ttl`). The replica that holds it renews it on the same
//! tick; the others stand by. When the leader dies its row expires (or, on the same host, its
//! owner is provably gone) and the next standby tick claims it: the role moves within
//! `ttl + sweep`. A leader that cannot renew before its own expiry steps down by itself, so two
//! replicas never both believe they lead for longer than one store round trip.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::store::Store;

/// One named leader role as seen by this replica.
pub struct LeaderLease {
    store: Store,
    name: &'static str,
    /// This process as a lease owner (`cloud_store::lease_owner`).
    owner: String,
    ttl: Duration,
    every: Duration,
    /// Whether this replica holds the role now; transports wait on its changes.
    held: watch::Sender<bool>,
}

impl LeaderLease {
    /// The role `name`, taken for `ttl` and retried/renewed every `every` (clamped to a third of
    /// `ttl` so a healthy leader always renews before its lease expires).
    pub fn new(store: Store, name: &'static str, ttl: Duration, every: Duration) -> Arc<LeaderLease> {
        Arc::new(LeaderLease {
            store,
            name,
            owner: crate::store::lease_owner(),
            ttl,
            every: every.min(ttl / 3).max(Duration::from_millis(50)),
            held: watch::channel(false).0,
        })
    }

    /// The role's name (`discord-gateway`, `slack-socket`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Whether this replica holds the role now.
    pub fn is_leader(&self) -> bool {
        *self.held.borrow()
    }

    /// Waits until this replica holds the role.
    pub async fn acquired(&self) {
        let mut rx = self.held.subscribe();
        let _ = rx.wait_for(|held| *held).await;
    }

    /// Waits until this replica no longer holds the role.
    pub async fn lost(&self) {
        let mut rx = self.held.subscribe();
        let _ = rx.wait_for(|held| !*held).await;
    }

    fn set(&self, held: bool, why: &str) {
        let changed = self.held.send_if_modified(|h| std::mem::replace(h, held) != held);
        if changed && held {
            info!(lease = self.name, owner = %self.owner, leader = true, "leader lease acquired: this replica now holds {}", self.name);
        } else if changed {
            warn!(lease = self.name, owner = %self.owner, leader = false, reason = why, "leader lease lost: this replica stands by for {}", self.name);
        }
    }

    /// Takes and renews the role until `stop`, then gives it back (so a standby takes over on
    /// its next tick instead of after the TTL).
    pub fn spawn(self: &Arc<Self>, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            info!(lease = me.name, owner = %me.owner, ttl = ?me.ttl, every = ?me.every, "standing for leader lease {}", me.name);
            let mut tick = tokio::time::interval(me.every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // Until when the lease this replica last took is surely valid (measured from before
            // the call that took it).
            let mut valid_until: Option<Instant> = None;
            // Whether "standing by" was logged (once, at the first refusal).
            let mut announced = false;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let asked = Instant::now();
                match tokio::time::timeout(
                    me.every.max(Duration::from_secs(1)),
                    me.store.take_service_lease(me.name, &me.owner, me.ttl),
                )
                .await
                {
                    Ok(Ok(Some(_))) => {
                        valid_until = Some(asked + me.ttl);
                        me.set(true, "");
                    }
                    Ok(Ok(None)) => {
                        valid_until = None;
                        if !std::mem::replace(&mut announced, true) {
                            info!(
                                lease = me.name,
                                leader = false,
                                "standing by: another replica holds leader lease {}",
                                me.name
                            );
                        }
                        me.set(false, "another replica holds it");
                    }
                    Ok(Err(e)) => warn!(lease = me.name, error = %e, "cannot take or renew the leader lease"),
                    Err(_) => warn!(lease = me.name, "taking or renewing the leader lease timed out"),
                }
                if valid_until.is_some_and(|t| Instant::now() >= t) {
                    valid_until = None;
                    me.set(false, "it could not be renewed before it expired");
                }
            }
            if me.is_leader() {
                me.set(false, "this replica stops");
                match me.store.release_service_lease(me.name, &me.owner).await {
                    Ok(_) => info!(lease = me.name, "leader lease released"),
                    Err(e) => {
                        warn!(lease = me.name, error = %e, "cannot release the leader lease; it expires by itself")
                    }
                }
            }
        })
    }

    /// `"leader"` or `"standby"`, for `/healthz`.
    pub fn health(&self) -> serde_json::Value {
        serde_json::json!(if self.is_leader() { "leader" } else { "standby" })
    }
}
