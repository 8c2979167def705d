//! Persistence: the [`Store`] façade with domain-named methods, over one of two backends chosen
//! by the database URL — SQLite (`sqlite://…`, the embedded default) or PostgreSQL
//! (`postgres://…`, the team backend). Both run the same checked queries (cloud-store's
//! `queries/`, compiled by cloud-store-sqlite and cloud-store-postgres) on the same migrations.
//!
//! Every session transition is a compare-and-set (`UPDATE … WHERE id = $1 AND state = $2`)
//! committed in the same transaction as its audit row, so two concurrent clicks can never both
//! win; each backend's `begin_write` documents how it serialises writers.

use std::path::Path;

use sqlx::SqlitePool;

pub use cloud_store::audit::{AuditEntry, AuditVerify, BadRow, NewAudit};
pub use cloud_store::migrate::{self, MIGRATIONS as MIGRATOR};
pub(crate) use cloud_store::{is_alive, SavedConfig, StoreResult};
pub use cloud_store::{
    redact_url, ApprovalRow, ChatLobbyRow, GrantRow, LockHolder, LockOutcome, LogLine, NewGrant, NewSession,
    ProcessOwner, ProjectRow, PruneCounts, QueueEntry, QuotaRow, SessionFilter, SessionRecord, SessionStatsRows,
    SessionUpdate, StackHead, StackRow, StoreError, TakenLocks, Transition,
};

use crate::engine::ChangeCounts;
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
        Ok(Store { backend })
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
        on_backend!(self, s => s.close().await)
    }

    // Sessions, their stacks, approvals and logs.

    /// Create a DRAFT session with its stack rows and a `session.created` audit row.
    pub async fn create_session(&self, new: NewSession) -> StoreResult<SessionRecord> {
        on_backend!(self, s => s.create_session(new).await)
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
    pub async fn sessions(&self, filter: &SessionFilter) -> StoreResult<Vec<SessionRecord>> {
        on_backend!(self, s => s.sessions(filter).await)
    }

    /// Move a session with a compare-and-set and append its audit row, in one transaction.
    /// Loses cleanly with [`StoreError::StateChanged`] when someone else moved it first.
    pub async fn transition(&self, t: Transition) -> StoreResult<SessionRecord> {
        on_backend!(self, s => s.transition(t).await)
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
        on_backend!(self, s => s.record_approval(id, approver, digest, override_reason).await)
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
        on_backend!(self, s => s.set_stack_state(id, stack, state, counts, error).await)
    }

    /// Append engine output lines for `cloud logs`.
    pub(crate) async fn append_logs(&self, id: SessionId, lines: &[(String, String)]) -> StoreResult<()> {
        on_backend!(self, s => s.append_logs(id, lines).await)
    }

    /// Log lines after `after_seq`, in order.
    pub async fn logs(&self, id: SessionId, after_seq: i64) -> StoreResult<Vec<LogLine>> {
        on_backend!(self, s => s.logs(id, after_seq).await)
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

    // The audit log.

    /// Append an audit row on its own (for actions that are not session transitions).
    pub async fn audit(&self, entry: NewAudit) -> StoreResult<i64> {
        on_backend!(self, s => s.audit(entry).await)
    }

    /// Audit rows, oldest first, optionally for one session.
    pub async fn audit_entries(&self, session: Option<SessionId>) -> StoreResult<Vec<AuditEntry>> {
        on_backend!(self, s => s.audit_entries(session).await)
    }

    /// Walk the chain from the first row and report the first one that does not verify.
    pub async fn audit_verify(&self) -> StoreResult<AuditVerify> {
        on_backend!(self, s => s.audit_verify().await)
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
        environments: &[String],
        manifest_path: &str,
    ) -> StoreResult<()> {
        on_backend!(self, s => s.sync_deployment(id, org, project, environments, manifest_path).await)
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
