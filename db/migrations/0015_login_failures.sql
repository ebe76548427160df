-- Login failures per normalized login ID, whether or not a member has that ID (issue 14): an unknown
-- member number locks like a known one, so the pages never tell which numbers exist. `attempts` counts
-- tries reserved since the last success (wrong passwords and ones still being checked); a try is
-- reserved with one UPSERT … RETURNING before its password is hashed, so parallel requests cannot get
-- more than the lockout threshold of passwords evaluated per lock period. `refused` counts tries turned
-- away by the running lock (so only the try that set a lock reports it as new).
-- members.failed_logins / members.locked_until stay as the admin's view of a known member's lock.
CREATE TABLE login_failures (
    login_id TEXT PRIMARY KEY,
    attempts INTEGER NOT NULL DEFAULT 0,
    refused INTEGER NOT NULL DEFAULT 0,
    locked_until TEXT,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX login_failures_updated ON login_failures (updated_at);

INSERT INTO login_failures (login_id, attempts, locked_until, updated_at)
SELECT member_number, failed_logins, locked_until, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
FROM members
WHERE failed_logins > 0 OR locked_until IS NOT NULL;
