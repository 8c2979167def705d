-- Flat cost (issue 17.1): what people ask most often reads through an index or a small table
-- maintained in the transition's own transaction, never by loading every session.
--
-- * `cloud list` pages newest first by (created_at, id): `sessions_newest` serves the order and
--   the `--before <id>` keyset.
-- * Lists of one state (recovery and the sweeper at every start, `--state`) read that state's
--   sessions newest first from `sessions_by_state_newest`, never a scan of the whole table.
-- * `cloud status` (no id), the concurrency quota and autocompletion read the open sessions:
--   a partial index holds only those, so its size follows the open sessions, not the history.
-- * `cloud status <id>` lists the follow-ups of a session: `sessions_by_follow_up`.
-- * `cloud rollback` walks a scope's APPLIED sessions newest first: `sessions_applied_by_scope`.
-- * Quota checks need what the latest APPLIED session of every (project, env, stack) left behind:
--   `stack_heads` keeps exactly that row per stack, upserted when a session becomes APPLIED, so a
--   quota check reads at most (environments × stacks) rows and the plans of those sessions only.
CREATE INDEX sessions_newest ON sessions(created_at, id);
CREATE INDEX sessions_by_state_newest ON sessions(state, created_at, id);
CREATE INDEX sessions_open ON sessions(created_at, id)
    WHERE state NOT IN ('APPLIED', 'FAILED', 'CANCELLED', 'EXPIRED');
CREATE INDEX sessions_open_by_project ON sessions(project, env)
    WHERE state NOT IN ('APPLIED', 'FAILED', 'CANCELLED', 'EXPIRED');
CREATE INDEX sessions_by_follow_up ON sessions(follow_up_of) WHERE follow_up_of IS NOT NULL;
CREATE INDEX sessions_applied_by_scope ON sessions(project, env, finished_at) WHERE state = 'APPLIED';

CREATE TABLE stack_heads (
    project     TEXT NOT NULL DEFAULT '',
    env         TEXT NOT NULL DEFAULT '',
    stack       TEXT NOT NULL DEFAULT '',
    session_id  TEXT NOT NULL DEFAULT '' REFERENCES sessions(id) ON DELETE CASCADE,
    finished_at TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (project, env, stack)
);
CREATE INDEX stack_heads_by_session ON stack_heads(session_id);

-- The heads of the history so far: for each (project, env, stack) the APPLIED session that
-- finished last (ties: the greater id, as the store's upsert would have left it).
INSERT INTO stack_heads (project, env, stack, session_id, finished_at)
    SELECT s.project, s.env, ss.stack, s.id, COALESCE(s.finished_at, s.updated_at)
    FROM session_stacks ss JOIN sessions s ON s.id = ss.session_id
    WHERE s.state = 'APPLIED'
      AND NOT EXISTS (
        SELECT 1 FROM session_stacks ss2 JOIN sessions s2 ON s2.id = ss2.session_id
        WHERE s2.state = 'APPLIED' AND s2.project = s.project AND s2.env = s.env AND ss2.stack = ss.stack
          AND (COALESCE(s2.finished_at, s2.updated_at) > COALESCE(s.finished_at, s.updated_at)
               OR (COALESCE(s2.finished_at, s2.updated_at) = COALESCE(s.finished_at, s.updated_at)
                   AND s2.id > s.id)));
