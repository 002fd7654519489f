-- Duplicate petitions (重复诉求): every resident who raised a case's problem,
-- the petitioner first (seq 1), then the petitions joined to it. An office's
-- petition id belongs to one case at a time, here: a retried petition finds
-- the case it opened or joined. Each resident keeps their own latest verdict
-- (不销账 per resident) and what their petition said, so that one split off
-- is escalated as their own petition would have been.
CREATE TABLE residents (
    case_id         TEXT    NOT NULL REFERENCES cases (id),
    seq             INTEGER NOT NULL,
    office          TEXT    NOT NULL,
    petition_id     TEXT    NOT NULL,
    fingerprint     TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    phone           TEXT    NOT NULL,
    title           TEXT    NOT NULL,
    description     TEXT    NOT NULL,
    address         TEXT    NOT NULL,
    zone            TEXT    NOT NULL,
    collector       TEXT    NOT NULL,
    difficulty      INTEGER NOT NULL,
    urgent          BOOLEAN NOT NULL,
    -- The departments the petition itself named: '' and '' when it was
    -- routed by its category; assisting codes are separated by commas.
    lead_department TEXT    NOT NULL,
    assisting       TEXT    NOT NULL,
    linked_at       BIGINT  NOT NULL,
    verdict         TEXT    CHECK (verdict IN ('SATISFIED', 'BASICALLY_SATISFIED', 'UNSATISFIED')),
    verdict_at      BIGINT,
    PRIMARY KEY (case_id, seq),
    UNIQUE (office, petition_id)
);

-- Every case so far has its petitioner as its one resident.
INSERT INTO residents (case_id, seq, office, petition_id, fingerprint, name, phone, title,
                       description, address, zone, collector, difficulty, urgent,
                       lead_department, assisting, linked_at, verdict, verdict_at)
SELECT id, 1, office, petition_id, fingerprint, resident_name, resident_phone, title,
       description, address, zone, collector, difficulty, urgent, '', '', created_at,
       feedback_verdict, feedback_recorded_at
FROM cases;

-- The case a case was joined into by the office; it closed then.
ALTER TABLE cases ADD COLUMN merged_into TEXT REFERENCES cases (id);

-- A new petition is compared with the open cases of its office, category and
-- community only: one lookup of this index.
CREATE INDEX cases_open_by_kind ON cases (office, category, community, status);
