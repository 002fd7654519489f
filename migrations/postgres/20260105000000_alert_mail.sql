-- Alerts reach supervisors by e-mail too: letters that belong to no single case
-- (a daily digest) may sit in the outbox, and a job keeps how far the alert
-- mailer has read.

ALTER TABLE outbox ALTER COLUMN case_id DROP NOT NULL;

-- Work that runs on a schedule or follows a feed, once across instances: where
-- it has got to (`cursor`, an id in a feed) and when it must run next. A worker
-- holds the row (FOR UPDATE SKIP LOCKED) while it runs the job.
CREATE TABLE jobs (
    name        TEXT    NOT NULL PRIMARY KEY,
    cursor      BIGINT  NOT NULL,
    next_run_at BIGINT
);
