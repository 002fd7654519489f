-- The transactional outbox: every letter is written in the transaction of the
-- change that causes it, whole (the exact bytes to send), and delivered by the
-- outbox worker afterwards. Rows are kept after sending as the record of what
-- each department was sent.

CREATE TABLE outbox (
    id              TEXT    NOT NULL PRIMARY KEY,
    case_id         TEXT    NOT NULL REFERENCES cases (id),
    request_id      TEXT    REFERENCES requests (id),
    kind            TEXT    NOT NULL,
    -- With angle brackets, as in the header; a resend after a crash keeps it.
    message_id      TEXT    NOT NULL,
    sender          TEXT    NOT NULL,
    -- Envelope recipients, one address per line.
    recipients      TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    raw             BLOB   NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('PENDING', 'SENT', 'FAILED')),
    attempts        INTEGER NOT NULL,
    next_attempt_at BIGINT  NOT NULL,
    last_error      TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    sent_at         BIGINT
);

-- The worker reads only what is due.
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'PENDING';
-- Operators list by status, newest first.
CREATE INDEX outbox_status_id ON outbox (status, id DESC);
CREATE INDEX outbox_case ON outbox (case_id);
