"""The audit log reads in Japanese: event names, details with names instead of ids, who acted."""

from __future__ import annotations

from db import audit
from tests.helpers import login_admin, make_member, post_form, visible_text
from tests.payments_support import fee_id_of, issue_fee


async def test_events_and_details_are_in_words(client, app_ctx):
    admin_id = await login_admin(client, app_ctx)
    member_id = await make_member(app_ctx, "001001")
    item = await issue_fee(app_ctx, year=2026, amount=5_000)
    fee_id = await fee_id_of(app_ctx, member_id, item)
    now = app_ctx.clock.now()
    await audit.record(
        app_ctx.db,
        "payment.marked_paid_bank_transfer",
        now=now,
        actor_member_id=admin_id,
        subject_member_id=member_id,
        detail={"fee_id": fee_id, "paid_on": "2026-11-20", "note": "振込"},
    )
    await audit.record(
        app_ctx.db,
        "settings.updated",
        now=now,
        actor_member_id=admin_id,
        detail={"changed": {"lockout_threshold": ["5", "7"]}},
    )
    await audit.record(
        app_ctx.db,
        "member.updated",
        now=now,
        actor_member_id=admin_id,
        subject_member_id=member_id,
        detail={"fields": ["family_kana", "phone"]},
    )
    page = await client.get("/admin/audit")
    text = visible_text(page.text)
    assert "銀行振込の入金記録" in text
    assert "会費「2026年度 年会費」（会員 001001）" in text
    assert "入金日: 2026-11-20" in text
    assert "fee_id" not in text and "payment.marked_paid_bank_transfer" not in text
    assert "設定の変更" in text and "ロックまでの失敗回数: 5 → 7" in text
    assert "変更した項目: フリガナ（セイ）、電話番号" in text
    # Who acted is named on every entry an admin made.
    assert text.count("操作: 事務局 管理者（900001）") >= 3


async def test_staff_actions_name_the_staff(client, app_ctx):
    admin_id = await make_member(app_ctx, "900001", role="admin", family_name="事務局", given_name="管理者")
    staff_id = await make_member(app_ctx, "900101", role="admin", family_name="佐藤", given_name="花子")
    await app_ctx.db.execute("UPDATE members SET staff = 1 WHERE id = ?", (staff_id,))
    await login_admin(client, app_ctx, "900101")
    response = await post_form(
        client,
        "/admin/articles",
        {
            "title": "秋の研究会のご案内",
            "body_md": "本文",
            "status": "draft",
            "published_at": "2026-11-23T10:00",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    (entry,) = await audit.events(app_ctx.db, "article.created")
    assert entry["actor_member_id"] == staff_id
    client.cookies.clear()
    assert admin_id
    await login_admin(client, app_ctx, "900001")
    text = visible_text((await client.get("/admin/audit")).text)
    assert "記事・イベントの作成" in text
    assert "操作: 佐藤 花子（900101）" in text and "記事「秋の研究会のご案内」" in text
