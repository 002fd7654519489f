-- The hash chain is filled in for events from before it once, and never
-- again. Before this migration every start (and every write that met one)
-- chained whatever events had no hash, so a row edited and stripped of its
-- hashes behind the service's back came out chained again, forged content
-- included. Now the store chains the events of older versions at the first
-- start after this migration and records here when it did; from then on an
-- event without a hash is a break in its case's chain (src/store/chain.rs).
CREATE TABLE chain_backfill (
    -- One row: the back-fill of this database.
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    -- When it ran (unix milliseconds); NULL until it has.
    done_at BIGINT,
    -- How many events it chained.
    events  BIGINT  NOT NULL DEFAULT 0
);
INSERT INTO chain_backfill (id) VALUES (1);

-- A timeline found broken (by VerifyCase, `whistle verify` or a write that
-- met an event without a hash) is a level-2 alert.
ALTER TABLE alerts DROP CONSTRAINT alerts_kind_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_kind_check CHECK (kind IN ('DUE_SOON', 'ACK_OVERDUE',
    'REPLY_OVERDUE', 'REPLY_REJECTED', 'REPEATED_ROUNDS', 'CASE_REOPENED', 'LETTER_FAILED',
    'EXTENSION_REQUESTED', 'RETURN_REQUESTED', 'CHAIN_BROKEN'));
