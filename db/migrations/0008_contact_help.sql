-- Contact inquiries (stored before any mail is sent), their screenshots, the admin's replies,
-- and the help pages (FAQ sections and entries, Markdown rendered and sanitized on save).

CREATE TABLE inquiries (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'in_progress', 'done')),
    category TEXT NOT NULL,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    -- As typed by the sender (or the logged-in member's own number); not proof of identity.
    member_number TEXT NOT NULL DEFAULT '',
    -- Set only when the sender was logged in: the sender is that member for certain.
    member_id INTEGER REFERENCES members (id) ON DELETE SET NULL,
    subject TEXT NOT NULL,
    message TEXT NOT NULL,
    ip TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    admin_mail_status TEXT NOT NULL DEFAULT 'pending' CHECK (admin_mail_status IN ('pending', 'sent', 'failed')),
    auto_reply_status TEXT NOT NULL DEFAULT 'pending' CHECK (auto_reply_status IN ('pending', 'sent', 'failed'))
);
CREATE INDEX inquiries_status ON inquiries (status, id);
CREATE INDEX inquiries_member ON inquiries (member_id);

-- The file itself lives in <data folder>/attachments/<stored_name>, re-encoded without metadata.
CREATE TABLE inquiry_attachments (
    id INTEGER PRIMARY KEY,
    inquiry_id INTEGER NOT NULL REFERENCES inquiries (id) ON DELETE CASCADE,
    stored_name TEXT NOT NULL UNIQUE,
    original_name TEXT NOT NULL,
    content_type TEXT NOT NULL CHECK (content_type IN ('image/png', 'image/jpeg')),
    size INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX inquiry_attachments_inquiry ON inquiry_attachments (inquiry_id);

-- The thread: replies written by an admin in the app and sent to the sender by mail.
CREATE TABLE inquiry_replies (
    id INTEGER PRIMARY KEY,
    inquiry_id INTEGER NOT NULL REFERENCES inquiries (id) ON DELETE CASCADE,
    author_member_id INTEGER REFERENCES members (id) ON DELETE SET NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    mail_status TEXT NOT NULL DEFAULT 'pending' CHECK (mail_status IN ('pending', 'sent', 'failed')),
    sent_at TEXT
);
CREATE INDEX inquiry_replies_inquiry ON inquiry_replies (inquiry_id, id);

CREATE TABLE help_sections (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    sort_order INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE help_entries (
    id INTEGER PRIMARY KEY,
    section_id INTEGER NOT NULL REFERENCES help_sections (id) ON DELETE CASCADE,
    question TEXT NOT NULL,
    answer_md TEXT NOT NULL,
    -- Rendered with services.markdown.render_markdown (nh3-sanitized) when saved.
    answer_html TEXT NOT NULL,
    -- The screen the answer talks about (a same-site path), shown as a button under the answer.
    link_path TEXT NOT NULL DEFAULT '',
    link_label TEXT NOT NULL DEFAULT '',
    -- Normalized question + answer text (NFKC, lower case, katakana) for the search box.
    search_text TEXT NOT NULL DEFAULT '',
    published INTEGER NOT NULL DEFAULT 1,
    sort_order INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX help_entries_section ON help_entries (section_id, sort_order, id);
