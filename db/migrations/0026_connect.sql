-- One login for the organization's other services (issue 23).
-- A stable, unguessable id per member that other services see (OpenID Connect `sub`, DiscourseConnect
-- `external_id`): never the member number, which members use to sign in and may not want to share.
ALTER TABLE members ADD COLUMN public_id TEXT;
UPDATE members SET public_id = lower(hex(randomblob(16))) WHERE public_id IS NULL;
CREATE UNIQUE INDEX members_public_id ON members (public_id);
CREATE TRIGGER members_public_id_on_insert AFTER INSERT ON members WHEN NEW.public_id IS NULL
BEGIN
    UPDATE members SET public_id = lower(hex(randomblob(16))) WHERE id = NEW.id;
END;

-- OpenID Connect: the services (clients) the admin registered. A confidential client's secret is kept as
-- its SHA-256 only; a public client (an app that cannot keep a secret) has none and must use PKCE.
CREATE TABLE oidc_clients (
    id INTEGER PRIMARY KEY,
    client_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    secret_hash TEXT,
    is_public INTEGER NOT NULL DEFAULT 0,
    redirect_uris TEXT NOT NULL,                 -- one per line, matched exactly
    post_logout_redirect_uris TEXT NOT NULL DEFAULT '',
    scopes TEXT NOT NULL DEFAULT 'openid profile email membership',
    refresh_tokens INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    removed_at TEXT
);

-- Authorization codes: stored hashed, single-use (used_at set by one UPDATE … RETURNING), a minute long.
CREATE TABLE oidc_codes (
    code_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    nonce TEXT,
    code_challenge TEXT,
    code_challenge_method TEXT,
    auth_time INTEGER NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
);

-- Access and refresh tokens, hashed.
CREATE TABLE oidc_tokens (
    id INTEGER PRIMARY KEY,
    client_id TEXT NOT NULL,
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    access_token_hash TEXT NOT NULL UNIQUE,
    refresh_token_hash TEXT UNIQUE,
    scope TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    refresh_expires_at TEXT,
    revoked_at TEXT
);
CREATE INDEX oidc_tokens_member ON oidc_tokens (member_id, client_id);

-- What a member agreed to share with a client, asked the first time and remembered.
CREATE TABLE oidc_consents (
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    granted_at TEXT NOT NULL,
    PRIMARY KEY (member_id, client_id)
);

-- ID token signing keys (ES256), sealed with the secret key. A retired key stays published in the JWKS
-- until the tokens it signed have expired.
CREATE TABLE oidc_keys (
    kid TEXT PRIMARY KEY,
    private_jwk_sealed TEXT NOT NULL,
    created_at TEXT NOT NULL,
    retired_at TEXT
);
