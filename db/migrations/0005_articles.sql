-- Articles and events, two hierarchical taxonomies (regions/countries, topics), member conditions,
-- bookmarks and recently viewed.

CREATE TABLE terms (
    id INTEGER PRIMARY KEY,
    taxonomy TEXT NOT NULL CHECK (taxonomy IN ('region', 'topic')),
    parent_id INTEGER REFERENCES terms (id),
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    sort_order INTEGER NOT NULL DEFAULT 0,
    UNIQUE (taxonomy, slug)
);

-- Every (ancestor, descendant) pair including (t, t): a condition on アジア matches an article on 中国.
-- Maintained by db/articles.py whenever terms change.
CREATE TABLE term_closure (
    ancestor_id INTEGER NOT NULL REFERENCES terms (id) ON DELETE CASCADE,
    descendant_id INTEGER NOT NULL REFERENCES terms (id) ON DELETE CASCADE,
    PRIMARY KEY (ancestor_id, descendant_id)
) WITHOUT ROWID;
CREATE INDEX term_closure_descendant ON term_closure (descendant_id, ancestor_id);

CREATE TABLE articles (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL DEFAULT 'article' CHECK (kind IN ('article', 'event')),
    status TEXT NOT NULL DEFAULT 'published' CHECK (status IN ('draft', 'published', 'unpublished')),
    title TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    body_md TEXT NOT NULL DEFAULT '',
    body_html TEXT NOT NULL DEFAULT '',
    external_url TEXT NOT NULL DEFAULT '',
    published_at TEXT NOT NULL,
    members_only INTEGER NOT NULL DEFAULT 0,
    event_date TEXT,
    event_place TEXT NOT NULL DEFAULT '',
    application_url TEXT NOT NULL DEFAULT '',
    feed_guid TEXT UNIQUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX articles_published ON articles (status, published_at DESC);

CREATE TABLE article_terms (
    article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    term_id INTEGER NOT NULL REFERENCES terms (id),
    PRIMARY KEY (article_id, term_id)
) WITHOUT ROWID;
CREATE INDEX article_terms_term ON article_terms (term_id, article_id);

CREATE TABLE conditions (
    id INTEGER PRIMARY KEY,
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX conditions_member ON conditions (member_id, id);

-- The terms a condition chose; no row for a taxonomy means "any" in that taxonomy.
CREATE TABLE condition_terms (
    condition_id INTEGER NOT NULL REFERENCES conditions (id) ON DELETE CASCADE,
    term_id INTEGER NOT NULL REFERENCES terms (id),
    PRIMARY KEY (condition_id, term_id)
) WITHOUT ROWID;

CREATE TABLE bookmarks (
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    PRIMARY KEY (member_id, article_id)
) WITHOUT ROWID;
CREATE INDEX bookmarks_member_created ON bookmarks (member_id, created_at DESC);

CREATE TABLE view_history (
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    viewed_at TEXT NOT NULL,
    PRIMARY KEY (member_id, article_id)
) WITHOUT ROWID;
CREATE INDEX view_history_member_viewed ON view_history (member_id, viewed_at DESC);

-- Keyword search in Japanese: trigram tokenizer works without word segmentation.
CREATE VIRTUAL TABLE articles_fts USING fts5 (
    title, summary, body_md, content='articles', content_rowid='id', tokenize='trigram'
);
CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
    INSERT INTO articles_fts (rowid, title, summary, body_md) VALUES (new.id, new.title, new.summary, new.body_md);
END;
CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title, summary, body_md)
    VALUES ('delete', old.id, old.title, old.summary, old.body_md);
END;
CREATE TRIGGER articles_fts_update AFTER UPDATE OF title, summary, body_md ON articles BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title, summary, body_md)
    VALUES ('delete', old.id, old.title, old.summary, old.body_md);
    INSERT INTO articles_fts (rowid, title, summary, body_md) VALUES (new.id, new.title, new.summary, new.body_md);
END;
