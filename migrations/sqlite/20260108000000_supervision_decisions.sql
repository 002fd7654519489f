-- no-transaction
-- Supervision decisions: extensions (延期), returns (退单) and the override
-- close. Requests gain two statuses (RETURN_REQUESTED, RETURNED), alerts two
-- kinds, and SQLite cannot change a CHECK in place: both tables are rebuilt
-- with their rows. Other tables point at requests, so the rebuild runs with
-- foreign keys off, which SQLite allows only outside a transaction; the
-- rebuild itself is one transaction, checked before it commits.
PRAGMA foreign_keys = OFF;
BEGIN;

CREATE TABLE requests_rebuilt (
    id                 TEXT    NOT NULL PRIMARY KEY,
    case_id            TEXT    NOT NULL REFERENCES cases (id),
    -- Creation order within the case: requests come back as they were issued.
    position           INTEGER NOT NULL,
    reference          TEXT    NOT NULL UNIQUE,
    department         TEXT    NOT NULL,
    role               TEXT    NOT NULL CHECK (role IN ('LEAD', 'ASSISTING')),
    status             TEXT    NOT NULL CHECK (status IN ('ISSUED', 'ACKNOWLEDGED', 'REPLIED',
                           'ACCEPTED', 'RETURN_REQUESTED', 'RETURNED')),
    round              INTEGER NOT NULL,
    issued_at          INTEGER NOT NULL,
    ack_due_at         INTEGER NOT NULL,
    reply_due_at       INTEGER NOT NULL,
    acknowledged_at    INTEGER,
    reissue_reason     TEXT    NOT NULL,
    watch_at           INTEGER,
    ack_reminded       BOOLEAN NOT NULL DEFAULT FALSE,
    reply_reminded     BOOLEAN NOT NULL DEFAULT FALSE,
    ack_alert_level    INTEGER,
    ack_alert_repeat   INTEGER,
    reply_alert_level  INTEGER,
    reply_alert_repeat INTEGER,
    -- Since when the department's clock stands still for a supervisor's
    -- ruling (NULL: it runs). No deadline of the request is overdue meanwhile.
    paused_since       INTEGER,
    -- The request's extensions, its return and every deadline it was given,
    -- as JSON read and written whole with the request.
    decisions          TEXT    NOT NULL DEFAULT '',
    UNIQUE (case_id, position)
);
INSERT INTO requests_rebuilt (id, case_id, position, reference, department, role, status,
    round, issued_at, ack_due_at, reply_due_at, acknowledged_at, reissue_reason, watch_at,
    ack_reminded, reply_reminded, ack_alert_level, ack_alert_repeat, reply_alert_level,
    reply_alert_repeat)
SELECT id, case_id, position, reference, department, role, status, round, issued_at,
    ack_due_at, reply_due_at, acknowledged_at, reissue_reason, watch_at, ack_reminded,
    reply_reminded, ack_alert_level, ack_alert_repeat, reply_alert_level, reply_alert_repeat
FROM requests;
DROP TABLE requests;
ALTER TABLE requests_rebuilt RENAME TO requests;
CREATE INDEX requests_department_due ON requests (department, reply_due_at, id);
CREATE INDEX requests_due ON requests (reply_due_at, id);
CREATE INDEX requests_status_due ON requests (status, reply_due_at);
CREATE INDEX requests_watch ON requests (watch_at) WHERE watch_at IS NOT NULL;
CREATE INDEX requests_status_ack_due ON requests (status, ack_due_at);

CREATE TABLE alerts_rebuilt (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The cause; an alert is raised once per cause.
    key        TEXT    NOT NULL UNIQUE,
    kind       TEXT    NOT NULL CHECK (kind IN ('DUE_SOON', 'ACK_OVERDUE', 'REPLY_OVERDUE',
                   'REPLY_REJECTED', 'REPEATED_ROUNDS', 'CASE_REOPENED', 'LETTER_FAILED',
                   'EXTENSION_REQUESTED', 'RETURN_REQUESTED')),
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
-- Ids are kept: streams and the alert mailer resume after them.
INSERT INTO alerts_rebuilt (id, key, kind, level, case_id, request_id, office, department,
    reference, round, due_at, raised_at, summary)
SELECT id, key, kind, level, case_id, request_id, office, department, reference, round,
    due_at, raised_at, summary FROM alerts ORDER BY id;
DROP TABLE alerts;
ALTER TABLE alerts_rebuilt RENAME TO alerts;
CREATE INDEX alerts_office ON alerts (office, id);
CREATE INDEX alerts_department ON alerts (department, id);
CREATE INDEX alerts_case ON alerts (case_id, id);
CREATE INDEX alerts_kind ON alerts (kind, id);

-- A case a supervisor closed without a satisfied verdict: who, why, when.
ALTER TABLE cases ADD COLUMN override_by TEXT;
ALTER TABLE cases ADD COLUMN override_reason TEXT;
ALTER TABLE cases ADD COLUMN override_at INTEGER;
CREATE INDEX cases_override ON cases (id DESC) WHERE override_at IS NOT NULL;

COMMIT;
PRAGMA foreign_keys = ON;
