-- A letter's facts are decided in the transaction of the change that causes it
-- (payload); the outbox renders subject and body when it first sends it, out of
-- every lock. Letters written before this migration were rendered already and
-- keep an empty payload.
ALTER TABLE outbox ADD COLUMN payload TEXT NOT NULL DEFAULT '';
