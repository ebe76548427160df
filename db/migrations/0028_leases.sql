-- Several worker processes on one database (`litestar run --wc N`, issue 19).
-- A named lease: who holds something only one process may do at a time (a payment attempt's checkout, a
-- digest run, the scheduler), until when. The holder renews it while it works and deletes it when done;
-- a holder that died stops renewing, so its lease runs out and another process takes over.
-- expires_at is wall-clock seconds since the epoch (services/leases.py says why not the app's clock).
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at REAL NOT NULL
);

-- The first-start token (services/setup.py): one for every worker, so the URL any of them printed works.
ALTER TABLE setup_state ADD COLUMN token TEXT;
