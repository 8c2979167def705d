//! Projects, their environments and deployments.

use super::audit::append;
use crate::{Conn, Store};
use cloud_store::projects::StoredProject;
use cloud_store::time::now_text;
use cloud_store::{NewAudit, ProjectRow, StoreError, StoreResult};

impl Store {
    /// Create a project with its environments; refuses an existing name.
    pub async fn create_project(
        &self,
        name: &str,
        org: &str,
        provider: &str,
        environments: &[String],
        actor: &str,
    ) -> StoreResult<ProjectRow> {
        let now = now_text();
        let mut tx = self.begin_write().await?;
        let exists = sqlx::query_scalar!(r#"SELECT name AS "name!" FROM projects WHERE name = $1"#, name)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Err(StoreError::Conflict(format!(
                "project `{name}` already exists; `cloud projects list` shows it"
            )));
        }
        sqlx::query!(
            "INSERT INTO projects (name, org, provider, created_at, created_by) VALUES ($1, $2, $3, $4, $5)",
            name,
            org,
            provider,
            now,
            actor,
        )
        .execute(&mut *tx)
        .await?;
        for env in environments {
            sqlx::query!(
                "INSERT INTO environments (project, name, enabled) VALUES ($1, $2, 1)",
                name,
                env
            )
            .execute(&mut *tx)
            .await?;
        }
        append(
            &mut tx,
            self.audit_key(),
            &NewAudit {
                actor: actor.to_string(),
                action: "project.created".into(),
                session_id: None,
                project: Some(name.to_string()),
                details: serde_json::json!({"org": org, "provider": provider, "environments": environments}),
            },
        )
        .await?;
        tx.commit().await?;
        self.project(name)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("project {name} vanished")))
    }

    pub async fn project(&self, name: &str) -> StoreResult<Option<ProjectRow>> {
        let mut conn = self.pool.acquire().await?;
        let row = sqlx::query_as!(
            StoredProject,
            r#"SELECT name AS "name!", org, provider, created_at, created_by FROM projects WHERE name = $1"#,
            name
        )
        .fetch_optional(&mut *conn)
        .await?;
        match row {
            None => Ok(None),
            Some(row) => {
                let environments = environments(&mut conn, &row.name).await?;
                Ok(Some(row.with_environments(environments)))
            }
        }
    }

    pub async fn projects(&self) -> StoreResult<Vec<ProjectRow>> {
        let mut conn = self.pool.acquire().await?;
        let rows = sqlx::query_as!(
            StoredProject,
            r#"SELECT name AS "name!", org, provider, created_at, created_by FROM projects ORDER BY name"#
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let environments = environments(&mut conn, &row.name).await?;
            out.push(row.with_environments(environments));
        }
        Ok(out)
    }

    /// Record a deployment (from its manifest) under its project, creating the project when it
    /// is not known yet (with `provider`, the one its stacks target). Idempotent.
    pub async fn sync_deployment(
        &self,
        id: &str,
        org: &str,
        project: &str,
        provider: &str,
        environments: &[String],
        manifest_path: &str,
    ) -> StoreResult<()> {
        let now = now_text();
        let mut tx = self.begin_write().await?;
        let known = sqlx::query_scalar!(r#"SELECT name AS "name!" FROM projects WHERE name = $1"#, project)
            .fetch_optional(&mut *tx)
            .await?;
        if known.is_none() {
            sqlx::query!(
                "INSERT INTO projects (name, org, provider, created_at, created_by)
                 VALUES ($1, $2, $3, $4, 'system:manifest')",
                project,
                org,
                provider,
                now,
            )
            .execute(&mut *tx)
            .await?;
            append(
                &mut tx,
                self.audit_key(),
                &NewAudit {
                    actor: "system:manifest".into(),
                    action: "project.created".into(),
                    session_id: None,
                    project: Some(project.to_string()),
                    details: serde_json::json!({"org": org, "provider": provider, "from_manifest": manifest_path}),
                },
            )
            .await?;
        }
        for env in environments {
            sqlx::query!(
                "INSERT INTO environments (project, name, enabled) VALUES ($1, $2, 1)
                 ON CONFLICT (project, name) DO NOTHING",
                project,
                env,
            )
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query!(
            "INSERT INTO deployments (id, project, org, manifest_path, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET manifest_path = excluded.manifest_path",
            id,
            project,
            org,
            manifest_path,
            now,
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The enabled environments of a project: dev, stage, prod first, then the rest by name.
async fn environments(conn: &mut Conn, project: &str) -> StoreResult<Vec<String>> {
    Ok(sqlx::query_scalar!(
        r#"SELECT name AS "name!" FROM environments WHERE project = $1 AND enabled = 1 ORDER BY
             CASE name WHEN 'dev' THEN 0 WHEN 'stage' THEN 1 WHEN 'prod' THEN 2 ELSE 3 END, name"#,
        project
    )
    .fetch_all(&mut *conn)
    .await?)
}
