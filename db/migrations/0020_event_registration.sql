-- Events members sign up for here (イベント申込): each event's registration settings, the registrations
-- with their waitlist, and each member's private calendar feed.

-- An event takes registrations here when it has a row; without one it keeps its outside application_url.
CREATE TABLE event_settings (
    article_id INTEGER PRIMARY KEY REFERENCES articles (id) ON DELETE CASCADE,
    capacity INTEGER NOT NULL CHECK (capacity BETWEEN 1 AND 100000),
    deadline TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    fee_amount INTEGER NOT NULL DEFAULT 0 CHECK (fee_amount BETWEEN 0 AND 9999999),
    fee_item_id INTEGER REFERENCES fee_items (id),
    closed INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- One row per member and event; a cancelled one is reused when the member signs up again.
-- The waitlist is the 'waitlisted' rows in (queued_at, id) order.
CREATE TABLE event_registrations (
    id INTEGER PRIMARY KEY,
    article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    status TEXT NOT NULL CHECK (status IN ('registered', 'waitlisted', 'cancelled')),
    checkin_code TEXT NOT NULL UNIQUE,
    queued_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    cancelled_at TEXT,
    promoted_at TEXT,
    attended_at TEXT,
    reminder_sent_at TEXT,
    UNIQUE (article_id, member_id)
);
CREATE INDEX event_registrations_event ON event_registrations (article_id, status, queued_at, id);
CREATE INDEX event_registrations_member ON event_registrations (member_id, status);
CREATE INDEX event_registrations_reminder ON event_registrations (status, reminder_sent_at);

-- The feed URL carries feed_id and an HMAC of it with the secret key: the table alone opens no feed.
CREATE TABLE calendar_feeds (
    member_id INTEGER PRIMARY KEY REFERENCES members (id) ON DELETE CASCADE,
    feed_id TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
