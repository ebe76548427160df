-- New arrivals driven from the member's conditions (db/articles.py _MATCH_CTE): each condition's terms,
-- expanded to their descendants, range-scan only the 14-day window of this table instead of the page
-- walking every article of the window.
--
-- One row per (published article, term it carries), with the article columns the matching needs.
-- Drafts and unpublished articles have no rows. Kept in sync by the triggers below whatever code path
-- writes articles or article_terms (admin forms, feed import, term moves, seeds and tests using raw SQL).
CREATE TABLE published_article_terms (
    article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    term_id INTEGER NOT NULL,
    published_at TEXT NOT NULL,
    kind TEXT NOT NULL,
    members_only INTEGER NOT NULL,
    PRIMARY KEY (article_id, term_id)
) WITHOUT ROWID;
-- Covering (the primary key columns ride along): a term's window is one range scan, no table lookups.
CREATE INDEX published_article_terms_window
    ON published_article_terms (term_id, published_at, kind, members_only);

INSERT INTO published_article_terms (article_id, term_id, published_at, kind, members_only)
SELECT at.article_id, at.term_id, a.published_at, a.kind, a.members_only
FROM article_terms at JOIN articles a ON a.id = at.article_id
WHERE a.status = 'published';

CREATE TRIGGER published_article_terms_tag AFTER INSERT ON article_terms BEGIN
    INSERT OR REPLACE INTO published_article_terms (article_id, term_id, published_at, kind, members_only)
    SELECT a.id, new.term_id, a.published_at, a.kind, a.members_only
    FROM articles a WHERE a.id = new.article_id AND a.status = 'published';
END;

CREATE TRIGGER published_article_terms_untag AFTER DELETE ON article_terms BEGIN
    DELETE FROM published_article_terms WHERE article_id = old.article_id AND term_id = old.term_id;
END;

CREATE TRIGGER published_article_terms_retag AFTER UPDATE OF article_id, term_id ON article_terms BEGIN
    DELETE FROM published_article_terms WHERE article_id = old.article_id AND term_id = old.term_id;
    INSERT OR REPLACE INTO published_article_terms (article_id, term_id, published_at, kind, members_only)
    SELECT a.id, new.term_id, a.published_at, a.kind, a.members_only
    FROM articles a WHERE a.id = new.article_id AND a.status = 'published';
END;

-- Publishing, unpublishing, rescheduling, or changing kind / members-only rewrites the article's rows.
CREATE TRIGGER published_article_terms_article AFTER UPDATE OF status, published_at, kind, members_only
ON articles BEGIN
    DELETE FROM published_article_terms WHERE article_id = old.id;
    INSERT INTO published_article_terms (article_id, term_id, published_at, kind, members_only)
    SELECT at.article_id, at.term_id, new.published_at, new.kind, new.members_only
    FROM article_terms at WHERE at.article_id = new.id AND new.status = 'published';
END;

CREATE TRIGGER published_article_terms_article_gone AFTER DELETE ON articles BEGIN
    DELETE FROM published_article_terms WHERE article_id = old.id;
END;
