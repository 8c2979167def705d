//! Session leases with fencing tokens (issue 15.3).
//!
//! A process that drives a session holds its lease: a row naming the owner (one id per process),
//! an expiry it keeps pushing forward while it works, and a fencing token. When the owner stops
//! renewing (killed, frozen, cut off from the database) the lease expires and another process
//! *claims* it, which gives it a bigger token. Every write the driver makes under its lease names
//! `(owner, token)` and is checked in the write's own transaction: after a claim, the stale
//! owner's writes fail with [`StoreError::Fenced`](crate::StoreError::Fenced) and change nothing.

use serde::Serialize;

use cloud_domain::session::SessionId;

/// One session lease as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    pub session: SessionId,
    /// The holder, as made by [`lease_owner`](crate::owner::lease_owner).
    pub owner: String,
    /// Grows by one at every claim by another owner; writes under the lease carry it.
    pub token: i64,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

impl Lease {
    /// What writes made under this lease carry.
    pub fn fence(&self) -> Fence {
        Fence {
            owner: self.owner.clone(),
            token: self.token,
        }
    }
}

/// The `(owner, token)` a write made under a lease carries; the store refuses the write when the
/// lease row no longer has both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fence {
    pub owner: String,
    pub token: i64,
}

/// A lease taken over from an owner that stopped renewing it: the new lease, and who had it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClaimedLease {
    pub lease: Lease,
    pub previous_owner: String,
    pub previous_expiry: chrono::DateTime<chrono::Utc>,
}

/// A `session_leases` row as stored.
#[derive(Debug, Clone)]
pub struct StoredLease {
    pub session_id: String,
    pub owner: String,
    pub token: i64,
    pub expires_at: String,
}

impl TryFrom<StoredLease> for Lease {
    type Error = crate::StoreError;

    fn try_from(row: StoredLease) -> crate::StoreResult<Lease> {
        let at = format!("lease of session {}", row.session_id);
        Ok(Lease {
            session: row
                .session_id
                .parse()
                .map_err(|e| crate::StoreError::Corrupt(format!("{at}: column session_id: {e}")))?,
            expires_at: crate::time::parse_time(&format!("{at}: column expires_at"), &row.expires_at)?,
            owner: row.owner,
            token: row.token,
        })
    }
}
