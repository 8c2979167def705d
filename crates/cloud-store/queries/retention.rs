//! Retention (issue 17.2): the engine logs and plan documents of sessions that ended long ago are
//! removed; what a session *was* stays — its row (state, digest, reason, times), its per-stack
//! results, approvals, recorded configuration and the audit trail. The plan of a session that is
//! still the latest APPLIED one of a stack (`stack_heads`) is kept: quota usage is computed
//! from it.

use super::audit::append;
use crate::Store;
use cloud_store::time::format_time;
use cloud_store::{NewAudit, PruneCounts, StoreResult};

impl Store {
    /// What a prune with these cutoffs would remove (terminal sessions finished before them).
    pub async fn prune_preview(
        &self,
        logs_before: chrono::DateTime<chrono::Utc>,
        plans_before: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<PruneCounts> {
        let (logs_before, plans_before) = (format_time(logs_before), format_time(plans_before));
        let mut conn = self.pool.acquire().await?;
        counts(&mut conn, &logs_before, &plans_before).await
    }

    /// Remove what [`Store::prune_preview`] lists, in one transaction with a `retention.prune`
    /// audit row saying how much went. Returns what was removed.
    pub async fn prune(
        &self,
        logs_before: chrono::DateTime<chrono::Utc>,
        plans_before: chrono::DateTime<chrono::Utc>,
        actor: &str,
    ) -> StoreResult<PruneCounts> {
        let (logs_before, plans_before) = (format_time(logs_before), format_time(plans_before));
        let mut tx = self.begin_write().await?;
        let removed = counts(&mut tx, &logs_before, &plans_before).await?;
        if removed.log_entries == 0 && removed.plans == 0 {
            return Ok(removed);
        }
        // Engine output lives in the session event log (`output` batches); the other events (state
        // changes, approvals…) are what the session was, and stay. `session_logs` only holds
        // rows written before the event log, which its migration copied over.
        sqlx::query!(
            "DELETE FROM session_events WHERE kind = 'output' AND session_id IN (
                SELECT id FROM sessions
                WHERE state IN ('APPLIED', 'FAILED', 'CANCELLED', 'EXPIRED') AND finished_at < $1)",
            logs_before
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "DELETE FROM session_logs WHERE session_id IN (
                SELECT id FROM sessions
                WHERE state IN ('APPLIED', 'FAILED', 'CANCELLED', 'EXPIRED') AND finished_at < $1)",
            logs_before
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "UPDATE sessions SET plan = NULL, plan_z = NULL
             WHERE state IN ('APPLIED', 'FAILED', 'CANCELLED', 'EXPIRED') AND finished_at < $1
               AND (plan IS NOT NULL OR plan_z IS NOT NULL)
               AND NOT EXISTS (SELECT 1 FROM stack_heads h WHERE h.session_id = sessions.id)",
            plans_before
        )
        .execute(&mut *tx)
        .await?;
        append(
            &mut tx,
            self.audit_key(),
            &NewAudit {
                actor: actor.to_string(),
                action: "retention.prune".into(),
                session_id: None,
                project: None,
                details: serde_json::json!({
                    "logs_before": logs_before,
                    "plans_before": plans_before,
                    "log_entries": removed.log_entries,
                    "log_bytes": removed.log_bytes,
                    "plans": removed.plans,
                    "plan_bytes": removed.plan_bytes,
                }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(removed)
    }

    /// The stored text of terminal sessions, per terminal session: every text column of the
    /// session row, its logs, per-stack rows, approvals and audit rows (`LENGTH` of each; the
    /// database's own per-row overhead is not counted). What retention is measured by.
    pub async fn terminal_session_bytes(&self) -> StoreResult<(u64, f64)> {
        let row = sqlx::query!(
            r#"SELECT COUNT(*) AS "sessions!: i64",
                  CAST(COALESCE(SUM(
                      LENGTH(s.id) + LENGTH(s.project) + LENGTH(s.env) + LENGTH(s.deployment_id) + LENGTH(s.requester)
                      + LENGTH(s.state) + LENGTH(s.operation) + LENGTH(s.stacks) + LENGTH(COALESCE(s.plan, '')) + COALESCE(LENGTH(s.plan_z), 0)
                      + LENGTH(COALESCE(s.digest, '')) + LENGTH(COALESCE(s.reason, '')) + LENGTH(s.created_at) * 4
                      + COALESCE((SELECT SUM(LENGTH(l.line) + LENGTH(l.stack) + LENGTH(l.at) + LENGTH(l.session_id))
                                  FROM session_logs l WHERE l.session_id = s.id), 0)
                      + COALESCE((SELECT SUM(LENGTH(e.payload) + COALESCE(LENGTH(e.payload_z), 0) + LENGTH(e.kind) + LENGTH(e.at) + LENGTH(e.session_id))
                                  FROM session_events e WHERE e.session_id = s.id), 0)
                      + COALESCE((SELECT SUM(LENGTH(ss.counts) + LENGTH(COALESCE(ss.config, '')) + LENGTH(ss.stack)
                                      + LENGTH(COALESCE(ss.error, '')) + LENGTH(ss.state) + LENGTH(ss.updated_at)
                                      + LENGTH(ss.session_id))
                                  FROM session_stacks ss WHERE ss.session_id = s.id), 0)
                      + COALESCE((SELECT SUM(LENGTH(a.details) + LENGTH(a.actor) + LENGTH(a.action) + LENGTH(a.at)
                                      + LENGTH(a.prev_hash) + LENGTH(a.hash) + LENGTH(COALESCE(a.project, ''))
                                      + LENGTH(COALESCE(a.session_id, '')))
                                  FROM audit_events a WHERE a.session_id = s.id), 0)
                      + COALESCE((SELECT SUM(LENGTH(p.digest) + LENGTH(p.approver) + LENGTH(p.created_at)
                                      + LENGTH(COALESCE(p.override_reason, '')) + LENGTH(p.session_id))
                                  FROM approvals p WHERE p.session_id = s.id), 0)
                  ), 0) AS BIGINT) AS "bytes!: i64"
               FROM sessions s WHERE s.state IN ('APPLIED', 'FAILED', 'CANCELLED', 'EXPIRED')"#
        )
        .fetch_one(&self.pool)
        .await?;
        let per = if row.sessions > 0 {
            row.bytes as f64 / row.sessions as f64
        } else {
            0.0
        };
        Ok((row.sessions as u64, per))
    }
}

async fn counts(conn: &mut crate::Conn, logs_before: &str, plans_before: &str) -> StoreResult<PruneCounts> {
    // Engine output batches of the event log (each holds up to OUTPUT_BATCH_ITEMS lines).
    let logs = sqlx::query!(
        r#"SELECT COUNT(*) AS "n!: i64", CAST(COALESCE(SUM(LENGTH(payload) + COALESCE(LENGTH(payload_z), 0)), 0) AS BIGINT) AS "bytes!: i64"
           FROM session_events WHERE kind = 'output' AND session_id IN (
               SELECT id FROM sessions
               WHERE state IN ('APPLIED', 'FAILED', 'CANCELLED', 'EXPIRED') AND finished_at < $1)"#,
        logs_before
    )
    .fetch_one(&mut *conn)
    .await?;
    let plans = sqlx::query!(
        r#"SELECT COUNT(*) AS "n!: i64", CAST(COALESCE(SUM(COALESCE(LENGTH(plan), 0) + COALESCE(LENGTH(plan_z), 0)), 0) AS BIGINT) AS "bytes!: i64"
           FROM sessions
           WHERE state IN ('APPLIED', 'FAILED', 'CANCELLED', 'EXPIRED') AND finished_at < $1
             AND (plan IS NOT NULL OR plan_z IS NOT NULL)
             AND NOT EXISTS (SELECT 1 FROM stack_heads h WHERE h.session_id = sessions.id)"#,
        plans_before
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(PruneCounts {
        log_entries: logs.n as u64,
        log_bytes: logs.bytes as u64,
        plans: plans.n as u64,
        plan_bytes: plans.bytes as u64,
    })
}
