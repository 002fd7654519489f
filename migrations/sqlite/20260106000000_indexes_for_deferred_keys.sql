-- New requests are inserted after the events and letters that point at them,
-- and their foreign keys are checked at commit. SQLite checks a new parent row
-- by looking for its children, which without these indexes means scanning
-- every event and every letter: escalations slowed as the ledger grew.
CREATE INDEX events_request ON events (request_id);
CREATE INDEX outbox_request ON outbox (request_id);
