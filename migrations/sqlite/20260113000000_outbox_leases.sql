-- The outbox is a job queue. A delivery worker claims due letters in batches,
-- each for a lease: while a letter is claimed, next_attempt_at is the moment
-- its lease ends, so a worker that dies lets its letters go then and they are
-- due again (the same letter, the same Message-ID), with no sweeper. The
-- worker names itself in claimed_by: only the holder of the lease records how
-- a delivery went, so a worker whose lease ran out and was taken over cannot
-- write over the new holder's outcome. Cleared when an outcome is recorded.
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
