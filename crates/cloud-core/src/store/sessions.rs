//! Session rows, their per-stack sub-states, approvals and logs.

use serde::Serialize;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::audit::{append, NewAudit};
use super::owner::{this_process, ProcessOwner};
use super::{now_text, parse_time, Store, StoreError, StoreResult};
use crate::engine::ChangeCounts;
use cloud_domain::session::{
    check_transition, DeploymentId, Digest, Operation, Plan, Principal, SessionId, SessionState, StackName, StackState,
};

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionRecord {
    pub id: SessionId,
    pub project: String,
    pub env: String,
    pub deployment_id: DeploymentId,
    pub requester: Principal,
    pub state: SessionState,
    pub operation: Operation,
    pub stacks: Vec<StackName>,
    pub plan: Option<Plan>,
    pub digest: Option<Digest>,
    pub approvals_required: u32,
    pub allow_self_approve: bool,
    /// Why the session ended where it did (failure, cancel or expiry reason).
    pub reason: Option<String>,
    pub follow_up_of: Option<SessionId>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub plan_ready_at: Option<chrono::DateTime<chrono::Utc>>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The process that last drove the session through PLANNING / APPLYING.
    pub owner: Option<ProcessOwner>,
}

/// Per-stack sub-state of a session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackRow {
    pub stack: StackName,
    pub position: u32,
    pub wave: u32,
    pub state: StackState,
    pub counts: ChangeCounts,
    pub error: Option<String>,
}

/// One recorded approval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApprovalRow {
    pub approver: Principal,
    pub digest: String,
    pub override_reason: Option<String>,
    pub created_at: String,
}

/// One line of engine output kept for `cloud logs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogLine {
    pub seq: i64,
    pub stack: String,
    pub line: String,
}

/// What a new session starts with.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: SessionId,
    pub project: String,
    pub env: String,
    pub deployment_id: DeploymentId,
    pub requester: Principal,
    pub operation: Operation,
    /// `(stack, wave)` in apply order.
    pub stacks: Vec<(StackName, u32)>,
    pub approvals_required: u32,
    pub allow_self_approve: bool,
    pub follow_up_of: Option<SessionId>,
}

/// Columns a transition may set besides the state.
#[derive(Debug, Clone, Default)]
pub struct SessionUpdate {
    pub plan: Option<Plan>,
    pub reason: Option<String>,
}

/// A compare-and-set move of one session, with its audit row.
#[derive(Debug, Clone)]
pub struct Transition {
    pub id: SessionId,
    pub from: SessionState,
    pub to: SessionState,
    pub actor: String,
    pub details: serde_json::Value,
    pub update: SessionUpdate,
}

/// Filters for listing sessions.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    pub state: Option<SessionState>,
    pub project: Option<String>,
    pub env: Option<String>,
    /// Only sessions that are not terminal.
    pub active: bool,
    pub limit: Option<u32>,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn session_from_row(row: &SqliteRow) -> StoreResult<SessionRecord> {
    let id: String = row.get("id");
    let opt_time = |col: &str| -> StoreResult<Option<chrono::DateTime<chrono::Utc>>> {
        row.get::<Option<String>, _>(col).map(|s| parse_time(&s)).transpose()
    };
    Ok(SessionRecord {
        id: id.parse().map_err(|e| corrupt("session id", e))?,
        project: row.get("project"),
        env: row.get("env"),
        deployment_id: row
            .get::<String, _>("deployment_id")
            .parse()
            .map_err(|e| corrupt("deployment id", e))?,
        requester: row
            .get::<String, _>("requester")
            .parse()
            .map_err(|e| corrupt("requester", e))?,
        state: row.get::<String, _>("state").parse().map_err(|e| corrupt("state", e))?,
        operation: row
            .get::<String, _>("operation")
            .parse()
            .map_err(|e| corrupt("operation", e))?,
        stacks: serde_json::from_str(row.get::<&str, _>("stacks")).map_err(|e| corrupt("stacks", e))?,
        plan: row
            .get::<Option<String>, _>("plan")
            .map(|p| serde_json::from_str(&p))
            .transpose()
            .map_err(|e| corrupt("plan", e))?,
        digest: row.get::<Option<String>, _>("digest").map(Digest),
        approvals_required: row.get::<i64, _>("approvals_required") as u32,
        allow_self_approve: row.get::<i64, _>("allow_self_approve") != 0,
        reason: row.get("reason"),
        follow_up_of: row
            .get::<Option<String>, _>("follow_up_of")
            .map(|s| s.parse())
            .transpose()
            .map_err(|e| corrupt("follow_up_of", e))?,
        created_at: parse_time(row.get::<&str, _>("created_at"))?,
        updated_at: parse_time(row.get::<&str, _>("updated_at"))?,
        plan_ready_at: opt_time("plan_ready_at")?,
        finished_at: opt_time("finished_at")?,
        owner: match (
            row.get::<Option<i64>, _>("owner_pid"),
            row.get::<Option<String>, _>("owner_start"),
        ) {
            (Some(pid), Some(start)) => Some(ProcessOwner { pid: pid as u32, start }),
            _ => None,
        },
    })
}

impl Store {
    /// Create a DRAFT session with its stack rows and a `session.created` audit row.
    pub async fn create_session(&self, new: NewSession) -> StoreResult<SessionRecord> {
        let now = now_text();
        let stacks: Vec<&StackName> = new.stacks.iter().map(|(s, _)| s).collect();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO sessions (id, project, env, deployment_id, requester, state, operation, stacks,
                approvals_required, allow_self_approve, follow_up_of, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, 'DRAFT', ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(new.id.to_string())
        .bind(&new.project)
        .bind(&new.env)
        .bind(new.deployment_id.as_str())
        .bind(new.requester.to_string())
        .bind(new.operation.as_str())
        .bind(serde_json::to_string(&stacks).expect("names serialise"))
        .bind(new.approvals_required as i64)
        .bind(new.allow_self_approve as i64)
        .bind(new.follow_up_of.map(|id| id.to_string()))
        .bind(&now)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        for (position, (stack, wave)) in new.stacks.iter().enumerate() {
            sqlx::query(
                "INSERT INTO session_stacks (session_id, stack, position, wave, state, updated_at)
                 VALUES (?, ?, ?, ?, 'pending', ?)",
            )
            .bind(new.id.to_string())
            .bind(stack.as_str())
            .bind(position as i64)
            .bind(*wave as i64)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        append(
            &mut tx,
            &NewAudit {
                actor: new.requester.to_string(),
                action: "session.created".into(),
                session_id: Some(new.id),
                project: Some(new.project.clone()),
                details: serde_json::json!({
                    "env": new.env,
                    "deployment": new.deployment_id.as_str(),
                    "operation": new.operation,
                    "stacks": stacks,
                    "follow_up_of": new.follow_up_of.map(|id| id.to_string()),
                }),
            },
        )
        .await?;
        tx.commit().await?;
        self.session(new.id).await
    }

    /// One session by id.
    pub async fn session(&self, id: SessionId) -> StoreResult<SessionRecord> {
        let row = sqlx::query("SELECT * FROM sessions WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::SessionNotFound(id.to_string()))?;
        session_from_row(&row)
    }

    /// A session by full id or by a unique prefix of at least 4 hex digits (what people type).
    pub async fn find_session(&self, text: &str) -> StoreResult<SessionRecord> {
        let text = text.trim().to_ascii_lowercase();
        if let Ok(id) = text.parse::<SessionId>() {
            return self.session(id).await;
        }
        let hexlike = text.len() >= 4 && text.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
        if !hexlike {
            return Err(StoreError::SessionNotFound(text));
        }
        let rows = sqlx::query("SELECT * FROM sessions WHERE id LIKE ? || '%' LIMIT 2")
            .bind(&text)
            .fetch_all(&self.pool)
            .await?;
        match rows.as_slice() {
            [] => Err(StoreError::SessionNotFound(text)),
            [one] => session_from_row(one),
            _ => Err(StoreError::AmbiguousSession(text)),
        }
    }

    /// Sessions, newest first.
    pub async fn sessions(&self, filter: &SessionFilter) -> StoreResult<Vec<SessionRecord>> {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT * FROM sessions WHERE 1 = 1");
        if let Some(state) = filter.state {
            q.push(" AND state = ").push_bind(state.as_str());
        }
        if let Some(project) = &filter.project {
            q.push(" AND project = ").push_bind(project.clone());
        }
        if let Some(env) = &filter.env {
            q.push(" AND env = ").push_bind(env.clone());
        }
        if filter.active {
            q.push(" AND state NOT IN ('APPLIED', 'FAILED', 'CANCELLED', 'EXPIRED')");
        }
        q.push(" ORDER BY created_at DESC, id");
        if let Some(limit) = filter.limit {
            q.push(" LIMIT ").push_bind(limit as i64);
        }
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter().map(session_from_row).collect()
    }

    /// Move a session with a compare-and-set and append its audit row, in one transaction.
    /// Loses cleanly with [`StoreError::StateChanged`] when someone else moved it first.
    pub async fn transition(&self, t: Transition) -> StoreResult<SessionRecord> {
        check_transition(t.from, t.to)?;
        let now = now_text();
        let mut tx = self.begin_write().await?;
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("UPDATE sessions SET state = ");
        q.push_bind(t.to.as_str());
        q.push(", updated_at = ").push_bind(now.clone());
        if let Some(plan) = &t.update.plan {
            let digest = plan.digest();
            q.push(", plan = ")
                .push_bind(serde_json::to_string(plan).expect("plan serialises"));
            q.push(", digest = ").push_bind(digest.0.clone());
        }
        if t.to == SessionState::PlanReady {
            q.push(", plan_ready_at = ").push_bind(now.clone());
        }
        if t.to.is_running() {
            // Whoever moves a session into PLANNING / APPLYING drives it: recorded in the same
            // transaction, so recovery never sees a running session with a stale owner.
            let owner = this_process();
            q.push(", owner_pid = ").push_bind(owner.pid as i64);
            q.push(", owner_start = ").push_bind(owner.start);
        }
        if let Some(reason) = &t.update.reason {
            q.push(", reason = ").push_bind(reason.clone());
        }
        if t.to.is_terminal() {
            q.push(", finished_at = ").push_bind(now.clone());
        }
        q.push(" WHERE id = ").push_bind(t.id.to_string());
        q.push(" AND state = ").push_bind(t.from.as_str());
        let done = q.build().execute(&mut *tx).await?;
        if done.rows_affected() == 0 {
            let actual = current_state(&mut tx, t.id).await?;
            return Err(StoreError::StateChanged {
                id: t.id,
                expected: t.from,
                actual,
            });
        }
        if let Some(plan) = &t.update.plan {
            // A refresh that yields the same digest keeps approvals; any other plan clears them.
            sqlx::query("DELETE FROM approvals WHERE session_id = ? AND digest != ?")
                .bind(t.id.to_string())
                .bind(plan.digest().0)
                .execute(&mut *tx)
                .await?;
        }
        if t.to.is_terminal() {
            release_locks(&mut tx, t.id).await?;
        }
        let project: String = sqlx::query_scalar("SELECT project FROM sessions WHERE id = ?")
            .bind(t.id.to_string())
            .fetch_one(&mut *tx)
            .await?;
        let mut details = serde_json::json!({"from": t.from.as_str(), "to": t.to.as_str()});
        if let (Some(obj), serde_json::Value::Object(extra)) = (details.as_object_mut(), t.details) {
            obj.extend(extra);
        }
        if let Some(reason) = &t.update.reason {
            details["reason"] = serde_json::Value::String(reason.clone());
        }
        append(
            &mut tx,
            &NewAudit {
                actor: t.actor,
                action: "session.transition".into(),
                session_id: Some(t.id),
                project: Some(project),
                details,
            },
        )
        .await?;
        tx.commit().await?;
        self.session(t.id).await
    }

    /// Record an approval of `digest` by `approver`. When it brings the count for the current
    /// digest to `approvals_required`, the session moves PLAN_READY → APPROVED in the same
    /// transaction. Exactly one audit row either way.
    ///
    /// Authorisation (roles, four-eyes) is the caller's job; this only guards state and digest.
    pub async fn record_approval(
        &self,
        id: SessionId,
        approver: &Principal,
        digest: &str,
        override_reason: Option<&str>,
    ) -> StoreResult<SessionRecord> {
        let now = now_text();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query("SELECT * FROM sessions WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::SessionNotFound(id.to_string()))?;
        let session = session_from_row(&row)?;
        if session.state != SessionState::PlanReady {
            return Err(StoreError::StateChanged {
                id,
                expected: SessionState::PlanReady,
                actual: session.state,
            });
        }
        let current = session
            .digest
            .clone()
            .ok_or_else(|| StoreError::Corrupt("PLAN_READY session without a digest".into()))?;
        if !current.matches(digest) {
            return Err(StoreError::Conflict(format!(
                "this approval is for plan {} but the plan is now {}; look at the new plan and approve that one",
                &digest[..digest.len().min(16)],
                current.short()
            )));
        }
        let inserted = sqlx::query(
            "INSERT INTO approvals (session_id, approver, digest, override_reason, created_at)
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (session_id, approver) DO NOTHING",
        )
        .bind(id.to_string())
        .bind(approver.to_string())
        .bind(&current.0)
        .bind(override_reason)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "{approver} has already approved this plan; another approver is needed"
            )));
        }
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM approvals WHERE session_id = ? AND digest = ?")
            .bind(id.to_string())
            .bind(&current.0)
            .fetch_one(&mut *tx)
            .await?;
        let approved = count >= session.approvals_required as i64;
        if approved {
            check_transition(SessionState::PlanReady, SessionState::Approved)?;
            let done = sqlx::query(
                "UPDATE sessions SET state = 'APPROVED', updated_at = ? WHERE id = ? AND state = 'PLAN_READY'",
            )
            .bind(&now)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                let actual = current_state(&mut tx, id).await?;
                return Err(StoreError::StateChanged {
                    id,
                    expected: SessionState::PlanReady,
                    actual,
                });
            }
        }
        let mut details = serde_json::json!({
            "digest": current.0,
            "approvals": count,
            "required": session.approvals_required,
        });
        if approved {
            details["from"] = "PLAN_READY".into();
            details["to"] = "APPROVED".into();
        }
        if let Some(reason) = override_reason {
            details["override_reason"] = reason.into();
        }
        append(
            &mut tx,
            &NewAudit {
                actor: approver.to_string(),
                action: if override_reason.is_some() {
                    "session.approve_override".into()
                } else {
                    "session.approve".into()
                },
                session_id: Some(id),
                project: Some(session.project.clone()),
                details,
            },
        )
        .await?;
        tx.commit().await?;
        self.session(id).await
    }

    /// Approvals recorded for a session (any digest).
    pub async fn approvals(&self, id: SessionId) -> StoreResult<Vec<ApprovalRow>> {
        let rows = sqlx::query("SELECT * FROM approvals WHERE session_id = ? ORDER BY created_at")
            .bind(id.to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(ApprovalRow {
                    approver: row
                        .get::<String, _>("approver")
                        .parse()
                        .map_err(|e| corrupt("approver", e))?,
                    digest: row.get("digest"),
                    override_reason: row.get("override_reason"),
                    created_at: row.get("created_at"),
                })
            })
            .collect()
    }

    /// The per-stack rows of a session in apply order.
    pub async fn session_stacks(&self, id: SessionId) -> StoreResult<Vec<StackRow>> {
        let rows = sqlx::query("SELECT * FROM session_stacks WHERE session_id = ? ORDER BY position")
            .bind(id.to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(StackRow {
                    stack: row.get::<String, _>("stack").parse().map_err(|e| corrupt("stack", e))?,
                    position: row.get::<i64, _>("position") as u32,
                    wave: row.get::<i64, _>("wave") as u32,
                    state: row
                        .get::<String, _>("state")
                        .parse()
                        .map_err(|e| corrupt("stack state", e))?,
                    counts: serde_json::from_str(row.get::<&str, _>("counts")).map_err(|e| corrupt("counts", e))?,
                    error: row.get("error"),
                })
            })
            .collect()
    }

    /// Set one stack's sub-state (and its counts / error when given).
    pub async fn set_stack_state(
        &self,
        id: SessionId,
        stack: &StackName,
        state: StackState,
        counts: Option<&ChangeCounts>,
        error: Option<&str>,
    ) -> StoreResult<()> {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("UPDATE session_stacks SET state = ");
        q.push_bind(state.as_str());
        q.push(", updated_at = ").push_bind(now_text());
        if let Some(counts) = counts {
            q.push(", counts = ")
                .push_bind(serde_json::to_string(counts).expect("counts serialise"));
        }
        q.push(", error = ").push_bind(error.map(str::to_string));
        q.push(" WHERE session_id = ").push_bind(id.to_string());
        q.push(" AND stack = ").push_bind(stack.as_str().to_string());
        let done = q.build().execute(&self.pool).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Corrupt(format!("session {id} has no stack {stack}")));
        }
        Ok(())
    }

    /// Append engine output lines for `cloud logs`.
    pub(crate) async fn append_logs(&self, id: SessionId, lines: &[(String, String)]) -> StoreResult<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let now = now_text();
        let mut tx = self.begin_write().await?;
        let mut seq: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM session_logs WHERE session_id = ?")
            .bind(id.to_string())
            .fetch_one(&mut *tx)
            .await?;
        for (stack, line) in lines {
            seq += 1;
            sqlx::query("INSERT INTO session_logs (session_id, seq, stack, line, at) VALUES (?, ?, ?, ?, ?)")
                .bind(id.to_string())
                .bind(seq)
                .bind(stack)
                .bind(line)
                .bind(&now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Log lines after `after_seq`, in order.
    pub async fn logs(&self, id: SessionId, after_seq: i64) -> StoreResult<Vec<LogLine>> {
        let rows =
            sqlx::query("SELECT seq, stack, line FROM session_logs WHERE session_id = ? AND seq > ? ORDER BY seq")
                .bind(id.to_string())
                .bind(after_seq)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .iter()
            .map(|row| LogLine {
                seq: row.get("seq"),
                stack: row.get("stack"),
                line: row.get("line"),
            })
            .collect())
    }
}

async fn current_state(conn: &mut sqlx::SqliteConnection, id: SessionId) -> StoreResult<SessionState> {
    let state: Option<String> = sqlx::query_scalar("SELECT state FROM sessions WHERE id = ?")
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    state
        .ok_or_else(|| StoreError::SessionNotFound(id.to_string()))?
        .parse()
        .map_err(|e| corrupt("state", e))
}

/// Release every stack lock and queue place a session holds (on any terminal transition).
pub(crate) async fn release_locks(conn: &mut sqlx::SqliteConnection, id: SessionId) -> StoreResult<()> {
    sqlx::query("DELETE FROM stack_locks WHERE session_id = ?")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM lock_queue WHERE session_id = ?")
        .bind(id.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}
