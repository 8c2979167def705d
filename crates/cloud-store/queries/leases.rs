//! Session leases with fencing tokens (the rules are in cloud-store's `leases`; the fence check
//! every write under a lease runs is in `fence`), and the stack-lock administration
//! (`cloud locks`) that releases what a session holds.
//!
//! Every function that decides runs in one write transaction, so taking, renewing and claiming a
//! lease cannot interleave with a fenced write: once a claim commits, the previous owner's next
//! write sees the new token and fails.

use std::time::Duration;

use super::audit::append;
use crate::{Conn, Store};
use cloud_domain::session::SessionId;
use cloud_store::leases::StoredLease;
use cloud_store::time::{format_time, now_text};
use cloud_store::{Fence, HeldLock, Lease, NewAudit, StoreError, StoreResult};

/// `now + ttl` as stored.
pub(crate) fn expiry(ttl: Duration) -> String {
    format_time(chrono::Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX))
}

/// The lease row of session `id`, read on `conn`.
pub(crate) async fn lease_row(conn: &mut Conn, id: &str) -> StoreResult<Option<Lease>> {
    sqlx::query_as!(
        StoredLease,
        r#"SELECT session_id AS "session_id!", owner, token, expires_at FROM session_leases WHERE session_id = $1"#,
        id
    )
    .fetch_optional(&mut *conn)
    .await?
    .map(Lease::try_from)
    .transpose()
}

/// Give the lease of `id` to `owner` with a token one bigger than the last: a claim.
pub(crate) async fn claim_on(conn: &mut Conn, lease: &Lease, owner: &str, ttl: Duration) -> StoreResult<Option<Lease>> {
    let (sid, expires, now) = (lease.session.to_string(), expiry(ttl), now_text());
    let done = sqlx::query!(
        "UPDATE session_leases SET owner = $1, token = token + 1, acquired_at = $2, expires_at = $3
         WHERE session_id = $4 AND owner = $5 AND token = $6",
        owner,
        now,
        expires,
        sid,
        lease.owner,
        lease.token,
    )
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    lease_row(conn, &sid).await
}

impl Store {
    /// Take (or keep) the lease of session `id` for `owner`, valid for `ttl`. A new lease starts
    /// at token 1; the holder taking it again keeps its token and extends it; an expired lease of
    /// another owner is claimed (token + 1). Refused with [`StoreError::LeaseHeld`] while another
    /// owner's lease runs.
    pub async fn take_lease(&self, id: SessionId, owner: &str, ttl: Duration) -> StoreResult<Lease> {
        let (sid, now, expires) = (id.to_string(), now_text(), expiry(ttl));
        let mut tx = self.begin_write().await?;
        let lease = match lease_row(&mut tx, &sid).await? {
            None => {
                let exists = sqlx::query_scalar!(
                    r#"SELECT EXISTS (SELECT 1 FROM sessions WHERE id = $1) AS "x!: bool""#,
                    sid
                )
                .fetch_one(&mut *tx)
                .await?;
                if !exists {
                    return Err(StoreError::SessionNotFound(sid));
                }
                sqlx::query!(
                    "INSERT INTO session_leases (session_id, owner, token, acquired_at, expires_at)
                     VALUES ($1, $2, 1, $3, $4)",
                    sid,
                    owner,
                    now,
                    expires,
                )
                .execute(&mut *tx)
                .await?;
                lease_row(&mut tx, &sid).await?
            }
            Some(current) if current.owner == owner => {
                sqlx::query!(
                    "UPDATE session_leases SET expires_at = $1 WHERE session_id = $2",
                    expires,
                    sid
                )
                .execute(&mut *tx)
                .await?;
                lease_row(&mut tx, &sid).await?
            }
            Some(current) if current.expires_at <= chrono::Utc::now() => {
                claim_on(&mut tx, &current, owner, ttl).await?
            }
            Some(current) => {
                return Err(StoreError::LeaseHeld {
                    session: id,
                    owner: current.owner,
                    until: format_time(current.expires_at),
                })
            }
        };
        tx.commit().await?;
        lease.ok_or_else(|| StoreError::Corrupt(format!("lease of session {id}: vanished while it was taken")))
    }

    /// Push the lease of `id` forward by `ttl`, if `fence` still holds it.
    pub async fn renew_lease(&self, id: SessionId, fence: &Fence, ttl: Duration) -> StoreResult<()> {
        let (sid, expires) = (id.to_string(), expiry(ttl));
        let mut tx = self.begin_write().await?;
        let done = sqlx::query!(
            "UPDATE session_leases SET expires_at = $1 WHERE session_id = $2 AND owner = $3 AND token = $4",
            expires,
            sid,
            fence.owner,
            fence.token,
        )
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Fenced {
                session: id,
                token: fence.token,
            });
        }
        tx.commit().await?;
        Ok(())
    }

    /// Give the lease of `id` back (the session waits for people now, or is finished). A lease
    /// that is no longer `fence`'s is left alone. Returns whether one was released.
    pub async fn release_lease(&self, id: SessionId, fence: &Fence) -> StoreResult<bool> {
        let sid = id.to_string();
        let mut tx = self.begin_write().await?;
        let done = sqlx::query!(
            "DELETE FROM session_leases WHERE session_id = $1 AND owner = $2 AND token = $3",
            sid,
            fence.owner,
            fence.token,
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Claim the lease `lease` describes for `owner`, if it still is exactly that lease (same owner
    /// and token): for taking over from an owner known to be gone before its lease expired.
    pub async fn claim_lease(&self, lease: &Lease, owner: &str, ttl: Duration) -> StoreResult<Option<Lease>> {
        let mut tx = self.begin_write().await?;
        let claimed = claim_on(&mut tx, lease, owner, ttl).await?;
        tx.commit().await?;
        Ok(claimed)
    }

    /// Every lease, soonest expiry first.
    pub async fn leases(&self) -> StoreResult<Vec<Lease>> {
        let rows = sqlx::query_as!(
            StoredLease,
            r#"SELECT session_id AS "session_id!", owner, token, expires_at FROM session_leases ORDER BY expires_at, session_id"#
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Lease::try_from).collect()
    }

    /// The lease of session `id`, if one is held.
    pub async fn lease(&self, id: SessionId) -> StoreResult<Option<Lease>> {
        let mut conn = self.pool.acquire().await?;
        lease_row(&mut conn, &id.to_string()).await
    }

    /// Every held stack lock with its session (for `cloud locks`).
    pub async fn held_locks(&self) -> StoreResult<Vec<HeldLock>> {
        let rows = sqlx::query!(
            r#"SELECT l.stack AS "stack!", l.session_id, l.acquired_at, s.state, s.requester
               FROM stack_locks l JOIN sessions s ON s.id = l.session_id
               ORDER BY l.stack"#
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let at = format!("stack lock {}", r.stack);
                let bad = |column: &str, e: String| StoreError::Corrupt(format!("{at}: column {column}: {e}"));
                Ok(HeldLock {
                    session: r.session_id.parse().map_err(|e| bad("session_id", format!("{e}")))?,
                    state: r.state.parse().map_err(|e| bad("state", format!("{e}")))?,
                    requester: r.requester,
                    acquired_at: r.acquired_at,
                    stack: r.stack,
                })
            })
            .collect()
    }

    /// Release every stack lock and queue place of session `id` and audit it as `actor` with
    /// `reason`, in one transaction. Returns the released lock keys.
    pub async fn release_session_locks(&self, id: SessionId, actor: &str, reason: &str) -> StoreResult<Vec<String>> {
        let sid = id.to_string();
        let mut tx = self.begin_write().await?;
        let keys = sqlx::query_scalar!(
            r#"SELECT stack AS "stack!" FROM stack_locks WHERE session_id = $1 ORDER BY stack"#,
            sid
        )
        .fetch_all(&mut *tx)
        .await?;
        super::sessions::release_locks(&mut tx, id).await?;
        let project = sqlx::query_scalar!("SELECT project FROM sessions WHERE id = $1", sid)
            .fetch_optional(&mut *tx)
            .await?;
        append(
            &mut tx,
            self.audit_key(),
            &NewAudit {
                actor: actor.to_string(),
                action: "locks.release".into(),
                session_id: Some(id),
                project,
                details: serde_json::json!({"locks": keys, "reason": reason}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(keys)
    }

    /// Release one stack lock by its key, whoever holds it, audited as `actor` with `reason`
    /// (`cloud locks release`). Returns the session that held it, `None` when nobody did.
    pub async fn force_release_lock(&self, key: &str, actor: &str, reason: &str) -> StoreResult<Option<SessionId>> {
        let mut tx = self.begin_write().await?;
        let Some(holder) = sqlx::query_scalar!("SELECT session_id FROM stack_locks WHERE stack = $1", key)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let session: SessionId = holder
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("stack lock {key}: column session_id: {e}")))?;
        sqlx::query!("DELETE FROM stack_locks WHERE stack = $1", key)
            .execute(&mut *tx)
            .await?;
        let project = sqlx::query_scalar!("SELECT project FROM sessions WHERE id = $1", holder)
            .fetch_optional(&mut *tx)
            .await?;
        append(
            &mut tx,
            self.audit_key(),
            &NewAudit {
                actor: actor.to_string(),
                action: "locks.force_release".into(),
                session_id: Some(session),
                project,
                details: serde_json::json!({"lock": key, "reason": reason}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(session))
    }
}
