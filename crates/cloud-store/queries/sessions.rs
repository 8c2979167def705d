//! Sessions, their per-stack sub-states and approvals (their events and engine output are in
//! `events.rs`).
//!
//! Every transition is a compare-and-set (`UPDATE … WHERE id = $n AND state = $m`) committed in
//! the same write transaction as its audit row, so two concurrent clicks can never both win.

use super::audit::append;
use super::events::append_events;
use super::fence::check_fence;
use crate::{Conn, Store};
use cloud_domain::engine::ChangeCounts;
use cloud_domain::session::{check_transition, Principal, SessionId, SessionState, StackName, StackState};
use cloud_store::events::{payload, EventKind};
use cloud_store::sessions::{transition_details, StoredApproval, StoredSession, StoredStack};
use cloud_store::time::now_text;
use cloud_store::{
    this_process, ApprovalRow, BadSessionRow, Fence, LockOutcome, NewAudit, NewSession, SessionFilter, SessionRecord,
    StackRow, StoreError, StoreResult, Transition,
};

impl Store {
    /// Create a DRAFT session with its stack rows and a `session.created` audit row.
    pub async fn create_session(&self, new: NewSession) -> StoreResult<SessionRecord> {
        let id = new.id;
        let mut tx = self.begin_write().await?;
        insert_session(&mut tx, self.audit_key(), &new).await?;
        tx.commit().await?;
        self.session(id).await
    }

    /// [`Store::create_session`] and [`Store::take_locks`] (without queueing) in one write
    /// transaction: a new session owns its stacks from the start, or stays DRAFT without locks
    /// when they are busy (the outcome says who holds them).
    pub async fn create_session_taking_locks(&self, new: NewSession) -> StoreResult<(SessionRecord, LockOutcome)> {
        let id = new.id;
        let mut tx = self.begin_write().await?;
        insert_session(&mut tx, self.audit_key(), &new).await?;
        let taken = super::locks::take_on(&mut tx, id, false).await?;
        tx.commit().await?;
        Ok((self.session(id).await?, taken.outcome))
    }

    /// One session by id.
    pub async fn session(&self, id: SessionId) -> StoreResult<SessionRecord> {
        let mut conn = self.pool.acquire().await?;
        session_row(&mut conn, id).await
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
        let rows = sqlx::query_as!(
            StoredSession,
            r#"SELECT id AS "id!", project, env, deployment_id, requester, state, operation, stacks, plan, plan_z, digest,
                      approvals_required, allow_self_approve, reason, follow_up_of, created_at, updated_at,
                      plan_ready_at, finished_at, owner_pid, owner_start
               FROM sessions WHERE id LIKE CAST($1 AS TEXT) || '%' ORDER BY id LIMIT 2"#,
            text
        )
        .fetch_all(&self.pool)
        .await?;
        let mut rows = rows.into_iter();
        match (rows.next(), rows.next()) {
            (None, _) => Err(StoreError::SessionNotFound(text)),
            (Some(one), None) => one.try_into(),
            (Some(_), Some(_)) => Err(StoreError::AmbiguousSession(text)),
        }
    }

    /// Sessions, newest first (`created_at`, then id, both descending), one page at a time, and
    /// the rows among them that do not decode (each named by session id, with the column and
    /// the problem), which are left out of the list.
    ///
    /// Open sessions (`active` without a state) come from the partial index that holds only
    /// them; everything else walks the `(created_at, id)` index from the page's start and stops
    /// at `limit`, so neither cost grows with the history.
    pub async fn sessions_checked(
        &self,
        filter: &SessionFilter,
    ) -> StoreResult<(Vec<SessionRecord>, Vec<BadSessionRow>)> {
        let limit = filter.limit.map(i64::from).unwrap_or(i64::MAX);
        // The keyset of `before`: a row value every stored timestamp sorts under when absent.
        let (before_at, before_id) = match filter.before {
            Some(id) => {
                let sid = id.to_string();
                let at = sqlx::query_scalar!("SELECT created_at FROM sessions WHERE id = $1", sid)
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or(StoreError::SessionNotFound(sid.clone()))?;
                (at, sid)
            }
            None => ("~".to_string(), String::new()),
        };
        let rows = if filter.active && filter.state.is_none() {
            sqlx::query_as!(
                StoredSession,
                r#"SELECT id AS "id!", project, env, deployment_id, requester, state, operation, stacks, plan, plan_z, digest,
                          approvals_required, allow_self_approve, reason, follow_up_of, created_at, updated_at,
                          plan_ready_at, finished_at, owner_pid, owner_start
                   FROM sessions
                   WHERE state NOT IN ('APPLIED', 'FAILED', 'CANCELLED', 'EXPIRED')
                     AND (CAST($1 AS TEXT) IS NULL OR project = $1)
                     AND (CAST($2 AS TEXT) IS NULL OR env = $2)
                     AND (created_at, id) < ($3, $4)
                   ORDER BY created_at DESC, id DESC
                   LIMIT $5"#,
                filter.project,
                filter.env,
                before_at,
                before_id,
                limit,
            )
            .fetch_all(&self.pool)
            .await?
        } else if let Some(state) = filter.state {
            // One state: its own index, newest first (recovery and the sweeper ask at every start).
            let state = state.as_str();
            sqlx::query_as!(
                StoredSession,
                r#"SELECT id AS "id!", project, env, deployment_id, requester, state, operation, stacks, plan, plan_z, digest,
                          approvals_required, allow_self_approve, reason, follow_up_of, created_at, updated_at,
                          plan_ready_at, finished_at, owner_pid, owner_start
                   FROM sessions
                   WHERE state = $1
                     AND (CAST($2 AS TEXT) IS NULL OR project = $2)
                     AND (CAST($3 AS TEXT) IS NULL OR env = $3)
                     AND (created_at, id) < ($4, $5)
                   ORDER BY created_at DESC, id DESC
                   LIMIT $6"#,
                state,
                filter.project,
                filter.env,
                before_at,
                before_id,
                limit,
            )
            .fetch_all(&self.pool)
            .await?
        } else {
            let state = filter.state.map(SessionState::as_str);
            sqlx::query_as!(
                StoredSession,
                r#"SELECT id AS "id!", project, env, deployment_id, requester, state, operation, stacks, plan, plan_z, digest,
                      approvals_required, allow_self_approve, reason, follow_up_of, created_at, updated_at,
                      plan_ready_at, finished_at, owner_pid, owner_start
               FROM sessions
               WHERE (CAST($1 AS TEXT) IS NULL OR state = $1)
                 AND (CAST($2 AS TEXT) IS NULL OR project = $2)
                 AND (CAST($3 AS TEXT) IS NULL OR env = $3)
                 AND (NOT $4 OR state NOT IN ('APPLIED', 'FAILED', 'CANCELLED', 'EXPIRED'))
                 AND (created_at, id) < ($5, $6)
               ORDER BY created_at DESC, id DESC
               LIMIT $7"#,
                state,
                filter.project,
                filter.env,
                filter.active,
                before_at,
                before_id,
                limit,
            )
            .fetch_all(&self.pool)
            .await?
        };
        let mut good = Vec::with_capacity(rows.len());
        let mut bad = Vec::new();
        for mut row in rows {
            let id = row.id.clone();
            if filter.without_plans {
                (row.plan, row.plan_z) = (None, None);
            }
            match SessionRecord::try_from(row) {
                Ok(record) => good.push(record),
                // One malformed row must not break every listing: it is reported, not decoded.
                Err(StoreError::Corrupt(problem)) => bad.push(BadSessionRow { session: id, problem }),
                Err(other) => return Err(other),
            }
        }
        Ok((good, bad))
    }

    /// Move a session with a compare-and-set and append its audit row, in one transaction.
    /// Loses cleanly with [`StoreError::StateChanged`] when someone else moved it first.
    pub async fn transition(&self, t: Transition) -> StoreResult<SessionRecord> {
        self.transition_fenced(t, None).await
    }

    /// [`Store::transition`] made under a lease: fails with [`StoreError::Fenced`], changing
    /// nothing, unless `fence` still holds the session's lease.
    pub async fn transition_fenced(&self, t: Transition, fence: Option<&Fence>) -> StoreResult<SessionRecord> {
        check_transition(t.from, t.to)?;
        let now = now_text();
        let id = t.id.to_string();
        let plan = t
            .update
            .plan
            .as_ref()
            .map(|plan| (serde_json::to_string(plan).expect("plan serialises"), plan.digest().0));
        // Whoever moves a session into PLANNING / APPLYING drives it: recorded in the same
        // transaction, so recovery never sees a running session with a stale owner.
        let owner = t.to.is_running().then(this_process);
        let (to, from) = (t.to.as_str(), t.from.as_str());
        // Plan documents are stored compressed (`plan_z`); writing one clears any old text.
        let (plan_z, digest) = match &plan {
            Some((json, digest)) => (Some(cloud_store::blob::compress(json)), Some(digest.as_str())),
            None => (None, None),
        };
        let plan_ready_at = (t.to == SessionState::PlanReady).then_some(now.as_str());
        let owner_pid = owner.as_ref().map(|o| i64::from(o.pid));
        let owner_start = owner.as_ref().map(|o| o.start.as_str());
        let finished_at = t.to.is_terminal().then_some(now.as_str());
        let mut tx = self.begin_write().await?;
        check_fence(&mut tx, t.id, fence).await?;
        // One statement for every transition: a column the move does not set is written back
        // unchanged (`COALESCE(NULL, column)`), except the reason of a session that plans again
        // (Refresh, a retry): the old plan's failure is not this plan's.
        let done = sqlx::query!(
            "UPDATE sessions SET state = $1, updated_at = $2,
                plan_z = COALESCE($3, plan_z), plan = CASE WHEN $3 IS NULL THEN plan END, digest = COALESCE($4, digest),
                plan_ready_at = COALESCE($5, plan_ready_at),
                owner_pid = COALESCE($6, owner_pid), owner_start = COALESCE($7, owner_start),
                reason = CASE WHEN $1 = 'planning' THEN $8 ELSE COALESCE($8, reason) END, finished_at = COALESCE($9, finished_at)
             WHERE id = $10 AND state = $11",
            to,
            now,
            plan_z,
            digest,
            plan_ready_at,
            owner_pid,
            owner_start,
            t.update.reason,
            finished_at,
            id,
            from,
        )
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            let actual = current_state(&mut tx, t.id).await?;
            return Err(StoreError::StateChanged {
                id: t.id,
                expected: t.from,
                actual,
            });
        }
        if let Some(digest) = digest {
            // A refresh that yields the same digest keeps approvals; any other plan clears them.
            sqlx::query!(
                "DELETE FROM approvals WHERE session_id = $1 AND digest != $2",
                id,
                digest
            )
            .execute(&mut *tx)
            .await?;
        }
        if t.to.is_terminal() {
            release_locks(&mut tx, t.id).await?;
        }
        if t.to == SessionState::Applied {
            super::history::advance_stack_heads(&mut tx, t.id, &now).await?;
        }
        let project = sqlx::query_scalar!("SELECT project FROM sessions WHERE id = $1", id)
            .fetch_one(&mut *tx)
            .await?;
        let details = transition_details(&t);
        append(
            &mut tx,
            self.audit_key(),
            &NewAudit {
                actor: t.actor,
                action: "session.transition".into(),
                session_id: Some(t.id),
                project: Some(project),
                details,
            },
        )
        .await?;
        // The log entry commits with the move: a renderer never sees one without the other.
        append_events(
            &mut tx,
            t.id,
            &[payload(
                EventKind::StateChanged,
                serde_json::json!({"from": from, "to": to}),
            )],
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
        let sid = id.to_string();
        let approver_name = approver.to_string();
        let mut tx = self.begin_write().await?;
        let session = session_row(&mut tx, id).await?;
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
            .ok_or_else(|| StoreError::Corrupt(format!("session {id}: column digest: PLAN_READY without a digest")))?;
        if !current.matches(digest) {
            return Err(StoreError::Conflict(format!(
                "this approval is for plan {} but the plan is now {}; look at the new plan and approve that one",
                &digest[..digest.len().min(16)],
                current.short()
            )));
        }
        let inserted = sqlx::query!(
            "INSERT INTO approvals (session_id, approver, digest, override_reason, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (session_id, approver) DO NOTHING",
            sid,
            approver_name,
            current.0,
            override_reason,
            now,
        )
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::Conflict(format!(
                "{approver} has already approved this plan; another approver is needed"
            )));
        }
        let count = sqlx::query_scalar!(
            r#"SELECT COUNT(*) AS "n!: i64" FROM approvals WHERE session_id = $1 AND digest = $2"#,
            sid,
            current.0
        )
        .fetch_one(&mut *tx)
        .await?;
        let approved = count >= i64::from(session.approvals_required);
        if approved {
            check_transition(SessionState::PlanReady, SessionState::Approved)?;
            let done = sqlx::query!(
                "UPDATE sessions SET state = 'APPROVED', updated_at = $1 WHERE id = $2 AND state = 'PLAN_READY'",
                now,
                sid,
            )
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
            self.audit_key(),
            &NewAudit {
                actor: approver_name.clone(),
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
        let mut events = vec![payload(EventKind::Approved, serde_json::json!({"by": approver_name}))];
        if approved {
            events.push(payload(
                EventKind::StateChanged,
                serde_json::json!({"from": "PLAN_READY", "to": "APPROVED"}),
            ));
        }
        append_events(&mut tx, id, &events).await?;
        tx.commit().await?;
        self.session(id).await
    }

    /// Approvals recorded for a session (any digest).
    pub async fn approvals(&self, id: SessionId) -> StoreResult<Vec<ApprovalRow>> {
        let sid = id.to_string();
        let rows = sqlx::query_as!(
            StoredApproval,
            "SELECT session_id, approver, digest, override_reason, created_at
             FROM approvals WHERE session_id = $1 ORDER BY created_at, approver",
            sid
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(ApprovalRow::try_from).collect()
    }

    /// The per-stack rows of a session in apply order.
    pub async fn session_stacks(&self, id: SessionId) -> StoreResult<Vec<StackRow>> {
        let sid = id.to_string();
        let rows = sqlx::query_as!(
            StoredStack,
            "SELECT session_id, stack, position, wave, state, counts, error
             FROM session_stacks WHERE session_id = $1 ORDER BY position",
            sid
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(StackRow::try_from).collect()
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
        self.set_stack_state_fenced(id, stack, state, counts, error, None).await
    }

    /// [`Store::set_stack_state`] made under a lease (see [`Store::transition_fenced`]), with
    /// its event in the same transaction.
    ///
    /// Stack writes come from stack jobs that their scheduler may stop polling at any await; a
    /// write transaction left open there would hold the database's write lock against the rest
    /// of the session, so cloud-core runs event-writing transactions on their own task.
    pub async fn set_stack_state_fenced(
        &self,
        id: SessionId,
        stack: &StackName,
        state: StackState,
        counts: Option<&ChangeCounts>,
        error: Option<&str>,
        fence: Option<&Fence>,
    ) -> StoreResult<()> {
        let counts = counts.map(|c| serde_json::to_string(c).expect("counts serialise"));
        let event = payload(
            EventKind::StackStateChanged,
            serde_json::json!({"stack": stack.as_str(), "state": state, "error": error}),
        );
        let (state, now, sid, stack_name) = (state.as_str(), now_text(), id.to_string(), stack.as_str());
        let (owner, token) = (fence.map(|f| f.owner.as_str()), fence.map(|f| f.token));
        let mut tx = self.begin_write().await?;
        let done = sqlx::query!(
            "UPDATE session_stacks SET state = $1, updated_at = $2, counts = COALESCE($3, counts), error = $4
             WHERE session_id = $5 AND stack = $6
               AND (CAST($7 AS TEXT) IS NULL OR EXISTS (
                   SELECT 1 FROM session_leases WHERE session_id = $5 AND owner = $7 AND token = $8))",
            state,
            now,
            counts,
            error,
            sid,
            stack_name,
            owner,
            token,
        )
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            if let Some(fence) = fence {
                if check_fence(&mut tx, id, Some(fence)).await.is_err() {
                    return Err(StoreError::Fenced {
                        session: id,
                        token: fence.token,
                    });
                }
            }
            return Err(StoreError::Corrupt(format!("session {id} has no stack {stack}")));
        }
        append_events(&mut tx, id, &[event]).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// One session, read on `conn` (inside a transaction when the caller holds one).
async fn session_row(conn: &mut Conn, id: SessionId) -> StoreResult<SessionRecord> {
    let sid = id.to_string();
    sqlx::query_as!(
        StoredSession,
        r#"SELECT id AS "id!", project, env, deployment_id, requester, state, operation, stacks, plan, plan_z, digest,
                  approvals_required, allow_self_approve, reason, follow_up_of, created_at, updated_at,
                  plan_ready_at, finished_at, owner_pid, owner_start
           FROM sessions WHERE id = $1"#,
        sid
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::SessionNotFound(sid))?
    .try_into()
}

async fn current_state(conn: &mut Conn, id: SessionId) -> StoreResult<SessionState> {
    let sid = id.to_string();
    let state = sqlx::query_scalar!("SELECT state FROM sessions WHERE id = $1", sid)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::SessionNotFound(sid))?;
    state
        .parse()
        .map_err(|e| StoreError::Corrupt(format!("session {id}: column state: {e}")))
}

/// Release every stack lock and queue place a session holds (on any terminal transition).
pub(super) async fn release_locks(conn: &mut Conn, id: SessionId) -> StoreResult<()> {
    let sid = id.to_string();
    sqlx::query!("DELETE FROM stack_locks WHERE session_id = $1", sid)
        .execute(&mut *conn)
        .await?;
    sqlx::query!("DELETE FROM lock_queue WHERE session_id = $1", sid)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Inserts a DRAFT session, its stack rows, its `session.created` audit row and its first event,
/// inside the caller's write transaction.
async fn insert_session(conn: &mut Conn, key: Option<&cloud_store::AuditKey>, new: &NewSession) -> StoreResult<()> {
    let now = now_text();
    let stacks: Vec<&StackName> = new.stacks.iter().map(|(s, _)| s).collect();
    let stacks_json = serde_json::to_string(&stacks).expect("names serialise");
    let id = new.id.to_string();
    let requester = new.requester.to_string();
    let follow_up_of = new.follow_up_of.map(|id| id.to_string());
    let deployment = new.deployment_id.as_str();
    let operation = new.operation.as_str();
    let approvals_required = i64::from(new.approvals_required);
    let allow_self_approve = i64::from(new.allow_self_approve);
    sqlx::query!(
        "INSERT INTO sessions (id, project, env, deployment_id, requester, state, operation, stacks,
                approvals_required, allow_self_approve, follow_up_of, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 'DRAFT', $6, $7, $8, $9, $10, $11, $11)",
        id,
        new.project,
        new.env,
        deployment,
        requester,
        operation,
        stacks_json,
        approvals_required,
        allow_self_approve,
        follow_up_of,
        now,
    )
    .execute(&mut *conn)
    .await?;
    for (position, (stack, wave)) in new.stacks.iter().enumerate() {
        let (stack, position, wave) = (stack.as_str(), position as i64, i64::from(*wave));
        sqlx::query!(
            "INSERT INTO session_stacks (session_id, stack, position, wave, state, updated_at)
                 VALUES ($1, $2, $3, $4, 'pending', $5)",
            id,
            stack,
            position,
            wave,
            now,
        )
        .execute(&mut *conn)
        .await?;
    }
    append(
        &mut *conn,
        key,
        &NewAudit {
            actor: requester,
            action: "session.created".into(),
            session_id: Some(new.id),
            project: Some(new.project.clone()),
            details: serde_json::json!({
                "env": new.env,
                "deployment": deployment,
                "operation": operation,
                "stacks": stacks,
                "follow_up_of": follow_up_of,
            }),
        },
    )
    .await?;
    append_events(
        &mut *conn,
        new.id,
        &[payload(EventKind::Created, serde_json::json!({}))],
    )
    .await?;
    Ok(())
}
