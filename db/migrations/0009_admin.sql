-- Admin console and operations: admin second factor (TOTP + recovery codes), initial-password
-- letters, member imports waiting for confirmation, backups, and the one-time first-start setup.

-- One TOTP secret per admin, sealed with the app's secret key; confirmed_at is NULL while enrolling.
CREATE TABLE admin_totp (
    member_id INTEGER PRIMARY KEY REFERENCES members (id) ON DELETE CASCADE,
    secret_sealed TEXT NOT NULL,
    confirmed_at TEXT,
    -- The last 30-second step a code was accepted for: a code seen once is never accepted again.
    last_used_step INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);

-- One-time recovery codes; only a keyed hash is kept.
CREATE TABLE admin_recovery_codes (
    id INTEGER PRIMARY KEY,
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    used_at TEXT
);
CREATE INDEX admin_recovery_codes_member ON admin_recovery_codes (member_id, used_at);

-- An initial password waiting for its letter. The plain password is kept sealed only until the
-- letter is made; then password_sealed is emptied and letter_made_at set. A new initial password
-- replaces the row, so each initial password gets exactly one letter.
CREATE TABLE initial_password_letters (
    member_id INTEGER PRIMARY KEY REFERENCES members (id) ON DELETE CASCADE,
    password_sealed TEXT NOT NULL DEFAULT '',
    issued_at TEXT NOT NULL,
    issued_by INTEGER REFERENCES members (id) ON DELETE SET NULL,
    source TEXT NOT NULL DEFAULT 'admin' CHECK (source IN ('admin', 'import', 'setup')),
    letter_made_at TEXT,
    letter_made_by INTEGER REFERENCES members (id) ON DELETE SET NULL
);
CREATE INDEX initial_password_letters_pending ON initial_password_letters (letter_made_at);

-- An uploaded member CSV between the dry run and the admin's confirmation (sealed: it may hold
-- initial passwords). Deleted on confirmation and after an hour.
CREATE TABLE member_import_uploads (
    id INTEGER PRIMARY KEY,
    token TEXT NOT NULL UNIQUE,
    filename TEXT NOT NULL DEFAULT '',
    content_sealed TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by INTEGER REFERENCES members (id) ON DELETE CASCADE
);

-- Every backup taken (nightly, downloaded, from the CLI), for the dashboard and the backup page.
CREATE TABLE backups (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('nightly', 'download', 'cli')),
    file_name TEXT NOT NULL DEFAULT '',
    size_bytes INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    error TEXT NOT NULL DEFAULT '',
    actor_member_id INTEGER REFERENCES members (id) ON DELETE SET NULL
);
CREATE INDEX backups_created ON backups (created_at);

-- The first-start setup page is served once; completed_at set means it is gone for good.
CREATE TABLE setup_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    completed_at TEXT
);
INSERT INTO setup_state (id, completed_at)
SELECT 1, CASE WHEN EXISTS (SELECT 1 FROM members WHERE role = 'admin') THEN strftime('%Y-%m-%dT%H:%M:%fZ', 'now') END;

CREATE INDEX audit_log_event ON audit_log (event, at);
CREATE INDEX audit_log_actor ON audit_log (actor_member_id, at);
