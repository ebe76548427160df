"""The sandbox gateway only where it is meant: TSUDOI_PAYMENT_GATEWAY=sandbox or a demo database.

Without a configured gateway the pay flow says how to pay instead, and the sandbox's pages are gone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from litestar.testing import AsyncTestClient

from app import create_app
from services.clock import FrozenClock
from services.demo import load_demo
from services.payment_config import gateway_state, sandbox_secret
from services.payments import CheckoutRequest
from services.payments.sandbox import make_session_token
from services.settings import get_settings
from tests.helpers import login, post_form, test_now, test_settings, visible_text
from tests.http.test_cli import run_cli_process
from tests.payments_support import (
    attempts,
    check_profile,
    choose,
    fee_row,
    member_with_fee,
    pdf_text,
    to_gateway,
)

NOT_SET_UP = "オンラインでのお支払いは準備中です"
CONTACT = "office@tsudoi.example.jp"


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    # As a real install starts: TSUDOI_PAYMENT_GATEWAY unset.
    unset = get_settings(
        {"TSUDOI_DATABASE": str(tmp_path / "data" / "tsudoi.sqlite3"), "TSUDOI_SECRET_KEY": "k" * 40}
    )
    return test_settings(tmp_path, payment_gateway=unset.payment_gateway)


async def org_with_contact(app_ctx: Any) -> None:
    await app_ctx.update_org({"org_name": "一般社団法人 日本つどい学会", "contact_email": CONTACT})


def forged_sandbox_link(app_ctx: Any, order_id: str = "TS261123-ABCDEF") -> str:
    """A sandbox page token signed exactly as the sandbox would sign it on this install."""
    request = CheckoutRequest(
        attempt_id="k",
        order_id=order_id,
        amount=10_000,
        method="card",
        member_name="鈴木 太郎",
        member_email="m@example.jp",
        return_url="http://testserver.local/payments/return?order=" + order_id,
        notify_url="http://testserver.local/payments/notify/sandbox",
        description="2026年度 年会費",
    )
    secret = sandbox_secret(app_ctx.settings.secret_key)
    return "/sandbox-gateway/" + make_session_token(
        secret, request, "sbx-" + order_id, clock=app_ctx.clock.now
    )


async def test_without_a_gateway_every_pay_step_says_how_to_pay_instead(client, app_ctx):
    await org_with_contact(app_ctx)
    _, fee_id = await member_with_fee(app_ctx, client)
    history = await client.get("/payments")
    assert history.status_code == 200
    text = visible_text(history.text)
    assert NOT_SET_UP in text and CONTACT in text and "事務局にお問い合わせください" in text
    assert f'href="/payments/{fee_id}/start"' not in history.text
    assert "テスト決済" not in text
    for path in (f"/payments/{fee_id}/start", f"/payments/{fee_id}/method", f"/payments/{fee_id}/checkout"):
        page = await client.get(path)
        assert page.status_code == 503, path
        page_text = visible_text(page.text)
        assert NOT_SET_UP in page_text and CONTACT in page_text and "銀行振込など" in page_text, path
        assert 'href="/contact"' in page.text
    chosen = await post_form(client, f"/payments/{fee_id}/method", {"method": "card"})
    assert chosen.status_code == 503 and NOT_SET_UP in visible_text(chosen.text)
    checkout = await post_form(client, f"/payments/{fee_id}/checkout", {})
    assert checkout.status_code == 503 and NOT_SET_UP in visible_text(checkout.text)
    assert await attempts(app_ctx, fee_id) == []
    state = await gateway_state(app_ctx)
    assert (state.name, state.ready, state.sandbox, state.live) == ("", False, False, False)
    assert "TSUDOI_PAYMENT_GATEWAY" in state.summary


async def test_without_a_gateway_the_sandbox_cannot_mark_a_fee_paid(client, app_ctx):
    _, fee_id = await member_with_fee(app_ctx, client)
    link = forged_sandbox_link(app_ctx)
    assert (await client.get(link)).status_code == 404
    assert (await client.get("/sandbox-gateway/anything")).status_code == 404
    pressed = await post_form(client, link, {"outcome": "card_success"})
    assert pressed.status_code == 404
    report = await client.post("/payments/notify/sandbox", content=b"{}")
    assert report.status_code == 404
    assert (await fee_row(app_ctx, fee_id))["status"] == "unpaid"


async def test_demo_data_turns_the_sandbox_on_and_its_receipts_are_samples(client, app_ctx):
    await load_demo(app_ctx)
    state = await gateway_state(app_ctx)
    assert (state.name, state.source, state.sandbox, state.live) == ("sandbox", "demo", True, False)
    assert "デモデータ" in state.summary and "テスト決済" in state.summary
    await login(client, "001234", "Tsudoi2026")
    history = await client.get("/payments")
    assert "テスト決済" in visible_text(history.text)
    member = await app_ctx.db.fetchone("SELECT id FROM members WHERE member_number = '001234'")
    await check_profile(app_ctx, int(member["id"]))
    fee = await app_ctx.db.fetchone(
        "SELECT id FROM fees WHERE member_id = ? AND status = 'unpaid'", (int(member["id"]),)
    )
    fee_id = int(fee["id"])
    method = await client.get(f"/payments/{fee_id}/method")
    assert method.status_code == 200 and "テスト決済" in visible_text(method.text)
    await choose(client, fee_id, "card")
    checkout = await client.get(f"/payments/{fee_id}/checkout")
    assert "テスト決済" in visible_text(checkout.text)
    hosted = await to_gateway(client, fee_id)
    page = await client.get(urlsplit(hosted).path)
    assert page.status_code == 200 and "テスト決済" in visible_text(page.text)
    done = await post_form(client, urlsplit(hosted).path, {"outcome": "card_success"}, follow_redirects=False)
    assert done.status_code == 303
    returned = await client.get(
        urlsplit(done.headers["location"]).path + "?" + urlsplit(done.headers["location"]).query
    )
    assert "お支払い済み" in visible_text(returned.text) and "テスト決済" in visible_text(returned.text)
    receipt = pdf_text((await client.get(f"/payments/{fee_id}/receipt.pdf")).content)
    assert "見本・テスト決済" in receipt and "テスト決済による見本です" in receipt
    # The demo's receipt for last year (paid through the sandbox too) is a sample as well.
    paid_before = await app_ctx.db.fetchone(
        "SELECT id FROM fees WHERE member_id = ? AND status = 'paid' AND id != ?", (int(member["id"]), fee_id)
    )
    older = pdf_text((await client.get(f"/payments/{paid_before['id']}/receipt.pdf")).content)
    assert "見本" in older


async def test_demo_loaded_by_the_cli_while_the_app_runs_turns_the_sandbox_on(client, app_ctx, tmp_path):
    link = forged_sandbox_link(app_ctx)
    assert (await client.get(link)).status_code == 404
    loaded = run_cli_process(tmp_path, "demo")  # the same database file, from another process
    assert loaded.returncode == 0, loaded.stderr
    page = await client.get(link)
    assert page.status_code == 200 and "テスト決済" in visible_text(page.text)
    assert (await gateway_state(app_ctx)).source == "demo"


async def test_a_gateway_without_its_credentials_is_not_set_up_and_never_a_500(tmp_path, monkeypatch):
    for name in ("TSUDOI_GMO_SHOP_ID", "TSUDOI_GMO_SHOP_PASS"):
        monkeypatch.delenv(name, raising=False)
    app = create_app(test_settings(tmp_path, payment_gateway="gmo"), FrozenClock(test_now()))
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        app_ctx = app.state.ctx
        await org_with_contact(app_ctx)
        _, fee_id = await member_with_fee(app_ctx, client)
        page = await client.get(f"/payments/{fee_id}/method")
        assert page.status_code == 503 and NOT_SET_UP in visible_text(page.text)
        assert (await client.get(forged_sandbox_link(app_ctx))).status_code == 404
        state = await gateway_state(app_ctx)
        assert state.name == "gmo" and not state.ready and "TSUDOI_GMO_SHOP_ID" in state.problem
        assert "設定が不足しています" in state.summary
