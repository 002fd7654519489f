-- Supervision decisions: extensions (延期), returns (退单) and the override
-- close. Requests gain two statuses and alerts two kinds.

ALTER TABLE requests DROP CONSTRAINT requests_status_check;
ALTER TABLE requests ADD CONSTRAINT requests_status_check CHECK (status IN ('ISSUED',
    'ACKNOWLEDGED', 'REPLIED', 'ACCEPTED', 'RETURN_REQUESTED', 'RETURNED'));
-- Since when the department's clock stands still for a supervisor's ruling
-- (NULL: it runs). No deadline of the request is overdue meanwhile.
ALTER TABLE requests ADD COLUMN paused_since BIGINT;
-- The request's extensions, its return and every deadline it was given, as
-- JSON read and written whole with the request.
ALTER TABLE requests ADD COLUMN decisions TEXT NOT NULL DEFAULT '';

ALTER TABLE alerts DROP CONSTRAINT alerts_kind_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_kind_check CHECK (kind IN ('DUE_SOON', 'ACK_OVERDUE',
    'REPLY_OVERDUE', 'REPLY_REJECTED', 'REPEATED_ROUNDS', 'CASE_REOPENED', 'LETTER_FAILED',
    'EXTENSION_REQUESTED', 'RETURN_REQUESTED'));

-- A case a supervisor closed without a satisfied verdict: who, why, when.
ALTER TABLE cases ADD COLUMN override_by TEXT;
ALTER TABLE cases ADD COLUMN override_reason TEXT;
ALTER TABLE cases ADD COLUMN override_at BIGINT;
CREATE INDEX cases_override ON cases (id DESC) WHERE override_at IS NOT NULL;
