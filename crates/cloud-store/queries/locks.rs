//! Stack locks and the FIFO lock queue (the types and the rules are in cloud-store's `locks`).
//!
//! Every function that decides runs in one write transaction (`Store::begin_write`), so two
//! processes racing for the same stack cannot both win, and releasing (in the terminal
//! transition's transaction, see `sessions::release_locks`) never leaves a half-released session
//! behind. The decisions read several rows before they write (who holds a stack, who queued
//! first); that is safe only because the write lock serialises every writer.

use std::collections::{BTreeMap, BTreeSet};

use crate::{Conn, Store};
use cloud_domain::session::{SessionId, SessionState, StackName};
use cloud_store::time::{now_text, parse_time};
use cloud_store::{
    lock_key, LockHolder, LockOutcome, NewEvent, QueueEntry, SavedConfig, StoreError, StoreResult, TakenLocks,
};

fn corrupt(what: String) -> StoreError {
    StoreError::Corrupt(what)
}

/// The lock keys of a session, from its row, with its state.
async fn keys_of(conn: &mut Conn, id: &str) -> StoreResult<Option<(BTreeSet<String>, SessionState)>> {
    let row = sqlx::query!(
        "SELECT project, env, deployment_id, stacks, state FROM sessions WHERE id = $1",
        id
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let stacks: Vec<StackName> =
        serde_json::from_str(&row.stacks).map_err(|e| corrupt(format!("session {id}: column stacks: {e}")))?;
    let state: SessionState = row
        .state
        .parse()
        .map_err(|e| corrupt(format!("session {id}: column state: {e}")))?;
    Ok(Some((
        stacks
            .iter()
            .map(|s| lock_key(&row.project, &row.deployment_id, s, &row.env))
            .collect(),
        state,
    )))
}

async fn holder(conn: &mut Conn, stack: &str, session: &str, queued: bool) -> StoreResult<LockHolder> {
    let row = sqlx::query!("SELECT requester, state FROM sessions WHERE id = $1", session)
        .fetch_one(&mut *conn)
        .await?;
    Ok(LockHolder {
        stack: stack.to_string(),
        session: session
            .parse()
            .map_err(|e| corrupt(format!("lock holder {session}: column id: {e}")))?,
        requester: row
            .requester
            .parse()
            .map_err(|e| corrupt(format!("session {session}: column requester: {e}")))?,
        state: row
            .state
            .parse()
            .map_err(|e| corrupt(format!("session {session}: column state: {e}")))?,
        queued,
    })
}

/// One place in the queue.
struct Queued {
    seq: i64,
    session_id: String,
}

/// The queue in FIFO order.
async fn queue_rows(conn: &mut Conn) -> StoreResult<Vec<Queued>> {
    Ok(
        sqlx::query_as!(Queued, "SELECT seq, session_id FROM lock_queue ORDER BY seq")
            .fetch_all(&mut *conn)
            .await?,
    )
}

/// The session holding lock `key`, if any.
async fn lock_holder(conn: &mut Conn, key: &str) -> StoreResult<Option<String>> {
    Ok(
        sqlx::query_scalar!("SELECT session_id FROM stack_locks WHERE stack = $1", key)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// Who stands between `id` and its stacks: lock holders, and sessions queued before it (all
/// queued sessions when `id` is not queued: a newcomer does not jump the queue).
async fn blockers(conn: &mut Conn, id: &str, keys: &BTreeSet<String>) -> StoreResult<Vec<LockHolder>> {
    let mut out = Vec::new();
    // Stacks this session already holds are nobody else's business.
    let mut wanted = BTreeSet::new();
    for key in keys {
        match lock_holder(conn, key).await? {
            Some(other) if other != id => out.push(holder(conn, key, &other, false).await?),
            Some(_) => {}
            None => {
                wanted.insert(key.clone());
            }
        }
    }
    let queue = queue_rows(conn).await?;
    let mine = queue.iter().find(|q| q.session_id == id).map(|q| q.seq);
    for queued in &queue {
        if queued.session_id == id || mine.is_some_and(|m| queued.seq > m) {
            continue;
        }
        let Some((theirs, _)) = keys_of(conn, &queued.session_id).await? else {
            continue;
        };
        for key in theirs.intersection(&wanted) {
            if !out.iter().any(|h| &h.stack == key) {
                out.push(holder(conn, key, &queued.session_id, true).await?);
            }
        }
    }
    Ok(out)
}

/// 1-based place of `id` among the queued sessions that want any of its stacks.
async fn position(conn: &mut Conn, id: &str, keys: &BTreeSet<String>) -> StoreResult<u32> {
    let mut position = 1;
    for queued in queue_rows(conn).await? {
        if queued.session_id == id {
            break;
        }
        if let Some((theirs, _)) = keys_of(conn, &queued.session_id).await? {
            if !theirs.is_disjoint(keys) {
                position += 1;
            }
        }
    }
    Ok(position)
}

/// Give session `id` the locks `keys` and take it out of the queue. `from_queue`: the lock queue
/// hands them over (the session queued, or asked to queue and found them free), so the session
/// is marked as one whose turn came (`queue_granted_at`, what `Store::queue_turns` reads).
async fn grant(conn: &mut Conn, id: &str, keys: &BTreeSet<String>, from_queue: bool) -> StoreResult<()> {
    let now = now_text();
    for key in keys {
        sqlx::query!(
            "INSERT INTO stack_locks (stack, session_id, acquired_at) VALUES ($1, $2, $3)
             ON CONFLICT (stack) DO NOTHING",
            key,
            id,
            now,
        )
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query!("DELETE FROM lock_queue WHERE session_id = $1", id)
        .execute(&mut *conn)
        .await?;
    if from_queue {
        sqlx::query!(
            "UPDATE sessions SET queue_granted_at = $1 WHERE id = $2 AND queue_granted_at IS NULL",
            now,
            id
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

impl Store {
    /// Take every stack lock of session `id`, or (with `queue`) wait in line for them. Taking
    /// locks the session already holds is a no-op, so this doubles as "do I hold my locks?".
    /// A terminal session cannot take locks.
    pub async fn acquire_locks(&self, id: SessionId, queue: bool) -> StoreResult<LockOutcome> {
        Ok(self.take_locks(id, queue).await?.outcome)
    }

    /// [`Store::acquire_locks`], also telling whether the grant took the session out of the
    /// lock queue: its turn had come and it took its stacks itself (a plan, its waiter polling)
    /// before [`Store::promote_queue`] handed them over. Its subscribers must hear of that turn
    /// as of a promotion, so the caller announces it; both answers come from one transaction,
    /// so a turn is reported by exactly one of the two.
    pub async fn take_locks(&self, id: SessionId, queue: bool) -> StoreResult<TakenLocks> {
        let mut tx = self.begin_write().await?;
        let taken = take_on(&mut tx, id, queue).await?;
        tx.commit().await?;
        Ok(taken)
    }

    /// Hand freed stacks to queued sessions, first come first served: walking the queue in
    /// order, a session gets its locks when none is held by another session and no session
    /// ahead of it still waits for one of them. Queue rows of finished sessions are dropped.
    /// Returns the sessions that got their locks. Idempotent; called after every terminal move.
    pub async fn promote_queue(&self) -> StoreResult<Vec<SessionId>> {
        let mut tx = self.begin_write().await?;
        let mut claimed: BTreeSet<String> = BTreeSet::new();
        let mut granted = Vec::new();
        for queued in queue_rows(&mut tx).await? {
            let sid = queued.session_id;
            let Some((keys, state)) = keys_of(&mut tx, &sid).await? else {
                continue;
            };
            if state.is_terminal() {
                sqlx::query!("DELETE FROM lock_queue WHERE session_id = $1", sid)
                    .execute(&mut *tx)
                    .await?;
                continue;
            }
            let mut free = keys.is_disjoint(&claimed);
            if free {
                for key in &keys {
                    if lock_holder(&mut tx, key).await?.is_some_and(|h| h != sid) {
                        free = false;
                        break;
                    }
                }
            }
            if free {
                grant(&mut tx, &sid, &keys, true).await?;
                granted.push(
                    sid.parse()
                        .map_err(|e| corrupt(format!("queued session {sid}: column session_id: {e}")))?,
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
        let sid = id.to_string();
        Ok(sqlx::query_scalar!(
            r#"SELECT stack AS "stack!" FROM stack_locks WHERE session_id = $1 ORDER BY stack"#,
            sid
        )
        .fetch_all(&self.pool)
        .await?)
    }

    /// Whether session `id` holds the locks of all its stacks (a DRAFT session whose lobby was
    /// just posted is planned only then).
    pub async fn holds_all_locks(&self, id: SessionId) -> StoreResult<bool> {
        let mut conn = self.pool.acquire().await?;
        let sid = id.to_string();
        let Some((keys, _)) = keys_of(&mut conn, &sid).await? else {
            return Err(StoreError::SessionNotFound(sid));
        };
        let held: BTreeSet<String> = self.session_locks(id).await?.into_iter().collect();
        Ok(keys.is_subset(&held))
    }

    /// When session `id` took its (oldest) stack lock, if it holds any.
    pub async fn locks_acquired_at(&self, id: SessionId) -> StoreResult<Option<chrono::DateTime<chrono::Utc>>> {
        let sid = id.to_string();
        let at = sqlx::query_scalar!(
            r#"SELECT MIN(acquired_at) AS "at?: String" FROM stack_locks WHERE session_id = $1"#,
            sid
        )
        .fetch_one(&self.pool)
        .await?;
        at.map(|t| parse_time(&format!("stack locks of session {id}: column acquired_at"), &t))
            .transpose()
    }

    /// Session `id`'s place in the lock queue, when it waits.
    pub async fn queue_entry(&self, id: SessionId) -> StoreResult<Option<QueueEntry>> {
        let mut conn = self.pool.acquire().await?;
        let sid = id.to_string();
        let enqueued_at = sqlx::query_scalar!("SELECT enqueued_at FROM lock_queue WHERE session_id = $1", sid)
            .fetch_optional(&mut *conn)
            .await?;
        let Some(enqueued_at) = enqueued_at else {
            return Ok(None);
        };
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

    /// The queued DRAFT sessions whose place in the queue is not the one their last `queued` event
    /// announced (none announced yet, or sessions ahead of them got their stacks or ended), with
    /// their place now. Reads the queue only, whatever the history.
    pub async fn queue_moves(&self) -> StoreResult<Vec<QueueEntry>> {
        let mut conn = self.pool.acquire().await?;
        let rows = sqlx::query!(
            r#"SELECT session_id, enqueued_at, CAST(told_position AS BIGINT) AS "told_position?: i64"
               FROM lock_queue ORDER BY seq"#
        )
        .fetch_all(&mut *conn)
        .await?;
        // Each session's keys, read once: a place counts the sessions ahead that want any of them.
        let mut ahead: Vec<BTreeSet<String>> = Vec::with_capacity(rows.len());
        let mut moved = Vec::new();
        for row in rows {
            let Some((keys, state)) = keys_of(&mut conn, &row.session_id).await? else {
                continue;
            };
            let position = 1 + ahead.iter().filter(|theirs| !theirs.is_disjoint(&keys)).count();
            let position = u32::try_from(position).map_err(|e| corrupt(format!("lock queue position: {e}")))?;
            // Only sessions still waiting to be planned are told (a row of a session that ended
            // is dropped at the next promotion; it still counts ahead until then, as in `position`).
            if state == SessionState::Draft && row.told_position != Some(i64::from(position)) {
                moved.push(QueueEntry {
                    session: row
                        .session_id
                        .parse()
                        .map_err(|e| corrupt(format!("queued session {}: column session_id: {e}", row.session_id)))?,
                    position,
                    enqueued_at: row.enqueued_at,
                });
            }
            ahead.push(keys);
        }
        Ok(moved)
    }

    /// Append `event` (the session's `queued` event announcing `position`) and remember the
    /// position as the one last told, in one write transaction, so the two never disagree.
    pub async fn tell_queue_position(&self, id: SessionId, position: u32, event: &NewEvent) -> StoreResult<()> {
        let (sid, told) = (id.to_string(), i64::from(position));
        let mut tx = self.begin_write().await?;
        sqlx::query!(
            "UPDATE lock_queue SET told_position = $1 WHERE session_id = $2",
            told,
            sid
        )
        .execute(&mut *tx)
        .await?;
        super::events::append_events(&mut tx, id, std::slice::from_ref(event)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The DRAFT sessions the lock queue handed their stacks to, that hold them and no longer
    /// wait: queued sessions whose turn came, oldest first (`cloud serve` plans those nobody
    /// drives when it starts). Reads the `sessions_queue_turns` index, whatever the history.
    pub async fn queue_turns(&self) -> StoreResult<Vec<SessionId>> {
        let ids = sqlx::query_scalar!(
            r#"SELECT s.id AS "id!" FROM sessions s
               WHERE s.state = 'DRAFT' AND s.queue_granted_at IS NOT NULL
                 AND NOT EXISTS (SELECT 1 FROM lock_queue q WHERE q.session_id = s.id)
                 AND EXISTS (SELECT 1 FROM stack_locks l WHERE l.session_id = s.id)
               ORDER BY s.created_at, s.id"#
        )
        .fetch_all(&self.pool)
        .await?;
        ids.into_iter()
            .map(|id| id.parse().map_err(|e| corrupt(format!("session {id}: column id: {e}"))))
            .collect()
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

    /// Who would stand between a new session and the lock keys `keys`: their holders and the
    /// sessions queued for them (a newcomer does not jump the queue). Read-only: lets a caller
    /// that will not queue refuse before it stores anything.
    pub async fn stack_holders(&self, keys: &BTreeSet<String>) -> StoreResult<Vec<LockHolder>> {
        let mut conn = self.pool.acquire().await?;
        blockers(&mut conn, "", keys).await
    }

    /// Record the configuration a session's stack is planned with (secret values dropped).
    pub async fn set_stack_config(&self, id: SessionId, stack: &StackName, config: &[SavedConfig]) -> StoreResult<()> {
        let config = serde_json::to_string(config).expect("config serialises");
        let (sid, stack) = (id.to_string(), stack.as_str());
        sqlx::query!(
            "UPDATE session_stacks SET config = $1 WHERE session_id = $2 AND stack = $3",
            config,
            sid,
            stack,
        )
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(())
    }

    /// The recorded configuration of each stack of a session (stacks without one are absent).
    pub async fn stack_configs(&self, id: SessionId) -> StoreResult<BTreeMap<StackName, Vec<SavedConfig>>> {
        let sid = id.to_string();
        let rows = sqlx::query!(
            r#"SELECT stack, config AS "config!" FROM session_stacks WHERE session_id = $1 AND config IS NOT NULL"#,
            sid
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let at = format!("session {id} stack {}", r.stack);
                let stack: StackName = r
                    .stack
                    .parse()
                    .map_err(|e| corrupt(format!("{at}: column stack: {e}")))?;
                let config: Vec<SavedConfig> =
                    serde_json::from_str(&r.config).map_err(|e| corrupt(format!("{at}: column config: {e}")))?;
                Ok((stack, config))
            })
            .collect()
    }
}

/// [`Store::take_locks`] inside the caller's write transaction.
pub(super) async fn take_on(conn: &mut Conn, id: SessionId, queue: bool) -> StoreResult<TakenLocks> {
    let sid = id.to_string();
    let (keys, state) = keys_of(&mut *conn, &sid)
        .await?
        .ok_or_else(|| StoreError::SessionNotFound(sid.clone()))?;
    if state.is_terminal() {
        return Err(StoreError::Conflict(format!(
            "session {} is already {state}, which is final: it cannot take stack locks",
            id.short()
        )));
    }
    let queued = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM lock_queue WHERE session_id = $1) AS "queued!: bool""#,
        sid
    )
    .fetch_one(&mut *conn)
    .await?;
    let holders = blockers(&mut *conn, &sid, &keys).await?;
    let left_queue = holders.is_empty() && queued;
    let outcome = if holders.is_empty() {
        grant(&mut *conn, &sid, &keys, queue || queued).await?;
        LockOutcome::Granted
    } else if queue || queued {
        if !queued {
            let now = now_text();
            sqlx::query!(
                "INSERT INTO lock_queue (session_id, enqueued_at) VALUES ($1, $2)",
                sid,
                now
            )
            .execute(&mut *conn)
            .await?;
        }
        let position = position(&mut *conn, &sid, &keys).await?;
        LockOutcome::Queued { position, holders }
    } else {
        LockOutcome::Busy { holders }
    };
    Ok(TakenLocks { outcome, left_queue })
}
