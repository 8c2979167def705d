//! Stack outputs: what each stack's last successful apply exported, per deployment and
//! environment, for the `{{<stack>.<output>}}` placeholders of its dependents.

use std::collections::BTreeMap;

use crate::Store;
use cloud_domain::session::{SessionId, StackName};
use cloud_store::time::now_text;
use cloud_store::{StoreError, StoreResult};

impl Store {
    /// Record the outputs `stack` of deployment `deployment_id` has in `env` after session
    /// `session` applied it (replacing what an earlier apply recorded).
    pub async fn save_stack_outputs(
        &self,
        deployment_id: &str,
        env: &str,
        stack: &StackName,
        outputs: &serde_json::Value,
        session: SessionId,
    ) -> StoreResult<()> {
        let (stack, sid, now) = (stack.as_str(), session.to_string(), now_text());
        let text = outputs.to_string();
        sqlx::query!(
            "INSERT INTO stack_outputs (deployment_id, env, stack, outputs, session_id, applied_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (deployment_id, env, stack) DO UPDATE SET outputs = excluded.outputs,
                 session_id = excluded.session_id, applied_at = excluded.applied_at",
            deployment_id,
            env,
            stack,
            text,
            sid,
            now,
        )
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(())
    }

    /// Forget the outputs of `stack` in `env` (its resources were destroyed).
    pub async fn delete_stack_outputs(&self, deployment_id: &str, env: &str, stack: &StackName) -> StoreResult<()> {
        let stack = stack.as_str();
        sqlx::query!(
            "DELETE FROM stack_outputs WHERE deployment_id = $1 AND env = $2 AND stack = $3",
            deployment_id,
            env,
            stack,
        )
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(())
    }

    /// The recorded outputs of every stack of every deployment of `project` in `env`, by
    /// deployment id and stack.
    pub async fn project_stack_outputs(
        &self,
        project: &str,
        env: &str,
    ) -> StoreResult<BTreeMap<String, BTreeMap<StackName, serde_json::Value>>> {
        let rows = sqlx::query!(
            r#"SELECT o.deployment_id AS "deployment_id!", o.stack AS "stack!", o.outputs AS "outputs!"
               FROM stack_outputs o JOIN deployments d ON d.id = o.deployment_id
               WHERE d.project = $1 AND o.env = $2
               ORDER BY o.deployment_id, o.stack"#,
            project,
            env,
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out: BTreeMap<String, BTreeMap<StackName, serde_json::Value>> = BTreeMap::new();
        for r in rows {
            let at = format!("stack_outputs {}/{env}/{}", r.deployment_id, r.stack);
            let stack: StackName = r
                .stack
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("{at}: column stack: {e}")))?;
            let value: serde_json::Value = serde_json::from_str(&r.outputs)
                .map_err(|e| StoreError::Corrupt(format!("{at}: column outputs: {e}")))?;
            out.entry(r.deployment_id).or_default().insert(stack, value);
        }
        Ok(out)
    }
}
