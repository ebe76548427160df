-- My Page cache (issue 19, services/mypage_cache.py): what a member's My Page shows, kept per member and
-- per view, and the version counters that say when a kept copy is out of date.
--
-- page_versions: owner 0 counts changes to what every member's page reads (articles and their terms, the
-- term trees, tiers, fee items, announcements); owner = a member id counts changes to that member's own
-- rows (conditions, bookmarks, tier periods, fees and payment attempts, inquiries and their answers,
-- announcement deliveries and reads). The triggers below bump them whatever code path writes (admin
-- forms, feed import, the scheduler, seeds and tests using raw SQL), so no write can forget to.
CREATE TABLE page_versions (
    owner INTEGER PRIMARY KEY,
    version INTEGER NOT NULL
);
INSERT INTO page_versions (owner, version) VALUES (0, 1);

-- One kept part of a member's My Page: 'notices' (the office's items of ご確認ください and the latest unread
-- お知らせ) or 'arrivals:<condition id, 0 for all>' (the rendered 新着記事 section). A part is served only
-- while its build (the code that made it), both versions and the org-time day still match, and before
-- valid_until (the next scheduled publish time, or a konbini deadline). body is zlib-compressed.
CREATE TABLE mypage_cache (
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    part TEXT NOT NULL,
    build TEXT NOT NULL,
    shared_version INTEGER NOT NULL,
    member_version INTEGER NOT NULL,
    day TEXT NOT NULL,
    valid_until TEXT,
    body BLOB NOT NULL,
    stored_at TEXT NOT NULL,
    PRIMARY KEY (member_id, part)
);
CREATE INDEX mypage_cache_day ON mypage_cache (day);
-- A part of an earlier day can never be served again: storing one of a newer day deletes them, so the
-- table holds at most the parts of the members who opened My Page today.
CREATE TRIGGER mypage_cache_prune_insert AFTER INSERT ON mypage_cache BEGIN
    DELETE FROM mypage_cache WHERE day < new.day;
END;
CREATE TRIGGER mypage_cache_prune_update AFTER UPDATE OF day ON mypage_cache BEGIN
    DELETE FROM mypage_cache WHERE day < new.day;
END;

-- ---------------------------------------------------------------- shared: every member's page

CREATE TRIGGER page_version_articles_insert AFTER INSERT ON articles BEGIN
    UPDATE page_versions SET version = version + 1 WHERE owner = 0;
END;
CREATE TRIGGER page_version_articles_update AFTER UPDATE ON articles BEGIN
    UPDATE page_versions SET version = version + 1 WHERE owner = 0;
END;
CREATE TRIGGER page_version_articles_delete AFTER DELETE ON articles BEGIN
    UPDATE page_versions SET version = version + 1 WHERE owner = 0;
END;
CREATE TRIGGER page_version_article_terms_insert AFTER INSERT ON article_terms BEGIN
    UPDATE page_versions SET version = version + 1 WHERE owner = 0;
END;
CREATE TRIGGER page_version_article_terms_update AFTER UPDATE ON article_terms BEGIN
    UPDATE page_versions SET version = version + 1 WHERE owner = 0;
END;
CREATE TRIGGER page_version_article_terms_delete AFTER DELETE ON article_terms BEGIN
    UPDATE page_versions SET version = version + 1 WHERE owner = 0;
END;
CREATE TRIGGER page_version_terms_insert AFTER INSERT ON terms BEGIN
    UPDATE page_versions SET version = version + 1 WHERE owner = 0;
END;
CREATE TRIGGER page_version_terms_update AFTER UPDATE ON terms BEGIN
    UPDATE page_versions SET version = version + 1 WHERE owner = 0;
END;
CREATE TRIGGER page_version_terms_delete AFTER DELETE ON terms BEGIN
    UPDATE page_versions SET version = version + 1 WHERE owner = 0;
END;
CREATE TRIGGER page_version_term_closure_insert AFTER INSERT ON term_closure BEGIN
    UPDATE page_versions SET version = version + 1 WHERE owner = 0;
END;
CREATE TRIGGER page_version_term_closure_update AFTER UPDATE ON term_closure BEGIN
    UPDATE page_versions SET version = version + 1 WHERE owner = 0;
END;
CREATE TRIGGER page_version_term_closure_delete AFTER DELETE ON term_closure BEGIN
    UPDATE page_versions SET version = version + 1 WHERE owner = 0;
END;
CREATE TRIGGER page_version_tiers_insert AFTER INSERT ON tiers BEGIN
    UPDATE page_versions SET version = version + 1 WHERE owner = 0;
END;
CREATE TRIGGER page_version_tiers_update AFTER UPDATE ON tiers BEGIN
    UPDATE page_versions SET version = version + 1 WHERE owner = 0;
END;
CREATE TRIGGER page_version_tiers_delete AFTER DELETE ON tiers BEGIN
    UPDATE page_versions SET version = version + 1 WHERE owner = 0;
END;
CREATE TRIGGER page_version_fee_items_insert AFTER INSERT ON fee_items BEGIN
    UPDATE page_versions SET version = version + 1 WHERE owner = 0;
END;
CREATE TRIGGER page_version_fee_items_update AFTER UPDATE ON fee_items BEGIN
    UPDATE page_versions SET version = version + 1 WHERE owner = 0;
END;
CREATE TRIGGER page_version_fee_items_delete AFTER DELETE ON fee_items BEGIN
    UPDATE page_versions SET version = version + 1 WHERE owner = 0;
END;
-- Only what My Page reads of an announcement: the sending run rewrites its status and cursor often.
CREATE TRIGGER page_version_announcements_insert AFTER INSERT ON announcements BEGIN
    UPDATE page_versions SET version = version + 1 WHERE owner = 0;
END;
CREATE TRIGGER page_version_announcements_update AFTER UPDATE OF title, audience, started_at ON announcements BEGIN
    UPDATE page_versions SET version = version + 1 WHERE owner = 0;
END;
CREATE TRIGGER page_version_announcements_delete AFTER DELETE ON announcements BEGIN
    UPDATE page_versions SET version = version + 1 WHERE owner = 0;
END;

-- ---------------------------------------------------------------- per member

CREATE TRIGGER page_version_conditions_insert AFTER INSERT ON conditions BEGIN
    INSERT INTO page_versions (owner, version) VALUES (new.member_id, 1)
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER page_version_conditions_update AFTER UPDATE ON conditions BEGIN
    INSERT INTO page_versions (owner, version) VALUES (old.member_id, 1)
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
    INSERT INTO page_versions (owner, version) VALUES (new.member_id, 1)
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;
-- A removed condition's kept view goes with it (its id can never be served again).
CREATE TRIGGER page_version_conditions_delete AFTER DELETE ON conditions BEGIN
    INSERT INTO page_versions (owner, version) VALUES (old.member_id, 1)
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
    DELETE FROM mypage_cache WHERE member_id = old.member_id AND part = 'arrivals:' || old.id;
END;
CREATE TRIGGER page_version_condition_terms_insert AFTER INSERT ON condition_terms BEGIN
    INSERT INTO page_versions (owner, version) SELECT c.member_id, 1 FROM conditions c WHERE c.id = new.condition_id
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER page_version_condition_terms_update AFTER UPDATE ON condition_terms BEGIN
    INSERT INTO page_versions (owner, version)
    SELECT c.member_id, 1 FROM conditions c WHERE c.id IN (old.condition_id, new.condition_id)
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER page_version_condition_terms_delete AFTER DELETE ON condition_terms BEGIN
    INSERT INTO page_versions (owner, version) SELECT c.member_id, 1 FROM conditions c WHERE c.id = old.condition_id
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER page_version_bookmarks_insert AFTER INSERT ON bookmarks BEGIN
    INSERT INTO page_versions (owner, version) VALUES (new.member_id, 1)
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER page_version_bookmarks_update AFTER UPDATE ON bookmarks BEGIN
    INSERT INTO page_versions (owner, version) VALUES (old.member_id, 1)
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
    INSERT INTO page_versions (owner, version) VALUES (new.member_id, 1)
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER page_version_bookmarks_delete AFTER DELETE ON bookmarks BEGIN
    INSERT INTO page_versions (owner, version) VALUES (old.member_id, 1)
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER page_version_member_tiers_insert AFTER INSERT ON member_tiers BEGIN
    INSERT INTO page_versions (owner, version) VALUES (new.member_id, 1)
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER page_version_member_tiers_update AFTER UPDATE ON member_tiers BEGIN
    INSERT INTO page_versions (owner, version) VALUES (old.member_id, 1)
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
    INSERT INTO page_versions (owner, version) VALUES (new.member_id, 1)
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER page_version_member_tiers_delete AFTER DELETE ON member_tiers BEGIN
    INSERT INTO page_versions (owner, version) VALUES (old.member_id, 1)
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER page_version_fees_insert AFTER INSERT ON fees BEGIN
    INSERT INTO page_versions (owner, version) VALUES (new.member_id, 1)
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER page_version_fees_update AFTER UPDATE ON fees BEGIN
    INSERT INTO page_versions (owner, version) VALUES (old.member_id, 1)
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
    INSERT INTO page_versions (owner, version) VALUES (new.member_id, 1)
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER page_version_fees_delete AFTER DELETE ON fees BEGIN
    INSERT INTO page_versions (owner, version) VALUES (old.member_id, 1)
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER page_version_payment_attempts_insert AFTER INSERT ON payment_attempts BEGIN
    INSERT INTO page_versions (owner, version) SELECT f.member_id, 1 FROM fees f WHERE f.id = new.fee_id
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER page_version_payment_attempts_update AFTER UPDATE ON payment_attempts BEGIN
    INSERT INTO page_versions (owner, version) SELECT f.member_id, 1 FROM fees f WHERE f.id IN (old.fee_id, new.fee_id)
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER page_version_payment_attempts_delete AFTER DELETE ON payment_attempts BEGIN
    INSERT INTO page_versions (owner, version) SELECT f.member_id, 1 FROM fees f WHERE f.id = old.fee_id
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER page_version_inquiries_insert AFTER INSERT ON inquiries WHEN new.member_id IS NOT NULL BEGIN
    INSERT INTO page_versions (owner, version) VALUES (new.member_id, 1)
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER page_version_inquiries_update AFTER UPDATE ON inquiries BEGIN
    INSERT INTO page_versions (owner, version)
    SELECT m.id, 1 FROM members m WHERE m.id IN (old.member_id, new.member_id)
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER page_version_inquiries_delete AFTER DELETE ON inquiries WHEN old.member_id IS NOT NULL BEGIN
    INSERT INTO page_versions (owner, version) VALUES (old.member_id, 1)
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER page_version_inquiry_replies_insert AFTER INSERT ON inquiry_replies BEGIN
    INSERT INTO page_versions (owner, version)
    SELECT i.member_id, 1 FROM inquiries i WHERE i.id = new.inquiry_id AND i.member_id IS NOT NULL
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER page_version_inquiry_replies_update AFTER UPDATE ON inquiry_replies BEGIN
    INSERT INTO page_versions (owner, version)
    SELECT i.member_id, 1 FROM inquiries i WHERE i.id IN (old.inquiry_id, new.inquiry_id) AND i.member_id IS NOT NULL
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER page_version_inquiry_replies_delete AFTER DELETE ON inquiry_replies BEGIN
    INSERT INTO page_versions (owner, version)
    SELECT i.member_id, 1 FROM inquiries i WHERE i.id = old.inquiry_id AND i.member_id IS NOT NULL
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER page_version_announcement_reads_insert AFTER INSERT ON announcement_reads BEGIN
    INSERT INTO page_versions (owner, version) VALUES (new.member_id, 1)
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER page_version_announcement_reads_update AFTER UPDATE ON announcement_reads BEGIN
    INSERT INTO page_versions (owner, version) VALUES (old.member_id, 1)
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
    INSERT INTO page_versions (owner, version) VALUES (new.member_id, 1)
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER page_version_announcement_reads_delete AFTER DELETE ON announcement_reads BEGIN
    INSERT INTO page_versions (owner, version) VALUES (old.member_id, 1)
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;
-- Only who receives it: the sending run rewrites each delivery's status and attempts many times.
CREATE TRIGGER page_version_announcement_deliveries_insert AFTER INSERT ON announcement_deliveries BEGIN
    INSERT INTO page_versions (owner, version) VALUES (new.member_id, 1)
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER page_version_announcement_deliveries_update AFTER UPDATE OF announcement_id, member_id
ON announcement_deliveries BEGIN
    INSERT INTO page_versions (owner, version) VALUES (old.member_id, 1)
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
    INSERT INTO page_versions (owner, version) VALUES (new.member_id, 1)
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER page_version_announcement_deliveries_delete AFTER DELETE ON announcement_deliveries BEGIN
    INSERT INTO page_versions (owner, version) VALUES (old.member_id, 1)
    ON CONFLICT (owner) DO UPDATE SET version = version + 1;
END;
