-- Who read a resident's unmasked details, when, and how: supervisors, and
-- departments allowed to see residents' phones. Personal-information access
-- logging; the office that holds the case reads its own data unrecorded.
CREATE TABLE personal_data_reads (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    actor   TEXT   NOT NULL,
    case_id TEXT   NOT NULL,
    -- The RPC that showed them (GetCase, ListCases, ...).
    via     TEXT   NOT NULL,
    at      BIGINT NOT NULL
);
CREATE INDEX personal_data_reads_case ON personal_data_reads (case_id, at);
CREATE INDEX personal_data_reads_actor ON personal_data_reads (actor, at);
