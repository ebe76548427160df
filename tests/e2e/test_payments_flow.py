"""Paying the annual fee on a phone with the sandbox gateway: card and convenience store, mails checked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import nullcontext
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from db import payments as payment_queries
from tests.e2e.conftest import (
    CHROMIUM_ARGS,
    LiveServer,
    assert_no_horizontal_scroll,
    phone_context,
    screenshot,
)
from tests.fakes.gmo import LINK_HOST, FakeGmoServer, card_trade, notification_body
from tests.fakes.tls import server_context
from tests.helpers import CLOCK_EDGES, body_text, free_port, make_member, outbox, test_settings
from tests.payments_support import check_profile, fee_id_of, issue_fee

PROFILE = {
    "family_name": "田中",
    "given_name": "美咲",
    "family_kana": "タナカ",
    "given_kana": "ミサキ",
    "phone": "0312345678",
    "postal_code": "1000001",
    "prefecture": "東京都",
    "address1": "千代田区千代田1-1",
    "affiliation": "つどい大学",
    "membership_type": "正会員",
}


def prepare(
    live_server: LiveServer, number: str, *, checked: bool, amount: int = 10_000, name: str | None = None
) -> tuple[int, str]:
    email = f"pay{number}@example.jp"

    async def setup(ctx: Any) -> int:
        member_id = await make_member(ctx, number, email=email, **PROFILE)
        item_id = await issue_fee(ctx, year=2026, amount=amount, name=name)
        if checked:
            await check_profile(ctx, member_id)
        return await fee_id_of(ctx, member_id, item_id)

    return live_server.run(setup), email


def login(page: Any, number: str) -> None:
    page.goto("/login")
    page.get_by_label("ログインID（会員番号）").fill(number)
    page.get_by_label("パスワード").fill("Sakura2026")
    page.get_by_role("button", name="ログイン", exact=True).click()
    expect(page).to_have_url(re.compile(r"/mypage$"))


def mails_to(live_server: LiveServer, email: str) -> list[Any]:
    return [m for m in outbox(live_server.settings) if str(m["To"]) == email]


# The run's own instant, then the edges (Wednesday before the weekly send, 31 March, New Year).
MOMENTS = {"run-instant": None, **CLOCK_EDGES}


@pytest.mark.parametrize("moment_name", list(MOMENTS))
def test_card_payment_through_the_profile_check_on_a_phone(
    page: Any, live_server: LiveServer, moment_name: str
) -> None:
    moment = MOMENTS[moment_name]
    with live_server.clock_at(moment) if moment else nullcontext():
        pay_by_card(page, live_server, f"0088{list(MOMENTS).index(moment_name) + 10:02d}")


def pay_by_card(page: Any, live_server: LiveServer, number: str) -> None:
    fee_id, email = prepare(live_server, number, checked=False)
    login(page, number)
    page.get_by_role("link", name="会費のお支払い").first.click()
    expect(page.get_by_role("heading", name="会費支払明細")).to_be_visible()
    expect(page.get_by_text("お支払い待ち").first).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "payments-history-unpaid")

    page.get_by_role("button", name="会員情報確認 支払手続き").first.click()
    expect(page).to_have_url(re.compile(r"/profile\?next=.*purpose=payment"))
    page.get_by_role("button", name="変更してお支払い手続きへ").click()
    expect(page).to_have_url(f"{live_server.url}/payments/{fee_id}/method")
    expect(page.get_by_text("確定後はお支払い方法を変更できません")).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "payments-method")

    page.get_by_label("クレジットカード（一括払い）").check()
    page.get_by_role("button", name="決定").click()
    expect(page).to_have_url(f"{live_server.url}/payments/{fee_id}/checkout")
    expect(page.get_by_text("お支払い方法は確定済みのため、変更できません。")).to_be_visible()
    screenshot(page, "payments-checkout")
    # The back button returns to the method page, which now shows the fixed choice.
    page.go_back()
    expect(page).to_have_url(f"{live_server.url}/payments/{fee_id}/checkout")

    page.get_by_role("button", name="お支払い手続きページへ").click()
    expect(page).to_have_url(re.compile(r"/sandbox-gateway/"))
    expect(page.get_by_text("テスト決済").first).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "payments-sandbox-card")
    page.get_by_role("button", name="支払いに成功する").click()
    expect(page).to_have_url(re.compile(r"/payments/return\?order="))
    expect(page.get_by_text("お支払いが完了しました。")).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "payments-return-paid")

    page.get_by_role("link", name="会費支払明細に戻る").click()
    expect(page.get_by_text("お支払い済み").first).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("領収書"))).to_be_visible()

    sent = mails_to(live_server, email)
    assert [str(m["Subject"]) for m in sent] == [
        "【一般社団法人 日本つどい学会】会費のお支払いが完了しました"
    ]
    assert "田中 美咲 様" in body_text(sent[0]) and "10,000円" in body_text(sent[0])
    rows = live_server.run(lambda ctx: payment_queries.attempts_for_fee(ctx.db, fee_id))
    assert len(rows) == 1 and rows[0]["state"] == "paid"


def test_convenience_store_payment_skips_a_profile_checked_today(page: Any, live_server: LiveServer) -> None:
    fee_id, email = prepare(live_server, "008802", checked=True)
    login(page, "008802")
    page.goto("/payments")
    page.get_by_role("button", name="会員情報確認 支払手続き").first.click()
    expect(page).to_have_url(f"{live_server.url}/payments/{fee_id}/method")
    page.get_by_label("コンビニ払い").check()
    page.get_by_role("button", name="決定").click()
    page.get_by_role("button", name="お支払い手続きページへ").click()
    expect(page.get_by_text("テスト決済").first).to_be_visible()
    # The sandbox asks which store, as a real gateway's page does; the result page has that store's steps.
    expect(page.get_by_text("お支払いに使うコンビニを選んでください").first).to_be_visible()
    page.get_by_label("ファミリーマート").check()
    page.get_by_role("button", name="コンビニの支払い番号を発行する").click()
    expect(page.get_by_text("コンビニでのお支払い番号を発行しました。")).to_be_visible()
    steps = page.locator(".konbini-steps li")
    expect(steps).to_have_count(3)
    expect(steps.first).to_contain_text("マルチコピー機")
    expect(page.get_by_text("会費の支払期限")).to_have_count(0)
    assert_no_horizontal_scroll(page)
    screenshot(page, "payments-return-konbini")

    [issued] = mails_to(live_server, email)
    assert str(issued["Subject"]).endswith("コンビニでのお支払い番号のお知らせ")
    attempt = live_server.run(lambda ctx: payment_queries.live_attempt(ctx.db, fee_id))
    text = body_text(issued)
    assert attempt["konbini_number"] in text and attempt["konbini_store"] in text and "お支払い期限" in text
    assert attempt["konbini_store"] == "ファミリーマート" and "マルチコピー機" in text

    page.goto("/payments")
    expect(page.get_by_text("コンビニでのお支払い待ち").first).to_be_visible()
    expect(page.get_by_text(attempt["konbini_number"]).first).to_be_visible()
    screenshot(page, "payments-history-konbini")
    page.get_by_role("button", name="お支払い番号を確認する").click()
    expect(page.get_by_text(attempt["konbini_number"]).first).to_be_visible()
    page.get_by_role("button", name="お支払い手続きページへ").click()
    screenshot(page, "payments-sandbox-konbini")
    page.get_by_role("button", name="店頭で支払ったことにする").click()
    expect(page.get_by_text("お支払いが完了しました。")).to_be_visible()

    subjects = [str(m["Subject"]) for m in mails_to(live_server, email)]
    assert len(subjects) == 2 and subjects[1].endswith("コンビニでのお支払いを確認しました")
    page.goto("/payments")
    expect(page.get_by_text("お支払い済み").first).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "payments-history-paid")


@pytest.fixture(scope="module")
def unconfigured_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real install before its gateway is set: TSUDOI_PAYMENT_GATEWAY unset, no demo data."""
    port = free_port()
    settings = test_settings(
        tmp_path_factory.mktemp("no-gateway"), base_url=f"http://127.0.0.1:{port}", payment_gateway=""
    )
    server = LiveServer(settings, port)
    server.start()

    async def organization(ctx: Any) -> None:
        await ctx.update_org(
            {
                "org_name": "一般社団法人 日本つどい学会",
                "org_address": "〒100-0001 東京都千代田区千代田1-1",
                "contact_email": "office@tsudoi.example.jp",
            }
        )

    server.run(organization)
    try:
        yield server
    finally:
        server.stop()


def test_without_a_gateway_the_pay_page_says_how_to_pay_at_360px(
    browser: Any, unconfigured_server: LiveServer
) -> None:
    fee_id, _ = prepare(unconfigured_server, "008901", checked=True)
    context = phone_context(browser, unconfigured_server.url, width=360, height=740)
    page = context.new_page()
    try:
        login(page, "008901")
        page.goto("/payments")
        expect(page.get_by_role("heading", name="オンラインでのお支払いは準備中です")).to_be_visible()
        expect(page.get_by_role("button", name="会員情報確認 支払手続き")).to_have_count(0)
        assert_no_horizontal_scroll(page)
        screenshot(page, "payments-history-not-set-up-360")
        page.goto(f"/payments/{fee_id}/start")
        expect(page.get_by_role("heading", name="お支払い手続き", exact=True)).to_be_visible()
        expect(page.get_by_role("link", name="office@tsudoi.example.jp")).to_have_attribute(
            "href", "mailto:office@tsudoi.example.jp"
        )
        expect(page.get_by_text("テスト決済")).to_have_count(0)
        assert_no_horizontal_scroll(page)
        screenshot(page, "payments-not-set-up-360")
        assert page.request.get(f"{unconfigured_server.url}/sandbox-gateway/anything").status == 404
    finally:
        context.close()


def test_a_fee_above_the_convenience_store_limit_offers_card_and_says_why(
    page: Any, live_server: LiveServer
) -> None:
    fee_id, _ = prepare(live_server, "008803", checked=True, amount=350_000, name="2026年度 賛助会費")
    login(page, "008803")
    page.goto(f"/payments/{fee_id}/method")
    expect(page.get_by_role("heading", name="お支払い方法の選択")).to_be_visible()
    expect(page.get_by_label("コンビニ払い")).to_have_count(0)
    expect(page.get_by_label("クレジットカード（一括払い）")).to_be_checked()
    expect(page.get_by_text("コンビニ払いは1回300,000円までのため")).to_be_visible()
    assert_no_horizontal_scroll(page)
    screenshot(page, "payments-method-over-konbini-limit")
    page.get_by_role("button", name="決定").click()
    expect(page).to_have_url(f"{live_server.url}/payments/{fee_id}/checkout")


@pytest.fixture(scope="module")
def gmo_site(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The app on GMO (a local fake GMO API), for the return trip that only a real browser shows."""
    gmo = FakeGmoServer().start()
    port = free_port()
    settings = test_settings(
        tmp_path_factory.mktemp("e2e-gmo"),
        base_url=f"http://127.0.0.1:{port}",
        payment_gateway="gmo",
        gmo_shop_id=gmo.shop_id,
        gmo_shop_pass=gmo.shop_pass,
        gmo_api_base=gmo.url,
    )
    server = LiveServer(settings, port)
    server.start()
    link_site = gmo.link_site(server_context(LINK_HOST, tmp_path_factory.mktemp("gmo-tls"))).start()
    try:
        yield server, gmo, link_site
    finally:
        server.stop()
        link_site.stop()
        gmo.stop()


def test_gmo_brings_the_member_back_by_a_cross_site_post_and_the_result_shows(
    browser: Any, gmo_site: Any
) -> None:
    server, gmo, link_site = gmo_site
    fee_id, _ = prepare(server, "008811", checked=True)
    # GMO's payment page is another site, reached over https as https://stg.link.mul-pay.jp: a browser of
    # its own resolves that name to the fake's TLS server (and accepts its self-signed certificate).
    gmo_browser = browser.playwright.chromium.launch(
        executable_path=browser.executable,
        headless=True,
        args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {LINK_HOST} 127.0.0.1:{link_site.port}"],
    )
    context = phone_context(gmo_browser, server.url, width=360, height=800, ignore_https_errors=True)
    page = context.new_page()
    returns: list[Any] = []
    page.on(
        "request",
        lambda request: returns.append(request) if "/payments/return" in request.url else None,
    )
    try:
        login(page, "008811")
        page.goto(f"/payments/{fee_id}/method")
        page.get_by_label("クレジットカード（一括払い）").check()
        page.get_by_role("button", name="決定").click()
        page.get_by_role("button", name="お支払い手続きページへ").click()
        expect(page).to_have_url(re.compile(r"^https://stg\.link\.mul-pay\.jp/"))
        order_id = page.url.rsplit("/", 1)[1].removesuffix("abc")
        # GMO's notification arrives first, server to server, and is confirmed with the fake GMO.
        gmo.trades[order_id] = card_trade(order_id, amount=10_000)
        answer = httpx.post(
            f"{server.url}/payments/notify/gmo",
            content=notification_body(gmo.shop_id, gmo.trades[order_id]),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert answer.text == "0"
        page.get_by_role("button", name="加盟店サイトへ戻る").click()
        expect(page).to_have_url(f"{server.url}/payments/return?order={order_id}")
        expect(page.get_by_text("お支払いが完了しました。")).to_be_visible()
        assert_no_horizontal_scroll(page)
        screenshot(page, "payments-gmo-return-after-post")
        posted, followed = returns[0], returns[-1]
        # The browser really sent no session cookie on GMO's POST, and did on the redirected GET.
        assert posted.method == "POST" and "tsudoi_session" not in (posted.header_value("cookie") or "")
        assert followed.method == "GET" and "tsudoi_session" in (followed.header_value("cookie") or "")
    finally:
        context.close()
        gmo_browser.close()
