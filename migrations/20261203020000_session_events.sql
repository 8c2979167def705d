-- The durable session event log: every state change, stack move, approval, queue move and batch
-- of engine output, appended in the transaction of the change it records. `id` is the cursor:
-- appends are serialised by the store's write lock (BEGIN IMMEDIATE / the advisory lock), so ids
-- commit in increasing order and a reader that remembers the last id it saw never misses one.
-- Chat renderers in any process render lobbies and threads from this table.
CREATE TABLE session_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL DEFAULT '' REFERENCES sessions(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL DEFAULT 'output' CHECK (kind IN ('created', 'state_changed', 'stack_state_changed',
               'approved', 'queued', 'locks_granted', 'follow_up_opened', 'recovered', 'output', 'shutdown', 'cancel_requested')),
    payload    TEXT NOT NULL DEFAULT '{}',
    at         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX session_events_by_session ON session_events(session_id, id);

-- `cloud logs` reads engine output from the event log now: carry the recorded lines over, one
-- event per line, in their order. (session_logs stays, unwritten, for older binaries.)
-- sqlite-only:begin
INSERT INTO session_events (session_id, kind, payload, at)
SELECT session_id, 'output',
       json_object('type', 'output', 'stack', stack, 'items', json_array(json_object('line', line))), at
FROM session_logs ORDER BY session_id, seq;
-- sqlite-only:end
--pg: INSERT INTO session_events (session_id, kind, payload, at) SELECT session_id, 'output', CAST(json_build_object('type', 'output', 'stack', stack, 'items', json_build_array(json_build_object('line', line))) AS TEXT), at FROM session_logs ORDER BY session_id, seq;

-- The last event each lobby's renderer drew: a restarted bot (or another replica) redraws every
-- lobby that is behind its session's log.
ALTER TABLE chat_lobbies ADD COLUMN rendered_cursor INTEGER NOT NULL DEFAULT 0;
