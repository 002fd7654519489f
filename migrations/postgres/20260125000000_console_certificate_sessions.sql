-- How a console session began: 'mail' (a one-time link from a sign-in letter)
-- or 'certificate' (a TLS client certificate that maps to the principal). A
-- certificate's session names its holder in `email` (the certificate's e-mail
-- address or subject), which no principal's `emails` need list.
ALTER TABLE console_sessions ADD COLUMN via TEXT NOT NULL DEFAULT 'mail';
