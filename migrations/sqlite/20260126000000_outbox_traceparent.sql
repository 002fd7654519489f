-- The W3C traceparent of the span that wrote the letter, when traces are
-- exported: the delivery joins that trace and the letter carries its id.
-- NULL when tracing was off (every letter before this).
ALTER TABLE outbox ADD COLUMN traceparent TEXT;
