-- Lookups the article, taxonomy and condition screens need beyond 0005.

-- "How many conditions use this term?" before a term is deleted or merged.
CREATE INDEX condition_terms_term ON condition_terms (term_id);
-- A term's children in display order (taxonomy trees, the delete check).
CREATE INDEX terms_parent ON terms (parent_id, sort_order);
-- The admin's events list and the member's events filter.
CREATE INDEX articles_kind_published ON articles (kind, status, published_at DESC);
-- The new-arrivals window scan reads only this index (no table lookups): see db/articles.py _MATCH_CTE.
CREATE INDEX articles_window ON articles (status, published_at, kind, members_only);
