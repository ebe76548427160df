"""Admin fees and payments: define and issue fee items, filters, bank transfer, cancel, CSV, receipt settings."""

from __future__ import annotations

import csv
import io

from db import payments as payment_queries
from services.demo import load_demo
from services.payments import states
from tests.helpers import login, login_admin, make_member, post_form, visible_text
from tests.payments_support import (
    attempts,
    choose,
    fee_id_of,
    fee_row,
    issue_fee,
    member_with_fee,
    to_gateway,
)

GOOD_ITEM = {
    "fiscal_year": "2026",
    "membership_type": "正会員",
    "name": "2026年度 年会費",
    "amount": "10000",
    "due_on": "2027-03-31",
}


async def test_admin_defines_a_fee_and_issues_it_once_to_active_members_of_the_type(client, app_ctx):
    await make_member(app_ctx, "001001")
    await make_member(app_ctx, "001002")
    await make_member(app_ctx, "001003", membership_type="学生会員")
    await login_admin(client, app_ctx)  # the admin account is a 正会員 too
    page = await client.get("/admin/fees")
    assert page.status_code == 200 and "会費を作成する" in page.text
    response = await post_form(
        client,
        "/admin/fees",
        {**GOOD_ITEM, "fiscal_year": "２０２６", "amount": "１０，０００"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    [item] = await payment_queries.fee_items_with_counts(app_ctx.db)
    assert (item["fiscal_year"], item["amount"], item["not_issued"]) == (2026, 10_000, 3)
    issue = await post_form(client, f"/admin/fees/{item['id']}/issue", {}, follow_redirects=False)
    assert issue.status_code == 303
    listing = await client.get("/admin/fees")
    assert "3 名に発行しました。" in visible_text(listing.text)
    # Issuing again never duplicates; a member who joined since gets the fee.
    await post_form(client, f"/admin/fees/{item['id']}/issue", {})
    assert await app_ctx.db.fetchval("SELECT count(*) FROM fees") == 3
    await make_member(app_ctx, "001004")
    await post_form(client, f"/admin/fees/{item['id']}/issue", {})
    assert await app_ctx.db.fetchval("SELECT count(*) FROM fees") == 4
    duplicate = await post_form(client, "/admin/fees", GOOD_ITEM)
    assert duplicate.status_code == 422 and "すでにあります" in duplicate.text


async def test_bad_fee_item_input_is_explained_next_to_each_field_and_kept(client, app_ctx):
    await login_admin(client, app_ctx)
    bad = {
        "fiscal_year": "今年",
        "membership_type": "髙会員",
        "name": "x" * 61,
        "amount": "-5",
        "due_on": "31/03",
    }
    response = await post_form(client, "/admin/fees", bad)
    assert response.status_code == 422
    text = visible_text(response.text)
    for message in ("年度を西暦4桁", "髙", "60文字以内", "1円から", "支払期限を日付で"):
        assert message in text, message
    assert 'value="今年"' in response.text
    for values in ({}, {"amount": "💴" * 3000}, {"amount": "99999999"}):
        response = await post_form(client, "/admin/fees", values)
        assert response.status_code == 422
    assert await payment_queries.fee_items_with_counts(app_ctx.db) == []


async def test_members_cannot_reach_the_admin_fee_screens(client, app_ctx):
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    for path in ("/admin/fees", "/admin/payments", "/admin/payments/export.csv"):
        assert (await client.get(path, follow_redirects=False)).status_code == 403
    assert (await post_form(client, "/admin/fees", GOOD_ITEM)).status_code == 403


async def test_payment_list_filters_and_csv_for_the_accountant(client, app_ctx):
    member_id, fee_id = await member_with_fee(
        app_ctx, client, family_name="山田", given_name="花子", family_kana="ヤマダ", given_kana="ハナコ"
    )
    await choose(client, fee_id, "card")
    await make_member(app_ctx, "001002", family_name="=cmd", given_name="次郎")
    await issue_fee(app_ctx)
    await login_admin(client, app_ctx)
    page = await client.get("/admin/payments")
    text = visible_text(page.text)
    assert "2 件" in text and "山田 花子" in text and "お支払い待ち" in text
    filtered = visible_text((await client.get("/admin/payments?q=ヤマダ")).text)
    assert "1 件" in filtered and "山田 花子" in filtered
    assert "0 件" in visible_text((await client.get("/admin/payments?status=paid")).text)
    assert "1 件" in visible_text((await client.get("/admin/payments?method=card")).text)
    for junk in ("?year=abcd", "?status=<script>", "?page=-1", "?q=" + "%" * 80, "?method=💳"):
        assert (await client.get("/admin/payments" + junk)).status_code == 200
    export = await client.get("/admin/payments/export.csv?year=2026&q=0010")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert export.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert rows[0][:6] == ["会員番号", "氏名", "会員種別", "年度", "会費名称", "金額"]
    assert ["001001", "山田 花子", "正会員", "2026", "2026年度 年会費", "10000"] == rows[1][:6]
    assert rows[2][1] == "'=cmd 次郎"  # not run as a formula in a spreadsheet
    assert len(rows) == 3


async def test_admin_marks_a_fee_paid_by_bank_transfer_with_a_note(client, app_ctx):
    member_id, fee_id = await member_with_fee(app_ctx, client)
    await choose(client, fee_id, "konbini")
    await to_gateway(client, fee_id)
    await login_admin(client, app_ctx)
    missing_note = await post_form(
        client, f"/admin/payments/fees/{fee_id}/mark-paid", {"paid_on": "2026-11-20"}
    )
    assert missing_note.status_code == 422 and "メモを入力してください" in missing_note.text
    future = await post_form(
        client, f"/admin/payments/fees/{fee_id}/mark-paid", {"paid_on": "2027-01-01", "note": "x"}
    )
    assert future.status_code == 422 and "今日以前" in future.text
    done = await post_form(
        client,
        f"/admin/payments/fees/{fee_id}/mark-paid",
        {"paid_on": "2026-11-20", "note": "11/20 つどい銀行 スズキタロウ名義"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    fee = await fee_row(app_ctx, fee_id)
    assert fee["status"] == "paid" and fee["paid_method"] == "bank_transfer"
    assert fee["paid_note"] == "11/20 つどい銀行 スズキタロウ名義"
    assert [a["state"] for a in await attempts(app_ctx, fee_id)] == [states.CANCELLED]
    detail = visible_text((await client.get(f"/admin/payments/fees/{fee_id}")).text)
    assert "銀行振込" in detail and "2026年11月20日" in detail and "入金済みにする" not in detail
    again = await post_form(
        client, f"/admin/payments/fees/{fee_id}/mark-paid", {"paid_on": "2026-11-20", "note": "again"}
    )
    assert "すでにお支払い済み" in visible_text(again.text)
    assert (await client.get("/admin/payments/fees/999999")).status_code == 404


async def test_admin_cancels_an_attempt_and_the_member_can_start_again(client, app_ctx):
    member_id, fee_id = await member_with_fee(app_ctx, client)
    await choose(client, fee_id, "konbini")
    await to_gateway(client, fee_id)
    [attempt] = await attempts(app_ctx, fee_id)
    await login_admin(client, app_ctx)
    response = await post_form(
        client, f"/admin/payments/attempts/{attempt['id']}/cancel", {}, follow_redirects=False
    )
    assert response.headers["location"] == f"/admin/payments/fees/{fee_id}"
    assert "支払い手続きを取り消しました" in visible_text(
        (await client.get(response.headers["location"])).text
    )
    assert (await fee_row(app_ctx, fee_id))["status"] == "cancelled"
    twice = await post_form(client, f"/admin/payments/attempts/{attempt['id']}/cancel", {})
    assert "取り消せません" in visible_text(twice.text)
    await login(client, "001001")
    history = visible_text((await client.get("/payments")).text)
    assert "取り消し済み" in history and "会員情報確認 支払手続き" in history
    await choose(client, fee_id, "card")
    assert [a["state"] for a in await attempts(app_ctx, fee_id)] == ["pending", "cancelled"]


async def test_receipt_settings_accept_a_t_number_and_refuse_a_malformed_one(client, app_ctx):
    await login_admin(client, app_ctx)
    bad = await post_form(
        client, "/admin/fees/receipt-settings", {"invoice_number": "T123", "tax_mode": "outside"}
    )
    assert bad.status_code == 422 and "13桁" in bad.text and 'value="T123"' in bad.text
    good = await post_form(
        client,
        "/admin/fees/receipt-settings",
        {"invoice_number": "Ｔ１２３４-５６７８-９０１２３", "tax_mode": "inclusive10"},
        follow_redirects=False,
    )
    assert good.status_code == 303
    assert app_ctx.org.invoice_number == "T1234567890123"


async def test_demo_data_gives_001234_one_unpaid_and_one_paid_fee_with_a_receipt(client, app_ctx):
    await load_demo(app_ctx)
    await load_demo(app_ctx)
    assert await app_ctx.db.fetchval("SELECT count(*) FROM fee_items") == 2
    await login(client, "001234", "Tsudoi2026")
    page = visible_text((await client.get("/payments")).text)
    assert "2026年度 年会費" in page and "お支払い待ち" in page
    assert "2025年度 年会費" in page and "お支払い済み" in page and "領収書（PDF）" in page
    member = await app_ctx.db.fetchone("SELECT id FROM members WHERE member_number = '001234'")
    fees = await payment_queries.member_fees(app_ctx.db, int(member["id"]))
    assert sorted(f["status"] for f in fees) == ["paid", "unpaid"]
    paid = next(f for f in fees if f["status"] == "paid")
    assert paid["receipt_number"] == "R2025-000001"
    receipt = await client.get(f"/payments/{paid['id']}/receipt.pdf")
    assert receipt.status_code == 200 and receipt.content.startswith(b"%PDF")
    unpaid = next(f for f in fees if f["status"] == "unpaid")
    assert await fee_id_of(app_ctx, int(member["id"]), int(unpaid["fee_item_id"])) == unpaid["id"]
