-- Group robots also carry the weekly digest's summary, and a robot that
-- keeps failing is itself an alert.
--
-- An alert may concern no case and no office: a channel failing (and
-- recovering) is the district's supervisors' matter, about whistle itself.
-- SQLite cannot change a column's NOT NULL or a CHECK in place: the table is
-- rebuilt with its rows and ids. No table points at alerts.
CREATE TABLE alerts_rebuilt (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The cause; an alert is raised once per cause.
    key        TEXT    NOT NULL UNIQUE,
    kind       TEXT    NOT NULL CHECK (kind IN ('DUE_SOON', 'ACK_OVERDUE', 'REPLY_OVERDUE',
                   'REPLY_REJECTED', 'REPEATED_ROUNDS', 'CASE_REOPENED', 'LETTER_FAILED',
                   'EXTENSION_REQUESTED', 'RETURN_REQUESTED', 'CHAIN_BROKEN',
                   'CHANNEL_FAILING', 'CHANNEL_RECOVERED')),
    level      INTEGER NOT NULL,
    case_id    TEXT    REFERENCES cases (id),
    request_id TEXT,
    office     TEXT,
    department TEXT,
    reference  TEXT,
    round      INTEGER NOT NULL,
    due_at     INTEGER,
    raised_at  INTEGER NOT NULL,
    summary    TEXT    NOT NULL
);
-- Ids are kept: streams, the alert mailer and the channel job resume after them.
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

-- A channel message tells of one alert or carries one weekly digest's
-- summary (its JSON in digest, the week in digest_key): each digest reaches
-- each channel once, as each alert does. Rebuilt with its rows and ids.
CREATE TABLE channel_messages_rebuilt (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    channel         TEXT    NOT NULL,
    alert_id        INTEGER,
    digest_key      TEXT,
    digest          TEXT,
    status          TEXT    NOT NULL DEFAULT 'PENDING'
                    CHECK (status IN ('PENDING', 'SENT', 'FAILED')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_by      TEXT,
    last_error      TEXT,
    post_id         INTEGER,
    sent_at         INTEGER,
    created_at      INTEGER NOT NULL,
    UNIQUE (channel, alert_id),
    UNIQUE (channel, digest_key),
    CHECK ((alert_id IS NULL) <> (digest_key IS NULL) AND (digest_key IS NULL) = (digest IS NULL))
);
INSERT INTO channel_messages_rebuilt (id, channel, alert_id, status, attempts, next_attempt_at,
    claimed_by, last_error, post_id, sent_at, created_at)
SELECT id, channel, alert_id, status, attempts, next_attempt_at, claimed_by, last_error,
    post_id, sent_at, created_at FROM channel_messages ORDER BY id;
DROP TABLE channel_messages;
ALTER TABLE channel_messages_rebuilt RENAME TO channel_messages;
CREATE INDEX channel_messages_due ON channel_messages (next_attempt_at) WHERE status = 'PENDING';
CREATE INDEX channel_messages_sent ON channel_messages (channel, sent_at) WHERE status = 'SENT';

-- Each robot's current spell of failed posts: how many in a row, since
-- when, and the key of the alert raised for it once they reached the
-- channel's threshold (NULL: none yet). A delivered post ends the spell.
CREATE TABLE channel_health (
    channel       TEXT    PRIMARY KEY,
    failures      INTEGER NOT NULL DEFAULT 0,
    failing_since INTEGER,
    alert_key     TEXT,
    last_error    TEXT
);
