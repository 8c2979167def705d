//! Appending to and reading the hash-chained audit log (the hashing is cloud-store's `audit`),
//! and its signed head checkpoint.

use crate::{Conn, Store};
use cloud_domain::session::SessionId;
use cloud_store::audit::{next_checkpoint, next_row, verify, verify_checkpoint, StoredAudit};
use cloud_store::{AuditEntry, AuditKey, AuditVerify, Checkpoint, NewAudit, StoreResult};

/// Append one row inside the caller's write transaction: the chain head read here is still the
/// head at commit because every writer holds the store-wide write lock (`Store::begin_write`).
///
/// With an audit key, the signed head checkpoint is rewritten in the same transaction, so the
/// row and the signature that covers it commit together or not at all.
pub(super) async fn append(conn: &mut Conn, key: Option<&AuditKey>, entry: &NewAudit) -> StoreResult<i64> {
    let last = sqlx::query!("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| (r.seq, r.hash));
    let row = next_row(last, entry);
    sqlx::query!(
        "INSERT INTO audit_events (seq, at, actor, action, session_id, project, details, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        row.seq,
        row.at,
        row.actor,
        row.action,
        row.session_id,
        row.project,
        row.details,
        row.prev_hash,
        row.hash,
    )
    .execute(&mut *conn)
    .await?;
    if let Some(key) = key {
        let previous = checkpoint(&mut *conn).await?;
        if let Some(cp) = next_checkpoint(key, previous.as_ref(), &row) {
            sqlx::query!(
                "INSERT INTO audit_checkpoint (id, head_seq, head_hash, since_seq, since_at, key_id, mac)
                 VALUES (1, $1, $2, $3, $4, $5, $6)
                 ON CONFLICT (id) DO UPDATE SET head_seq = excluded.head_seq, head_hash = excluded.head_hash,
                   since_seq = excluded.since_seq, since_at = excluded.since_at,
                   key_id = excluded.key_id, mac = excluded.mac",
                cp.head_seq,
                cp.head_hash,
                cp.since_seq,
                cp.since_at,
                cp.key_id,
                cp.mac,
            )
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(row.seq)
}

async fn checkpoint(conn: &mut Conn) -> StoreResult<Option<Checkpoint>> {
    Ok(sqlx::query_as!(
        Checkpoint,
        r#"SELECT head_seq AS "head_seq!: i64", head_hash, since_seq AS "since_seq!: i64", since_at, key_id, mac
           FROM audit_checkpoint WHERE id = 1"#
    )
    .fetch_optional(&mut *conn)
    .await?)
}

impl Store {
    /// The key that signs the audit head, if the store was given one.
    pub(super) fn audit_key(&self) -> Option<&AuditKey> {
        self.audit_key.as_deref()
    }

    /// Sign the audit head with `key` from now on.
    pub fn set_audit_key(&mut self, key: AuditKey) {
        self.audit_key = Some(std::sync::Arc::new(key));
    }

    /// Append an audit row on its own (for actions that are not session transitions).
    pub async fn audit(&self, entry: NewAudit) -> StoreResult<i64> {
        let mut tx = self.begin_write().await?;
        let seq = append(&mut tx, self.audit_key(), &entry).await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// Audit rows, oldest first, optionally for one session.
    pub async fn audit_entries(&self, session: Option<SessionId>) -> StoreResult<Vec<AuditEntry>> {
        let session = session.map(|id| id.to_string());
        let rows = sqlx::query_as!(
            StoredAudit,
            r#"SELECT seq, at, actor, action, session_id, project, details, prev_hash, hash
               FROM audit_events WHERE CAST($1 AS TEXT) IS NULL OR session_id = $1 ORDER BY seq"#,
            session
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(AuditEntry::try_from).collect()
    }

    /// The key that signs the audit head, if any (the façade exports heads with it).
    pub fn audit_signing_key(&self) -> Option<&AuditKey> {
        self.audit_key()
    }

    /// The hash of row `seq`, if the log has that row.
    pub async fn audit_hash_at(&self, seq: i64) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar!("SELECT hash FROM audit_events WHERE seq = $1", seq)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The signed head checkpoint, if there is one.
    pub async fn audit_checkpoint(&self) -> StoreResult<Option<Checkpoint>> {
        let mut conn = self.pool.acquire().await?;
        checkpoint(&mut conn).await
    }

    /// Walk the chain from the first row and report the first one that does not verify; with
    /// an audit key, also compare the log's head with the signed checkpoint.
    pub async fn audit_verify(&self, exported: Option<&Checkpoint>) -> StoreResult<AuditVerify> {
        // The rows and the checkpoint read under the write lock: a concurrent append between
        // the two reads must not look like a mismatch.
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query_as!(
            StoredAudit,
            "SELECT seq, at, actor, action, session_id, project, details, prev_hash, hash
             FROM audit_events ORDER BY seq"
        )
        .fetch_all(&mut *tx)
        .await?;
        let cp = checkpoint(&mut tx).await?;
        tx.commit().await?;
        let mut result = verify(&rows);
        if let Some(key) = self.audit_key() {
            result.checkpoint = Some(verify_checkpoint(key, &rows, cp.as_ref(), exported));
        }
        Ok(result)
    }
}
