-- Alerts reach supervisors by e-mail too: letters that belong to no single case
-- (a daily digest) may sit in the outbox, and a job keeps how far the alert
-- mailer has read.

-- SQLite cannot drop NOT NULL in place: the outbox is rebuilt with its rows.
CREATE TABLE outbox_rebuilt (
    id              TEXT    NOT NULL PRIMARY KEY,
    case_id         TEXT    REFERENCES cases (id),
    request_id      TEXT    REFERENCES requests (id),
    kind            TEXT    NOT NULL,
    message_id      TEXT    NOT NULL,
    sender          TEXT    NOT NULL,
    recipients      TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    raw             BLOB    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('PENDING', 'SENT', 'FAILED')),
    attempts        INTEGER NOT NULL,
    next_attempt_at BIGINT  NOT NULL,
    last_error      TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    sent_at         BIGINT,
    payload         TEXT    NOT NULL DEFAULT ''
);
INSERT INTO outbox_rebuilt (id, case_id, request_id, kind, message_id, sender, recipients,
    subject, raw, status, attempts, next_attempt_at, last_error, created_at, sent_at, payload)
SELECT id, case_id, request_id, kind, message_id, sender, recipients, subject, raw, status,
    attempts, next_attempt_at, last_error, created_at, sent_at, payload FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_rebuilt RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'PENDING';
CREATE INDEX outbox_status_id ON outbox (status, id DESC);
CREATE INDEX outbox_case ON outbox (case_id);

-- Work that runs on a schedule or follows a feed, once across instances: where
-- it has got to (`cursor`, an id in a feed) and when it must run next.
CREATE TABLE jobs (
    name        TEXT    NOT NULL PRIMARY KEY,
    cursor      BIGINT  NOT NULL,
    next_run_at BIGINT
);
