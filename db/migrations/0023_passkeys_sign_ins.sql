-- Passkeys (WebAuthn credentials), their one-time challenges, the sign-in history a member sees on
-- /settings/security, the browsers a member has signed in from, and two member settings.

CREATE TABLE passkeys (
    id INTEGER PRIMARY KEY,
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    credential_id BLOB NOT NULL UNIQUE,
    public_key BLOB NOT NULL,
    sign_count INTEGER NOT NULL DEFAULT 0,
    name TEXT NOT NULL DEFAULT '',
    transports TEXT NOT NULL DEFAULT '',
    backed_up INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    last_used_at TEXT
);
CREATE INDEX passkeys_member ON passkeys (member_id);

-- One row per challenge handed to a browser; taking it deletes it (single use).
CREATE TABLE webauthn_challenges (
    challenge TEXT PRIMARY KEY,
    purpose TEXT NOT NULL CHECK (purpose IN ('register', 'login', 'mfa', 'reauth')),
    member_id INTEGER REFERENCES members (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX webauthn_challenges_expires ON webauthn_challenges (expires_at);

CREATE TABLE sign_in_attempts (
    id INTEGER PRIMARY KEY,
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    at TEXT NOT NULL,
    succeeded INTEGER NOT NULL,
    method TEXT NOT NULL CHECK (method IN ('password', 'passkey')),
    ip TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sign_in_attempts_member ON sign_in_attempts (member_id, id);

CREATE TABLE known_browsers (
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    browser_hash TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    PRIMARY KEY (member_id, browser_hash)
) WITHOUT ROWID;

-- The random WebAuthn user handle (never the member number), so a passkey names no member by itself.
ALTER TABLE members ADD COLUMN webauthn_user_id TEXT;
CREATE UNIQUE INDEX members_webauthn_user_id ON members (webauthn_user_id);
-- NULL: the default for the role (on for admins); 0 or 1: the member's choice.
ALTER TABLE members ADD COLUMN new_browser_mail INTEGER;
-- 1 once the member chose 「今後表示しない」 on the offer to add a passkey.
ALTER TABLE members ADD COLUMN passkey_offer_declined INTEGER NOT NULL DEFAULT 0;
