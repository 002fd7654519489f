-- Group robots also carry the weekly digest's summary, and a robot that
-- keeps failing is itself an alert.
--
-- An alert may concern no case and no office: a channel failing (and
-- recovering) is the district's supervisors' matter, about whistle itself.
ALTER TABLE alerts ALTER COLUMN case_id DROP NOT NULL;
ALTER TABLE alerts ALTER COLUMN office DROP NOT NULL;
ALTER TABLE alerts DROP CONSTRAINT alerts_kind_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_kind_check CHECK (kind IN ('DUE_SOON', 'ACK_OVERDUE',
    'REPLY_OVERDUE', 'REPLY_REJECTED', 'REPEATED_ROUNDS', 'CASE_REOPENED', 'LETTER_FAILED',
    'EXTENSION_REQUESTED', 'RETURN_REQUESTED', 'CHAIN_BROKEN', 'CHANNEL_FAILING',
    'CHANNEL_RECOVERED'));

-- A channel message tells of one alert or carries one weekly digest's
-- summary (its JSON in digest, the week in digest_key): each digest reaches
-- each channel once, as each alert does.
ALTER TABLE channel_messages ALTER COLUMN alert_id DROP NOT NULL;
ALTER TABLE channel_messages ADD COLUMN digest_key TEXT;
ALTER TABLE channel_messages ADD COLUMN digest TEXT;
ALTER TABLE channel_messages ADD CONSTRAINT channel_messages_one_thing
    CHECK ((alert_id IS NULL) <> (digest_key IS NULL) AND (digest_key IS NULL) = (digest IS NULL));
ALTER TABLE channel_messages ADD CONSTRAINT channel_messages_digest_once UNIQUE (channel, digest_key);

-- Each robot's current spell of failed posts: how many in a row, since
-- when, and the key of the alert raised for it once they reached the
-- channel's threshold (NULL: none yet). A delivered post ends the spell.
CREATE TABLE channel_health (
    channel       TEXT    PRIMARY KEY,
    failures      INTEGER NOT NULL DEFAULT 0,
    failing_since BIGINT,
    alert_key     TEXT,
    last_error    TEXT
);
