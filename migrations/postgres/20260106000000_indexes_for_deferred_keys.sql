-- The same indexes as SQLite's migration of this name: events and letters of a
-- request, read by request.
CREATE INDEX events_request ON events (request_id);
CREATE INDEX outbox_request ON outbox (request_id);
