//! Grants (time-limited roles) and quotas.

use super::audit::append;
use crate::Store;
use cloud_domain::session::Principal;
use cloud_store::grants::StoredGrant;
use cloud_store::time::{format_time, now_text};
use cloud_store::{GrantRow, NewAudit, NewGrant, QuotaRow, StoreError, StoreResult};

impl Store {
    pub async fn create_grant(&self, grant: NewGrant) -> StoreResult<GrantRow> {
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        let expires_at = grant.expires_at.map(format_time);
        let (principal, role, now) = (grant.principal.to_string(), grant.role.as_str(), now_text());
        let mut tx = self.begin_write().await?;
        sqlx::query!(
            "INSERT INTO grants (id, principal, project, env, role, expires_at, reason, granted_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            id,
            principal,
            grant.project,
            grant.env,
            role,
            expires_at,
            grant.reason,
            grant.granted_by,
            now,
        )
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            self.audit_key(),
            &NewAudit {
                actor: grant.granted_by.clone(),
                action: "grant.created".into(),
                session_id: None,
                project: Some(grant.project.clone()),
                details: serde_json::json!({
                    "grant": id, "principal": principal, "env": grant.env,
                    "role": role, "expires_at": expires_at,
                    "reason": grant.reason,
                }),
            },
        )
        .await?;
        tx.commit().await?;
        self.grant(&id).await
    }

    pub async fn grant(&self, id: &str) -> StoreResult<GrantRow> {
        sqlx::query_as!(
            StoredGrant,
            r#"SELECT id AS "id!", principal, project, env, role, expires_at, reason, granted_by, created_at, revoked_at
               FROM grants WHERE id = $1"#,
            id
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::Conflict(format!("no grant `{id}`; `cloud grants list` shows them")))?
        .try_into()
    }

    /// Grants, optionally filtered; revoked ones included only when asked.
    pub async fn grants(
        &self,
        principal: Option<&Principal>,
        project: Option<&str>,
        include_revoked: bool,
    ) -> StoreResult<Vec<GrantRow>> {
        let principal = principal.map(|p| p.to_string());
        let rows = sqlx::query_as!(
            StoredGrant,
            r#"SELECT id AS "id!", principal, project, env, role, expires_at, reason, granted_by, created_at, revoked_at
               FROM grants
               WHERE (CAST($1 AS TEXT) IS NULL OR principal = $1)
                 AND (CAST($2 AS TEXT) IS NULL OR project = $2)
                 AND ($3 OR revoked_at IS NULL)
               ORDER BY created_at, id"#,
            principal,
            project,
            include_revoked,
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(GrantRow::try_from).collect()
    }

    pub async fn revoke_grant(&self, id: &str, by: &str, reason: &str) -> StoreResult<GrantRow> {
        let now = now_text();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query!(
            "UPDATE grants SET revoked_at = $1, revoked_by = $2 WHERE id = $3 AND revoked_at IS NULL",
            now,
            by,
            id,
        )
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "no active grant `{id}`; `cloud grants list` shows the active ones"
            )));
        }
        let project = sqlx::query_scalar!("SELECT project FROM grants WHERE id = $1", id)
            .fetch_one(&mut *tx)
            .await?;
        append(
            &mut tx,
            self.audit_key(),
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
    pub async fn record_grant_expiries(&self, now: chrono::DateTime<chrono::Utc>) -> StoreResult<Vec<String>> {
        let now = format_time(now);
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query!(
            r#"SELECT id AS "id!", principal, project, role, expires_at AS "expires_at!" FROM grants
               WHERE expires_at IS NOT NULL AND expires_at <= $1 AND revoked_at IS NULL AND expiry_recorded = 0
               ORDER BY expires_at, id"#,
            now
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut ids = Vec::new();
        for row in rows {
            sqlx::query!("UPDATE grants SET expiry_recorded = 1 WHERE id = $1", row.id)
                .execute(&mut *tx)
                .await?;
            append(
                &mut tx,
                self.audit_key(),
                &NewAudit {
                    actor: "system:sweeper".into(),
                    action: "grant.expired".into(),
                    session_id: None,
                    project: Some(row.project),
                    details: serde_json::json!({
                        "grant": row.id, "principal": row.principal,
                        "role": row.role, "expires_at": row.expires_at,
                    }),
                },
            )
            .await?;
            ids.push(row.id);
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// Set (insert or replace) one quota limit, audited.
    pub async fn set_quota(&self, project: &str, key: &str, limit: f64, by: &str) -> StoreResult<()> {
        let now = now_text();
        let mut tx = self.begin_write().await?;
        let previous = sqlx::query_scalar!(
            "SELECT limit_value FROM quotas WHERE project = $1 AND key = $2",
            project,
            key
        )
        .fetch_optional(&mut *tx)
        .await?;
        sqlx::query!(
            "INSERT INTO quotas (project, key, limit_value, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (project, key) DO UPDATE SET limit_value = excluded.limit_value,
               updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            project,
            key,
            limit,
            now,
            by,
        )
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            self.audit_key(),
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
        Ok(sqlx::query_as!(
            QuotaRow,
            r#"SELECT key, limit_value AS "limit" FROM quotas WHERE project = $1 ORDER BY key"#,
            project
        )
        .fetch_all(&self.pool)
        .await?)
    }
}
