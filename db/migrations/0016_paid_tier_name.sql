-- The paid tier's default name is Japanese, as members read it everywhere (「有料会員」プラン).
-- Only the untouched default is renamed: a name the admin set stays as it is.
UPDATE tiers SET name = '有料会員' WHERE code = 'members' AND name = 'Members';
