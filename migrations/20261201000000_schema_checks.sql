-- A schema that defends itself: CHECK constraints for the values the domain enums allow
-- (SessionState, StackState, Role, Platform, the session operation) and for 0/1 flags, NOT NULL on
-- the text primary keys SQLite would otherwise accept NULL in, and the index `cloud list` sorts by.
-- The value lists are the enums' `as_str` names; the store tests fail when an enum gains a value
-- that no migration allows yet.
--
-- SQLite has no ALTER TABLE … ADD CONSTRAINT: the constrained tables are rebuilt. sqlx runs this
-- file in one transaction with foreign keys enforced (which cannot be switched off inside it), so
-- dropping `sessions` while a table still references it would CASCADE-delete that table's rows.
-- Hence the order: build every new table (the children pointing at sessions_new) and copy the
-- rows, drop the old children, then the old parent, then rename — SQLite rewrites the children's
-- REFERENCES sessions_new to sessions on that rename. lock_queue's sequence high-water mark is
-- carried over so queue numbers never go back.
-- PostgreSQL (see cloud-store's migrate.rs) skips the sqlite-only block and runs the `--pg:`
-- lines instead: ALTER TABLE … ADD CONSTRAINT on the tables as they are.

-- sqlite-only:begin
CREATE TABLE sessions_new (
    id                  TEXT NOT NULL PRIMARY KEY,
    project             TEXT NOT NULL DEFAULT '' REFERENCES projects(name),
    env                 TEXT NOT NULL DEFAULT '',
    deployment_id       TEXT NOT NULL DEFAULT '' REFERENCES deployments(id),
    requester           TEXT NOT NULL DEFAULT '',
    state               TEXT NOT NULL DEFAULT 'DRAFT',
    operation           TEXT NOT NULL DEFAULT 'deploy',
    stacks              TEXT NOT NULL DEFAULT '[]',
    plan                TEXT,
    digest              TEXT,
    approvals_required  INTEGER NOT NULL DEFAULT 1,
    allow_self_approve  INTEGER NOT NULL DEFAULT 0,
    reason              TEXT,
    follow_up_of        TEXT REFERENCES sessions_new(id),
    created_at          TEXT NOT NULL DEFAULT '',
    updated_at          TEXT NOT NULL DEFAULT '',
    plan_ready_at       TEXT,
    finished_at         TEXT,
    owner_pid           INTEGER,
    owner_start         TEXT,
    CONSTRAINT sessions_state_check CHECK (state IN ('DRAFT', 'PLANNING', 'PLAN_READY', 'PLAN_FAILED',
        'APPROVED', 'APPLYING', 'APPLIED', 'FAILED', 'CANCELLED', 'EXPIRED')),
    CONSTRAINT sessions_operation_check CHECK (operation IN ('deploy', 'destroy', 'rollback')),
    CONSTRAINT sessions_allow_self_approve_check CHECK (allow_self_approve IN (0, 1))
);
INSERT INTO sessions_new (id, project, env, deployment_id, requester, state, operation, stacks, plan, digest,
        approvals_required, allow_self_approve, reason, follow_up_of, created_at, updated_at, plan_ready_at,
        finished_at, owner_pid, owner_start)
    SELECT id, project, env, deployment_id, requester, state, operation, stacks, plan, digest,
        approvals_required, allow_self_approve, reason, follow_up_of, created_at, updated_at, plan_ready_at,
        finished_at, owner_pid, owner_start
    FROM sessions;

CREATE TABLE session_stacks_new (
    session_id  TEXT NOT NULL DEFAULT '' REFERENCES sessions_new(id) ON DELETE CASCADE,
    stack       TEXT NOT NULL DEFAULT '',
    position    INTEGER NOT NULL DEFAULT 0,
    wave        INTEGER NOT NULL DEFAULT 0,
    state       TEXT NOT NULL DEFAULT 'pending',
    counts      TEXT NOT NULL DEFAULT '{}',
    error       TEXT,
    updated_at  TEXT NOT NULL DEFAULT '',
    config      TEXT,
    PRIMARY KEY (session_id, stack),
    CONSTRAINT session_stacks_state_check CHECK (state IN ('pending', 'previewing', 'previewed', 'applying',
        'applied', 'failed', 'skipped'))
);
INSERT INTO session_stacks_new (session_id, stack, position, wave, state, counts, error, updated_at, config)
    SELECT session_id, stack, position, wave, state, counts, error, updated_at, config FROM session_stacks;

CREATE TABLE approvals_new (
    session_id      TEXT NOT NULL DEFAULT '' REFERENCES sessions_new(id) ON DELETE CASCADE,
    approver        TEXT NOT NULL DEFAULT '',
    digest          TEXT NOT NULL DEFAULT '',
    override_reason TEXT,
    created_at      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (session_id, approver)
);
INSERT INTO approvals_new (session_id, approver, digest, override_reason, created_at)
    SELECT session_id, approver, digest, override_reason, created_at FROM approvals;

CREATE TABLE stack_locks_new (
    stack       TEXT NOT NULL PRIMARY KEY,
    session_id  TEXT NOT NULL DEFAULT '' REFERENCES sessions_new(id),
    acquired_at TEXT NOT NULL DEFAULT ''
);
INSERT INTO stack_locks_new (stack, session_id, acquired_at) SELECT stack, session_id, acquired_at FROM stack_locks;

CREATE TABLE lock_queue_new (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id  TEXT NOT NULL DEFAULT '' REFERENCES sessions_new(id) ON DELETE CASCADE,
    enqueued_at TEXT NOT NULL DEFAULT ''
);
INSERT INTO lock_queue_new (seq, session_id, enqueued_at) SELECT seq, session_id, enqueued_at FROM lock_queue;
DELETE FROM sqlite_sequence WHERE name = 'lock_queue_new';
INSERT INTO sqlite_sequence (name, seq) SELECT 'lock_queue_new', seq FROM sqlite_sequence WHERE name = 'lock_queue';

CREATE TABLE session_logs_new (
    session_id  TEXT NOT NULL DEFAULT '' REFERENCES sessions_new(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL DEFAULT 0,
    stack       TEXT NOT NULL DEFAULT '',
    line        TEXT NOT NULL DEFAULT '',
    at          TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (session_id, seq)
);
INSERT INTO session_logs_new (session_id, seq, stack, line, at) SELECT session_id, seq, stack, line, at FROM session_logs;

CREATE TABLE chat_lobbies_new (
    session_id TEXT NOT NULL REFERENCES sessions_new(id),
    platform   TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    thread_id  TEXT,
    created_at TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (session_id, platform),
    CONSTRAINT chat_lobbies_platform_check CHECK (platform IN ('cli', 'discord', 'slack'))
);
INSERT INTO chat_lobbies_new (session_id, platform, channel_id, message_id, thread_id, created_at)
    SELECT session_id, platform, channel_id, message_id, thread_id, created_at FROM chat_lobbies;

CREATE TABLE grants_new (
    id          TEXT NOT NULL PRIMARY KEY,
    principal   TEXT NOT NULL DEFAULT '',
    project     TEXT NOT NULL DEFAULT '',
    env         TEXT NOT NULL DEFAULT '*',
    role        TEXT NOT NULL DEFAULT 'read',
    expires_at  TEXT,
    reason      TEXT NOT NULL DEFAULT '',
    granted_by  TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL DEFAULT '',
    revoked_at  TEXT,
    revoked_by  TEXT,
    expiry_recorded INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT grants_role_check CHECK (role IN ('read', 'deploy', 'approve', 'admin')),
    CONSTRAINT grants_expiry_recorded_check CHECK (expiry_recorded IN (0, 1))
);
INSERT INTO grants_new (id, principal, project, env, role, expires_at, reason, granted_by, created_at, revoked_at,
        revoked_by, expiry_recorded)
    SELECT id, principal, project, env, role, expires_at, reason, granted_by, created_at, revoked_at,
        revoked_by, expiry_recorded
    FROM grants;

DROP TABLE chat_lobbies;
DROP TABLE session_logs;
DROP TABLE lock_queue;
DROP TABLE stack_locks;
DROP TABLE approvals;
DROP TABLE session_stacks;
DROP TABLE sessions;
DROP TABLE grants;
ALTER TABLE sessions_new RENAME TO sessions;
ALTER TABLE session_stacks_new RENAME TO session_stacks;
ALTER TABLE approvals_new RENAME TO approvals;
ALTER TABLE stack_locks_new RENAME TO stack_locks;
ALTER TABLE lock_queue_new RENAME TO lock_queue;
ALTER TABLE session_logs_new RENAME TO session_logs;
ALTER TABLE chat_lobbies_new RENAME TO chat_lobbies;
ALTER TABLE grants_new RENAME TO grants;

-- The indexes went with the old tables.
CREATE INDEX sessions_by_state ON sessions(state);
CREATE INDEX sessions_by_project ON sessions(project, env);
CREATE INDEX grants_by_principal ON grants(principal, project);
CREATE INDEX lock_queue_by_session ON lock_queue(session_id);
CREATE INDEX stack_locks_by_session ON stack_locks(session_id);
-- sqlite-only:end
--pg: ALTER TABLE sessions ADD CONSTRAINT sessions_state_check CHECK (state IN ('DRAFT', 'PLANNING', 'PLAN_READY', 'PLAN_FAILED', 'APPROVED', 'APPLYING', 'APPLIED', 'FAILED', 'CANCELLED', 'EXPIRED'));
--pg: ALTER TABLE sessions ADD CONSTRAINT sessions_operation_check CHECK (operation IN ('deploy', 'destroy', 'rollback'));
--pg: ALTER TABLE sessions ADD CONSTRAINT sessions_allow_self_approve_check CHECK (allow_self_approve IN (0, 1));
--pg: ALTER TABLE session_stacks ADD CONSTRAINT session_stacks_state_check CHECK (state IN ('pending', 'previewing', 'previewed', 'applying', 'applied', 'failed', 'skipped'));
--pg: ALTER TABLE chat_lobbies ADD CONSTRAINT chat_lobbies_platform_check CHECK (platform IN ('cli', 'discord', 'slack'));
--pg: ALTER TABLE grants ADD CONSTRAINT grants_role_check CHECK (role IN ('read', 'deploy', 'approve', 'admin'));
--pg: ALTER TABLE grants ADD CONSTRAINT grants_expiry_recorded_check CHECK (expiry_recorded IN (0, 1));

-- `cloud list` and the bots' session lists: newest first.
CREATE INDEX sessions_by_created ON sessions(created_at);
