//! The append-only, hash-chained audit log. Each row stores
//! `sha256(previous hash ‖ canonical row)`, so altering or deleting a row breaks every hash after
//! it and `cloud audit verify` names the first row that no longer verifies.

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{Row, SqliteConnection};

use super::{now_text, Store, StoreResult};
use cloud_domain::session::SessionId;

/// What to append.
#[derive(Debug, Clone)]
pub struct NewAudit {
    pub actor: String,
    pub action: String,
    pub session_id: Option<SessionId>,
    pub project: Option<String>,
    pub details: serde_json::Value,
}

/// One stored audit row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub session_id: Option<String>,
    pub project: Option<String>,
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditVerify {
    pub rows: u64,
    /// The first row whose hash does not verify, with what was expected.
    pub first_bad: Option<BadRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BadRow {
    pub seq: i64,
    pub reason: String,
}

/// The canonical bytes of a row: a JSON array in fixed order, so the hash does not depend on
/// key order or whitespace.
fn canonical(
    seq: i64,
    at: &str,
    actor: &str,
    action: &str,
    session_id: Option<&str>,
    project: Option<&str>,
    details: &str,
) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!([
        seq, at, actor, action, session_id, project, details
    ]))
    .expect("a JSON array of strings always serialises")
}

fn chain_hash(prev: &str, row: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(prev.as_bytes());
    hasher.update(row);
    hex::encode(hasher.finalize())
}

/// Append one row inside the caller's (write) transaction.
pub(crate) async fn append(conn: &mut SqliteConnection, entry: &NewAudit) -> StoreResult<i64> {
    let last = sqlx::query("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    let (seq, prev_hash) = match last {
        Some(row) => (row.get::<i64, _>("seq") + 1, row.get::<String, _>("hash")),
        None => (1, String::new()),
    };
    let at = now_text();
    let session_id = entry.session_id.map(|id| id.to_string());
    let details = serde_json::to_string(&entry.details).expect("JSON value serialises");
    let hash = chain_hash(
        &prev_hash,
        &canonical(
            seq,
            &at,
            &entry.actor,
            &entry.action,
            session_id.as_deref(),
            entry.project.as_deref(),
            &details,
        ),
    );
    sqlx::query(
        "INSERT INTO audit_events (seq, at, actor, action, session_id, project, details, prev_hash, hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(seq)
    .bind(&at)
    .bind(&entry.actor)
    .bind(&entry.action)
    .bind(&session_id)
    .bind(&entry.project)
    .bind(&details)
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    Ok(seq)
}

fn entry_from_row(row: &sqlx::sqlite::SqliteRow) -> AuditEntry {
    let details: String = row.get("details");
    AuditEntry {
        seq: row.get("seq"),
        at: row.get("at"),
        actor: row.get("actor"),
        action: row.get("action"),
        session_id: row.get("session_id"),
        project: row.get("project"),
        details: serde_json::from_str(&details).unwrap_or(serde_json::Value::String(details)),
        prev_hash: row.get("prev_hash"),
        hash: row.get("hash"),
    }
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
        let rows = match session {
            Some(id) => {
                sqlx::query("SELECT * FROM audit_events WHERE session_id = ? ORDER BY seq")
                    .bind(id.to_string())
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query("SELECT * FROM audit_events ORDER BY seq")
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        Ok(rows.iter().map(entry_from_row).collect())
    }

    /// Walk the chain from the first row and report the first one that does not verify.
    pub async fn audit_verify(&self) -> StoreResult<AuditVerify> {
        let rows = sqlx::query("SELECT * FROM audit_events ORDER BY seq")
            .fetch_all(&self.pool)
            .await?;
        let mut prev = String::new();
        for (expected_seq, row) in (1_i64..).zip(&rows) {
            let seq: i64 = row.get("seq");
            let stored_prev: String = row.get("prev_hash");
            let hash: String = row.get("hash");
            let bad = |reason: String| {
                Ok(AuditVerify {
                    rows: rows.len() as u64,
                    first_bad: Some(BadRow { seq, reason }),
                })
            };
            if seq != expected_seq {
                return bad(format!(
                    "expected row {expected_seq} here: rows were deleted or renumbered"
                ));
            }
            if stored_prev != prev {
                return bad("its prev_hash does not match the previous row's hash".into());
            }
            let session_id: Option<String> = row.get("session_id");
            let project: Option<String> = row.get("project");
            let details: String = row.get("details");
            let computed = chain_hash(
                &prev,
                &canonical(
                    seq,
                    row.get::<&str, _>("at"),
                    row.get::<&str, _>("actor"),
                    row.get::<&str, _>("action"),
                    session_id.as_deref(),
                    project.as_deref(),
                    &details,
                ),
            );
            if computed != hash {
                return bad("its content does not match its hash: the row was altered".into());
            }
            prev = hash;
        }
        Ok(AuditVerify {
            rows: rows.len() as u64,
            first_bad: None,
        })
    }
}
