//! Projects, their environments and deployments.

use serde::Serialize;
use sqlx::Row;

use super::audit::{append, NewAudit};
use super::{now_text, Store, StoreError, StoreResult};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectRow {
    pub name: String,
    pub org: String,
    pub provider: String,
    pub environments: Vec<String>,
    pub created_at: String,
    pub created_by: String,
}

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
        let exists: Option<String> = sqlx::query_scalar("SELECT name FROM projects WHERE name = ?")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Err(StoreError::Conflict(format!(
                "project `{name}` already exists; `cloud projects list` shows it"
            )));
        }
        sqlx::query("INSERT INTO projects (name, org, provider, created_at, created_by) VALUES (?, ?, ?, ?, ?)")
            .bind(name)
            .bind(org)
            .bind(provider)
            .bind(&now)
            .bind(actor)
            .execute(&mut *tx)
            .await?;
        for env in environments {
            sqlx::query("INSERT INTO environments (project, name, enabled) VALUES (?, ?, 1)")
                .bind(name)
                .bind(env)
                .execute(&mut *tx)
                .await?;
        }
        append(
            &mut tx,
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

    pub(crate) async fn project(&self, name: &str) -> StoreResult<Option<ProjectRow>> {
        let row = sqlx::query("SELECT * FROM projects WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            None => Ok(None),
            Some(row) => Ok(Some(self.project_from_row(&row).await?)),
        }
    }

    pub async fn projects(&self) -> StoreResult<Vec<ProjectRow>> {
        let rows = sqlx::query("SELECT * FROM projects ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(self.project_from_row(row).await?);
        }
        Ok(out)
    }

    async fn project_from_row(&self, row: &sqlx::sqlite::SqliteRow) -> StoreResult<ProjectRow> {
        let name: String = row.get("name");
        let environments: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM environments WHERE project = ? AND enabled = 1 ORDER BY
               CASE name WHEN 'dev' THEN 0 WHEN 'stage' THEN 1 WHEN 'prod' THEN 2 ELSE 3 END, name",
        )
        .bind(&name)
        .fetch_all(&self.pool)
        .await?;
        Ok(ProjectRow {
            name,
            org: row.get("org"),
            provider: row.get("provider"),
            environments,
            created_at: row.get("created_at"),
            created_by: row.get("created_by"),
        })
    }

    /// Record a deployment (from its manifest) under its project, creating the project when it
    /// is not known yet. Idempotent.
    pub async fn sync_deployment(
        &self,
        id: &str,
        org: &str,
        project: &str,
        environments: &[String],
        manifest_path: &str,
    ) -> StoreResult<()> {
        let now = now_text();
        let mut tx = self.begin_write().await?;
        let known: Option<String> = sqlx::query_scalar("SELECT name FROM projects WHERE name = ?")
            .bind(project)
            .fetch_optional(&mut *tx)
            .await?;
        if known.is_none() {
            sqlx::query(
                "INSERT INTO projects (name, org, provider, created_at, created_by) VALUES (?, ?, 'aws', ?, 'system:manifest')",
            )
            .bind(project)
            .bind(org)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
            append(
                &mut tx,
                &NewAudit {
                    actor: "system:manifest".into(),
                    action: "project.created".into(),
                    session_id: None,
                    project: Some(project.to_string()),
                    details: serde_json::json!({"org": org, "from_manifest": manifest_path}),
                },
            )
            .await?;
        }
        for env in environments {
            sqlx::query(
                "INSERT INTO environments (project, name, enabled) VALUES (?, ?, 1)
                 ON CONFLICT (project, name) DO NOTHING",
            )
            .bind(project)
            .bind(env)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO deployments (id, project, org, manifest_path, created_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET manifest_path = excluded.manifest_path",
        )
        .bind(id)
        .bind(project)
        .bind(org)
        .bind(manifest_path)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
