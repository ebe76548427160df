-- My Page cache: a bookmark changes a member's kept page only when a kept 新着記事 section shows its star
-- (issue 19). Until now every bookmark toggle bumped the member's page version, so starring any article
-- (from the article page, the list, the bookmarks page) made the next My Page a miss: the new-arrivals
-- matching and the notices, made again for nothing.
--
-- mypage_cache.article_ids: the articles whose stars a kept arrivals part shows (a JSON array), copied by the
-- triggers below into mypage_cache_articles, one row per member and article, in the statement that stores
-- the part (a superset: rows stay while any of the member's arrivals parts is kept).
-- page_versions.bookmarks counts every bookmark change of the member; a part is stored only if it did not
-- change since the versions were read, so a toggle that lands while a part is made (before its articles
-- are written here) is never missed.
ALTER TABLE page_versions ADD COLUMN bookmarks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mypage_cache ADD COLUMN article_ids TEXT;

CREATE TABLE mypage_cache_articles (
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    article_id INTEGER NOT NULL,
    PRIMARY KEY (member_id, article_id)
) WITHOUT ROWID;

CREATE TRIGGER mypage_cache_articles_insert AFTER INSERT ON mypage_cache WHEN new.article_ids IS NOT NULL BEGIN
    INSERT INTO mypage_cache_articles (member_id, article_id)
    SELECT new.member_id, value FROM json_each(new.article_ids) WHERE true
    ON CONFLICT DO NOTHING;
END;
CREATE TRIGGER mypage_cache_articles_update AFTER UPDATE OF article_ids ON mypage_cache
WHEN new.article_ids IS NOT NULL BEGIN
    INSERT INTO mypage_cache_articles (member_id, article_id)
    SELECT new.member_id, value FROM json_each(new.article_ids) WHERE true
    ON CONFLICT DO NOTHING;
END;
-- When the member's last arrivals part goes (a new day's prune, a deleted member), so do its articles.
CREATE TRIGGER mypage_cache_articles_prune AFTER DELETE ON mypage_cache WHEN old.part LIKE 'arrivals:%' BEGIN
    DELETE FROM mypage_cache_articles
    WHERE member_id = old.member_id
      AND NOT EXISTS (SELECT 1 FROM mypage_cache c WHERE c.member_id = old.member_id AND c.part LIKE 'arrivals:%');
END;

DROP TRIGGER page_version_bookmarks_insert;
DROP TRIGGER page_version_bookmarks_update;
DROP TRIGGER page_version_bookmarks_delete;

CREATE TRIGGER page_version_bookmarks_insert AFTER INSERT ON bookmarks BEGIN
    INSERT INTO page_versions (owner, version, bookmarks) VALUES (new.member_id, 1, 1)
    ON CONFLICT (owner) DO UPDATE SET bookmarks = bookmarks + 1, version = version + EXISTS (
        SELECT 1 FROM mypage_cache_articles s WHERE s.member_id = new.member_id AND s.article_id = new.article_id);
END;
CREATE TRIGGER page_version_bookmarks_update AFTER UPDATE ON bookmarks BEGIN
    INSERT INTO page_versions (owner, version, bookmarks) VALUES (old.member_id, 1, 1)
    ON CONFLICT (owner) DO UPDATE SET bookmarks = bookmarks + 1, version = version + EXISTS (
        SELECT 1 FROM mypage_cache_articles s WHERE s.member_id = old.member_id AND s.article_id = old.article_id);
    INSERT INTO page_versions (owner, version, bookmarks) VALUES (new.member_id, 1, 1)
    ON CONFLICT (owner) DO UPDATE SET bookmarks = bookmarks + 1, version = version + EXISTS (
        SELECT 1 FROM mypage_cache_articles s WHERE s.member_id = new.member_id AND s.article_id = new.article_id);
END;
CREATE TRIGGER page_version_bookmarks_delete AFTER DELETE ON bookmarks BEGIN
    INSERT INTO page_versions (owner, version, bookmarks) VALUES (old.member_id, 1, 1)
    ON CONFLICT (owner) DO UPDATE SET bookmarks = bookmarks + 1, version = version + EXISTS (
        SELECT 1 FROM mypage_cache_articles s WHERE s.member_id = old.member_id AND s.article_id = old.article_id);
END;
