-- The zone (片区) a petition was collected in and who collected it (民情服务员):
-- empty for cases escalated without them. The office's lists and figures
-- narrow by zone within an office.
ALTER TABLE cases ADD COLUMN zone TEXT NOT NULL DEFAULT '';
ALTER TABLE cases ADD COLUMN collector TEXT NOT NULL DEFAULT '';
CREATE INDEX cases_office_zone ON cases (office, zone);
