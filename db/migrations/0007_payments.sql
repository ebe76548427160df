-- Annual fees: fee items, fees issued per member, payment attempts at a gateway,
-- the gateways' notifications (de-duplicated by key) and receipts.
-- Payment rows keep the member number so closing an account can blank the member's
-- personal data while the accounting records stay complete.

CREATE TABLE fee_items (
    id INTEGER PRIMARY KEY,
    fiscal_year INTEGER NOT NULL CHECK (fiscal_year BETWEEN 2000 AND 2100),
    membership_type TEXT NOT NULL,
    name TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0 AND amount <= 9999999),
    due_on TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (fiscal_year, membership_type, name)
);

CREATE TABLE fees (
    id INTEGER PRIMARY KEY,
    fee_item_id INTEGER NOT NULL REFERENCES fee_items (id),
    member_id INTEGER REFERENCES members (id) ON DELETE SET NULL,
    member_number TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    status TEXT NOT NULL DEFAULT 'unpaid'
        CHECK (status IN ('unpaid', 'awaiting_konbini', 'paid', 'expired', 'cancelled')),
    paid_at TEXT,
    paid_method TEXT CHECK (paid_method IN ('card', 'konbini', 'bank_transfer')),
    paid_note TEXT NOT NULL DEFAULT '',
    issued_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (member_id, fee_item_id)
);
CREATE INDEX fees_member ON fees (member_id, id);
CREATE INDEX fees_item_status ON fees (fee_item_id, status);

CREATE TABLE payment_attempts (
    id INTEGER PRIMARY KEY,
    fee_id INTEGER NOT NULL REFERENCES fees (id),
    member_number TEXT NOT NULL,
    method TEXT NOT NULL CHECK (method IN ('card', 'konbini')),
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'awaiting_konbini', 'paid', 'declined', 'expired', 'cancelled')),
    gateway TEXT NOT NULL,
    order_id TEXT NOT NULL UNIQUE,
    reference TEXT,
    redirect_url TEXT,
    checkout_started_at TEXT,
    amount INTEGER NOT NULL CHECK (amount > 0),
    konbini_store TEXT,
    konbini_number TEXT,
    konbini_confirmation TEXT,
    konbini_deadline TEXT,
    konbini_voucher_url TEXT,
    idempotency_key TEXT NOT NULL UNIQUE,
    needs_attention INTEGER NOT NULL DEFAULT 0,
    attention_reason TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    paid_at TEXT
);
-- At most one live attempt per fee: back buttons and double submits reuse it.
CREATE UNIQUE INDEX payment_attempts_one_live ON payment_attempts (fee_id)
    WHERE state IN ('pending', 'awaiting_konbini');
CREATE UNIQUE INDEX payment_attempts_reference ON payment_attempts (gateway, reference)
    WHERE reference IS NOT NULL;
CREATE INDEX payment_attempts_fee ON payment_attempts (fee_id, id);

CREATE TABLE payment_notifications (
    id INTEGER PRIMARY KEY,
    gateway TEXT NOT NULL,
    notification_key TEXT NOT NULL,
    attempt_id INTEGER REFERENCES payment_attempts (id),
    reported_state TEXT NOT NULL DEFAULT '',
    reported_amount INTEGER,
    outcome TEXT NOT NULL DEFAULT 'received',
    raw TEXT NOT NULL,
    received_at TEXT NOT NULL,
    UNIQUE (gateway, notification_key)
);
CREATE INDEX payment_notifications_attempt ON payment_notifications (attempt_id, id);

CREATE TABLE receipts (
    id INTEGER PRIMARY KEY,
    fee_id INTEGER NOT NULL UNIQUE REFERENCES fees (id),
    receipt_year INTEGER NOT NULL,
    receipt_seq INTEGER NOT NULL,
    receipt_number TEXT NOT NULL UNIQUE,
    member_number TEXT NOT NULL,
    payer_name TEXT NOT NULL,
    amount INTEGER NOT NULL,
    purpose TEXT NOT NULL,
    payment_method TEXT NOT NULL,
    paid_on TEXT NOT NULL,
    issued_on TEXT NOT NULL,
    issue_count INTEGER NOT NULL DEFAULT 0,
    last_issued_at TEXT,
    UNIQUE (receipt_year, receipt_seq)
);
