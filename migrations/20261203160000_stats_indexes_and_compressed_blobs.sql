-- `cloud stats` reads only index entries (issue 17.1). The sessions table keeps each plan
-- document inline, so a session row spans many overflow pages, and SQLite walks that chain to
-- reach any column stored after `plan` (created_at, finished_at): reading the window's rows
-- through `sessions_newest` / `sessions_by_state_newest` cost a plan's worth of pages per
-- APPLIED session. Two covering indexes answer the window's questions without a table row:
-- * counts by state, project and requester over a created_at range;
-- * the created → finished lead times of the window's APPLIED sessions.
CREATE INDEX sessions_stats ON sessions(created_at, state, project, requester);
CREATE INDEX sessions_lead_times ON sessions(state, created_at, finished_at);

-- Compressed storage of large plan/log blobs (issue 17, retention): a plan document and an
-- engine output batch of 256 bytes or more are stored zlib-compressed in a BLOB column beside
-- their text column, which then stays NULL (plan) or empty (payload). Rows written before keep
-- their text; readers take the blob when there is one (cloud_store::blob).
-- sqlite-only:begin
ALTER TABLE sessions ADD COLUMN plan_z BLOB;
ALTER TABLE session_events ADD COLUMN payload_z BLOB;
-- sqlite-only:end
--pg: ALTER TABLE sessions ADD COLUMN plan_z BYTEA;
--pg: ALTER TABLE session_events ADD COLUMN payload_z BYTEA;
