//! Persistence: a [`Store`] façade with domain-named methods over small per-aggregate modules.
//! SQLite (WAL, foreign keys on) is the embedded default; SQL stays portable for Postgres.
//!
//! Every session transition is a compare-and-set (`UPDATE … WHERE id = ? AND state = ?`) committed
//! in the same transaction as its audit row, so two concurrent clicks can never both win.

pub(crate) mod audit;
mod chat;
mod grants;
mod locks;
mod owner;
mod projects;
mod sessions;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

pub use audit::{AuditEntry, AuditVerify, BadRow, NewAudit};
pub use chat::ChatLobbyRow;
pub use grants::{GrantRow, NewGrant, QuotaRow};
pub(crate) use locks::SavedConfig;
pub use locks::{LockHolder, LockOutcome, QueueEntry};
pub(crate) use owner::is_alive;
pub use owner::ProcessOwner;
pub use projects::ProjectRow;
pub use sessions::{
    ApprovalRow, LogLine, NewSession, SessionFilter, SessionRecord, SessionUpdate, StackRow, Transition,
};

use cloud_domain::session::{SessionId, SessionState, TransitionError};

/// The migrations under `migrations/`, embedded at compile time and applied at start-up.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Errors a caller may branch on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The compare-and-set lost: someone else moved the session first.
    #[error("session {id} changed while you acted: it is now {actual} (expected {expected}); look at `cloud status {short}` and try again if it still makes sense", short = &id.to_string()[..8])]
    StateChanged {
        id: SessionId,
        expected: SessionState,
        actual: SessionState,
    },
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("no session {0}; `cloud list` shows the sessions")]
    SessionNotFound(String),
    #[error("`{0}` matches several sessions; give more of the id")]
    AmbiguousSession(String),
    #[error("{0}")]
    Conflict(String),
    /// A row that does not decode into the domain model (never defaulted silently).
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("cannot open the database at {url}: {source}")]
    Open {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot lock the database for its migrations: {0}")]
    MigrationLock(#[source] std::io::Error),
    #[error("cannot apply the database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

pub(crate) type StoreResult<T> = Result<T, StoreError>;

/// The persistence façade. Cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Open (creating if needed) the database at `url` and apply pending migrations.
    pub async fn open(url: &str) -> StoreResult<Store> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|source| StoreError::Open {
                url: url.to_string(),
                source,
            })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // Writers queue on SQLite's lock rather than failing: `BEGIN IMMEDIATE` + busy wait.
            .busy_timeout(Duration::from_secs(30));
        let db_file = options.get_filename().to_path_buf();
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                url: url.to_string(),
                source,
            })?;
        // Two processes opening a fresh database at once (the bot and a `cloud status`, or two
        // CLI runs) would both see migration 1 pending and one would fail with "table already
        // exists": SQLite has no advisory lock sqlx could take, so hold an exclusive file lock
        // beside the database while migrating.
        let _migrating = MigrationLock::take(&db_file).await?;
        MIGRATOR.run(&pool).await?;
        Ok(Store { pool })
    }

    /// Open `<dir>/cloud.db`.
    pub async fn open_in(dir: &Path) -> StoreResult<Store> {
        Store::open(&format!("sqlite://{}", dir.join("cloud.db").display())).await
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Whether the database answers (`/healthz`).
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// A write transaction that takes SQLite's write lock up front, so a read-then-write inside it
    /// cannot fail with a stale snapshot when another writer commits in between.
    pub(crate) async fn begin_write(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Now, as stored: RFC 3339 UTC with microseconds (sortable as text).
pub(crate) fn now_text() -> String {
    format_time(chrono::Utc::now())
}

pub(crate) fn format_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

pub(crate) fn parse_time(s: &str) -> StoreResult<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| StoreError::Corrupt(format!("bad timestamp `{s}`: {e}")))
}

/// An exclusive lock on `<database>.migrate.lock`, held while migrations run; released on drop.
/// In-memory databases need none.
struct MigrationLock {
    _held: Option<std::fs::File>,
}

impl MigrationLock {
    async fn take(db: &Path) -> StoreResult<MigrationLock> {
        if db.as_os_str().is_empty() || db == Path::new(":memory:") {
            return Ok(MigrationLock { _held: None });
        }
        let mut name = db.as_os_str().to_owned();
        name.push(".migrate.lock");
        let path = std::path::PathBuf::from(name);
        let file = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)?;
            file.lock()?;
            Ok(file)
        })
        .await
        .expect("the migration lock task does not panic")
        .map_err(StoreError::MigrationLock)?;
        Ok(MigrationLock { _held: Some(file) })
    }
}
