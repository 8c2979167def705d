//! Leases: which process drives a session, proven by a row in the store instead of guessed from
//! a pid. A process that opens, plans or applies a session holds its lease (`drive`) and renews
//! it in the background every third of the lease TTL while it works. Every state change and
//! per-stack write it makes names its `(owner, token)` fence, checked in the write's own
//! transaction: when this process stalls long enough for another one to take the session over
//! (`recovery`), its late writes fail with [`StoreError::Fenced`] and change nothing, and the
//! engine work it still runs is cancelled.
//!
//! A lease is given back when the driver is done with the session for now: the chat bot after a
//! plan (the session then waits for people, not for a process), the CLI when its command ends. A
//! process that is killed gives nothing back: its leases expire and the sweeper ends their
//! sessions and frees their stacks within TTL + one sweep.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use dashmap::DashMap;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::{OrchResult, Orchestrator};
use crate::store::{Fence, Lease, Store, StoreError};
use cloud_domain::session::SessionId;

/// Default lease TTL: how long a driver may go silent before its sessions are taken over.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);

/// One lease this process holds.
struct Held {
    fence: Fence,
    /// Guards sharing the lease (the CLI's command and the plan inside it).
    count: usize,
    /// Cancelled when a renewal finds the lease taken over: the work under it must stop.
    lost: CancellationToken,
}

/// The leases this process holds, and their renewal.
pub(crate) struct LeaseBook {
    store: Store,
    /// This process as a lease owner (`cloud_store::lease_owner`).
    owner: String,
    ttl: Duration,
    held: DashMap<SessionId, Held>,
    /// The renewal task, started with the first lease (a runtime exists by then).
    heartbeat: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl LeaseBook {
    pub(crate) fn new(store: Store, ttl: Duration) -> Arc<LeaseBook> {
        Arc::new(LeaseBook {
            store,
            owner: crate::store::lease_owner(),
            ttl,
            held: DashMap::new(),
            heartbeat: Mutex::new(None),
        })
    }

    pub(crate) fn owner(&self) -> &str {
        &self.owner
    }

    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The fence of session `id` when this process holds its lease.
    pub(crate) fn fence(&self, id: SessionId) -> Option<Fence> {
        self.held.get(&id).map(|h| h.fence.clone())
    }

    /// Whether this process holds the lease of `id`.
    pub(crate) fn holds(&self, id: SessionId) -> bool {
        self.held.contains_key(&id)
    }

    /// Register a lease this process just took or claimed.
    fn adopt(self: &Arc<Self>, lease: &Lease) -> CancellationToken {
        let lost = {
            let mut entry = self.held.entry(lease.session).or_insert_with(|| Held {
                fence: lease.fence(),
                count: 0,
                lost: CancellationToken::new(),
            });
            entry.count += 1;
            entry.fence = lease.fence();
            entry.lost.clone()
        };
        self.ensure_heartbeat();
        lost
    }

    /// Drop one guard of `id`; the last one gives the lease back.
    async fn release(&self, id: SessionId) {
        let fence = {
            let Some(mut held) = self.held.get_mut(&id) else { return };
            held.count = held.count.saturating_sub(1);
            if held.count > 0 {
                return;
            }
            held.fence.clone()
        };
        self.held.remove(&id);
        if let Err(e) = self.store.release_lease(id, &fence).await {
            // It expires on its own; the sweeper then finds the session where we left it.
            warn!(session = %id, error = %e, "cannot give the session's lease back");
        }
    }

    fn ensure_heartbeat(self: &Arc<Self>) {
        let mut heartbeat = self.heartbeat.lock().expect("heartbeat lock");
        if heartbeat.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let book = Arc::downgrade(self);
        let every = (self.ttl / 3).max(Duration::from_millis(10));
        *heartbeat = Some(runtime.spawn(renew_forever(book, every)));
    }
}

/// Renew every held lease each `every` until the book is gone. A renewal that finds the lease
/// taken over cancels the work under it; a database error is retried on the next tick (the lease
/// lasts three ticks).
async fn renew_forever(book: Weak<LeaseBook>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(book) = book.upgrade() else { return };
        let held: Vec<(SessionId, Fence)> = book.held.iter().map(|h| (*h.key(), h.fence.clone())).collect();
        for (id, fence) in held {
            match book.store.renew_lease(id, &fence, book.ttl).await {
                Ok(()) => debug!(session = %id, "lease renewed"),
                Err(StoreError::Fenced { .. }) => {
                    warn!(session = %id, "lease taken over by another process; stopping the work under it");
                    if let Some((_, held)) = book.held.remove_if(&id, |_, h| h.fence == fence) {
                        held.lost.cancel();
                    }
                }
                Err(e) => warn!(session = %id, error = %e, "cannot renew the session's lease; retrying"),
            }
        }
    }
}

/// This process drives a session while a guard lives. Give it back with
/// [`LeaseGuard::release`]; a guard dropped without it gives the lease back in the background.
#[must_use = "the lease is given back when the guard is released"]
pub struct LeaseGuard {
    book: Arc<LeaseBook>,
    session: SessionId,
    lost: CancellationToken,
    released: bool,
}

impl LeaseGuard {
    /// Cancelled when another process took the session over (this process's lease expired).
    pub fn lost(&self) -> CancellationToken {
        self.lost.clone()
    }

    /// Give the lease back (the last guard of a session deletes the lease row).
    pub async fn release(mut self) {
        self.released = true;
        self.book.release(self.session).await;
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let (book, session) = (Arc::clone(&self.book), self.session);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { book.release(session).await });
        }
    }
}

impl Orchestrator {
    /// Drive session `id`: take its lease (or share the one this process holds) until the guard
    /// is released. Refused with [`StoreError::LeaseHeld`] while another live process drives it.
    pub async fn drive(&self, id: SessionId) -> OrchResult<LeaseGuard> {
        // The map guard must not live across the await below (it is a lock).
        let shared = self.leases.held.get_mut(&id).map(|mut held| {
            held.count += 1;
            held.lost.clone()
        });
        let lost = match shared {
            Some(lost) => lost,
            None => {
                let lease = self.store.take_lease(id, &self.leases.owner, self.leases.ttl).await?;
                self.leases.adopt(&lease)
            }
        };
        Ok(LeaseGuard {
            book: Arc::clone(&self.leases),
            session: id,
            lost,
            released: false,
        })
    }

    /// Hold a lease this process claimed from a stopped owner (recovery).
    pub(super) fn adopt_lease(&self, lease: &Lease) -> LeaseGuard {
        let lost = self.leases.adopt(lease);
        LeaseGuard {
            book: Arc::clone(&self.leases),
            session: lease.session,
            lost,
            released: false,
        }
    }
}
