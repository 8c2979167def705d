-- cloud-engine schema. Portable SQL (SQLite now, Postgres later): TEXT ids and RFC 3339 UTC
-- timestamps, JSON documents in TEXT, no SQLite-only types. Every NOT NULL column has a DEFAULT.

-- A business project, owned by an org. Grants and quotas attach to projects.
CREATE TABLE projects (
    name        TEXT PRIMARY KEY,
    org         TEXT NOT NULL DEFAULT '',
    provider    TEXT NOT NULL DEFAULT 'aws',
    created_at  TEXT NOT NULL DEFAULT '',
    created_by  TEXT NOT NULL DEFAULT ''
);

-- The environments a project enables.
CREATE TABLE environments (
    project     TEXT NOT NULL DEFAULT '' REFERENCES projects(name) ON DELETE CASCADE,
    name        TEXT NOT NULL DEFAULT '',
    enabled     INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (project, name)
);

-- An instance of a project, described by deploy/<id>-<org>-<project>/manifest.yaml.
CREATE TABLE deployments (
    id            TEXT PRIMARY KEY,
    project       TEXT NOT NULL DEFAULT '' REFERENCES projects(name),
    org           TEXT NOT NULL DEFAULT '',
    manifest_path TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL DEFAULT ''
);

-- One attempt to change one deployment in one environment.
CREATE TABLE sessions (
    id                  TEXT PRIMARY KEY,
    project             TEXT NOT NULL DEFAULT '' REFERENCES projects(name),
    env                 TEXT NOT NULL DEFAULT '',
    deployment_id       TEXT NOT NULL DEFAULT '' REFERENCES deployments(id),
    requester           TEXT NOT NULL DEFAULT '',
    state               TEXT NOT NULL DEFAULT 'DRAFT',
    operation           TEXT NOT NULL DEFAULT 'deploy',
    -- JSON array of the stack names the session covers, in apply order.
    stacks              TEXT NOT NULL DEFAULT '[]',
    -- JSON of the plan (per-stack previews) once PLAN_READY / PLAN_FAILED.
    plan                TEXT,
    digest              TEXT,
    approvals_required  INTEGER NOT NULL DEFAULT 1,
    allow_self_approve  INTEGER NOT NULL DEFAULT 0,
    reason              TEXT,
    follow_up_of        TEXT REFERENCES sessions(id),
    created_at          TEXT NOT NULL DEFAULT '',
    updated_at          TEXT NOT NULL DEFAULT '',
    plan_ready_at       TEXT,
    finished_at         TEXT
);
CREATE INDEX sessions_by_state ON sessions(state);
CREATE INDEX sessions_by_project ON sessions(project, env);

-- Per-stack sub-state beside the session, so a FAILED session says which stacks changed.
CREATE TABLE session_stacks (
    session_id  TEXT NOT NULL DEFAULT '' REFERENCES sessions(id) ON DELETE CASCADE,
    stack       TEXT NOT NULL DEFAULT '',
    position    INTEGER NOT NULL DEFAULT 0,
    wave        INTEGER NOT NULL DEFAULT 0,
    state       TEXT NOT NULL DEFAULT 'pending',
    counts      TEXT NOT NULL DEFAULT '{}',
    error       TEXT,
    updated_at  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (session_id, stack)
);

-- Approvals, each bound to the digest it approved.
CREATE TABLE approvals (
    session_id      TEXT NOT NULL DEFAULT '' REFERENCES sessions(id) ON DELETE CASCADE,
    approver        TEXT NOT NULL DEFAULT '',
    digest          TEXT NOT NULL DEFAULT '',
    override_reason TEXT,
    created_at      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (session_id, approver)
);

-- Time-limited access: (principal, project, env or *, role).
CREATE TABLE grants (
    id          TEXT PRIMARY KEY,
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
    expiry_recorded INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX grants_by_principal ON grants(principal, project);

-- Per-project limits: key is `max_concurrent_sessions`, `max_monthly_cost` or a resource type.
CREATE TABLE quotas (
    project     TEXT NOT NULL DEFAULT '' REFERENCES projects(name) ON DELETE CASCADE,
    key         TEXT NOT NULL DEFAULT '',
    limit_value REAL NOT NULL DEFAULT 0,
    updated_at  TEXT NOT NULL DEFAULT '',
    updated_by  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (project, key)
);

-- A fully qualified stack belongs to at most one non-terminal session.
CREATE TABLE stack_locks (
    stack       TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL DEFAULT '' REFERENCES sessions(id),
    acquired_at TEXT NOT NULL DEFAULT ''
);

-- Sessions waiting (FIFO) for stacks held by another session.
CREATE TABLE lock_queue (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id  TEXT NOT NULL DEFAULT '' REFERENCES sessions(id) ON DELETE CASCADE,
    enqueued_at TEXT NOT NULL DEFAULT ''
);

-- Engine output per session, for `cloud logs` and the full log attachment.
CREATE TABLE session_logs (
    session_id  TEXT NOT NULL DEFAULT '' REFERENCES sessions(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL DEFAULT 0,
    stack       TEXT NOT NULL DEFAULT '',
    line        TEXT NOT NULL DEFAULT '',
    at          TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (session_id, seq)
);

-- Append-only, hash-chained audit log: hash = sha256(prev_hash || canonical row).
CREATE TABLE audit_events (
    seq         INTEGER PRIMARY KEY,
    at          TEXT NOT NULL DEFAULT '',
    actor       TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL DEFAULT '',
    session_id  TEXT,
    project     TEXT,
    details     TEXT NOT NULL DEFAULT '{}',
    prev_hash   TEXT NOT NULL DEFAULT '',
    hash        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_by_session ON audit_events(session_id);
