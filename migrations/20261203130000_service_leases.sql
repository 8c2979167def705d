-- Leader leases for `cloud serve` replicas (issue 15.7): a named role that one replica at a time
-- holds — `discord-gateway` (Discord allows one gateway connection per bot and shard) and
-- `slack-socket` (Socket Mode). The holder renews its row before `expires_at`; a row past it (or
-- whose owner provably died on this host) is claimed by another replica with a bigger `token`.
-- The rules are those of `session_leases`; the names are roles, not sessions, hence a table of
-- their own.
CREATE TABLE service_leases (
    name        TEXT NOT NULL PRIMARY KEY,
    owner       TEXT NOT NULL DEFAULT '',
    token       INTEGER NOT NULL DEFAULT 0,
    acquired_at TEXT NOT NULL DEFAULT '',
    expires_at  TEXT NOT NULL DEFAULT ''
);
