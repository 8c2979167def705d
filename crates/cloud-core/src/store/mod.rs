//! Persistence: the [`Store`] façade with domain-named methods, over one of two backends chosen
//! by the database URL — SQLite (`sqlite://…`, the embedded default) or PostgreSQL
//! (`postgres://…`, the team backend). Both run the same checked queries (cloud-store's
//! `queries/`, compiled by cloud-store-sqlite and cloud-store-postgres) on the same migrations.
//!
//! Every session transition is a compare-and-set (`UPDATE … WHERE id = $1 AND state = $2`)
//! committed in the same transaction as its audit row, so two concurrent clicks can never both
//! win; each backend's `begin_write` documents how it serialises writers.

use std::path::Path;
use std::sync::Arc;

use sqlx::SqlitePool;

pub use cloud_store::audit::{AuditEntry, AuditKey, AuditVerify, BadRow, Checkpoint, CheckpointVerdict, NewAudit};
pub use cloud_store::migrate::{self, MIGRATIONS as MIGRATOR};
pub use cloud_store::service_leases::{ServiceLease, DISCORD_GATEWAY, SLACK_SOCKET};
pub(crate) use cloud_store::{is_alive, SavedConfig, StoreResult};
pub use cloud_store::{
    lease_owner, lease_owner_is_gone, lock_key, redact_url, ApprovalRow, BadSessionRow, ChatLobbyRow, ClaimedLease,
    EventKind, EventRow, Fence, GrantRow, HeldLock, Lease, LockHolder, LockOutcome, LogLine, NewEvent, NewGrant,
    NewSession, NewToken, PersonLink, ProcessOwner, ProjectRow, PruneCounts, QueueEntry, QuotaRow, SessionFilter,
    SessionRecord, SessionStatsRows, SessionUpdate, StackHead, StackRow, StoreError, TakenLocks, TokenRow, Transition,
};

use crate::engine::{ChangeCounts, Progress};
use cloud_domain::session::{Platform, Principal, SessionId, SessionState, StackName, StackState};

/// The database a [`Store`] talks to.
#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite(cloud_store_sqlite::Store),
    Postgres(cloud_store_postgres::Store),
}

/// The persistence façade. Cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    /// Where the signed audit head is copied after commands (beside the audit key, outside the
    /// database): what lets `audit verify` notice a deleted or rolled-back database.
    audit_head_file: Option<std::path::PathBuf>,
    /// Wakes this process's event readers when events are appended (shared by every clone).
    pub(crate) wake: Arc<EventWake>,
}

/// How readers of the session event log learn that there is more to read without polling
/// hard: writes in this process wake them at once; on PostgreSQL a `LISTEN` connection relays
/// other processes' `NOTIFY`; on SQLite the readers poll (see [`crate::event_feed`]).
#[derive(Debug, Default)]
pub(crate) struct EventWake {
    pub(crate) notify: tokio::sync::Notify,
    /// Whether the PostgreSQL listener task was started (once per store).
    pub(crate) listening: std::sync::atomic::AtomicBool,
    /// Stops the listener when the store is closed (it holds one of the pool's connections).
    pub(crate) stop: tokio_util::sync::CancellationToken,
    /// One event-writing transaction of this process at a time: the stacks of a session write
    /// their moves and output concurrently, and SQLite connections queued on its write lock
    /// each hold a pool connection while they wait (sixteen stacks exhaust the pool of eight).
    /// Queuing here costs nothing (SQLite serialises writers anyway).
    pub(crate) writes: tokio::sync::Mutex<()>,
}

/// Runs a write on its own task so that it finishes (and releases the write lock) however its
/// caller is polled; a panic in it is re-raised here.
async fn detached<T: Send + 'static>(
    wake: &Arc<EventWake>,
    write: impl std::future::Future<Output = StoreResult<T>> + Send + 'static,
) -> StoreResult<T> {
    let wake = wake.clone();
    let task = async move {
        let _turn = wake.writes.lock().await;
        write.await
    };
    match tokio::spawn(task).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // The runtime is shutting down: the write may or may not have happened.
        Err(_) => Err(StoreError::Db(sqlx::Error::WorkerCrashed)),
    }
}

/// Run `$call` on whichever backend `$store` has: the one place the façade branches.
macro_rules! on_backend {
    ($store:expr, $backend:ident => $call:expr) => {
        match &$store.backend {
            Backend::Sqlite($backend) => $call,
            Backend::Postgres($backend) => $call,
        }
    };
}

impl Store {
    /// Open the database at `url` and apply pending migrations: `sqlite://<file>` (created if
    /// needed) or `postgres://…` / `postgresql://…` (the database must exist).
    pub async fn open(url: &str) -> StoreResult<Store> {
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite(cloud_store_sqlite::Store::open(url).await?)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres(cloud_store_postgres::Store::open(url).await?)
        } else {
            return Err(StoreError::UnsupportedUrl(redact_url(url)));
        };
        Ok(Store {
            backend,
            audit_head_file: None,
            wake: Arc::default(),
        })
    }

    /// Open `<dir>/cloud.db`.
    pub async fn open_in(dir: &Path) -> StoreResult<Store> {
        Store::open(&format!("sqlite://{}", dir.join("cloud.db").display())).await
    }

    /// The backend: for tests and tools that look at the raw tables, or that exercise a
    /// backend's methods the façade keeps crate-private.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The SQLite pool of a SQLite store (tests that tamper with rows on purpose).
    ///
    /// # Panics
    /// On a PostgreSQL store: use [`Store::backend`] there.
    pub fn pool(&self) -> &SqlitePool {
        match &self.backend {
            Backend::Sqlite(store) => store.pool(),
            Backend::Postgres(_) => panic!("Store::pool() is the SQLite pool; this store is on PostgreSQL"),
        }
    }

    /// Whether the database answers (`/healthz`).
    pub async fn ping(&self) -> bool {
        on_backend!(self, s => s.ping().await)
    }

    pub async fn close(&self) {
        self.wake.stop.cancel();
        on_backend!(self, s => s.close().await)
    }

    /// Whether [`Store::close`] was called (readers of the log stop).
    pub fn is_closed(&self) -> bool {
        self.wake.stop.is_cancelled()
    }

    /// Tell readers of the log that events were committed: this process's at once, other
    /// processes through `NOTIFY` on PostgreSQL (SQLite readers poll).
    async fn events_written(&self) {
        self.wake.notify.notify_waiters();
        if let Backend::Postgres(pg) = &self.backend {
            if let Err(e) = pg.notify_events().await {
                tracing::debug!(error = %e, "cannot NOTIFY the event readers; they poll");
            }
        }
    }

    // The session event log.

    /// Append events of `session` that belong to no other change (queue moves, engine output
    /// batches, recovery and shutdown notes) and wake the readers.
    pub async fn append_events(&self, session: SessionId, events: &[NewEvent]) -> StoreResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let (store, events) = (self.clone(), events.to_vec());
        detached(&self.wake, async move {
            on_backend!(store, s => s.append_events(session, &events).await)?;
            store.events_written().await;
            Ok(())
        })
        .await
    }

    /// Up to `limit` events of `session` after `cursor`, oldest first.
    pub async fn events_after(&self, session: SessionId, cursor: i64, limit: i64) -> StoreResult<Vec<EventRow>> {
        on_backend!(self, s => s.events_after(session, cursor, limit).await)
    }

    /// Up to `limit` events of every session after `cursor`, oldest first.
    pub async fn events_since(&self, cursor: i64, limit: i64) -> StoreResult<Vec<EventRow>> {
        on_backend!(self, s => s.events_since(cursor, limit).await)
    }

    /// The newest cursor of the whole log (0 when empty).
    pub async fn last_event_id(&self) -> StoreResult<i64> {
        on_backend!(self, s => s.last_event_id().await)
    }

    /// `(bytes, events)` the log keeps for a session.
    pub async fn event_log_size(&self, session: SessionId) -> StoreResult<(i64, i64)> {
        on_backend!(self, s => s.event_log_size(session).await)
    }

    /// The last event a lobby on `platform` shows (0: none yet).
    pub async fn rendered_cursor(&self, session: SessionId, platform: Platform) -> StoreResult<i64> {
        on_backend!(self, s => s.rendered_cursor(session, platform).await)
    }

    /// Remember how far a lobby on `platform` is drawn (never moves backwards).
    pub async fn set_rendered_cursor(&self, session: SessionId, platform: Platform, cursor: i64) -> StoreResult<()> {
        on_backend!(self, s => s.set_rendered_cursor(session, platform, cursor).await)
    }

    /// Lobbies on `platform` whose session's log has events they have not drawn.
    pub async fn lobbies_behind(&self, platform: Platform) -> StoreResult<Vec<(ChatLobbyRow, i64)>> {
        on_backend!(self, s => s.lobbies_behind(platform).await)
    }

    // Sessions, their stacks, approvals and logs.

    /// Create a DRAFT session with its stack rows and a `session.created` audit row.
    pub async fn create_session(&self, new: NewSession) -> StoreResult<SessionRecord> {
        let record = on_backend!(self, s => s.create_session(new).await)?;
        self.events_written().await;
        Ok(record)
    }

    /// [`Store::create_session`] and its stack locks (without queueing) in one transaction: the
    /// session owns its stacks from the start, or stays DRAFT without locks when they are busy.
    pub(crate) async fn create_session_taking_locks(
        &self,
        new: NewSession,
    ) -> StoreResult<(SessionRecord, LockOutcome)> {
        let created = on_backend!(self, s => s.create_session_taking_locks(new).await)?;
        self.events_written().await;
        Ok(created)
    }

    /// One session by id.
    pub async fn session(&self, id: SessionId) -> StoreResult<SessionRecord> {
        on_backend!(self, s => s.session(id).await)
    }

    /// A session by full id or by a unique prefix of at least 4 hex digits (what people type).
    pub async fn find_session(&self, text: &str) -> StoreResult<SessionRecord> {
        on_backend!(self, s => s.find_session(text).await)
    }

    /// Sessions, newest first.
    ///
    /// A row that does not decode is skipped with a warning naming the session and the column
    /// (one bad row must not break `list`, `status` or the sweeper); `cloud doctor` lists them.
    pub async fn sessions(&self, filter: &SessionFilter) -> StoreResult<Vec<SessionRecord>> {
        let (good, bad) = self.sessions_checked(filter).await?;
        for row in &bad {
            tracing::warn!(session = %row.session, problem = %row.problem, "skipped a session row that does not decode; `cloud doctor` lists such rows");
        }
        Ok(good)
    }

    /// Sessions, newest first, and the rows that do not decode (left out of the first list).
    pub async fn sessions_checked(
        &self,
        filter: &SessionFilter,
    ) -> StoreResult<(Vec<SessionRecord>, Vec<BadSessionRow>)> {
        on_backend!(self, s => s.sessions_checked(filter).await)
    }

    /// Every `sessions` row that does not decode (`cloud doctor`).
    pub async fn bad_session_rows(&self) -> StoreResult<Vec<BadSessionRow>> {
        Ok(self.sessions_checked(&SessionFilter::default()).await?.1)
    }

    /// Move a session with a compare-and-set and append its audit row, in one transaction.
    /// Loses cleanly with [`StoreError::StateChanged`] when someone else moved it first.
    pub async fn transition(&self, t: Transition) -> StoreResult<SessionRecord> {
        self.transition_fenced(t, None).await
    }

    /// [`Store::transition`] made under a lease: [`StoreError::Fenced`] (nothing written) unless
    /// `fence` still holds the session's lease.
    ///
    /// Detached like every event-writing transaction (see [`Store::set_stack_state`]).
    pub async fn transition_fenced(&self, t: Transition, fence: Option<&Fence>) -> StoreResult<SessionRecord> {
        let (store, fence) = (self.clone(), fence.cloned());
        detached(&self.wake, async move {
            let record = on_backend!(store, s => s.transition_fenced(t, fence.as_ref()).await)?;
            store.events_written().await;
            Ok(record)
        })
        .await
    }

    /// Record an approval of `digest` by `approver`; the approval that completes the count moves
    /// the session PLAN_READY → APPROVED in the same transaction. Exactly one audit row either way.
    /// Authorisation (roles, four-eyes) is the caller's job; this only guards state and digest.
    pub async fn record_approval(
        &self,
        id: SessionId,
        approver: &Principal,
        digest: &str,
        override_reason: Option<&str>,
    ) -> StoreResult<SessionRecord> {
        let record = on_backend!(self, s => s.record_approval(id, approver, digest, override_reason).await)?;
        self.events_written().await;
        Ok(record)
    }

    /// Approvals recorded for a session (any digest).
    pub async fn approvals(&self, id: SessionId) -> StoreResult<Vec<ApprovalRow>> {
        on_backend!(self, s => s.approvals(id).await)
    }

    /// The per-stack rows of a session in apply order.
    pub async fn session_stacks(&self, id: SessionId) -> StoreResult<Vec<StackRow>> {
        on_backend!(self, s => s.session_stacks(id).await)
    }

    /// Set one stack's sub-state (and its counts / error when given).
    pub async fn set_stack_state(
        &self,
        id: SessionId,
        stack: &StackName,
        state: StackState,
        counts: Option<&ChangeCounts>,
        error: Option<&str>,
    ) -> StoreResult<()> {
        self.set_stack_state_fenced(id, stack, state, counts, error, None).await
    }

    /// [`Store::set_stack_state`] made under a lease (see [`Store::transition_fenced`]).
    pub async fn set_stack_state_fenced(
        &self,
        id: SessionId,
        stack: &StackName,
        state: StackState,
        counts: Option<&ChangeCounts>,
        error: Option<&str>,
        fence: Option<&Fence>,
    ) -> StoreResult<()> {
        // Detached: the stack futures of one scheduler are polled together, and a write
        // transaction left half-done while its future waits to be polled would hold SQLite's
        // write lock against the very loop that polls it (the fenced writes of a lease-holding
        // session once did exactly that: every other writer of the process timed out).
        let (store, stack, counts, error, fence) = (
            self.clone(),
            stack.clone(),
            counts.cloned(),
            error.map(str::to_string),
            fence.cloned(),
        );
        detached(&self.wake, async move {
            on_backend!(store, s => s.set_stack_state_fenced(id, &stack, state, counts.as_ref(), error.as_deref(), fence.as_ref()).await)?;
            store.events_written().await;
            Ok(())
        })
        .await
    }

    /// Take (or extend) the lease of session `id` for `owner`; claims an expired lease of
    /// another owner; [`StoreError::LeaseHeld`] while another owner's lease runs.
    pub async fn take_lease(&self, id: SessionId, owner: &str, ttl: std::time::Duration) -> StoreResult<Lease> {
        on_backend!(self, s => s.take_lease(id, owner, ttl).await)
    }

    /// Push the lease of `id` forward, if `fence` still holds it ([`StoreError::Fenced`] if not).
    pub async fn renew_lease(&self, id: SessionId, fence: &Fence, ttl: std::time::Duration) -> StoreResult<()> {
        on_backend!(self, s => s.renew_lease(id, fence, ttl).await)
    }

    /// Give the lease of `id` back; a lease no longer `fence`'s is left alone.
    pub async fn release_lease(&self, id: SessionId, fence: &Fence) -> StoreResult<bool> {
        on_backend!(self, s => s.release_lease(id, fence).await)
    }

    /// Claim exactly lease `lease` (same owner and token) for `owner`: taking over from an owner
    /// known to be gone before its lease expired. `None` when the lease changed meanwhile.
    pub async fn claim_lease(
        &self,
        lease: &Lease,
        owner: &str,
        ttl: std::time::Duration,
    ) -> StoreResult<Option<Lease>> {
        on_backend!(self, s => s.claim_lease(lease, owner, ttl).await)
    }

    /// Claim every expired lease for `owner` (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so two
    /// replicas never take one session over twice).
    pub async fn claim_expired_leases(&self, owner: &str, ttl: std::time::Duration) -> StoreResult<Vec<ClaimedLease>> {
        on_backend!(self, s => s.claim_expired_leases(owner, ttl).await)
    }

    /// Every lease, soonest expiry first.
    pub async fn leases(&self) -> StoreResult<Vec<Lease>> {
        on_backend!(self, s => s.leases().await)
    }

    /// The lease of session `id`, if one is held.
    pub async fn lease(&self, id: SessionId) -> StoreResult<Option<Lease>> {
        on_backend!(self, s => s.lease(id).await)
    }

    /// Take (or keep) the leader lease `name` for `owner` (`None` while another replica holds
    /// it); see [`crate::leader`].
    pub async fn take_service_lease(
        &self,
        name: &str,
        owner: &str,
        ttl: std::time::Duration,
    ) -> StoreResult<Option<ServiceLease>> {
        on_backend!(self, s => s.take_service_lease(name, owner, ttl).await)
    }

    /// Give the leader lease `name` back if `owner` holds it.
    pub async fn release_service_lease(&self, name: &str, owner: &str) -> StoreResult<bool> {
        on_backend!(self, s => s.release_service_lease(name, owner).await)
    }

    /// The leader lease `name`, if a replica holds (or held) it.
    pub async fn service_lease(&self, name: &str) -> StoreResult<Option<ServiceLease>> {
        on_backend!(self, s => s.service_lease(name).await)
    }

    /// Every held stack lock with its session.
    pub async fn held_locks(&self) -> StoreResult<Vec<HeldLock>> {
        on_backend!(self, s => s.held_locks().await)
    }

    /// Release every stack lock and queue place of session `id`, audited as `actor`.
    pub async fn release_session_locks(&self, id: SessionId, actor: &str, reason: &str) -> StoreResult<Vec<String>> {
        on_backend!(self, s => s.release_session_locks(id, actor, reason).await)
    }

    /// Release one stack lock by key whoever holds it, audited; the holder, if any.
    pub async fn force_release_lock(&self, key: &str, actor: &str, reason: &str) -> StoreResult<Option<SessionId>> {
        on_backend!(self, s => s.force_release_lock(key, actor, reason).await)
    }

    /// Engine output lines after `after`, in order: read from the event log's `output` batches.
    /// `seq` is the batch's cursor (every line of a batch shares it), so a follower passes the
    /// last `seq` it printed and gets the batches after it.
    pub async fn logs(&self, id: SessionId, after: i64) -> StoreResult<Vec<LogLine>> {
        let mut lines = Vec::new();
        let mut cursor = after;
        loop {
            let rows = on_backend!(self, s => s.output_after(id, cursor, 500).await)?;
            let Some(last) = rows.last() else { break };
            cursor = last.id;
            let more = rows.len() == 500;
            for row in rows {
                let seq = row.id;
                match serde_json::from_str::<OutputBatch>(&row.payload) {
                    Ok(batch) => lines.extend(batch.items.iter().filter_map(Progress::log_line).map(|line| LogLine {
                        seq,
                        stack: batch.stack.clone(),
                        line,
                    })),
                    Err(e) => tracing::warn!(session = %id, error = %e, "skipping an unreadable log entry"),
                }
            }
            if !more {
                break;
            }
        }
        Ok(lines)
    }

    /// How many sessions are in each state (for the `cloud_sessions` gauge and stats).
    pub async fn session_counts(&self) -> StoreResult<std::collections::BTreeMap<SessionState, u64>> {
        on_backend!(self, s => s.session_counts().await)
    }

    // The history, asked through indexes and aggregates (cost independent of its length).

    /// How many sessions of `project` are open (not terminal), leaving out `except`.
    pub async fn count_open_sessions(&self, project: &str, except: Option<SessionId>) -> StoreResult<u64> {
        on_backend!(self, s => s.count_open_sessions(project, except).await)
    }

    /// The sessions opened as follow-ups of `id`, oldest first.
    pub async fn follow_ups(&self, id: SessionId) -> StoreResult<Vec<SessionRecord>> {
        on_backend!(self, s => s.follow_ups(id).await)
    }

    /// For every stack of every environment of `project`, the APPLIED session that changed it last.
    pub async fn stack_heads(&self, project: &str) -> StoreResult<Vec<StackHead>> {
        on_backend!(self, s => s.stack_heads(project).await)
    }

    /// The aggregates `cloud stats` shows, over the sessions created in `[since, until)`.
    pub async fn session_stats(
        &self,
        since: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
        top: u32,
    ) -> StoreResult<SessionStatsRows> {
        on_backend!(self, s => s.session_stats(since, until, top).await)
    }

    /// What a prune with these cutoffs would remove (terminal sessions that ended before them).
    pub async fn prune_preview(
        &self,
        logs_before: chrono::DateTime<chrono::Utc>,
        plans_before: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<PruneCounts> {
        on_backend!(self, s => s.prune_preview(logs_before, plans_before).await)
    }

    /// Remove old logs and plan documents of terminal sessions, audited; returns what went.
    pub(crate) async fn prune(
        &self,
        logs_before: chrono::DateTime<chrono::Utc>,
        plans_before: chrono::DateTime<chrono::Utc>,
        actor: &str,
    ) -> StoreResult<PruneCounts> {
        on_backend!(self, s => s.prune(logs_before, plans_before, actor).await)
    }

    /// `(terminal sessions, stored text bytes per terminal session)`.
    pub async fn terminal_session_bytes(&self) -> StoreResult<(u64, f64)> {
        on_backend!(self, s => s.terminal_session_bytes().await)
    }

    // Stack locks, the lock queue, recorded configuration.

    /// Take every stack lock of session `id`, or (with `queue`) wait in line for them. Taking
    /// locks the session already holds is a no-op. A terminal session cannot take locks.
    pub async fn acquire_locks(&self, id: SessionId, queue: bool) -> StoreResult<LockOutcome> {
        on_backend!(self, s => s.acquire_locks(id, queue).await)
    }

    /// [`Store::acquire_locks`], also telling whether the grant ended the session's wait in the
    /// lock queue (its turn came and it took its stacks before a promotion handed them over).
    pub(crate) async fn take_locks(&self, id: SessionId, queue: bool) -> StoreResult<TakenLocks> {
        on_backend!(self, s => s.take_locks(id, queue).await)
    }

    /// Hand freed stacks to queued sessions, first come first served. Returns the sessions that
    /// got their locks. Idempotent; called after every terminal move.
    pub(crate) async fn promote_queue(&self) -> StoreResult<Vec<SessionId>> {
        on_backend!(self, s => s.promote_queue().await)
    }

    /// The lock keys session `id` holds, sorted.
    pub async fn session_locks(&self, id: SessionId) -> StoreResult<Vec<String>> {
        on_backend!(self, s => s.session_locks(id).await)
    }

    /// Whether session `id` holds the locks of all its stacks.
    pub async fn holds_all_locks(&self, id: SessionId) -> StoreResult<bool> {
        on_backend!(self, s => s.holds_all_locks(id).await)
    }

    /// When session `id` took its (oldest) stack lock, if it holds any.
    pub(crate) async fn locks_acquired_at(&self, id: SessionId) -> StoreResult<Option<chrono::DateTime<chrono::Utc>>> {
        on_backend!(self, s => s.locks_acquired_at(id).await)
    }

    /// Session `id`'s place in the lock queue, when it waits.
    pub(crate) async fn queue_entry(&self, id: SessionId) -> StoreResult<Option<QueueEntry>> {
        on_backend!(self, s => s.queue_entry(id).await)
    }

    /// The queued sessions whose place in the queue is not the one their last `queued` event
    /// announced, with their place now (reads the queue, not the event logs).
    pub async fn queue_moves(&self) -> StoreResult<Vec<QueueEntry>> {
        on_backend!(self, s => s.queue_moves().await)
    }

    /// Append session `id`'s `queued` event announcing `position` and remember that position as
    /// the one last told, in one transaction ([`Store::queue_moves`] compares with it).
    pub async fn tell_queue_position(&self, id: SessionId, position: u32, event: &NewEvent) -> StoreResult<()> {
        on_backend!(self, s => s.tell_queue_position(id, position, event).await)
    }

    /// The DRAFT sessions the lock queue handed their stacks to, that hold them and no longer
    /// wait (queued sessions whose turn came), oldest first; read through an index, not the logs.
    pub async fn queue_turns(&self) -> StoreResult<Vec<SessionId>> {
        on_backend!(self, s => s.queue_turns().await)
    }

    /// Who would stand between a new session and lock keys `keys` (holders, earlier queuers).
    pub async fn stack_holders(&self, keys: &std::collections::BTreeSet<String>) -> StoreResult<Vec<LockHolder>> {
        on_backend!(self, s => s.stack_holders(keys).await)
    }

    /// Who stands between session `id` and its stacks right now (empty when nothing does).
    pub async fn lock_blockers(&self, id: SessionId) -> StoreResult<Vec<LockHolder>> {
        on_backend!(self, s => s.lock_blockers(id).await)
    }

    /// Record the configuration a session's stack is planned with (secret values dropped).
    pub(crate) async fn set_stack_config(
        &self,
        id: SessionId,
        stack: &StackName,
        config: &[SavedConfig],
    ) -> StoreResult<()> {
        on_backend!(self, s => s.set_stack_config(id, stack, config).await)
    }

    /// The recorded configuration of each stack of a session (stacks without one are absent).
    pub(crate) async fn stack_configs(
        &self,
        id: SessionId,
    ) -> StoreResult<std::collections::BTreeMap<StackName, Vec<SavedConfig>>> {
        on_backend!(self, s => s.stack_configs(id).await)
    }

    // Stack outputs.

    /// Record what `stack` exported after session `session` applied it in `env`.
    pub async fn save_stack_outputs(
        &self,
        deployment_id: &str,
        env: &str,
        stack: &StackName,
        outputs: &serde_json::Value,
        session: SessionId,
    ) -> StoreResult<()> {
        on_backend!(self, s => s.save_stack_outputs(deployment_id, env, stack, outputs, session).await)
    }

    /// Forget the outputs of a destroyed stack.
    pub async fn delete_stack_outputs(&self, deployment_id: &str, env: &str, stack: &StackName) -> StoreResult<()> {
        on_backend!(self, s => s.delete_stack_outputs(deployment_id, env, stack).await)
    }

    /// The last applied outputs of every stack of every deployment of `project` in `env`, by
    /// deployment id and stack.
    pub async fn project_stack_outputs(
        &self,
        project: &str,
        env: &str,
    ) -> StoreResult<std::collections::BTreeMap<String, std::collections::BTreeMap<StackName, serde_json::Value>>> {
        on_backend!(self, s => s.project_stack_outputs(project, env).await)
    }

    // The audit log.

    /// Append an audit row on its own (for actions that are not session transitions).
    pub async fn audit(&self, entry: NewAudit) -> StoreResult<i64> {
        on_backend!(self, s => s.audit(entry).await)
    }

    /// Audit rows, oldest first, optionally for one session.
    pub async fn audit_entries(&self, session: Option<SessionId>) -> StoreResult<Vec<AuditEntry>> {
        on_backend!(self, s => s.audit_entries(session).await)
    }

    /// Sign the audit head with `key` in every append from now on (the key lives outside the
    /// database: see `cloud_core::audit_key`).
    ///
    /// `head_file` is where [`Store::export_audit_head`] copies the signed head.
    pub fn with_audit_key(mut self, key: AuditKey, head_file: Option<std::path::PathBuf>) -> Store {
        match &mut self.backend {
            Backend::Sqlite(s) => s.set_audit_key(key),
            Backend::Postgres(s) => s.set_audit_key(key),
        }
        self.audit_head_file = head_file;
        self
    }

    /// The signed head exported beside the audit key, if there is one that parses.
    fn exported_audit_head(&self) -> Option<Checkpoint> {
        let path = self.audit_head_file.as_ref()?;
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Copy the signed head checkpoint to the head file (0600, replaced atomically) when it
    /// verifies and is newer than the copy there. Never moves the copy backwards, and never
    /// copies a checkpoint this key did not sign. Run after every command and sweeper pass.
    pub async fn export_audit_head(&self) -> StoreResult<()> {
        let Some(path) = &self.audit_head_file else {
            return Ok(());
        };
        let key = on_backend!(self, s => s.audit_signing_key().cloned());
        let (Some(key), Some(cp)) = (key, self.audit_checkpoint().await?) else {
            return Ok(());
        };
        if cp.key_id != key.id || !key.verifies(&cp) {
            return Ok(());
        }
        if let Some(old) = self.exported_audit_head() {
            if old.head_seq >= cp.head_seq {
                return Ok(());
            }
            // Only a log that still holds the exported row moves the copy forward: a deleted
            // or replaced database must not erase the evidence that it was.
            let same = on_backend!(self, s => s.audit_hash_at(old.head_seq).await)?;
            if old.key_id == key.id && same.as_deref() != Some(old.head_hash.as_str()) {
                tracing::warn!(
                    seq = old.head_seq,
                    "the audit log no longer holds the exported head; keeping the export"
                );
                return Ok(());
            }
        }
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&serde_json::to_vec(&cp).expect("a checkpoint serialises"))?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        if let Err(e) = write() {
            tracing::warn!(path = %path.display(), error = %e, "cannot export the signed audit head");
        }
        Ok(())
    }

    /// The signed head checkpoint, if any.
    pub async fn audit_checkpoint(&self) -> StoreResult<Option<Checkpoint>> {
        on_backend!(self, s => s.audit_checkpoint().await)
    }

    /// Walk the chain from the first row and report the first one that does not verify; with an
    /// audit key, also compare the head with the signed checkpoint.
    pub async fn audit_verify(&self) -> StoreResult<AuditVerify> {
        let exported = self.exported_audit_head();
        on_backend!(self, s => s.audit_verify(exported.as_ref()).await)
    }

    // Grants and quotas.

    pub async fn create_grant(&self, grant: NewGrant) -> StoreResult<GrantRow> {
        on_backend!(self, s => s.create_grant(grant).await)
    }

    pub(crate) async fn grant(&self, id: &str) -> StoreResult<GrantRow> {
        on_backend!(self, s => s.grant(id).await)
    }

    /// Grants, optionally filtered; revoked ones included only when asked.
    pub async fn grants(
        &self,
        principal: Option<&Principal>,
        project: Option<&str>,
        include_revoked: bool,
    ) -> StoreResult<Vec<GrantRow>> {
        on_backend!(self, s => s.grants(principal, project, include_revoked).await)
    }

    pub(crate) async fn revoke_grant(&self, id: &str, by: &str, reason: &str) -> StoreResult<GrantRow> {
        on_backend!(self, s => s.revoke_grant(id, by, reason).await)
    }

    /// Record, once each, the grants that have expired by `now`. Returns their ids.
    pub(crate) async fn record_grant_expiries(&self, now: chrono::DateTime<chrono::Utc>) -> StoreResult<Vec<String>> {
        on_backend!(self, s => s.record_grant_expiries(now).await)
    }

    /// Set (insert or replace) one quota limit, audited.
    pub(crate) async fn set_quota(&self, project: &str, key: &str, limit: f64, by: &str) -> StoreResult<()> {
        on_backend!(self, s => s.set_quota(project, key, limit, by).await)
    }

    pub async fn quotas(&self, project: &str) -> StoreResult<Vec<QuotaRow>> {
        on_backend!(self, s => s.quotas(project).await)
    }

    // Identities: API tokens and people.

    /// Store a new API token (its hash), audited.
    pub async fn create_token(&self, token: NewToken) -> StoreResult<TokenRow> {
        on_backend!(self, s => s.create_token(token).await)
    }

    /// The token whose secret hashes to `hash` (revoked or expired ones included).
    pub async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<TokenRow>> {
        on_backend!(self, s => s.token_by_hash(hash).await)
    }

    pub async fn token(&self, id: &str) -> StoreResult<TokenRow> {
        on_backend!(self, s => s.token(id).await)
    }

    /// Tokens, optionally of one principal; revoked ones only when asked.
    pub async fn tokens(&self, principal: Option<&Principal>, include_revoked: bool) -> StoreResult<Vec<TokenRow>> {
        on_backend!(self, s => s.tokens(principal, include_revoked).await)
    }

    pub async fn revoke_token(&self, id: &str, by: &str, reason: &str) -> StoreResult<TokenRow> {
        on_backend!(self, s => s.revoke_token(id, by, reason).await)
    }

    /// Link identities into one person, audited.
    pub async fn link_person(&self, person: &str, principals: &[Principal], by: &str) -> StoreResult<Vec<PersonLink>> {
        on_backend!(self, s => s.link_person(person, principals, by).await)
    }

    /// The person a principal was linked to, if any.
    pub async fn person_of(&self, principal: &Principal) -> StoreResult<Option<String>> {
        on_backend!(self, s => s.person_of(principal).await)
    }

    /// Whether two principals are the same person: equal, or linked to one person.
    pub async fn same_person(&self, a: &Principal, b: &Principal) -> StoreResult<bool> {
        if a == b {
            return Ok(true);
        }
        Ok(match (self.person_of(a).await?, self.person_of(b).await?) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        })
    }

    // Projects and deployments.

    /// Create a project with its environments; refuses an existing name.
    pub async fn create_project(
        &self,
        name: &str,
        org: &str,
        provider: &str,
        environments: &[String],
        actor: &str,
    ) -> StoreResult<ProjectRow> {
        on_backend!(self, s => s.create_project(name, org, provider, environments, actor).await)
    }

    pub async fn project(&self, name: &str) -> StoreResult<Option<ProjectRow>> {
        on_backend!(self, s => s.project(name).await)
    }

    pub async fn projects(&self) -> StoreResult<Vec<ProjectRow>> {
        on_backend!(self, s => s.projects().await)
    }

    /// Record a deployment (from its manifest) under its project, creating the project when it
    /// is not known yet. Idempotent.
    pub async fn sync_deployment(
        &self,
        id: &str,
        org: &str,
        project: &str,
        provider: &str,
        environments: &[String],
        manifest_path: &str,
    ) -> StoreResult<()> {
        on_backend!(self, s => s.sync_deployment(id, org, project, provider, environments, manifest_path).await)
    }

    // Chat lobbies.

    /// Record (or move) a session's lobby message.
    pub async fn save_lobby(&self, row: &ChatLobbyRow) -> StoreResult<()> {
        on_backend!(self, s => s.save_lobby(row).await)
    }

    /// The lobby of a session on a platform, if one was posted.
    pub async fn lobby(&self, session: SessionId, platform: Platform) -> StoreResult<Option<ChatLobbyRow>> {
        on_backend!(self, s => s.lobby(session, platform).await)
    }

    /// Remember the thread opened for a session's lobby.
    pub async fn set_lobby_thread(&self, session: SessionId, platform: Platform, thread: &str) -> StoreResult<()> {
        on_backend!(self, s => s.set_lobby_thread(session, platform, thread).await)
    }
}

/// The payload of an `output` event (a batch of one stack's engine output) as `cloud logs`
/// reads it: the store decodes only what it shows, so it needs nothing of the orchestrator's
/// event types.
#[derive(serde::Deserialize)]
struct OutputBatch {
    stack: String,
    items: Vec<Progress>,
}
