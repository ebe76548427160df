-- 事務局スタッフ: a console account (role 'admin') limited to the office's daily work (members, letters,
-- the inbox, articles, events, announcements). 0 = a full admin; the column means nothing for members.
-- A column, not a third role value: changing the CHECK on members.role would mean rebuilding the table
-- that every other table references.
ALTER TABLE members ADD COLUMN staff INTEGER NOT NULL DEFAULT 0 CHECK (staff IN (0, 1));
