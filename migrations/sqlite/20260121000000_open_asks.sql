-- The asks waiting for a supervisor's ruling are the requests whose clock
-- stands still: the console lists them, the longest waiting first, reading
-- only those rows.
CREATE INDEX requests_paused ON requests (paused_since, id) WHERE paused_since IS NOT NULL;
