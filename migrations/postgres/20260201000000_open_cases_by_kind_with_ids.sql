-- The open cases of one problem's kind, with their ids: a petition's write reads
-- which are open from the index alone (what it compared before the write
-- began, it need not read again).
DROP INDEX cases_open_by_kind;
CREATE INDEX cases_open_by_kind ON cases (office, category, community, status, id);
