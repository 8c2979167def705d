-- The lock queue's turns at a flat cost: the scans that plan a queued session whose turn came
-- (`cloud serve` at start-up) and that tell queued sessions they moved up read two columns
-- maintained in the transaction of the change they record, never a session's event log.
--
-- * `sessions.queue_granted_at`: when the lock queue handed the session its stacks (a promotion,
--   a queued session taking its stacks as its turn came, a Queue request that found them free);
--   NULL when it never did (a session that took free stacks when it opened is planned by whoever
--   opened it). Written in the grant's transaction. `sessions_queue_turns` holds only the DRAFT
--   sessions that got their turn, so the start-up scan reads those rows and no others.
-- * `lock_queue.told_position`: the position the session's last `queued` event announced (NULL:
--   none yet), written in the transaction that appends that event.
ALTER TABLE sessions ADD COLUMN queue_granted_at TEXT;
ALTER TABLE lock_queue ADD COLUMN told_position INTEGER;
CREATE INDEX sessions_queue_turns ON sessions(created_at, id)
    WHERE state = 'DRAFT' AND queue_granted_at IS NOT NULL;

-- What the event logs said so far, carried over for the sessions still waiting (DRAFT).
UPDATE sessions SET queue_granted_at = (
    SELECT MIN(e.at) FROM session_events e WHERE e.session_id = sessions.id AND e.kind = 'locks_granted'
) WHERE state = 'DRAFT';
-- sqlite-only:begin
UPDATE lock_queue SET told_position = (
    SELECT json_extract(e.payload, '$.position') FROM session_events e
    WHERE e.session_id = lock_queue.session_id AND e.kind = 'queued' ORDER BY e.id DESC LIMIT 1
);
-- sqlite-only:end
--pg: UPDATE lock_queue SET told_position = (SELECT CAST(CAST(e.payload AS JSON) ->> 'position' AS BIGINT) FROM session_events e WHERE e.session_id = lock_queue.session_id AND e.kind = 'queued' ORDER BY e.id DESC LIMIT 1);
