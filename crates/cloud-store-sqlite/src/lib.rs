//! The store on SQLite, the embedded default: one file (WAL, foreign keys on) under the data
//! directory. The queries and transactions are cloud-store's `queries/`, compiled here so that
//! each `query!` is checked against SQLite (offline cache: this crate's `.sqlx/`).
//!
//! Writers serialise on SQLite's own write lock: [`Store::begin_write`] is `BEGIN IMMEDIATE`,
//! so a transaction that reads and then writes (compare-and-set + audit row, the lock queue)
//! holds the lock from its first read and can never act on a stale snapshot. Within one process
//! they first queue for the process's writer turn (first come, first served), so a writer waits
//! for the one before it to commit rather than in SQLite's busy handler, which sleeps in steps
//! of up to 100 ms and holds a pool connection meanwhile (eight waiting writers would leave no
//! connection for a read). Other processes still meet on SQLite's lock and its busy timeout.

#[path = "../../cloud-store/queries/mod.rs"]
mod queries;

use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

use cloud_store::migrate::{migrator, Dialect};
use cloud_store::{StoreError, StoreResult};

/// A connection, for helpers that run inside a caller's transaction.
type Conn = sqlx::SqliteConnection;

/// The SQLite store. Cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    /// Signs the audit head checkpoint in every append's transaction (`None`: the chain only).
    audit_key: Option<std::sync::Arc<cloud_store::AuditKey>>,
    /// This process's writer turn (see the module doc), shared by every clone.
    writer: Arc<Mutex<()>>,
}

/// A write transaction (`Turned<Transaction>`) or a connection for one autocommit write
/// (`Turned<PoolConnection>`) that holds this process's writer turn until it is dropped, a
/// transaction until it commits or rolls back. Used like sqlx's: `&mut *tx` is its connection.
pub(crate) struct Turned<T> {
    // Dropped before the turn: the rollback of a dropped transaction is queued on its connection
    // before the next writer of this process begins.
    inner: T,
    _turn: OwnedMutexGuard<()>,
}

type WriteTx = Turned<Transaction<'static, Sqlite>>;

impl WriteTx {
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.inner.commit().await
    }
}

impl<T: DerefMut<Target = Conn>> Deref for Turned<T> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.inner
    }
}

impl<T: DerefMut<Target = Conn>> DerefMut for Turned<T> {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.inner
    }
}

impl Store {
    /// Open (creating if needed) the database at `url` (`sqlite://<file>`) and apply pending
    /// migrations.
    pub async fn open(url: &str) -> StoreResult<Store> {
        let open_error = |source| StoreError::Open {
            url: url.to_string(),
            source,
        };
        let options = SqliteConnectOptions::from_str(url)
            .map_err(open_error)?
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
            .map_err(open_error)?;
        // Two processes opening a fresh database at once (the bot and a `cloud status`, or two
        // CLI runs) would both see migration 1 pending and one would fail with "table already
        // exists": SQLite has no advisory lock sqlx could take, so hold an exclusive file lock
        // beside the database while migrating.
        let _migrating = MigrationLock::take(&db_file).await?;
        migrator(Dialect::Sqlite).await?.run(&pool).await?;
        Ok(Store {
            pool,
            audit_key: None,
            writer: Arc::new(Mutex::new(())),
        })
    }

    /// The connection pool (tests and tools that look at the raw tables).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Whether the database answers (`/healthz`).
    pub async fn ping(&self) -> bool {
        use sqlx::Connection;
        match self.pool.acquire().await {
            Ok(mut conn) => conn.ping().await.is_ok(),
            Err(_) => false,
        }
    }

    /// A write transaction that takes SQLite's write lock up front, so a read-then-write inside it
    /// cannot fail with a stale snapshot when another writer commits in between. It waits for
    /// this process's writer turn before it takes a connection from the pool.
    async fn begin_write(&self) -> StoreResult<WriteTx> {
        let turn = self.writer.clone().lock_owned().await;
        let inner = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(Turned { inner, _turn: turn })
    }

    /// A connection for one write statement (autocommit), after this process's writer turn.
    async fn write_conn(&self) -> StoreResult<Turned<PoolConnection<Sqlite>>> {
        let turn = self.writer.clone().lock_owned().await;
        let inner = self.pool.acquire().await?;
        Ok(Turned { inner, _turn: turn })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Claim every lease that expired (its owner stopped renewing it) for `owner`, valid for
    /// `ttl`: each gets a bigger token, so the old owner's writes are fenced off from now on.
    /// SQLite has one writer at a time (`BEGIN IMMEDIATE`), so two processes never claim one lease.
    pub async fn claim_expired_leases(
        &self,
        owner: &str,
        ttl: Duration,
    ) -> StoreResult<Vec<cloud_store::ClaimedLease>> {
        let now = cloud_store::time::now_text();
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query_as!(
            cloud_store::leases::StoredLease,
            r#"SELECT session_id AS "session_id!", owner, token, expires_at FROM session_leases
               WHERE expires_at <= $1 ORDER BY expires_at"#,
            now
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut claimed = Vec::new();
        for row in rows {
            let previous = cloud_store::Lease::try_from(row)?;
            if let Some(lease) = queries::leases::claim_on(&mut tx, &previous, owner, ttl).await? {
                claimed.push(cloud_store::ClaimedLease {
                    lease,
                    previous_owner: previous.owner,
                    previous_expiry: previous.expires_at,
                });
            }
        }
        tx.commit().await?;
        Ok(claimed)
    }
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
        let path = PathBuf::from(name);
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
