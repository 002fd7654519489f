-- Messages to group robots (企业微信, 钉钉, 飞书): one row per alert and
-- channel, written by the job that follows the alerts, so each alert reaches
-- each channel once. A delivery worker claims due rows for a lease (while
-- claimed, next_attempt_at is when the lease ends and claimed_by names the
-- worker) and posts them outside any transaction; rows for one channel that
-- are due together go out merged in one message, whose first row's id every
-- one of them records in post_id, so the sends of the last minute can be
-- counted against the vendor's rate limit. No foreign key to alerts: SQLite
-- rebuilds that table when its checks change, keeping the ids.
CREATE TABLE channel_messages (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    channel         TEXT    NOT NULL,
    alert_id        INTEGER NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'PENDING'
                    CHECK (status IN ('PENDING', 'SENT', 'FAILED')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_by      TEXT,
    last_error      TEXT,
    post_id         INTEGER,
    sent_at         INTEGER,
    created_at      INTEGER NOT NULL,
    UNIQUE (channel, alert_id)
);

CREATE INDEX channel_messages_due ON channel_messages (next_attempt_at) WHERE status = 'PENDING';
CREATE INDEX channel_messages_sent ON channel_messages (channel, sent_at) WHERE status = 'SENT';
