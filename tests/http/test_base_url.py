"""TSUDOI_BASE_URL, when set, wins over the URL stored at first start: mails, letters and the QR follow it."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import zxingcpp
from litestar.testing import AsyncTestClient
from pypdf import PdfReader

from app import create_app
from services import admin_settings
from services.clock import FrozenClock
from services.demo import load_demo
from services.initial_passwords import create_member_with_letter
from services.settings import Settings, get_settings
from tests.helpers import body_text, login_admin, outbox, post_form, visible_text
from tests.unit.test_qr import rasterize_svg

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
PREFILLED = "http://127.0.0.1:8000"
PUBLIC = "https://members.example.org"
ADMIN_PASSWORD = "Kanri2026x"


def env_settings(tmp_path: Path, **env: str) -> Settings:
    """Settings exactly as `litestar run` reads them from the environment (cheaper hashing for tests)."""
    environ = {
        "TSUDOI_DATABASE": str(tmp_path / "data" / "tsudoi.sqlite3"),
        "TSUDOI_SECRET_KEY": "test-secret-key-" + "x" * 32,
        **env,
    }
    return get_settings(environ).with_(
        scheduler=False, argon2_time_cost=1, argon2_memory_cost=1024, argon2_parallelism=1, log_requests=False
    )


def qr_text(svg: str) -> list[str]:
    return [result.text for result in zxingcpp.read_barcodes(rasterize_svg(svg))]


async def first_start_with_setup_and_demo(tmp_path: Path) -> None:
    """First start without TSUDOI_BASE_URL: the admin accepts the prefilled URL, then loads the demo."""
    app = create_app(env_settings(tmp_path), FrozenClock(NOW))
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        context = app.state.ctx
        token = context.setup_token
        page = await client.get(f"/setup?token={token}")
        assert f'value="{PREFILLED}"' in page.text
        response = await post_form(
            client,
            "/setup",
            {
                "setup_token": token,
                "org_name": "一般社団法人 日本つどい学会",
                "contact_email": "office@tsudoi.example.jp",
                "mail_from_address": "no-reply@tsudoi.example.jp",
                "base_url": PREFILLED,
                "member_number": "900001",
                "family_name": "事務局",
                "given_name": "管理者",
                "email": "admin@tsudoi.example.jp",
                "password": ADMIN_PASSWORD,
                "password_confirm": ADMIN_PASSWORD,
            },
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert context.base_url_source() == "console" and context.settings.base_url == PREFILLED
        await load_demo(context)


async def test_base_url_from_the_environment_wins_after_a_restart(tmp_path: Path) -> None:
    await first_start_with_setup_and_demo(tmp_path)
    settings = env_settings(tmp_path, TSUDOI_BASE_URL=PUBLIC + "/")
    app = create_app(settings, FrozenClock(NOW))
    async with AsyncTestClient(app=app, base_url=PUBLIC) as client:
        context: Any = app.state.ctx
        assert context.settings.base_url == PUBLIC and context.base_url_source() == "env"

        # The password-reset mail links to the public URL.
        before = len(outbox(settings))
        await post_form(client, "/password/forgot", {"identifier": "001234"})
        (mail,) = outbox(settings)[before:]
        body = body_text(mail)
        assert re.search(rf"{re.escape(PUBLIC)}/password/reset/\S+", body), body
        assert PREFILLED not in body

        # The contact page's QR code encodes it.
        qr = await client.get("/contact/qr.svg")
        assert qr_text(qr.text) == [f"{PUBLIC}/contact"]

        # So do the initial-password letters: the printed URL and the QR code under it.
        admin_id = await login_admin(client, context, "900001", ADMIN_PASSWORD)
        member_id = await create_member_with_letter(
            context,
            "000301",
            {"family_name": "田中", "given_name": "次郎", "family_kana": "タナカ", "given_kana": "ジロウ"},
            actor_id=admin_id,
        )
        letter = await post_form(client, "/admin/letters", {"member_id": str(member_id)})
        assert letter.headers["content-type"] == "application/pdf"
        reader = PdfReader(io.BytesIO(letter.content))
        text = re.sub(r"[\s\x00]+", "", reader.pages[0].extract_text())
        assert f"{PUBLIC}/login" in text and "127.0.0.1" not in text
        # The letter's QR codes: the login URL (and the contact page's, for members who get stuck).
        decoded = [r.text for image in reader.pages[0].images for r in zxingcpp.read_barcodes(image.image)]
        assert f"{PUBLIC}/login" in decoded and all(url.startswith(PUBLIC) for url in decoded)

        # The console says where the value comes from and does not offer to change it.
        page = await client.get("/admin/settings")
        field = re.search(r'<input id="field-base_url"[^>]*>', page.text)
        assert field and f'value="{PUBLIC}"' in field.group(0) and "readonly" in field.group(0)
        assert (
            "設定元: 環境変数 — 現在の値は環境変数 TSUDOI_BASE_URLの値で、ここでは変更できません"
            in visible_text(page.text)
        )
        # Saving the settings page keeps the stored value: the environment only decides while it is set.
        form = admin_settings.current_values(context)
        assert form["base_url"] == PUBLIC
        saved = await post_form(
            client,
            "/admin/settings",
            {**form, "base_url": "https://typed.example.jp"},
            follow_redirects=False,
        )
        assert saved.status_code == 303
        stored = await context.db.fetchval("SELECT value FROM app_settings WHERE key = 'base_url'")
        assert stored == PREFILLED and context.settings.base_url == PUBLIC

    # Without the variable, the URL stored in the console is used again.
    app = create_app(env_settings(tmp_path), FrozenClock(NOW))
    async with AsyncTestClient(app=app, base_url="http://testserver.local"):
        assert app.state.ctx.settings.base_url == PREFILLED
        assert app.state.ctx.base_url_source() == "console"


async def test_setup_with_the_environment_variable_shows_it_and_stores_nothing(tmp_path: Path) -> None:
    app = create_app(env_settings(tmp_path, TSUDOI_BASE_URL=PUBLIC), FrozenClock(NOW))
    async with AsyncTestClient(app=app, base_url=PUBLIC) as client:
        context = app.state.ctx
        token = context.setup_token
        page = await client.get(f"/setup?token={token}")
        field = re.search(r'<input id="field-base_url"[^>]*>', page.text)
        assert field and f'value="{PUBLIC}"' in field.group(0) and "readonly" in field.group(0)
        assert "環境変数 TSUDOI_BASE_URL で設定されています" in page.text
        response = await post_form(
            client,
            "/setup",
            {
                "setup_token": token,
                "org_name": "つどい会",
                "contact_email": "office@tsudoi.example.jp",
                "mail_from_address": "no-reply@tsudoi.example.jp",
                "base_url": "not a url, and ignored",
                "member_number": "900001",
                "family_name": "事務局",
                "email": "admin@tsudoi.example.jp",
                "password": ADMIN_PASSWORD,
                "password_confirm": ADMIN_PASSWORD,
            },
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert await context.db.fetchval("SELECT value FROM app_settings WHERE key = 'base_url'") is None
        assert context.settings.base_url == PUBLIC


async def test_console_names_the_source_of_the_base_url(client: Any, app_ctx: Any) -> None:
    await login_admin(client, app_ctx)
    page = visible_text((await client.get("/admin/settings")).text)
    assert "設定元: 既定値" in page
    await app_ctx.update_org({"base_url": "https://portal.example.jp"})
    page = visible_text((await client.get("/admin/settings")).text)
    assert "設定元: 管理画面の設定" in page
    assert app_ctx.settings.base_url == "https://portal.example.jp"
