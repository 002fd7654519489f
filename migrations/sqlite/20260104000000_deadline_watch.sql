-- The deadline watch: urgency, what the watch has done about each request in
-- its current round and when it must look next, and the alerts it raised.

ALTER TABLE cases ADD COLUMN urgent BOOLEAN NOT NULL DEFAULT FALSE;

-- When the watch must look at the request next (NULL: nothing can fall due).
ALTER TABLE requests ADD COLUMN watch_at INTEGER;
ALTER TABLE requests ADD COLUMN ack_reminded BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE requests ADD COLUMN reply_reminded BOOLEAN NOT NULL DEFAULT FALSE;
-- The last overdue alert raised this round for each deadline: level, repetition.
ALTER TABLE requests ADD COLUMN ack_alert_level INTEGER;
ALTER TABLE requests ADD COLUMN ack_alert_repeat INTEGER;
ALTER TABLE requests ADD COLUMN reply_alert_level INTEGER;
ALTER TABLE requests ADD COLUMN reply_alert_repeat INTEGER;

-- Requests from before the watch: looked at as soon as it starts.
UPDATE requests SET watch_at = 0 WHERE status IN ('ISSUED', 'ACKNOWLEDGED');

-- The scan reads only what is due.
CREATE INDEX requests_watch ON requests (watch_at) WHERE watch_at IS NOT NULL;
-- Overdue filters: acknowledgements past due.
CREATE INDEX requests_status_ack_due ON requests (status, ack_due_at);

-- Alerts are numbered in commit order (one writer at a time), so a stream read
-- by id never misses one that commits late.
CREATE TABLE alerts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The cause; an alert is raised once per cause.
    key        TEXT    NOT NULL UNIQUE,
    kind       TEXT    NOT NULL CHECK (kind IN ('DUE_SOON', 'ACK_OVERDUE', 'REPLY_OVERDUE',
                   'REPLY_REJECTED', 'REPEATED_ROUNDS', 'CASE_REOPENED', 'LETTER_FAILED')),
    level      INTEGER NOT NULL,
    case_id    TEXT    NOT NULL REFERENCES cases (id),
    request_id TEXT,
    office     TEXT    NOT NULL,
    department TEXT,
    reference  TEXT,
    round      INTEGER NOT NULL,
    due_at     INTEGER,
    raised_at  INTEGER NOT NULL,
    summary    TEXT    NOT NULL
);

CREATE INDEX alerts_office ON alerts (office, id);
CREATE INDEX alerts_department ON alerts (department, id);
CREATE INDEX alerts_case ON alerts (case_id, id);
CREATE INDEX alerts_kind ON alerts (kind, id);

-- Events are streamed by rowid, which grows in commit order with one writer.
