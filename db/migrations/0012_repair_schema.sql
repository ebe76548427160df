-- Repair: what a database made by an earlier commit may lack because a migration was edited after it
-- had landed (found by diffing every migration file's history; tests/unit/test_migrations_frozen.py now
-- stops such edits). Every statement here does nothing on a database that already has the object.
--
-- 0010_articles_more.sql gained articles_window in 4d6e3cf: databases made by 95b998c .. e7f989d lack it,
-- and the new-arrivals query names it with INDEXED BY.
CREATE INDEX IF NOT EXISTS articles_window ON articles (status, published_at, kind, members_only);

-- 0001_foundation.sql gained mail_queue in 20f6dce: databases made by 6a7943f .. 674dc20 lack it.
CREATE TABLE IF NOT EXISTS mail_queue (
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
CREATE INDEX IF NOT EXISTS mail_queue_due ON mail_queue (status, next_attempt_at);

-- 0001_foundation.sql gained members.digest_frequency in 71a932d: databases made by 6a7943f .. 7fdc40e
-- lack it. SQLite has no ADD COLUMN IF NOT EXISTS, so the migration runner (db/database.py) reads this
-- line and adds the column, in this migration's transaction, only where it is missing:
-- add-column-if-missing: members.digest_frequency TEXT NOT NULL DEFAULT 'weekly' CHECK (digest_frequency IN ('none', 'weekly', 'daily'))
--
-- 0001_foundation.sql also gained rate_limit_events, used_tokens, tiers and member_tiers in 699f2f2. A
-- database made before that (6a7943f, e123f65) cannot reach this migration: 0004 alters member_tiers and
-- stops with a clear error, leaving the database unchanged; so nothing here re-creates them.
