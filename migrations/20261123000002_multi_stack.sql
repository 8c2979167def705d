-- The process driving a session while it is PLANNING or APPLYING: its pid and its start id (the
-- kernel's start time of that pid), so start-up recovery tells a live process's sessions from
-- those a dead process left behind, even when the pid has been reused.
ALTER TABLE sessions ADD COLUMN owner_pid INTEGER;
ALTER TABLE sessions ADD COLUMN owner_start TEXT;

-- Which stacks a queued session waits for is derived from the session row; the index keeps the
-- FIFO scan cheap.
CREATE INDEX lock_queue_by_session ON lock_queue(session_id);
CREATE INDEX stack_locks_by_session ON stack_locks(session_id);

-- The configuration each stack was planned with: JSON `[{"key", "value", "secret"}]`, secret
-- values never stored (null). `rollback` re-applies the configuration of an earlier APPLIED
-- session from here.
ALTER TABLE session_stacks ADD COLUMN config TEXT;
