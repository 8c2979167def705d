//! The store on PostgreSQL, the team backend: several `cloud` processes (bots, CLIs, replicas)
//! on one database. The queries and transactions are cloud-store's `queries/`, compiled here so
//! that each `query!` is checked against PostgreSQL (offline cache: this crate's `.sqlx/`).
//!
//! # Why one advisory lock for writers
//!
//! The store's write transactions read before they write: a compare-and-set followed by an audit
//! row that chains on the newest audit row, the lock queue that decides who is next from several
//! rows. On SQLite `BEGIN IMMEDIATE` serialises them. Here [`Store::begin_write`] does the same
//! with one transaction-scoped advisory lock ([`WRITE_LOCK`]) taken as the transaction's first
//! statement, under READ COMMITTED: every later statement sees what the previous lock holder
//! committed, the audit chain head cannot move under an append, and two replicas cannot both
//! grant a stack. Row locks alone would not cover the audit head or "no row yet" decisions;
//! SERIALIZABLE would turn contention into retry loops in every caller. Writes are short
//! (milliseconds) and human-paced, so one lock costs nothing measurable. The isolation level is
//! set explicitly: under REPEATABLE READ the snapshot would be taken before the lock is granted.
//! Migrations take sqlx's own advisory lock, so replicas starting together migrate once.

#[path = "../../cloud-store/queries/mod.rs"]
mod queries;

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use cloud_store::migrate::{migrator, Dialect};
use cloud_store::{redact_url, StoreError, StoreResult};

/// A connection, for helpers that run inside a caller's transaction.
type Conn = sqlx::PgConnection;

/// The advisory lock key every write transaction holds (`pg_advisory_xact_lock`): the ASCII
/// bytes of "cloud-st". Anything else in the same database that uses advisory locks must avoid it.
pub const WRITE_LOCK: i64 = 0x636c_6f75_642d_7374;

/// The PostgreSQL store. Cheap to clone (a pool handle).
#[derive(Clone, Debug)]
pub struct Store {
    pool: PgPool,
    /// Signs the audit head checkpoint in every append's transaction (`None`: the chain only).
    audit_key: Option<std::sync::Arc<cloud_store::AuditKey>>,
}

impl Store {
    /// Connect to the database at `url` (`postgres://…`) and apply pending migrations. The
    /// database must exist; the user needs CREATE on it for the first migration.
    pub async fn open(url: &str) -> StoreResult<Store> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await
            .map_err(|source| StoreError::Open {
                url: redact_url(url),
                source,
            })?;
        migrator(Dialect::Postgres).await?.run(&pool).await?;
        Ok(Store { pool, audit_key: None })
    }

    /// The connection pool (tests and tools that look at the raw tables).
    pub fn pool(&self) -> &PgPool {
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

    /// A write transaction holding the store-wide write lock (see the crate docs).
    async fn begin_write(&self) -> StoreResult<Transaction<'static, Postgres>> {
        let mut tx = self.pool.begin_with("BEGIN ISOLATION LEVEL READ COMMITTED").await?;
        sqlx::query!("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// A connection for one write statement (autocommit): row locks order it, it needs no turn.
    async fn write_conn(&self) -> StoreResult<sqlx::pool::PoolConnection<Postgres>> {
        Ok(self.pool.acquire().await?)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Claim every lease that expired (its owner stopped renewing it) for `owner`, valid for
    /// `ttl`: each gets a bigger token, so the old owner's writes are fenced off from now on.
    /// Expired leases are claimed with `FOR UPDATE SKIP LOCKED`: two replicas sweeping at the same
    /// moment each take different sessions and never both take one over (the claim also holds
    /// the store-wide write lock, so no fenced write interleaves with it).
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
               WHERE expires_at <= $1 ORDER BY expires_at FOR UPDATE SKIP LOCKED"#,
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

    /// Wake every process that listens on [`EVENTS_CHANNEL`]: new session events are committed.
    pub async fn notify_events(&self) -> StoreResult<()> {
        sqlx::query(&format!("NOTIFY {EVENTS_CHANNEL}"))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A dedicated connection listening on [`EVENTS_CHANNEL`] (cloud-core's event feed wakes its
    /// readers on each notification instead of polling).
    pub async fn listen_events(&self) -> StoreResult<sqlx::postgres::PgListener> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        listener.listen(EVENTS_CHANNEL).await?;
        Ok(listener)
    }
}

/// The `LISTEN`/`NOTIFY` channel that says "session events were appended".
pub const EVENTS_CHANNEL: &str = "cloud_session_events";
