-- Each case's settled part in the supervision figures (domain::statistics::
-- CaseFigures, encoded), kept so a period's figures fold one small row per
-- case instead of replaying every timeline. A part holds only for the case
-- as it was (case_updated_at = cases.updated_at) and under the calendar and
-- policy it was computed with (fingerprint); the store reads anything else
-- as missing.
CREATE TABLE case_figures (
    case_id         TEXT    PRIMARY KEY REFERENCES cases (id),
    case_updated_at INTEGER NOT NULL,
    fingerprint     TEXT    NOT NULL,
    settled_at      INTEGER NOT NULL,
    figures         BLOB    NOT NULL
);

-- The figures and the ledger read a period's cases in escalation order, of
-- all offices or one, or those holding one department's requests; without
-- these each read scanned every case.
CREATE INDEX cases_created ON cases (created_at, id);
CREATE INDEX cases_office_created ON cases (office, created_at, id);
CREATE INDEX requests_department_case ON requests (department, case_id);
