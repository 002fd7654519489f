-- How the office reached the resident for the follow-up visit (回访):
-- PHONE or VISIT; NULL where it did not say (every verdict before this).
ALTER TABLE cases ADD COLUMN feedback_method TEXT;
