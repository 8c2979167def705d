//! Grants (time-limited roles) and quotas.

use serde::Serialize;
use sqlx::Row;

use super::audit::{append, NewAudit};
use super::{format_time, now_text, parse_time, Store, StoreError, StoreResult};
use crate::policy::Role;
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
    pub(crate) fn is_active(&self, now: chrono::DateTime<chrono::Utc>) -> bool {
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

/// One quota limit of a project.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuotaRow {
    pub key: String,
    pub limit: f64,
}

fn grant_from_row(row: &sqlx::sqlite::SqliteRow) -> StoreResult<GrantRow> {
    Ok(GrantRow {
        id: row.get("id"),
        principal: row
            .get::<String, _>("principal")
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("grant principal: {e}")))?,
        project: row.get("project"),
        env: row.get("env"),
        role: row
            .get::<String, _>("role")
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("grant role: {e}")))?,
        expires_at: row
            .get::<Option<String>, _>("expires_at")
            .map(|s| parse_time(&s))
            .transpose()?,
        reason: row.get("reason"),
        granted_by: row.get("granted_by"),
        created_at: row.get("created_at"),
        revoked_at: row.get("revoked_at"),
    })
}

impl Store {
    pub async fn create_grant(&self, grant: NewGrant) -> StoreResult<GrantRow> {
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO grants (id, principal, project, env, role, expires_at, reason, granted_by, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(grant.principal.to_string())
        .bind(&grant.project)
        .bind(&grant.env)
        .bind(grant.role.as_str())
        .bind(grant.expires_at.map(format_time))
        .bind(&grant.reason)
        .bind(&grant.granted_by)
        .bind(now_text())
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            &NewAudit {
                actor: grant.granted_by.clone(),
                action: "grant.created".into(),
                session_id: None,
                project: Some(grant.project.clone()),
                details: serde_json::json!({
                    "grant": id, "principal": grant.principal.to_string(), "env": grant.env,
                    "role": grant.role.as_str(), "expires_at": grant.expires_at.map(format_time),
                    "reason": grant.reason,
                }),
            },
        )
        .await?;
        tx.commit().await?;
        self.grant(&id).await
    }

    pub(crate) async fn grant(&self, id: &str) -> StoreResult<GrantRow> {
        let row = sqlx::query("SELECT * FROM grants WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::Conflict(format!("no grant `{id}`; `cloud grants list` shows them")))?;
        grant_from_row(&row)
    }

    /// Grants, optionally filtered; revoked ones included only when asked.
    pub async fn grants(
        &self,
        principal: Option<&Principal>,
        project: Option<&str>,
        include_revoked: bool,
    ) -> StoreResult<Vec<GrantRow>> {
        let rows = sqlx::query("SELECT * FROM grants ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::new();
        for row in &rows {
            let g = grant_from_row(row)?;
            if principal.map(|p| &g.principal == p).unwrap_or(true)
                && project.map(|p| g.project == p).unwrap_or(true)
                && (include_revoked || g.revoked_at.is_none())
            {
                out.push(g);
            }
        }
        Ok(out)
    }

    pub(crate) async fn revoke_grant(&self, id: &str, by: &str, reason: &str) -> StoreResult<GrantRow> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE grants SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL")
            .bind(now_text())
            .bind(by)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "no active grant `{id}`; `cloud grants list` shows the active ones"
            )));
        }
        let project: String = sqlx::query_scalar("SELECT project FROM grants WHERE id = ?")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        append(
            &mut tx,
            &NewAudit {
                actor: by.to_string(),
                action: "grant.revoked".into(),
                session_id: None,
                project: Some(project),
                details: serde_json::json!({"grant": id, "reason": reason}),
            },
        )
        .await?;
        tx.commit().await?;
        self.grant(id).await
    }

    /// Record, once each, the grants that have expired by `now`. Returns their ids.
    pub(crate) async fn record_grant_expiries(&self, now: chrono::DateTime<chrono::Utc>) -> StoreResult<Vec<String>> {
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(
            "SELECT id, principal, project, role, expires_at FROM grants
             WHERE expires_at IS NOT NULL AND expires_at <= ? AND revoked_at IS NULL AND expiry_recorded = 0",
        )
        .bind(format_time(now))
        .fetch_all(&mut *tx)
        .await?;
        let mut ids = Vec::new();
        for row in &rows {
            let id: String = row.get("id");
            sqlx::query("UPDATE grants SET expiry_recorded = 1 WHERE id = ?")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            append(
                &mut tx,
                &NewAudit {
                    actor: "system:sweeper".into(),
                    action: "grant.expired".into(),
                    session_id: None,
                    project: Some(row.get("project")),
                    details: serde_json::json!({
                        "grant": id, "principal": row.get::<String, _>("principal"),
                        "role": row.get::<String, _>("role"), "expires_at": row.get::<String, _>("expires_at"),
                    }),
                },
            )
            .await?;
            ids.push(id);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Set (insert or replace) one quota limit, audited.
    pub(crate) async fn set_quota(&self, project: &str, key: &str, limit: f64, by: &str) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let previous: Option<f64> = sqlx::query_scalar("SELECT limit_value FROM quotas WHERE project = ? AND key = ?")
            .bind(project)
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO quotas (project, key, limit_value, updated_at, updated_by) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (project, key) DO UPDATE SET limit_value = excluded.limit_value,
               updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        )
        .bind(project)
        .bind(key)
        .bind(limit)
        .bind(now_text())
        .bind(by)
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            &NewAudit {
                actor: by.to_string(),
                action: "quota.set".into(),
                session_id: None,
                project: Some(project.to_string()),
                details: serde_json::json!({"key": key, "limit": limit, "previous": previous}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn quotas(&self, project: &str) -> StoreResult<Vec<QuotaRow>> {
        let rows = sqlx::query("SELECT key, limit_value FROM quotas WHERE project = ? ORDER BY key")
            .bind(project)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| QuotaRow {
                key: r.get("key"),
                limit: r.get("limit_value"),
            })
            .collect())
    }
}
