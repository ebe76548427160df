-- A receipt is a document: what it says about the issuer (name, address, registration number), its tax
-- line and whether the fee was paid through the sandbox (a sample, 見本) are fixed when it is first
-- issued, as the payer's name and the amount already are. NULL: numbered before this migration; filled
-- from the settings of the day at its next download and fixed from then on.
ALTER TABLE receipts ADD COLUMN issuer_name TEXT;
ALTER TABLE receipts ADD COLUMN issuer_address TEXT;
ALTER TABLE receipts ADD COLUMN registration_number TEXT;
ALTER TABLE receipts ADD COLUMN tax_mode TEXT;
ALTER TABLE receipts ADD COLUMN test_payment INTEGER;
