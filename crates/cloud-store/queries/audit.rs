//! Appending to and reading the hash-chained audit log (the hashing is cloud-store's `audit`).

use crate::{Conn, Store};
use cloud_domain::session::SessionId;
use cloud_store::audit::{next_row, verify, StoredAudit};
use cloud_store::{AuditEntry, AuditVerify, NewAudit, StoreResult};

/// Append one row inside the caller's write transaction: the chain head read here is still the
/// head at commit because every writer holds the store-wide write lock (`Store::begin_write`).
pub(super) async fn append(conn: &mut Conn, entry: &NewAudit) -> StoreResult<i64> {
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
    Ok(row.seq)
}

impl Store {
    /// Append an audit row on its own (for actions that are not session transitions).
    pub async fn audit(&self, entry: NewAudit) -> StoreResult<i64> {
        let mut tx = self.begin_write().await?;
        let seq = append(&mut tx, &entry).await?;
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

    /// Walk the chain from the first row and report the first one that does not verify.
    pub async fn audit_verify(&self) -> StoreResult<AuditVerify> {
        let rows = sqlx::query_as!(
            StoredAudit,
            "SELECT seq, at, actor, action, session_id, project, details, prev_hash, hash
             FROM audit_events ORDER BY seq"
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(verify(&rows))
    }
}
