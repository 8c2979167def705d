//! Stack locks and the FIFO lock queue. A fully qualified stack belongs to at most one
//! non-terminal session: a row in `stack_locks` says which. A session that finds its stacks held
//! either is refused (with the holders, so people know whom to ask) or waits in `lock_queue`.
//!
//! Every function here runs in one `BEGIN IMMEDIATE` transaction, so two processes racing for the
//! same stack cannot both win, and releasing (in the terminal transition's transaction, see
//! `sessions::release_locks`) never leaves a half-released session behind.

use std::collections::BTreeSet;

use serde::Serialize;
use sqlx::{Row, SqliteConnection};

use super::{now_text, Store, StoreError, StoreResult};
use cloud_domain::session::{Principal, SessionId, SessionState, StackName};

/// The key of one fully qualified stack in `stack_locks`: `<project>/<deployment>-<stack>-<env>`
/// (deployment ids are unique, the project keeps keys readable).
pub(crate) fn lock_key(project: &str, deployment: &str, stack: &StackName, env: &str) -> String {
    format!("{project}/{deployment}-{stack}-{env}")
}

/// Who holds (or waits ahead for) a stack another session wants.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LockHolder {
    /// The lock key (`<project>/<deployment>-<stack>-<env>`).
    pub stack: String,
    pub session: SessionId,
    pub requester: Principal,
    pub state: SessionState,
    /// `true` when the other session does not hold the stack yet but queued for it earlier.
    pub queued: bool,
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.queued {
            write!(
                f,
                "{} is wanted by session {} ({}, {}, waiting in the queue ahead of you)",
                self.stack,
                self.session.short(),
                self.requester,
                self.state
            )
        } else {
            write!(
                f,
                "{} is held by session {} ({}, {})",
                self.stack,
                self.session.short(),
                self.requester,
                self.state
            )
        }
    }
}

/// What an attempt to take a session's locks came to.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum LockOutcome {
    /// The session holds every one of its stacks.
    Granted,
    /// Refused: other sessions hold (or queued earlier for) some of the stacks. Nothing changed.
    Busy { holders: Vec<LockHolder> },
    /// The session waits in the FIFO queue; `position` is 1 for the next in line among the
    /// sessions wanting any of its stacks.
    Queued { position: u32, holders: Vec<LockHolder> },
}

/// One queued session, for `status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueEntry {
    pub session: SessionId,
    pub position: u32,
    pub enqueued_at: String,
}

/// The lock keys of a session, from its row.
async fn keys_of(conn: &mut SqliteConnection, id: &str) -> StoreResult<Option<(BTreeSet<String>, SessionState)>> {
    let row = sqlx::query("SELECT project, env, deployment_id, stacks, state FROM sessions WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let stacks: Vec<StackName> = serde_json::from_str(row.get::<&str, _>("stacks"))
        .map_err(|e| StoreError::Corrupt(format!("stacks of session {id}: {e}")))?;
    let project: String = row.get("project");
    let env: String = row.get("env");
    let deployment: String = row.get("deployment_id");
    let state: SessionState = row
        .get::<String, _>("state")
        .parse()
        .map_err(|e| StoreError::Corrupt(format!("state of session {id}: {e}")))?;
    Ok(Some((
        stacks
            .iter()
            .map(|s| lock_key(&project, &deployment, s, &env))
            .collect(),
        state,
    )))
}

async fn holder(conn: &mut SqliteConnection, stack: &str, session: &str, queued: bool) -> StoreResult<LockHolder> {
    let row = sqlx::query("SELECT requester, state FROM sessions WHERE id = ?")
        .bind(session)
        .fetch_one(&mut *conn)
        .await?;
    Ok(LockHolder {
        stack: stack.to_string(),
        session: session
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("lock holder id: {e}")))?,
        requester: row
            .get::<String, _>("requester")
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("requester: {e}")))?,
        state: row
            .get::<String, _>("state")
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("state: {e}")))?,
        queued,
    })
}

/// The queue in FIFO order: `(seq, session id)`.
async fn queue_rows(conn: &mut SqliteConnection) -> StoreResult<Vec<(i64, String, String)>> {
    let rows = sqlx::query("SELECT seq, session_id, enqueued_at FROM lock_queue ORDER BY seq")
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get("seq"), r.get("session_id"), r.get("enqueued_at")))
        .collect())
}

/// Who stands between `id` and its stacks: lock holders, and sessions queued before it (all
/// queued sessions when `id` is not queued: a newcomer does not jump the queue).
async fn blockers(conn: &mut SqliteConnection, id: &str, keys: &BTreeSet<String>) -> StoreResult<Vec<LockHolder>> {
    let mut out = Vec::new();
    // Stacks this session already holds are nobody else's business.
    let mut wanted = BTreeSet::new();
    for key in keys {
        let held: Option<String> = sqlx::query_scalar("SELECT session_id FROM stack_locks WHERE stack = ?")
            .bind(key)
            .fetch_optional(&mut *conn)
            .await?;
        match held {
            Some(other) if other != id => out.push(holder(conn, key, &other, false).await?),
            Some(_) => {}
            None => {
                wanted.insert(key.clone());
            }
        }
    }
    let keys = &wanted;
    let queue = queue_rows(conn).await?;
    let mine = queue.iter().find(|(_, s, _)| s == id).map(|(seq, _, _)| *seq);
    for (seq, other, _) in &queue {
        if other == id || mine.is_some_and(|m| *seq > m) {
            continue;
        }
        let Some((theirs, _)) = keys_of(conn, other).await? else {
            continue;
        };
        for key in theirs.intersection(keys) {
            if !out.iter().any(|h| &h.stack == key) {
                out.push(holder(conn, key, other, true).await?);
            }
        }
    }
    Ok(out)
}

/// 1-based place of `id` among the queued sessions that want any of its stacks.
async fn position(conn: &mut SqliteConnection, id: &str, keys: &BTreeSet<String>) -> StoreResult<u32> {
    let mut position = 1;
    for (_, other, _) in queue_rows(conn).await? {
        if other == id {
            break;
        }
        if let Some((theirs, _)) = keys_of(conn, &other).await? {
            if !theirs.is_disjoint(keys) {
                position += 1;
            }
        }
    }
    Ok(position)
}

async fn grant(conn: &mut SqliteConnection, id: &str, keys: &BTreeSet<String>) -> StoreResult<()> {
    let now = now_text();
    for key in keys {
        sqlx::query(
            "INSERT INTO stack_locks (stack, session_id, acquired_at) VALUES (?, ?, ?) ON CONFLICT (stack) DO NOTHING",
        )
        .bind(key)
        .bind(id)
        .bind(&now)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query("DELETE FROM lock_queue WHERE session_id = ?")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

impl Store {
    /// Take every stack lock of session `id`, or (with `queue`) wait in line for them. Taking
    /// locks the session already holds is a no-op, so this doubles as "do I hold my locks?".
    /// A terminal session cannot take locks.
    pub async fn acquire_locks(&self, id: SessionId, queue: bool) -> StoreResult<LockOutcome> {
        let sid = id.to_string();
        let mut tx = self.begin_write().await?;
        let (keys, state) = keys_of(&mut tx, &sid)
            .await?
            .ok_or_else(|| StoreError::SessionNotFound(sid.clone()))?;
        if state.is_terminal() {
            return Err(StoreError::Conflict(format!(
                "session {} is already {state}, which is final: it cannot take stack locks",
                id.short()
            )));
        }
        let holders = blockers(&mut tx, &sid, &keys).await?;
        let outcome = if holders.is_empty() {
            grant(&mut tx, &sid, &keys).await?;
            LockOutcome::Granted
        } else {
            let queued: bool = sqlx::query_scalar("SELECT COUNT(*) > 0 FROM lock_queue WHERE session_id = ?")
                .bind(&sid)
                .fetch_one(&mut *tx)
                .await?;
            if queue || queued {
                if !queued {
                    sqlx::query("INSERT INTO lock_queue (session_id, enqueued_at) VALUES (?, ?)")
                        .bind(&sid)
                        .bind(now_text())
                        .execute(&mut *tx)
                        .await?;
                }
                let position = position(&mut tx, &sid, &keys).await?;
                LockOutcome::Queued { position, holders }
            } else {
                LockOutcome::Busy { holders }
            }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    /// Hand freed stacks to queued sessions, first come first served: walking the queue in
    /// order, a session gets its locks when none is held by another session and no session
    /// ahead of it still waits for one of them. Queue rows of finished sessions are dropped.
    /// Returns the sessions that got their locks. Idempotent; called after every terminal move.
    pub(crate) async fn promote_queue(&self) -> StoreResult<Vec<SessionId>> {
        let mut tx = self.begin_write().await?;
        let mut claimed: BTreeSet<String> = BTreeSet::new();
        let mut granted = Vec::new();
        for (_, sid, _) in queue_rows(&mut tx).await? {
            let Some((keys, state)) = keys_of(&mut tx, &sid).await? else {
                continue;
            };
            if state.is_terminal() {
                sqlx::query("DELETE FROM lock_queue WHERE session_id = ?")
                    .bind(&sid)
                    .execute(&mut *tx)
                    .await?;
                continue;
            }
            let mut free = keys.is_disjoint(&claimed);
            if free {
                for key in &keys {
                    let held: Option<String> = sqlx::query_scalar("SELECT session_id FROM stack_locks WHERE stack = ?")
                        .bind(key)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if held.is_some_and(|h| h != sid) {
                        free = false;
                        break;
                    }
                }
            }
            if free {
                grant(&mut tx, &sid, &keys).await?;
                granted.push(
                    sid.parse()
                        .map_err(|e| StoreError::Corrupt(format!("queued session id: {e}")))?,
                );
            } else {
                claimed.extend(keys);
            }
        }
        tx.commit().await?;
        Ok(granted)
    }

    /// The lock keys session `id` holds, sorted.
    pub async fn session_locks(&self, id: SessionId) -> StoreResult<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT stack FROM stack_locks WHERE session_id = ? ORDER BY stack")
                .bind(id.to_string())
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// When session `id` took its (oldest) stack lock, if it holds any.
    pub(crate) async fn locks_acquired_at(&self, id: SessionId) -> StoreResult<Option<chrono::DateTime<chrono::Utc>>> {
        let at: Option<String> = sqlx::query_scalar("SELECT MIN(acquired_at) FROM stack_locks WHERE session_id = ?")
            .bind(id.to_string())
            .fetch_one(&self.pool)
            .await?;
        at.map(|t| super::parse_time(&t)).transpose()
    }

    /// Session `id`'s place in the lock queue, when it waits.
    pub(crate) async fn queue_entry(&self, id: SessionId) -> StoreResult<Option<QueueEntry>> {
        let mut conn = self.pool.acquire().await?;
        let sid = id.to_string();
        let row: Option<String> = sqlx::query_scalar("SELECT enqueued_at FROM lock_queue WHERE session_id = ?")
            .bind(&sid)
            .fetch_optional(&mut *conn)
            .await?;
        let Some(enqueued_at) = row else { return Ok(None) };
        let Some((keys, _)) = keys_of(&mut conn, &sid).await? else {
            return Ok(None);
        };
        let position = position(&mut conn, &sid, &keys).await?;
        Ok(Some(QueueEntry {
            session: id,
            position,
            enqueued_at,
        }))
    }

    /// Who stands between session `id` and its stacks right now (empty when nothing does).
    pub async fn lock_blockers(&self, id: SessionId) -> StoreResult<Vec<LockHolder>> {
        let mut conn = self.pool.acquire().await?;
        let sid = id.to_string();
        let Some((keys, _)) = keys_of(&mut conn, &sid).await? else {
            return Err(StoreError::SessionNotFound(sid));
        };
        blockers(&mut conn, &sid, &keys).await
    }
}

/// One configuration value as a session recorded it (`value` is `None` for secrets: they are
/// never stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub(crate) struct SavedConfig {
    pub key: String,
    pub value: Option<String>,
    pub secret: bool,
}

impl Store {
    /// Record the configuration a session's stack is planned with (secret values dropped).
    pub(crate) async fn set_stack_config(
        &self,
        id: SessionId,
        stack: &StackName,
        config: &[SavedConfig],
    ) -> StoreResult<()> {
        sqlx::query("UPDATE session_stacks SET config = ? WHERE session_id = ? AND stack = ?")
            .bind(serde_json::to_string(config).expect("config serialises"))
            .bind(id.to_string())
            .bind(stack.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The recorded configuration of each stack of a session (stacks without one are absent).
    pub(crate) async fn stack_configs(
        &self,
        id: SessionId,
    ) -> StoreResult<std::collections::BTreeMap<StackName, Vec<SavedConfig>>> {
        let rows = sqlx::query("SELECT stack, config FROM session_stacks WHERE session_id = ? AND config IS NOT NULL")
            .bind(id.to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let stack: StackName = r
                    .get::<String, _>("stack")
                    .parse()
                    .map_err(|e| StoreError::Corrupt(format!("stack: {e}")))?;
                let config: Vec<SavedConfig> = serde_json::from_str(r.get::<&str, _>("config"))
                    .map_err(|e| StoreError::Corrupt(format!("config of {stack}: {e}")))?;
                Ok((stack, config))
            })
            .collect()
    }
}
