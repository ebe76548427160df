-- Foundation: organization settings, members, server-side sessions, audit log, mail log.

CREATE TABLE app_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE members (
    id INTEGER PRIMARY KEY,
    member_number TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'admin')),
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'closed')),
    family_name TEXT NOT NULL DEFAULT '',
    given_name TEXT NOT NULL DEFAULT '',
    family_kana TEXT NOT NULL DEFAULT '',
    given_kana TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    postal_code TEXT NOT NULL DEFAULT '',
    prefecture TEXT NOT NULL DEFAULT '',
    address1 TEXT NOT NULL DEFAULT '',
    address2 TEXT NOT NULL DEFAULT '',
    affiliation TEXT NOT NULL DEFAULT '',
    membership_type TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL DEFAULT '',
    password_changed_at TEXT,
    must_change_password INTEGER NOT NULL DEFAULT 0,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until TEXT,
    profile_checked_at TEXT,
    profile_version INTEGER NOT NULL DEFAULT 1,
    digest_frequency TEXT NOT NULL DEFAULT 'weekly' CHECK (digest_frequency IN ('none', 'weekly', 'daily')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX members_email ON members (email);

CREATE TABLE password_history (
    id INTEGER PRIMARY KEY,
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX password_history_member ON password_history (member_id, id);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    remember INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    user_agent TEXT NOT NULL DEFAULT '',
    ip TEXT NOT NULL DEFAULT '',
    flags TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX sessions_member ON sessions (member_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    event TEXT NOT NULL,
    actor_member_id INTEGER,
    subject_member_id INTEGER,
    ip TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_subject ON audit_log (subject_member_id, at);

CREATE TABLE mail_log (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    message_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('sent', 'failed')),
    error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX mail_log_status ON mail_log (status, created_at);

-- Rate limits (login recovery, sign-up, contact, codes): one row per counted attempt.
CREATE TABLE rate_limit_events (
    id INTEGER PRIMARY KEY,
    bucket TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX rate_limit_events_bucket ON rate_limit_events (bucket, at);

-- Single-use signed links (password reset, e-mail confirmation, sign-up): a used token's id is kept.
CREATE TABLE used_tokens (
    token_id TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    used_at TEXT NOT NULL
);

-- Membership tiers: a free plan and the paid tier; what each includes is a set of perks.
CREATE TABLE tiers (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    is_paid INTEGER NOT NULL DEFAULT 0,
    perk_daily_digest INTEGER NOT NULL DEFAULT 0,
    perk_events INTEGER NOT NULL DEFAULT 0,
    perk_members_only INTEGER NOT NULL DEFAULT 0,
    sort_order INTEGER NOT NULL DEFAULT 0
);
INSERT INTO tiers (code, name, is_paid, perk_daily_digest, perk_events, perk_members_only, sort_order)
VALUES ('free', '無料プラン', 0, 0, 0, 0, 0), ('members', 'Members', 1, 1, 1, 1, 1);

-- A member's tier over time; no row (or none covering today) means the free plan.
CREATE TABLE member_tiers (
    id INTEGER PRIMARY KEY,
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    tier_id INTEGER NOT NULL REFERENCES tiers (id),
    starts_on TEXT NOT NULL,
    ends_on TEXT,
    source TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE INDEX member_tiers_member ON member_tiers (member_id, starts_on);

-- Mails the transport refused for a passing reason, kept and retried so nothing is lost.
CREATE TABLE mail_queue (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    message BLOB NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1,
    next_attempt_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX mail_queue_due ON mail_queue (status, next_attempt_at);
