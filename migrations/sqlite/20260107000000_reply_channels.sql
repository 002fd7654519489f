-- Department reply channels: the reply page linked from each letter and
-- replies by e-mail to the letter's reply address.

-- Who answered and how. Answers from a department's own system keep the
-- defaults; the page and the mail fill them in.
ALTER TABLE replies ADD COLUMN document_number TEXT NOT NULL DEFAULT '';
ALTER TABLE replies ADD COLUMN replier_name    TEXT NOT NULL DEFAULT '';
ALTER TABLE replies ADD COLUMN replier_phone   TEXT NOT NULL DEFAULT '';
ALTER TABLE replies ADD COLUMN channel         TEXT NOT NULL DEFAULT 'GRPC'
    CHECK (channel IN ('GRPC', 'PAGE', 'MAIL'));
-- The address a mailed reply came from.
ALTER TABLE replies ADD COLUMN sender          TEXT NOT NULL DEFAULT '';
-- What describes the reply's attachments (JSON); their bytes are below.
ALTER TABLE replies ADD COLUMN attachments     TEXT NOT NULL DEFAULT '[]';

-- One row per letter that carried a reply link: only the SHA-256 of the token,
-- so that a copy of the database opens no reply page. Whether a link still
-- takes answers follows from its request and case (see domain::reply_link).
CREATE TABLE reply_links (
    digest     TEXT   NOT NULL PRIMARY KEY,
    request_id TEXT   NOT NULL REFERENCES requests (id),
    created_at BIGINT NOT NULL
);
CREATE INDEX reply_links_request ON reply_links (request_id);

-- The bytes of the files sent with replies, written in the reply's transaction.
CREATE TABLE attachments (
    id           TEXT    NOT NULL PRIMARY KEY,
    request_id   TEXT    NOT NULL REFERENCES requests (id),
    round        INTEGER NOT NULL,
    filename     TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    size         BIGINT  NOT NULL,
    sha256       TEXT    NOT NULL,
    content      BLOB   NOT NULL,
    created_at   BIGINT  NOT NULL
);
CREATE INDEX attachments_request ON attachments (request_id, round);

-- One-time keys of the reply page's forms: each rendered form carries one, so
-- a form posted from elsewhere (CSRF) finds no key and a form posted twice
-- finds its key used and changes nothing the second time.
CREATE TABLE form_keys (
    digest      TEXT   NOT NULL PRIMARY KEY,
    link_digest TEXT   NOT NULL REFERENCES reply_links (digest),
    created_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX form_keys_created ON form_keys (created_at);

-- Every e-mail taken for a live reply address, whole, with what became of it.
-- A message delivered twice (a forwarding server's retry) is recorded once.
CREATE TABLE inbound_mail (
    id          TEXT   NOT NULL PRIMARY KEY,
    request_id  TEXT   NOT NULL REFERENCES requests (id),
    message_id  TEXT   NOT NULL,
    sender      TEXT   NOT NULL,
    subject     TEXT   NOT NULL,
    outcome     TEXT   NOT NULL,
    received_at BIGINT NOT NULL,
    raw         BLOB  NOT NULL
);
CREATE UNIQUE INDEX inbound_mail_message ON inbound_mail (request_id, message_id)
    WHERE message_id <> '';
