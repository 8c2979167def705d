//! The session event log: appends (inside the caller's write transaction when they belong to a
//! change) and cursor reads, per session and across every session.

use crate::{Conn, Store};
use cloud_domain::session::SessionId;
use cloud_store::events::StoredEvent;
use cloud_store::time::now_text;
use cloud_store::{EventRow, NewEvent, StoreResult};

impl Store {
    /// Append events of `session` in one write transaction (events that belong to no other
    /// change: queue moves, engine output batches, recovery and shutdown notes).
    pub async fn append_events(&self, session: SessionId, events: &[NewEvent]) -> StoreResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        append_events(&mut tx, session, events).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Up to `limit` events of `session` after `cursor`, oldest first.
    pub async fn events_after(&self, session: SessionId, cursor: i64, limit: i64) -> StoreResult<Vec<EventRow>> {
        let sid = session.to_string();
        let rows = sqlx::query_as!(
            StoredEvent,
            r#"SELECT id AS "id!: i64", session_id, kind, payload, payload_z, at FROM session_events
               WHERE session_id = $1 AND id > $2 ORDER BY id LIMIT $3"#,
            sid,
            cursor,
            limit
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(EventRow::try_from).collect()
    }

    /// Up to `limit` engine-output batches of `session` after `cursor`, oldest first (what
    /// `cloud logs` reads).
    pub async fn output_after(&self, session: SessionId, cursor: i64, limit: i64) -> StoreResult<Vec<EventRow>> {
        let sid = session.to_string();
        let rows = sqlx::query_as!(
            StoredEvent,
            r#"SELECT id AS "id!: i64", session_id, kind, payload, payload_z, at FROM session_events
               WHERE session_id = $1 AND kind = 'output' AND id > $2 ORDER BY id LIMIT $3"#,
            sid,
            cursor,
            limit
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(EventRow::try_from).collect()
    }

    /// Up to `limit` events of every session after `cursor`, oldest first.
    pub async fn events_since(&self, cursor: i64, limit: i64) -> StoreResult<Vec<EventRow>> {
        let rows = sqlx::query_as!(
            StoredEvent,
            r#"SELECT id AS "id!: i64", session_id, kind, payload, payload_z, at FROM session_events
               WHERE id > $1 ORDER BY id LIMIT $2"#,
            cursor,
            limit
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(EventRow::try_from).collect()
    }

    /// The newest cursor of the whole log (0 when empty): where a reader that wants only new
    /// events starts.
    pub async fn last_event_id(&self) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar!(r#"SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) AS "n!: i64" FROM session_events"#)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Total payload bytes of a session's events and how many there are (what the log costs).
    pub async fn event_log_size(&self, session: SessionId) -> StoreResult<(i64, i64)> {
        let sid = session.to_string();
        let row = sqlx::query!(
            r#"SELECT CAST(COUNT(*) AS BIGINT) AS "n!: i64",
                      CAST(COALESCE(SUM(LENGTH(payload) + COALESCE(LENGTH(payload_z), 0) + LENGTH(kind) + LENGTH(at) + LENGTH(session_id) + 8), 0) AS BIGINT) AS "bytes!: i64"
               FROM session_events WHERE session_id = $1"#,
            sid
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((row.bytes, row.n))
    }
}

/// Append `events` of `session` on `conn`, inside the caller's write transaction.
pub(super) async fn append_events(conn: &mut Conn, session: SessionId, events: &[NewEvent]) -> StoreResult<()> {
    let (sid, now) = (session.to_string(), now_text());
    for event in events {
        let kind = event.kind.as_str();
        // Large engine output batches are stored compressed (`payload_z`, an empty `payload`).
        let (text, blob) = match event.kind {
            cloud_store::EventKind::Output => cloud_store::blob::encode(&event.payload),
            _ => (event.payload.as_str(), None),
        };
        sqlx::query!(
            "INSERT INTO session_events (session_id, kind, payload, payload_z, at) VALUES ($1, $2, $3, $4, $5)",
            sid,
            kind,
            text,
            blob,
            now,
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
