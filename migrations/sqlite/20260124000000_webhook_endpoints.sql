-- Webhook endpoints of office and department systems (channels of kind
-- "webhook"): one row per endpoint, holding how far along the event feed it
-- has been delivered. The feed itself is the queue: events are read in commit
-- order after `cursor`, posted one at a time, and the cursor moves only once
-- the endpoint took the event, so delivery is at least once and in order. A
-- worker claims the row for a lease (next_attempt_at is then the lease's end,
-- claimed_by the worker); a failure counts in `failures` and sets the next
-- attempt after a backoff; after repeated failures the endpoint is PAUSED
-- until an operator resumes it, from the cursor.
CREATE TABLE webhook_endpoints (
    name            TEXT    PRIMARY KEY,
    cursor          INTEGER NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'ACTIVE'
                    CHECK (status IN ('ACTIVE', 'PAUSED')),
    failures        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_by      TEXT,
    last_error      TEXT,
    delivered_at    INTEGER,
    created_at      INTEGER NOT NULL
);
