//! Where sessions' lobby messages live on the chat platforms.

use std::collections::BTreeMap;

use crate::Store;
use cloud_domain::session::{Platform, SessionId, SessionState};
use cloud_store::chat::StoredLobby;
use cloud_store::time::now_text;
use cloud_store::{ChatLobbyRow, StoreError, StoreResult};

impl Store {
    /// Record (or move) a session's lobby message.
    pub async fn save_lobby(&self, row: &ChatLobbyRow) -> StoreResult<()> {
        let (session_id, platform, now) = (row.session_id.to_string(), row.platform.as_str(), now_text());
        sqlx::query!(
            "INSERT INTO chat_lobbies (session_id, platform, channel_id, message_id, thread_id, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (session_id, platform) DO UPDATE SET channel_id = excluded.channel_id,
                message_id = excluded.message_id, thread_id = excluded.thread_id",
            session_id,
            platform,
            row.channel_id,
            row.message_id,
            row.thread_id,
            now,
        )
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(())
    }

    /// The lobby of a session on a platform, if one was posted.
    pub async fn lobby(&self, session: SessionId, platform: Platform) -> StoreResult<Option<ChatLobbyRow>> {
        let (session_id, platform_name) = (session.to_string(), platform.as_str());
        let row = sqlx::query_as!(
            StoredLobby,
            "SELECT channel_id, message_id, thread_id FROM chat_lobbies WHERE session_id = $1 AND platform = $2",
            session_id,
            platform_name,
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.into_row(session, platform)))
    }

    /// Remember the thread opened for a session's lobby.
    pub async fn set_lobby_thread(&self, session: SessionId, platform: Platform, thread: &str) -> StoreResult<()> {
        let (session_id, platform) = (session.to_string(), platform.as_str());
        sqlx::query!(
            "UPDATE chat_lobbies SET thread_id = $1 WHERE session_id = $2 AND platform = $3",
            thread,
            session_id,
            platform,
        )
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(())
    }

    /// The last event of the session its lobby on `platform` shows (0: none yet).
    pub async fn rendered_cursor(&self, session: SessionId, platform: Platform) -> StoreResult<i64> {
        let (session_id, platform) = (session.to_string(), platform.as_str());
        Ok(sqlx::query_scalar!(
            r#"SELECT rendered_cursor AS "n!: i64" FROM chat_lobbies WHERE session_id = $1 AND platform = $2"#,
            session_id,
            platform,
        )
        .fetch_optional(&self.pool)
        .await?
        .unwrap_or(0))
    }

    /// Remember that the lobby on `platform` shows the session's events up to `cursor`. Never
    /// moves backwards (two renderers racing keep the furthest).
    pub async fn set_rendered_cursor(&self, session: SessionId, platform: Platform, cursor: i64) -> StoreResult<()> {
        let (session_id, platform) = (session.to_string(), platform.as_str());
        sqlx::query!(
            "UPDATE chat_lobbies SET rendered_cursor = $1
             WHERE session_id = $2 AND platform = $3 AND rendered_cursor < $1",
            cursor,
            session_id,
            platform,
        )
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(())
    }

    /// The lobbies on `platform` whose rendered cursor is behind their session's log, with that
    /// cursor: what a starting bot redraws.
    pub async fn lobbies_behind(&self, platform: Platform) -> StoreResult<Vec<(ChatLobbyRow, i64)>> {
        let platform_name = platform.as_str();
        let rows = sqlx::query!(
            r#"SELECT l.session_id AS "session_id!", l.channel_id, l.message_id, l.thread_id,
                      l.rendered_cursor AS "rendered_cursor!: i64"
               FROM chat_lobbies l
               WHERE l.platform = $1
                 AND EXISTS (SELECT 1 FROM session_events e WHERE e.session_id = l.session_id AND e.id > l.rendered_cursor)
               ORDER BY l.session_id"#,
            platform_name,
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let session: SessionId = r.session_id.parse().map_err(|e| {
                    StoreError::Corrupt(format!("chat_lobbies row {}: column session_id: {e}", r.session_id))
                })?;
                let lobby = StoredLobby {
                    channel_id: r.channel_id,
                    message_id: r.message_id,
                    thread_id: r.thread_id,
                };
                Ok((lobby.into_row(session, platform), r.rendered_cursor))
            })
            .collect()
    }

    /// How many sessions are in each state (for the `cloud_sessions` gauge and stats).
    pub async fn session_counts(&self) -> StoreResult<BTreeMap<SessionState, u64>> {
        let rows = sqlx::query!(r#"SELECT state, COUNT(*) AS "n!: i64" FROM sessions GROUP BY state"#)
            .fetch_all(&self.pool)
            .await?;
        let mut out = BTreeMap::new();
        for r in rows {
            let state = r
                .state
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("sessions: column state: {e}")))?;
            out.insert(state, r.n as u64);
        }
        Ok(out)
    }
}
