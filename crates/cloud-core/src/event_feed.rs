//! Reading the session event log as it grows: [`EventFeed`] yields the events after a cursor
//! and, when there are none, waits for more. This is how every process (the bot that posted a
//! lobby, another replica, a CLI) follows sessions that some other process drives.
//!
//! Waking up: an append in this process wakes its feeds at once; on PostgreSQL one `LISTEN`
//! connection per store relays the `NOTIFY` other processes send after each append (with a slow
//! poll behind it in case that connection drops); on SQLite, which has no cross-process
//! notification, feeds poll every [`SQLITE_POLL`].

use std::sync::atomic::Ordering;
use std::time::Duration;

use tracing::{debug, warn};

use crate::orchestrator::LoggedEvent;
use crate::store::{Backend, Store, StoreResult};
use cloud_domain::session::SessionId;

/// How often a SQLite feed looks for other processes' events: short enough that chat follows a
/// CLI apply within a quarter second, long enough to cost nothing measurable (one indexed query).
pub const SQLITE_POLL: Duration = Duration::from_millis(250);
/// The safety poll of a PostgreSQL feed, for a `NOTIFY` lost while the listener reconnected.
pub const POSTGRES_POLL: Duration = Duration::from_secs(2);
/// Events read per query.
const PAGE: i64 = 256;

/// Which events a feed reads.
#[derive(Debug, Clone, Copy)]
enum Scope {
    All,
    Session(SessionId),
}

/// A reader of the session event log from a cursor on.
#[derive(Debug)]
pub struct EventFeed {
    store: Store,
    scope: Scope,
    cursor: i64,
}

impl EventFeed {
    /// Every session's events after `cursor`.
    pub fn all(store: &Store, cursor: i64) -> EventFeed {
        EventFeed {
            store: store.clone(),
            scope: Scope::All,
            cursor,
        }
    }

    /// Every session's events from now on (after the newest committed event).
    pub async fn all_from_now(store: &Store) -> StoreResult<EventFeed> {
        Ok(EventFeed::all(store, store.last_event_id().await?))
    }

    /// One session's events after `cursor`.
    pub fn session(store: &Store, id: SessionId, cursor: i64) -> EventFeed {
        EventFeed {
            store: store.clone(),
            scope: Scope::Session(id),
            cursor,
        }
    }

    /// The cursor of the last event this feed returned.
    pub fn cursor(&self) -> i64 {
        self.cursor
    }

    /// The events after the cursor that are committed now (possibly none), advancing past them.
    /// A row whose payload does not decode is reported and skipped, never fatal.
    pub async fn try_next(&mut self) -> StoreResult<Vec<LoggedEvent>> {
        let rows = match self.scope {
            Scope::All => self.store.events_since(self.cursor, PAGE).await?,
            Scope::Session(id) => self.store.events_after(id, self.cursor, PAGE).await?,
        };
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            self.cursor = self.cursor.max(row.id);
            match LoggedEvent::try_from(row) {
                Ok(event) => out.push(event),
                Err(e) => warn!(error = %e, "skipping a session event that does not decode"),
            }
        }
        Ok(out)
    }

    /// The next events after the cursor, waiting until there are some (empty only once the
    /// store is closed).
    pub async fn next(&mut self) -> StoreResult<Vec<LoggedEvent>> {
        start_listener(&self.store);
        let poll = match self.store.backend() {
            Backend::Sqlite(_) => SQLITE_POLL,
            Backend::Postgres(_) => POSTGRES_POLL,
        };
        let wake = self.store.wake.clone();
        loop {
            // Registered before the read, so an append between the read and the wait still
            // wakes us.
            let notified = wake.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let events = self.try_next().await?;
            if !events.is_empty() {
                return Ok(events);
            }
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(poll) => {}
                // A closed store has nothing more to say.
                _ = wake.stop.cancelled() => return Ok(vec![]),
            }
        }
    }
}

/// On PostgreSQL, starts (once per store) the task that turns other processes' `NOTIFY`s into
/// wake-ups of this process's feeds.
fn start_listener(store: &Store) {
    let Backend::Postgres(pg) = store.backend() else { return };
    if store.wake.listening.swap(true, Ordering::SeqCst) {
        return;
    }
    let pg = pg.clone();
    let wake = store.wake.clone();
    tokio::spawn(async move {
        loop {
            let mut listener = tokio::select! {
                _ = wake.stop.cancelled() => return,
                l = pg.listen_events() => match l {
                    Ok(l) => l,
                    Err(e) => {
                        debug!(error = %e, "cannot LISTEN for session events; retrying");
                        tokio::select! {
                            _ = wake.stop.cancelled() => return,
                            _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        }
                    }
                },
            };
            // Anything appended while we were not listening.
            wake.notify.notify_waiters();
            loop {
                tokio::select! {
                    _ = wake.stop.cancelled() => return,
                    n = listener.recv() => match n {
                        Ok(_) => wake.notify.notify_waiters(),
                        Err(e) => {
                            debug!(error = %e, "the LISTEN connection dropped; reconnecting");
                            break;
                        }
                    },
                }
            }
        }
    });
}
