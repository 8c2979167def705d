//! The append-only, hash-chained audit log. Each row stores
//! `sha256(previous hash ‖ canonical row)`, so altering or deleting a row breaks every hash after
//! it and `cloud audit verify` names the first row that no longer verifies.
//!
//! The hashing and the verification walk live here, once; the backends only read and write rows
//! (`queries/audit.rs`), always inside their store-wide write transaction so the chain head they
//! read is still the head when they append.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::sessions::corrupt;
use crate::time::now_text;
use crate::{StoreError, StoreResult};
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

/// An `audit_events` row as stored.
#[derive(Debug, Clone)]
pub struct StoredAudit {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub session_id: Option<String>,
    pub project: Option<String>,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

impl TryFrom<StoredAudit> for AuditEntry {
    type Error = StoreError;

    fn try_from(row: StoredAudit) -> StoreResult<AuditEntry> {
        Ok(AuditEntry {
            details: serde_json::from_str(&row.details)
                .map_err(|e| corrupt(&format!("audit row {}", row.seq), "details", e))?,
            seq: row.seq,
            at: row.at,
            actor: row.actor,
            action: row.action,
            session_id: row.session_id,
            project: row.project,
            prev_hash: row.prev_hash,
            hash: row.hash,
        })
    }
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

/// The row that appends `entry` after the chain head `last` (`(seq, hash)` of the newest row,
/// `None` for an empty log).
pub fn next_row(last: Option<(i64, String)>, entry: &NewAudit) -> StoredAudit {
    let (seq, prev_hash) = match last {
        Some((seq, hash)) => (seq + 1, hash),
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
    StoredAudit {
        seq,
        at,
        actor: entry.actor.clone(),
        action: entry.action.clone(),
        session_id,
        project: entry.project.clone(),
        details,
        prev_hash,
        hash,
    }
}

/// Walk the chain (rows oldest first) and report the first row that does not verify.
pub fn verify(rows: &[StoredAudit]) -> AuditVerify {
    let mut prev = String::new();
    for (expected_seq, row) in (1_i64..).zip(rows) {
        let bad = |reason: String| AuditVerify {
            rows: rows.len() as u64,
            first_bad: Some(BadRow { seq: row.seq, reason }),
        };
        if row.seq != expected_seq {
            return bad(format!(
                "expected row {expected_seq} here: rows were deleted or renumbered"
            ));
        }
        if row.prev_hash != prev {
            return bad("its prev_hash does not match the previous row's hash".into());
        }
        let computed = chain_hash(
            &prev,
            &canonical(
                row.seq,
                &row.at,
                &row.actor,
                &row.action,
                row.session_id.as_deref(),
                row.project.as_deref(),
                &row.details,
            ),
        );
        if computed != row.hash {
            return bad("its content does not match its hash: the row was altered".into());
        }
        prev = row.hash.clone();
    }
    AuditVerify {
        rows: rows.len() as u64,
        first_bad: None,
    }
}
