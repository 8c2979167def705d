//! Where sessions' lobby messages live on the chat platforms (Discord channel + message ids,
//! Slack channel + ts), so a restarted bot keeps editing the same lobby and thread.

use serde::Serialize;
use sqlx::Row;

use super::{now_text, Store, StoreResult};
use cloud_domain::session::{Platform, SessionId};

/// One session's lobby on one platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatLobbyRow {
    pub session_id: SessionId,
    pub platform: Platform,
    pub channel_id: String,
    pub message_id: String,
    /// The session's thread once one was opened (Discord: a thread channel id; Slack: the ts).
    pub thread_id: Option<String>,
}

impl Store {
    /// Record (or move) a session's lobby message.
    pub async fn save_lobby(&self, row: &ChatLobbyRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO chat_lobbies (session_id, platform, channel_id, message_id, thread_id, created_at)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (session_id, platform) DO UPDATE SET channel_id = excluded.channel_id,
                message_id = excluded.message_id, thread_id = excluded.thread_id",
        )
        .bind(row.session_id.to_string())
        .bind(row.platform.as_str())
        .bind(&row.channel_id)
        .bind(&row.message_id)
        .bind(&row.thread_id)
        .bind(now_text())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The lobby of a session on a platform, if one was posted.
    pub async fn lobby(&self, session: SessionId, platform: Platform) -> StoreResult<Option<ChatLobbyRow>> {
        let row = sqlx::query("SELECT * FROM chat_lobbies WHERE session_id = ? AND platform = ?")
            .bind(session.to_string())
            .bind(platform.as_str())
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| ChatLobbyRow {
            session_id: session,
            platform,
            channel_id: r.get("channel_id"),
            message_id: r.get("message_id"),
            thread_id: r.get("thread_id"),
        }))
    }

    /// Remember the thread opened for a session's lobby.
    pub async fn set_lobby_thread(&self, session: SessionId, platform: Platform, thread: &str) -> StoreResult<()> {
        sqlx::query("UPDATE chat_lobbies SET thread_id = ? WHERE session_id = ? AND platform = ?")
            .bind(thread)
            .bind(session.to_string())
            .bind(platform.as_str())
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

impl Store {
    /// How many sessions are in each state (for the `cloud_sessions` gauge and stats).
    pub async fn session_counts(
        &self,
    ) -> StoreResult<std::collections::BTreeMap<cloud_domain::session::SessionState, u64>> {
        let rows = sqlx::query("SELECT state, COUNT(*) AS n FROM sessions GROUP BY state")
            .fetch_all(self.pool())
            .await?;
        let mut out = std::collections::BTreeMap::new();
        for r in rows {
            let state: String = r.get("state");
            let state = state
                .parse()
                .map_err(|e| super::StoreError::Corrupt(format!("state: {e}")))?;
            out.insert(state, r.get::<i64, _>("n") as u64);
        }
        Ok(out)
    }
}
