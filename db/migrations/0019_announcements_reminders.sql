-- 事務局からのお知らせ (announcements sent through the digest engine) and fee reminders.

CREATE TABLE announcements (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    body_md TEXT NOT NULL DEFAULT '',
    body_html TEXT NOT NULL DEFAULT '',        -- sanitized (services/markdown.py)
    body_text TEXT NOT NULL DEFAULT '',        -- the same body as plain text, for the mail's text part
    -- 'optional': a member may stop these in /settings/mail; 'required': about fees or the account, always sent
    category TEXT NOT NULL DEFAULT 'optional' CHECK (category IN ('optional', 'required')),
    members_only INTEGER NOT NULL DEFAULT 0,   -- /announcements shows it only to members who logged in
    audience TEXT NOT NULL DEFAULT 'all'
        CHECK (audience IN ('all', 'tier', 'membership_type', 'unpaid', 'prefecture', 'topic')),
    audience_value TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'draft'
        CHECK (status IN ('draft', 'scheduled', 'building', 'sending', 'done')),
    send_at TEXT,                               -- UTC; when a scheduled one goes out
    build_cursor INTEGER NOT NULL DEFAULT 0,    -- the last member id whose delivery row is written
    created_by INTEGER REFERENCES members (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    started_at TEXT,                            -- when sending began (the date members read)
    finished_at TEXT
);
CREATE INDEX announcements_due ON announcements (status, send_at) WHERE status <> 'done';
CREATE INDEX announcements_published ON announcements (started_at DESC) WHERE started_at IS NOT NULL;

-- One per (announcement, member): the same life as digest_deliveries (pending -> sending -> sent | failed).
CREATE TABLE announcement_deliveries (
    id INTEGER PRIMARY KEY,
    announcement_id INTEGER NOT NULL REFERENCES announcements (id) ON DELETE CASCADE,
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'skipped')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    message_id TEXT NOT NULL DEFAULT '',
    next_attempt_at TEXT,
    claimed_at TEXT,
    sent_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (announcement_id, member_id)
);
CREATE INDEX announcement_deliveries_queue ON announcement_deliveries (announcement_id, status, id);

-- Which announcements a member has opened (My Page shows the latest unread one).
CREATE TABLE announcement_reads (
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    announcement_id INTEGER NOT NULL REFERENCES announcements (id) ON DELETE CASCADE,
    read_at TEXT NOT NULL,
    PRIMARY KEY (member_id, announcement_id)
) WITHOUT ROWID;

-- 1 = the member gets optional announcements by mail (/settings/mail).
ALTER TABLE members ADD COLUMN announcement_mail INTEGER NOT NULL DEFAULT 1;

-- Fee reminders: one row per (fee, step), claimed before the mail goes so no step is ever sent twice.
-- step: 'before', 'due', 'after', 'konbini:<attempt id>', or 'manual:<local date>' (the console's button).
CREATE TABLE fee_reminders (
    id INTEGER PRIMARY KEY,
    fee_id INTEGER NOT NULL REFERENCES fees (id),
    step TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'sending' CHECK (status IN ('sending', 'sent', 'failed')),
    sent_by INTEGER REFERENCES members (id) ON DELETE SET NULL,
    message_id TEXT NOT NULL DEFAULT '',
    last_error TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    sent_at TEXT,
    UNIQUE (fee_id, step)
);
CREATE INDEX fee_reminders_fee ON fee_reminders (fee_id, id);
