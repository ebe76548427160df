-- One login for the organization's other services (issue 23).
-- A stable, unguessable id per member that other services see (OpenID Connect `sub`, DiscourseConnect
-- `external_id`): never the member number, which members use to sign in and may not want to share.
ALTER TABLE members ADD COLUMN public_id TEXT;
UPDATE members SET public_id = lower(hex(randomblob(16))) WHERE public_id IS NULL;
CREATE UNIQUE INDEX members_public_id ON members (public_id);
CREATE TRIGGER members_public_id_on_insert AFTER INSERT ON members WHEN NEW.public_id IS NULL
BEGIN
    UPDATE members SET public_id = lower(hex(randomblob(16))) WHERE id = NEW.id;
END;
