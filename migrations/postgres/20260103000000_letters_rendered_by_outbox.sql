-- A letter's facts are decided in the transaction of the change that causes it
-- (payload); the outbox renders subject and body when it first sends it, out of
-- every lock. Letters written before this migration were rendered already and
-- keep an empty payload.
ALTER TABLE outbox ADD COLUMN payload TEXT NOT NULL DEFAULT '';

-- New requests are inserted last in a transaction, after the office's reference
-- counter is drawn, so that the counter row is locked only for the draw, that
-- insert and the commit. The rows that point at a new request (its timeline
-- events, its letters) are written before it and checked at commit.
ALTER TABLE events ALTER CONSTRAINT events_request_id_fkey DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE replies ALTER CONSTRAINT replies_request_id_fkey DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE outbox ALTER CONSTRAINT outbox_request_id_fkey DEFERRABLE INITIALLY DEFERRED;
