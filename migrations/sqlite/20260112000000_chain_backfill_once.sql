-- The hash chain is filled in for events from before it once, and never
-- again. Before this migration every start (and every write that met one)
-- chained whatever events had no hash, so a row edited and stripped of its
-- hashes behind the service's back came out chained again, forged content
-- included. Now the store chains the events of older versions at the first
-- start after this migration and records here when it did; from then on an
-- event without a hash is a break in its case's chain (src/store/chain.rs).
CREATE TABLE chain_backfill (
    -- One row: the back-fill of this database.
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    -- When it ran (unix milliseconds); NULL until it has.
    done_at BIGINT,
    -- How many events it chained.
    events  BIGINT  NOT NULL DEFAULT 0
);
INSERT INTO chain_backfill (id) VALUES (1);

-- A timeline found broken (by VerifyCase, `whistle verify` or a write that
-- met an event without a hash) is a level-2 alert. SQLite cannot change a
-- CHECK in place: the table is rebuilt with its rows and ids. No table points
-- at alerts, so foreign keys may stay on.
CREATE TABLE alerts_rebuilt (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The cause; an alert is raised once per cause.
    key        TEXT    NOT NULL UNIQUE,
    kind       TEXT    NOT NULL CHECK (kind IN ('DUE_SOON', 'ACK_OVERDUE', 'REPLY_OVERDUE',
                   'REPLY_REJECTED', 'REPEATED_ROUNDS', 'CASE_REOPENED', 'LETTER_FAILED',
                   'EXTENSION_REQUESTED', 'RETURN_REQUESTED', 'CHAIN_BROKEN')),
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
