-- The console (工作台): one-time sign-in links and the sessions they start.
-- Only the SHA-256 of a link's token and of a session's cookie is stored, so
-- a copy of the database signs nobody in.

CREATE TABLE console_sign_ins (
    digest     TEXT   NOT NULL PRIMARY KEY,
    -- The address the letter went to, as configured, and its principal.
    email      TEXT   NOT NULL,
    principal  TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    -- Set when the link is followed: a link signs in once.
    used_at    BIGINT
);
CREATE INDEX console_sign_ins_expiry ON console_sign_ins (expires_at);

CREATE TABLE console_sessions (
    digest       TEXT   NOT NULL PRIMARY KEY,
    email        TEXT   NOT NULL,
    principal    TEXT   NOT NULL,
    -- The session's token against cross-site forms; useless without the cookie.
    csrf         TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    -- Set on sign-out or revocation; the row stays as a record.
    ended_at     BIGINT
);
CREATE INDEX console_sessions_email ON console_sessions (email);
