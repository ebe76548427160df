-- The member's own inquiries in the portal (issue 15): the member answers in the thread, and the
-- inquiry remembers the last office reply the member has seen, so an unread reply can be shown.
ALTER TABLE inquiry_replies ADD COLUMN from_member INTEGER NOT NULL DEFAULT 0;
ALTER TABLE inquiries ADD COLUMN member_seen_reply_id INTEGER NOT NULL DEFAULT 0;

-- A screenshot attached to a contact form that was shown again (an error, a nudge, a too-fast send):
-- kept under attachments/.incoming, bound to the form's id in the signed form token, and removed
-- by the scheduler after a day when the form was never sent.
CREATE TABLE contact_pending_uploads (
    form_id TEXT PRIMARY KEY,
    stored_name TEXT NOT NULL UNIQUE,
    original_name TEXT NOT NULL,
    content_type TEXT NOT NULL CHECK (content_type IN ('image/png', 'image/jpeg')),
    size INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX contact_pending_uploads_created ON contact_pending_uploads (created_at);

-- Joining the paid tier online (issue 15): a tier's price per year (0: not offered online), and the fee
-- items that grant a tier for their fiscal year once paid (NULL: an ordinary annual fee).
ALTER TABLE tiers ADD COLUMN annual_fee INTEGER NOT NULL DEFAULT 0 CHECK (annual_fee >= 0 AND annual_fee <= 9999999);
ALTER TABLE fee_items ADD COLUMN tier_id INTEGER REFERENCES tiers (id);
CREATE INDEX fee_items_tier ON fee_items (tier_id, fiscal_year) WHERE tier_id IS NOT NULL;
