-- When the gateway's hosted payment page for an attempt stops taking payments (GMO link type Plus:
-- the PaymentExpireDate we send; Stripe Checkout: the session's expires_at). After it, the stored
-- link is dead: the pay flow checks the attempt with the gateway and gives the member a new one.
ALTER TABLE payment_attempts ADD COLUMN link_expires_at TEXT;
