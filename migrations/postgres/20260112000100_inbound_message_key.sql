-- A message taken for a reply address is a duplicate of another when both
-- have the same whole Message-ID. The id is kept cut to 200 characters, so
-- two long ids that share their beginning were taken as one (the second
-- answer dropped). They are known now by the SHA-256 of the whole id, which
-- the store writes with each message. Messages taken before keep their cut
-- id as their key, marked so that no hash can equal it.
ALTER TABLE inbound_mail ADD COLUMN message_key TEXT NOT NULL DEFAULT '';
UPDATE inbound_mail SET message_key = 'id:' || message_id WHERE message_id <> '';
DROP INDEX inbound_mail_message;
CREATE UNIQUE INDEX inbound_mail_message ON inbound_mail (request_id, message_key)
    WHERE message_key <> '';
