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
    /// What the signed head checkpoint says (when the store has an audit key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointVerdict>,
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
            checkpoint: None,
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
        checkpoint: None,
    }
}

/// The key that signs the audit chain's head. It lives outside the database (a 0600 file under
/// the data dir, or a configured path), so whoever can rewrite the database still cannot sign a
/// head that matches a truncated or re-chained log.
#[derive(Clone)]
pub struct AuditKey {
    /// A short fingerprint of the key (stored beside the signature; never the key).
    pub id: String,
    secret: Vec<u8>,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKey").field("id", &self.id).finish_non_exhaustive()
    }
}

impl AuditKey {
    pub fn new(secret: Vec<u8>) -> AuditKey {
        let id = hex::encode(&Sha256::digest(&secret)[..6]);
        AuditKey { id, secret }
    }

    /// HMAC-SHA256 over the checkpoint's fields, hex.
    pub fn sign(&self, head_seq: i64, head_hash: &str, since_seq: i64, since_at: &str) -> String {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(
            &serde_json::to_vec(&serde_json::json!([
                "cloud-audit-head-v1",
                head_seq,
                head_hash,
                since_seq,
                since_at
            ]))
            .expect("a JSON array serialises"),
        );
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether `checkpoint` carries this key's signature of its own fields (constant time).
    pub fn verifies(&self, checkpoint: &Checkpoint) -> bool {
        use hmac::Mac;
        let Ok(given) = hex::decode(&checkpoint.mac) else {
            return false;
        };
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(
            &serde_json::to_vec(&serde_json::json!([
                "cloud-audit-head-v1",
                checkpoint.head_seq,
                checkpoint.head_hash,
                checkpoint.since_seq,
                checkpoint.since_at
            ]))
            .expect("a JSON array serialises"),
        );
        mac.verify_slice(&given).is_ok()
    }
}

/// The signed head of the chain, one row in `audit_checkpoint` (and its copy exported to a file
/// beside the key after commands, which survives the database).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Checkpoint {
    pub head_seq: i64,
    pub head_hash: String,
    /// The first row signed with this key: verify vouches for rows from here on.
    pub since_seq: i64,
    pub since_at: String,
    pub key_id: String,
    pub mac: String,
}

/// The checkpoint to store after appending `row`, given the checkpoint before it.
///
/// A previous checkpoint that this key signed and that names the row before `row` as head is
/// carried forward (same `since`). Anything else — no checkpoint yet (a new database, or one from
/// before checkpoints existed), or a checkpoint of another key — starts vouching at `row`.
/// A checkpoint that this key did *not* sign, or that names another head, is left as it is
/// (`None`): re-signing it would launder whatever was done to the log, so verify keeps reporting it.
pub fn next_checkpoint(key: &AuditKey, previous: Option<&Checkpoint>, row: &StoredAudit) -> Option<Checkpoint> {
    let (since_seq, since_at) = match previous {
        None => (row.seq, row.at.clone()),
        Some(p) if p.key_id != key.id => (row.seq, row.at.clone()),
        Some(p) if key.verifies(p) && p.head_seq == row.seq - 1 && p.head_hash == row.prev_hash => {
            (p.since_seq, p.since_at.clone())
        }
        Some(_) => return None,
    };
    Some(Checkpoint {
        mac: key.sign(row.seq, &row.hash, since_seq, &since_at),
        head_seq: row.seq,
        head_hash: row.hash.clone(),
        since_seq,
        since_at,
        key_id: key.id.clone(),
    })
}

/// What the signed checkpoint says about the log, beside the chain walk of [`verify`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckpointVerdict {
    /// The rows the checkpoint vouches for: `since_seq` (at `since_at`) up to the head, when it
    /// verifies; `None` when it does not.
    pub vouches_since: Option<(i64, String)>,
    /// What is wrong, in words a person can act on.
    pub problem: Option<String>,
}

/// Compare the log (oldest first) with its signed checkpoint, and with the copy of an earlier
/// checkpoint exported outside the database (`exported`), which catches what the database alone
/// cannot: a deleted database, or one replaced by an older copy (with its older, validly signed
/// checkpoint).
pub fn verify_checkpoint(
    key: &AuditKey,
    rows: &[StoredAudit],
    checkpoint: Option<&Checkpoint>,
    exported: Option<&Checkpoint>,
) -> CheckpointVerdict {
    if let Some(ex) = exported.filter(|ex| ex.key_id == key.id && key.verifies(ex)) {
        let at = usize::try_from(ex.head_seq - 1).ok().and_then(|i| rows.get(i));
        match at {
            None if rows.is_empty() => {
                return CheckpointVerdict {
                    vouches_since: None,
                    problem: Some(format!(
                        "the log is empty, but row {} was signed (exported head beside the audit key): the database or its log was deleted",
                        ex.head_seq
                    )),
                }
            }
            None => {
                return CheckpointVerdict {
                    vouches_since: None,
                    problem: Some(format!(
                        "the log ends before row {}, which was signed (exported head beside the audit key): the log was truncated, or the database deleted or replaced by an older copy",
                        ex.head_seq
                    )),
                }
            }
            Some(row) if row.seq != ex.head_seq || row.hash != ex.head_hash => {
                return CheckpointVerdict {
                    vouches_since: None,
                    problem: Some(format!(
                        "row {} is not the row that was signed (exported head beside the audit key): the log was rewritten",
                        ex.head_seq
                    )),
                }
            }
            Some(_) => {}
        }
    }
    let bad = |problem: String| CheckpointVerdict {
        vouches_since: None,
        problem: Some(problem),
    };
    let Some(cp) = checkpoint else {
        return match rows.len() {
            0 => CheckpointVerdict {
                vouches_since: None,
                problem: None,
            },
            n => bad(format!(
                "the log has {n} rows but no signed checkpoint: the checkpoint was deleted, or no row was appended since checkpoints were introduced"
            )),
        };
    };
    if cp.key_id != key.id {
        return bad(format!(
            "the checkpoint was signed by another key ({}; this key is {}): restore the audit key that signed it",
            cp.key_id, key.id
        ));
    }
    if !key.verifies(cp) {
        return bad("the checkpoint's signature does not verify: the checkpoint row was altered".into());
    }
    let last = rows.last();
    match last {
        None => bad(format!(
            "the log is empty but the signed checkpoint names row {} as its head: the log was deleted",
            cp.head_seq
        )),
        Some(last) if last.seq < cp.head_seq => bad(format!(
            "the log ends at row {} but the signed checkpoint names row {}: rows after {} were deleted (truncated)",
            last.seq, cp.head_seq, last.seq
        )),
        Some(last) if last.seq > cp.head_seq => bad(format!(
            "rows after {} are not covered by the signed checkpoint: they were appended without the audit key",
            cp.head_seq
        )),
        Some(last) if last.hash != cp.head_hash => bad(format!(
            "row {} does not have the hash the signed checkpoint names: the log was rewritten (re-chained)",
            last.seq
        )),
        Some(_) => CheckpointVerdict {
            vouches_since: Some((cp.since_seq, cp.since_at.clone())),
            problem: None,
        },
    }
}
