-- Where each session's lobby message lives on a chat platform, so a restarted bot can keep
-- editing it and post in its thread. One lobby per session and platform.
CREATE TABLE chat_lobbies (
    session_id TEXT NOT NULL REFERENCES sessions(id),
    platform   TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    thread_id  TEXT,
    created_at TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (session_id, platform)
);
