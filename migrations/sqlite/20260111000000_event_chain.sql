-- The hash chain over each case's timeline (see src/domain/audit_chain.rs):
-- each event's hash covers its content and the previous event's hash. Events
-- written before this migration are chained once, at start-up, by the store;
-- until then these columns are NULL.
ALTER TABLE events ADD COLUMN prev_hash TEXT;
ALTER TABLE events ADD COLUMN hash TEXT;
-- Finds what is still to be chained without reading the whole timeline; empty
-- once every event is chained.
CREATE INDEX events_unchained ON events (case_id) WHERE hash IS NULL;
