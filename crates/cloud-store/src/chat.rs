//! Where sessions' lobby messages live on the chat platforms (Discord channel + message ids,
//! Slack channel + ts), so a restarted bot keeps editing the same lobby and thread.

use serde::Serialize;

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

/// The columns of a `chat_lobbies` row that a lookup by (session, platform) does not know.
#[derive(Debug, Clone)]
pub struct StoredLobby {
    pub channel_id: String,
    pub message_id: String,
    pub thread_id: Option<String>,
}

impl StoredLobby {
    pub fn into_row(self, session_id: SessionId, platform: Platform) -> ChatLobbyRow {
        ChatLobbyRow {
            session_id,
            platform,
            channel_id: self.channel_id,
            message_id: self.message_id,
            thread_id: self.thread_id,
        }
    }
}
