//! Questions about the history answered by the database (issue 17.1): counts, aggregates and the
//! small `stack_heads` table, each served by an index, so their cost does not grow with the
//! number of past sessions.

use crate::{Conn, Store};
use cloud_domain::session::{SessionId, SessionState, StackName};
use cloud_store::time::{format_time, parse_time};
use cloud_store::{SessionRecord, SessionStatsRows, StackHead, StoreError, StoreResult};

impl Store {
    /// How many sessions of `project` are open (not terminal), leaving out `except`.
    /// Served by the partial index `sessions_open_by_project`.
    pub async fn count_open_sessions(&self, project: &str, except: Option<SessionId>) -> StoreResult<u64> {
        let except = except.map(|id| id.to_string()).unwrap_or_default();
        let n = sqlx::query_scalar!(
            r#"SELECT COUNT(*) AS "n!: i64" FROM sessions
               WHERE state NOT IN ('APPLIED', 'FAILED', 'CANCELLED', 'EXPIRED') AND project = $1 AND id != $2"#,
            project,
            except
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(n as u64)
    }

    /// The sessions opened as follow-ups of `id`, oldest first (`sessions_by_follow_up`).
    pub async fn follow_ups(&self, id: SessionId) -> StoreResult<Vec<SessionRecord>> {
        let sid = id.to_string();
        let rows = sqlx::query_as!(
            cloud_store::sessions::StoredSession,
            r#"SELECT id AS "id!", project, env, deployment_id, requester, state, operation, stacks, plan, plan_z, digest,
                      approvals_required, allow_self_approve, reason, follow_up_of, created_at, updated_at,
                      plan_ready_at, finished_at, owner_pid, owner_start
               FROM sessions WHERE follow_up_of = $1
               ORDER BY created_at, id"#,
            sid
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(SessionRecord::try_from).collect()
    }

    /// For every stack of every environment of `project`, the APPLIED session that changed it
    /// last: at most (environments × stacks) rows, whatever the history.
    pub async fn stack_heads(&self, project: &str) -> StoreResult<Vec<StackHead>> {
        let rows = sqlx::query!(
            r#"SELECT env, stack, session_id FROM stack_heads WHERE project = $1 ORDER BY env, stack"#,
            project
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let at = || format!("stack_heads {project}/{}/{}", r.env, r.stack);
                Ok(StackHead {
                    stack: r
                        .stack
                        .parse::<StackName>()
                        .map_err(|e| StoreError::Corrupt(format!("{}: column stack: {e}", at())))?,
                    session: r
                        .session_id
                        .parse::<SessionId>()
                        .map_err(|e| StoreError::Corrupt(format!("{}: column session_id: {e}", at())))?,
                    env: r.env,
                })
            })
            .collect()
    }

    /// `cloud stats` over the sessions created in `[since, until)`: counts by state, the top
    /// `top` projects and requesters, and the lead times of the APPLIED ones. Aggregated by the
    /// database over the `created_at` index; only the APPLIED sessions' two timestamps travel.
    pub async fn session_stats(
        &self,
        since: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
        top: u32,
    ) -> StoreResult<SessionStatsRows> {
        let (since, until, top) = (format_time(since), format_time(until), i64::from(top));
        let mut out = SessionStatsRows::default();
        let states = sqlx::query!(
            r#"SELECT state, COUNT(*) AS "n!: i64" FROM sessions
               WHERE created_at >= $1 AND created_at < $2 GROUP BY state"#,
            since,
            until
        )
        .fetch_all(&self.pool)
        .await?;
        for r in states {
            let state: SessionState = r
                .state
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("sessions: column state: {e}")))?;
            out.by_state.push((state, r.n as u64));
        }
        let projects = sqlx::query!(
            r#"SELECT project, COUNT(*) AS "n!: i64" FROM sessions
               WHERE created_at >= $1 AND created_at < $2
               GROUP BY project ORDER BY COUNT(*) DESC, project LIMIT $3"#,
            since,
            until,
            top
        )
        .fetch_all(&self.pool)
        .await?;
        out.top_projects = projects.into_iter().map(|r| (r.project, r.n as u64)).collect();
        let requesters = sqlx::query!(
            r#"SELECT requester, COUNT(*) AS "n!: i64" FROM sessions
               WHERE created_at >= $1 AND created_at < $2
               GROUP BY requester ORDER BY COUNT(*) DESC, requester LIMIT $3"#,
            since,
            until,
            top
        )
        .fetch_all(&self.pool)
        .await?;
        out.top_requesters = requesters.into_iter().map(|r| (r.requester, r.n as u64)).collect();
        let applied = sqlx::query!(
            r#"SELECT created_at, finished_at AS "finished_at!" FROM sessions
               WHERE created_at >= $1 AND created_at < $2 AND state = 'APPLIED' AND finished_at IS NOT NULL"#,
            since,
            until
        )
        .fetch_all(&self.pool)
        .await?;
        for r in applied {
            let created = parse_time("sessions: column created_at", &r.created_at)?;
            let finished = parse_time("sessions: column finished_at", &r.finished_at)?;
            out.lead_times_secs
                .push((finished - created).num_milliseconds() as f64 / 1000.0);
        }
        Ok(out)
    }
}

/// Make session `id` (becoming APPLIED now, inside the caller's transaction) the head of each of
/// its stacks in its environment, so quota checks never walk the history to find it.
pub(super) async fn advance_stack_heads(conn: &mut Conn, id: SessionId, now: &str) -> StoreResult<()> {
    let sid = id.to_string();
    sqlx::query!(
        "INSERT INTO stack_heads (project, env, stack, session_id, finished_at)
         SELECT s.project, s.env, ss.stack, s.id, $2
         FROM session_stacks ss JOIN sessions s ON s.id = ss.session_id
         WHERE s.id = $1
         ON CONFLICT (project, env, stack) DO UPDATE
            SET session_id = excluded.session_id, finished_at = excluded.finished_at",
        sid,
        now
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
