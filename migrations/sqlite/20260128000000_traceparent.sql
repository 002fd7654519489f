-- The W3C traceparent of the span that wrote the letter, when traces are
-- exported: the delivery joins that trace and the letter carries its id.
-- NULL when tracing was off (every letter before this).
ALTER TABLE outbox ADD COLUMN traceparent TEXT;

-- The same for what webhooks carry, case events and alerts: the delivery
-- sends the traceparent of the change that caused it.
ALTER TABLE events ADD COLUMN traceparent TEXT;
ALTER TABLE alerts ADD COLUMN traceparent TEXT;
