-- Leases with fencing (issue 15.3): the process that drives a session (opens, plans or applies
-- it) holds its lease row and renews it while it works. A lease past `expires_at` belongs to a
-- process that stopped: another process claims it (a new owner and a bigger `token`), ends the
-- session and releases its stack locks. Writes made under a lease check owner and token in the
-- same transaction, so the stale owner's late writes fail and change nothing.
CREATE TABLE session_leases (
    session_id  TEXT NOT NULL PRIMARY KEY REFERENCES sessions(id),
    owner       TEXT NOT NULL DEFAULT '',
    token       INTEGER NOT NULL DEFAULT 0,
    acquired_at TEXT NOT NULL DEFAULT '',
    expires_at  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX session_leases_expires_at ON session_leases (expires_at);
