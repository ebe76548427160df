-- The installable app and the membership card (issue 21).
-- The organization's logo, as the square 512 px PNG the console made from the upload: the app icons,
-- the favicon and the membership card are drawn from it. One row at most.
CREATE TABLE org_logo (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    png BLOB NOT NULL,
    updated_at TEXT NOT NULL
);

-- Raised when a member's card is reissued (or the office revokes it): every QR code printed or cached
-- before carries the old number and verifies as 無効.
ALTER TABLE members ADD COLUMN card_epoch INTEGER NOT NULL DEFAULT 0;
