-- Digest e-mails (新着お知らせメール): one run per (kind, window), one delivery per (run, member),
-- hard-bounce counts per member, and the in-process scheduler's record of its jobs.

CREATE TABLE digest_runs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('weekly', 'daily')),
    window_key TEXT NOT NULL,                   -- e.g. 'weekly:2026-11-18' (local start date)
    window_start TEXT NOT NULL,                 -- UTC, inclusive
    window_end TEXT NOT NULL,                   -- UTC, exclusive
    due_at TEXT NOT NULL,                       -- when the run was due (UTC); stale unfinished runs expire
    status TEXT NOT NULL DEFAULT 'building' CHECK (status IN ('building', 'sending', 'done')),
    trigger TEXT NOT NULL DEFAULT 'schedule' CHECK (trigger IN ('schedule', 'catch_up', 'cli', 'admin')),
    build_cursor INTEGER NOT NULL DEFAULT 0,    -- the last member id whose delivery row is written
    created_at TEXT NOT NULL,
    built_at TEXT,
    finished_at TEXT,
    UNIQUE (kind, window_key)
);
CREATE INDEX digest_runs_kind_start ON digest_runs (kind, window_start DESC);
CREATE INDEX digest_runs_unfinished ON digest_runs (status) WHERE status <> 'done';

-- pending -> sending (claimed) -> sent | failed; pending again after a transient error (next_attempt_at);
-- skipped when there is nothing to send (no matching article, no address, bounced address, unsubscribed).
CREATE TABLE digest_deliveries (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES digest_runs (id) ON DELETE CASCADE,
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'skipped')),
    article_count INTEGER NOT NULL DEFAULT 0,
    content TEXT NOT NULL DEFAULT '[]',         -- JSON: [[condition_id, condition_name, [article ids], more], ...]
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    message_id TEXT NOT NULL DEFAULT '',
    next_attempt_at TEXT,
    claimed_at TEXT,
    sent_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (run_id, member_id)
);
CREATE INDEX digest_deliveries_queue ON digest_deliveries (run_id, status, id);
CREATE INDEX digest_deliveries_member ON digest_deliveries (member_id, id);

-- Consecutive hard bounces (permanent 5xx answers) per member and address; three flag the address and
-- digests stop until the member changes the address or the admin clears the flag.
CREATE TABLE member_mail_health (
    member_id INTEGER PRIMARY KEY REFERENCES members (id) ON DELETE CASCADE,
    email TEXT NOT NULL,                        -- the address that bounced; another address starts afresh
    hard_bounces INTEGER NOT NULL DEFAULT 0,
    last_bounce_at TEXT,
    last_error TEXT NOT NULL DEFAULT '',
    flagged_at TEXT
);
CREATE INDEX member_mail_health_flagged ON member_mail_health (flagged_at) WHERE flagged_at IS NOT NULL;

-- The scheduler's jobs: when each last ran and how it ended (survives restarts, shown to the admin).
CREATE TABLE scheduler_jobs (
    name TEXT PRIMARY KEY,
    last_started_at TEXT,
    last_finished_at TEXT,
    last_status TEXT NOT NULL DEFAULT '' CHECK (last_status IN ('', 'ok', 'error', 'skipped')),
    last_error TEXT NOT NULL DEFAULT ''
);
