-- The outbox is a job queue. A delivery worker claims due letters in batches,
-- each for a lease: claimed_by names the worker, lease_until says until when
-- (in real time, whatever clock the service runs on: a lease is about whether
-- a worker is alive). A worker that dies lets its letters go when the lease
-- ends, and they are claimed again: the same letter, the same Message-ID.
-- Only the holder records how a delivery went, so a worker whose lease ran
-- out and was taken over cannot write over the new holder's outcome. Both
-- are cleared when an outcome is recorded.
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN lease_until BIGINT;
