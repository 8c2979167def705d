//! Grants (time-limited roles) and quotas: records, rows as stored, decoding.

use serde::Serialize;

use crate::sessions::corrupt;
use crate::time::parse_time;
use crate::{StoreError, StoreResult};
use cloud_domain::policy::Role;
use cloud_domain::session::Principal;

/// One grant as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GrantRow {
    pub id: String,
    pub principal: Principal,
    pub project: String,
    /// An environment name or `*`.
    pub env: String,
    pub role: Role,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub reason: String,
    pub granted_by: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

impl GrantRow {
    /// Whether the grant authorises at `now`: not revoked, not expired.
    pub fn is_active(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.map(|t| t > now).unwrap_or(true)
    }
}

/// What a new grant carries.
#[derive(Debug, Clone)]
pub struct NewGrant {
    pub principal: Principal,
    pub project: String,
    pub env: String,
    pub role: Role,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub reason: String,
    pub granted_by: String,
}

/// One quota limit of a project. Decoded by the query itself (plain columns).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuotaRow {
    pub key: String,
    pub limit: f64,
}

/// A `grants` row as stored.
#[derive(Debug, Clone)]
pub struct StoredGrant {
    pub id: String,
    pub principal: String,
    pub project: String,
    pub env: String,
    pub role: String,
    pub expires_at: Option<String>,
    pub reason: String,
    pub granted_by: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

impl TryFrom<StoredGrant> for GrantRow {
    type Error = StoreError;

    fn try_from(row: StoredGrant) -> StoreResult<GrantRow> {
        let at = format!("grant {}", row.id);
        let at = at.as_str();
        Ok(GrantRow {
            principal: row.principal.parse().map_err(|e| corrupt(at, "principal", e))?,
            role: row.role.parse().map_err(|e| corrupt(at, "role", e))?,
            expires_at: row
                .expires_at
                .map(|s| parse_time(&format!("{at}: column expires_at"), &s))
                .transpose()?,
            id: row.id,
            project: row.project,
            env: row.env,
            reason: row.reason,
            granted_by: row.granted_by,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        })
    }
}
