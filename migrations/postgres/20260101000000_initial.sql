-- The case ledger. Timestamps are unix milliseconds (UTC); enumerations are the
-- domain's as_str() spellings, checked here so a bad write fails loudly.

CREATE TABLE cases (
    id                   TEXT    NOT NULL PRIMARY KEY,
    office               TEXT    NOT NULL,
    petition_id          TEXT    NOT NULL,
    category             TEXT    NOT NULL,
    title                TEXT    NOT NULL,
    description          TEXT    NOT NULL,
    resident_name        TEXT    NOT NULL,
    resident_phone       TEXT    NOT NULL,
    address              TEXT    NOT NULL,
    community            TEXT    NOT NULL,
    difficulty           INTEGER NOT NULL,
    status               TEXT    NOT NULL CHECK (status IN ('OPEN', 'AWAITING_FEEDBACK', 'CLOSED')),
    fingerprint          TEXT    NOT NULL,
    created_at           BIGINT  NOT NULL,
    updated_at           BIGINT  NOT NULL,
    feedback_verdict     TEXT    CHECK (feedback_verdict IN ('SATISFIED', 'BASICALLY_SATISFIED', 'UNSATISFIED')),
    feedback_comment     TEXT,
    feedback_recorded_by TEXT,
    feedback_recorded_at BIGINT,
    -- An office escalates a petition once; a retry finds the existing case.
    UNIQUE (office, petition_id)
);

-- The ledger lists newest first (ids are UUIDv7), usually within one office.
CREATE INDEX cases_office_id ON cases (office, id DESC);
CREATE INDEX cases_status_id ON cases (status, id DESC);
CREATE INDEX cases_category_id ON cases (category, id DESC);

CREATE TABLE requests (
    id              TEXT    NOT NULL PRIMARY KEY,
    case_id         TEXT    NOT NULL REFERENCES cases (id),
    -- Creation order within the case: requests come back as they were issued.
    position        INTEGER NOT NULL,
    reference       TEXT    NOT NULL UNIQUE,
    department      TEXT    NOT NULL,
    role            TEXT    NOT NULL CHECK (role IN ('LEAD', 'ASSISTING')),
    status          TEXT    NOT NULL CHECK (status IN ('ISSUED', 'ACKNOWLEDGED', 'REPLIED', 'ACCEPTED')),
    round           INTEGER NOT NULL,
    issued_at       BIGINT  NOT NULL,
    ack_due_at      BIGINT  NOT NULL,
    reply_due_at    BIGINT  NOT NULL,
    acknowledged_at BIGINT,
    reissue_reason  TEXT    NOT NULL,
    UNIQUE (case_id, position)
);

-- A department's work list, earliest deadline first.
CREATE INDEX requests_department_due ON requests (department, reply_due_at, id);
-- The unfiltered work list, and the order every request list is kept in.
CREATE INDEX requests_due ON requests (reply_due_at, id);
-- Status filters, the awaiting-review filter, and the future deadline scanner
-- (status not ACCEPTED and reply_due_at past).
CREATE INDEX requests_status_due ON requests (status, reply_due_at);

CREATE TABLE replies (
    request_id      TEXT    NOT NULL REFERENCES requests (id),
    round           INTEGER NOT NULL,
    text            TEXT    NOT NULL,
    replied_by      TEXT    NOT NULL,
    replied_at      BIGINT  NOT NULL,
    -- NULL until the office reviews the reply.
    review_accepted BOOLEAN,
    review_reason   TEXT,
    reviewed_by     TEXT,
    reviewed_at     BIGINT,
    PRIMARY KEY (request_id, round)
);

CREATE TABLE events (
    case_id    TEXT    NOT NULL REFERENCES cases (id),
    seq        INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    actor      TEXT    NOT NULL,
    at         BIGINT  NOT NULL,
    request_id TEXT    REFERENCES requests (id),
    detail     TEXT    NOT NULL,
    PRIMARY KEY (case_id, seq)
);

-- One row per issuing office and year; the next reference number is last_value + 1.
CREATE TABLE reference_counters (
    issuer     TEXT    NOT NULL,
    year       INTEGER NOT NULL,
    last_value BIGINT  NOT NULL,
    PRIMARY KEY (issuer, year)
);
