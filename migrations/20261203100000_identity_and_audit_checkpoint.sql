-- Verified identities (issue 16.1) and the signed audit head (issue 16.5).

-- API tokens: issued to a principal, stored as the sha256 of a high-entropy secret (the secret
-- is shown once and never stored), capped at a role, optionally limited to some projects
-- (`projects` is a comma-separated list, '*' for every project), always expiring.
CREATE TABLE api_tokens (
    id          TEXT NOT NULL PRIMARY KEY,
    principal   TEXT NOT NULL DEFAULT '',
    token_hash  TEXT NOT NULL DEFAULT '' UNIQUE,
    role        TEXT NOT NULL DEFAULT 'read',
    projects    TEXT NOT NULL DEFAULT '*',
    label       TEXT NOT NULL DEFAULT '',
    created_by  TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL DEFAULT '',
    expires_at  TEXT NOT NULL DEFAULT '',
    revoked_at  TEXT,
    revoked_by  TEXT,
    CONSTRAINT api_tokens_role_check CHECK (role IN ('read', 'deploy', 'approve', 'admin'))
);
CREATE INDEX api_tokens_by_principal ON api_tokens(principal);

-- People: identities (discord:…, slack:…, cli:…) linked into one person, so four-eyes counts a
-- person once whichever front end they click from. A principal with no row is its own person.
CREATE TABLE people (
    principal   TEXT NOT NULL PRIMARY KEY,
    person      TEXT NOT NULL DEFAULT '',
    linked_by   TEXT NOT NULL DEFAULT '',
    linked_at   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX people_by_person ON people(person);

-- The signed head of the audit chain: one row, rewritten in the same transaction as every
-- audit append; `mac` is HMAC-SHA256 over (head_seq, head_hash, since_seq, since_at) with a key
-- kept outside the database, so a truncated tail or a re-chained log no longer matches it.
-- `since_seq`/`since_at`: the first row signed with the current key (what verify vouches for).
CREATE TABLE audit_checkpoint (
    id          INTEGER NOT NULL PRIMARY KEY DEFAULT 1,
    head_seq    INTEGER NOT NULL DEFAULT 0,
    head_hash   TEXT NOT NULL DEFAULT '',
    since_seq   INTEGER NOT NULL DEFAULT 0,
    since_at    TEXT NOT NULL DEFAULT '',
    key_id      TEXT NOT NULL DEFAULT '',
    mac         TEXT NOT NULL DEFAULT '',
    CONSTRAINT audit_checkpoint_single_row CHECK (id = 1)
);
