-- Profile: an e-mail change waits here until the member opens the link sent to the new address;
-- the old address stays in use until then.
ALTER TABLE members ADD COLUMN pending_email TEXT NOT NULL DEFAULT '';
ALTER TABLE members ADD COLUMN pending_email_requested_at TEXT;
