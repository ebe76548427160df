-- Membership: tier codes and their redemptions, self sign-up requests, the member-number counter
-- (numbers are never handed out twice), account closure requests, and tier-end processing.

-- A code lets a member join a tier (an organization's or a campaign's code).
CREATE TABLE tier_codes (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,                  -- normalized: upper-case ASCII letters and digits
    tier_id INTEGER NOT NULL REFERENCES tiers (id),
    use_limit INTEGER CHECK (use_limit IS NULL OR use_limit > 0),   -- NULL: no limit
    uses INTEGER NOT NULL DEFAULT 0,
    expires_on TEXT,                            -- last local day the code is accepted (inclusive)
    tier_ends_on TEXT,                          -- the tier joined with it ends on this local day
    note TEXT NOT NULL DEFAULT '',
    active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    -- The last line of defence: the counter can never pass the limit, whatever the code path.
    CHECK (use_limit IS NULL OR uses <= use_limit)
);

CREATE TABLE code_redemptions (
    id INTEGER PRIMARY KEY,
    code_id INTEGER NOT NULL REFERENCES tier_codes (id) ON DELETE CASCADE,
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    member_tier_id INTEGER REFERENCES member_tiers (id) ON DELETE SET NULL,
    redeemed_at TEXT NOT NULL,
    UNIQUE (code_id, member_id)
);
CREATE INDEX code_redemptions_member ON code_redemptions (member_id);

-- A sign-up waiting for its e-mail confirmation; the profile is kept as JSON until then.
CREATE TABLE signup_requests (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL,
    profile TEXT NOT NULL DEFAULT '{}',
    interests TEXT NOT NULL DEFAULT '[]',
    code TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'completed', 'expired')),
    ip TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    completed_at TEXT,
    member_id INTEGER REFERENCES members (id) ON DELETE SET NULL
);
CREATE INDEX signup_requests_status ON signup_requests (status, created_at);

-- The last member number handed out by sign-up; it only grows, so a number is never reused.
CREATE TABLE member_number_sequence (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_value INTEGER NOT NULL
);
INSERT INTO member_number_sequence (id, last_value) VALUES (1, 0);

CREATE TABLE closure_requests (
    id INTEGER PRIMARY KEY,
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    source TEXT NOT NULL DEFAULT 'settings' CHECK (source IN ('settings', 'admin')),
    reason TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'closed', 'withdrawn')),
    requested_at TEXT NOT NULL,
    decided_at TEXT,
    decided_by INTEGER REFERENCES members (id) ON DELETE SET NULL
);
CREATE UNIQUE INDEX closure_requests_one_pending ON closure_requests (member_id) WHERE status = 'pending';
CREATE INDEX closure_requests_status ON closure_requests (status, requested_at);

-- When the daily job (or a lazy check) handled a tier's end: digest fallback and the notice mail.
ALTER TABLE member_tiers ADD COLUMN end_processed_at TEXT;
CREATE INDEX member_tiers_unprocessed_ends ON member_tiers (ends_on) WHERE end_processed_at IS NULL;
