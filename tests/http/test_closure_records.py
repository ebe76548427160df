"""Account closure keeps payment records anonymized to the member number and empties inquiries."""

from __future__ import annotations

from services import account_closure
from tests.helpers import make_member

NOW = "2026-11-01T00:00:00.000000Z"


async def test_closure_keeps_payments_by_number_and_removes_personal_data_elsewhere(app_ctx, settings):
    admin_id = await make_member(app_ctx, "900001", role="admin")
    member_id = await make_member(
        app_ctx, "001001", family_name="退会", given_name="予定", email="bye@example.jp"
    )
    db = app_ctx.db
    item = await db.execute(
        "INSERT INTO fee_items (fiscal_year, membership_type, name, amount, due_on, created_at, updated_at) "
        "VALUES (2026, '正会員', '2026年度 年会費', 5000, '2026-06-30', ?, ?)",
        (NOW, NOW),
    )
    fee = await db.execute(
        "INSERT INTO fees (fee_item_id, member_id, member_number, amount, status, paid_at, paid_method, issued_at, "
        "updated_at) VALUES (?, ?, '001001', 5000, 'paid', ?, 'card', ?, ?)",
        (item, member_id, NOW, NOW, NOW),
    )
    attempt = await db.execute(
        "INSERT INTO payment_attempts (fee_id, member_number, method, state, gateway, order_id, amount, "
        "idempotency_key, created_at, updated_at) VALUES (?, '001001', 'card', 'paid', 'sandbox', 'o-1', 5000, 'k-1', ?, ?)",
        (fee, NOW, NOW),
    )
    await db.execute(
        "INSERT INTO payment_notifications (gateway, notification_key, attempt_id, raw, received_at) "
        "VALUES ('sandbox', 'n-1', ?, '{\"email\": \"bye@example.jp\"}', ?)",
        (attempt, NOW),
    )
    await db.execute(
        "INSERT INTO receipts (fee_id, receipt_year, receipt_seq, receipt_number, member_number, payer_name, amount, "
        "purpose, payment_method, paid_on, issued_on) VALUES (?, 2026, 1, 'R2026-000001', '001001', '退会 予定', 5000, "
        "'2026年度 年会費として', 'card', '2026-11-01', '2026-11-01')",
        (fee,),
    )
    inquiry = await db.execute(
        "INSERT INTO inquiries (created_at, updated_at, category, name, email, member_number, member_id, subject, "
        "message) VALUES (?, ?, 'その他', '退会 予定', 'bye@example.jp', '001001', ?, '件名', '個人的な内容')",
        (NOW, NOW, member_id),
    )
    folder = settings.data_dir / "attachments"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shot.png").write_bytes(b"png")
    await db.execute(
        "INSERT INTO inquiry_attachments (inquiry_id, stored_name, original_name, content_type, size, width, height, "
        "sha256, created_at) VALUES (?, 'shot.png', 'shot.png', 'image/png', 3, 1, 1, 'x', ?)",
        (inquiry, NOW),
    )

    assert await account_closure.close_account(app_ctx, member_id, admin_id=admin_id)

    fee_row = await db.fetchone("SELECT * FROM fees WHERE id = ?", (fee,))
    assert fee_row["status"] == "paid" and fee_row["member_number"] == "001001" and fee_row["amount"] == 5000
    receipt = await db.fetchone("SELECT * FROM receipts WHERE fee_id = ?", (fee,))
    assert receipt["payer_name"] == "会員番号 001001" and receipt["amount"] == 5000
    assert await db.fetchval("SELECT raw FROM payment_notifications WHERE attempt_id = ?", (attempt,)) == "{}"
    inquiry_row = await db.fetchone("SELECT * FROM inquiries WHERE id = ?", (inquiry,))
    assert inquiry_row["name"] == "" and inquiry_row["email"] == ""
    assert "個人的な内容" not in inquiry_row["message"]
    assert await db.fetchval("SELECT count(*) FROM inquiry_attachments") == 0
    assert not (folder / "shot.png").exists()
