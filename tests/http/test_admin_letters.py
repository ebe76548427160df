"""Initial-password letters: the PDF (readings under each character, the login URL's QR code), made once."""

from __future__ import annotations

import io
import re

import zxingcpp
from pypdf import PdfReader

from db import audit, initial_letters
from services.initial_passwords import SEAL_PURPOSE, create_member_with_letter
from services.readings import readings
from services.sealing import open_text
from tests.helpers import login, login_admin, make_member, post_form, visible_text


def pdf_pages(pdf: bytes) -> list[str]:
    reader = PdfReader(io.BytesIO(pdf))
    return [re.sub(r"[\s\x00]+", "", page.extract_text()) for page in reader.pages]


async def waiting_password(app_ctx, member_id):
    row = await initial_letters.for_member(app_ctx.db, member_id)
    return open_text(app_ctx.settings.secret_key, SEAL_PURPOSE, row["password_sealed"])


async def new_member(app_ctx, admin_id, number, family, given):
    profile = {
        "family_name": family,
        "given_name": given,
        "family_kana": "ア",
        "given_kana": "イ",
        "email": f"{number}@example.jp",
    }
    return await create_member_with_letter(app_ctx, number, profile, actor_id=admin_id)


async def test_letters_pdf_has_one_page_per_member_with_readings_and_the_login_qr(client, app_ctx):
    admin_id = await login_admin(client, app_ctx)
    await app_ctx.update_org({"org_name": "一般社団法人 日本つどい学会"})
    first = await new_member(app_ctx, admin_id, "000201", "山田", "花子")
    second = await new_member(app_ctx, admin_id, "000202", "佐藤", "一郎")
    passwords = {
        first: await waiting_password(app_ctx, first),
        second: await waiting_password(app_ctx, second),
    }
    page = await client.get("/admin/letters")
    assert "未作成の通知書 2 件" in visible_text(page.text)
    response = await post_form(client, "/admin/letters", {"member_id": [str(first), str(second)]})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert "attachment" in response.headers["content-disposition"]
    pages = pdf_pages(response.content)
    assert len(pages) == 2
    for text, member_id, name, number in (
        (pages[0], first, "山田花子様", "000201"),
        (pages[1], second, "佐藤一郎様", "000202"),
    ):
        assert "一般社団法人日本つどい学会" in text and name in text and number in text
        password = passwords[member_id]
        # Every character in its box, its reading right under it.
        boxes = "".join(f"{n}{c}{reading}" for n, (c, reading) in enumerate(readings(password), start=1))
        assert f"初期パスワード{boxes}" in text
        assert "http://testserver.local/login" in text
        assert "はじめてのログインの手順" in text
    reader = PdfReader(io.BytesIO(response.content))
    for pdf_page in reader.pages:
        decoded = [r.text for image in pdf_page.images for r in zxingcpp.read_barcodes(image.image)]
        # The login page, and the contact form for members who get stuck.
        assert decoded == ["http://testserver.local/login", "http://testserver.local/contact"]
    # The plain passwords are gone once the letter is made; nothing is left to print again.
    rows = await app_ctx.db.fetchall("SELECT password_sealed, letter_made_at FROM initial_password_letters")
    assert all(row["password_sealed"] == "" and row["letter_made_at"] for row in rows)
    again = await post_form(client, "/admin/letters", {"member_id": str(first)})
    assert again.status_code == 422 and "すでに通知書を作成" in again.text
    assert len(await audit.events(app_ctx.db, "password.letter_made")) == 2
    # And the printed password is the one that logs in (to the change form).
    assert (await login(client, "000201", passwords[first])).headers["location"] == "/password/change"


async def test_a_new_initial_password_gets_its_own_letter(client, app_ctx):
    admin_id = await login_admin(client, app_ctx)
    member_id = await new_member(app_ctx, admin_id, "000301", "鈴木", "三郎")
    await post_form(client, "/admin/letters", {"member_id": str(member_id)})
    await post_form(client, f"/admin/members/{member_id}/initial-password", {})
    newer = await waiting_password(app_ctx, member_id)
    response = await post_form(client, "/admin/letters", {"member_id": str(member_id)})
    assert response.headers["content-type"] == "application/pdf"
    boxes = "".join(f"{n}{c}{reading}" for n, (c, reading) in enumerate(readings(newer), start=1))
    assert boxes in pdf_pages(response.content)[0]
    assert (await login(client, "000301", newer)).status_code == 303


async def test_choosing_no_member_or_garbage_is_refused_politely(client, app_ctx):
    await login_admin(client, app_ctx)
    await make_member(app_ctx, "000401")
    for data in ({}, {"member_id": "abc"}, {"member_id": "9" * 40}, {"member_id": "999"}):
        response = await post_form(client, "/admin/letters", data)
        assert response.status_code == 422
        assert "選んでください" in response.text or "すでに通知書を作成" in response.text
