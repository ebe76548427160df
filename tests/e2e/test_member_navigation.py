"""My Page's ご確認ください list and the member navigation at phone width (360×740 and 390×844)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from db.timestamps import to_db
from routes.nav import MEMBER_NAV, TAB_NAV
from tests.e2e.conftest import LiveServer, assert_no_horizontal_scroll, phone_context, screenshot
from tests.helpers import make_member
from tests.payments_support import check_profile, fee_id_of, issue_fee

PHONES = [(360, 740), (390, 844)]


def log_in(page: Any, number: str, password: str = "Sakura2026") -> None:
    page.goto("/login")
    page.get_by_label("ログインID（会員番号）").fill(number)
    page.locator("#field-password").fill(password)
    page.get_by_role("button", name="ログイン", exact=True).click()


def member_with(
    live_server: LiveServer, number: str, *, fee: str = "", password_age: int = 0, checked: bool = True
) -> None:
    """A member with the given things to do. Each has its own membership type, so the fee issued to it
    reaches no other member of the shared server."""

    async def setup(ctx: Any) -> None:
        kind = f"通知会員{number}"
        member_id = await make_member(ctx, number, membership_type=kind)
        if checked:
            await check_profile(ctx, member_id)
        if password_age:
            changed = ctx.clock.now() - timedelta(days=password_age)
            await ctx.db.execute(
                "UPDATE members SET password_changed_at = ? WHERE id = ?", (to_db(changed), member_id)
            )
        if not fee:
            return
        due = date(2026, 6, 30) if fee == "overdue" else date(2027, 3, 31)
        fee_id = await fee_id_of(
            ctx, member_id, await issue_fee(ctx, membership_type=kind, amount=8_000, due_on=due)
        )
        if fee == "konbini":
            now = ctx.clock.now()
            await ctx.db.execute(
                "INSERT INTO payment_attempts (fee_id, member_number, method, state, gateway, order_id, amount, "
                "konbini_store, konbini_number, konbini_confirmation, konbini_deadline, idempotency_key, "
                "created_at, updated_at) VALUES (?, ?, 'konbini', 'awaiting_konbini', 'sandbox', ?, 8000, "
                "'ローソン', '12345678901', '654321', ?, ?, ?, ?)",
                (
                    fee_id,
                    number,
                    f"TSE2E-{number}",
                    to_db(now + timedelta(days=3)),
                    f"e2e-{number}",
                    to_db(now),
                    to_db(now),
                ),
            )
            await ctx.db.execute("UPDATE fees SET status = 'awaiting_konbini' WHERE id = ?", (fee_id,))

    live_server.run(setup)


CASES = {
    "fee_unpaid": {"fee": "unpaid"},
    "fee_overdue": {"fee": "overdue"},
    "konbini_waiting": {"fee": "konbini"},
    "password_expiry": {"password_age": 115},
    "profile_check": {"checked": False},
}


@pytest.mark.parametrize("case", list(CASES))
def test_my_page_shows_each_notice_with_its_button(browser: Any, live_server: LiveServer, case: str) -> None:
    number = f"5100{list(CASES).index(case)}"
    member_with(live_server, number, **CASES[case])
    context = phone_context(browser, live_server.url, 360, 740)
    page = context.new_page()
    try:
        log_in(page, number)
        expect(page).to_have_url(re.compile(r"/mypage$"))
        todo = page.locator("section.todo")
        expect(todo.get_by_role("heading", name=re.compile("ご確認ください"))).to_be_visible()
        items = todo.locator("li.todo-item")
        expect(items).to_have_count(1)
        button = items.first.get_by_role("button")
        expect(button).to_be_visible()
        box = button.bounding_box()
        assert box is not None and box["height"] >= 44 and box["x"] + box["width"] <= 360
        assert_no_horizontal_scroll(page)
        screenshot(page, f"mypage-notice-{case}")
        expected = {
            "fee_unpaid": ("支払手続きへ", r"/payments/\d+/method$"),
            "fee_overdue": ("支払手続きへ", r"/payments/\d+/method$"),
            "konbini_waiting": ("お支払い方法を見る", r"/payments/\d+/checkout$"),
            "password_expiry": ("変更する", r"/password/change\?next=/mypage$"),
            "profile_check": ("確認する", r"/profile\?next=/mypage$"),
        }[case]
        expect(button).to_have_text(expected[0])
        if case == "fee_overdue":
            color = items.first.locator(".todo-line-alert").first.evaluate("e => getComputedStyle(e).color")
            assert color == "rgb(176, 0, 32)"
        button.click()
        expect(page).to_have_url(re.compile(expected[1]))
        if case == "konbini_waiting":
            expect(page.get_by_text("12345678901")).to_be_visible()
    finally:
        context.close()


def test_my_page_without_anything_to_do_has_no_notice_list(page: Any, live_server: LiveServer) -> None:
    member_with(live_server, "510099")
    log_in(page, "510099")
    expect(page).to_have_url(re.compile(r"/mypage$"))
    expect(page.locator("h1")).to_have_text("マイページ")
    expect(page.locator("section.todo")).to_have_count(0)


@pytest.mark.parametrize(("width", "height"), PHONES)
def test_every_menu_item_is_reachable_from_the_tab_bar(
    browser: Any, live_server: LiveServer, width: int, height: int
) -> None:
    number = f"5200{width}"
    member_with(live_server, number)
    context = phone_context(browser, live_server.url, width, height)
    page = context.new_page()
    try:
        log_in(page, number)
        expect(page).to_have_url(re.compile(r"/mypage$"))
        tabs = page.get_by_role("navigation", name="タブメニュー")
        expect(tabs).to_be_visible()
        # The header's long list is not shown on a phone: nothing scrolls sideways.
        expect(page.get_by_role("navigation", name="マイページメニュー")).to_be_hidden()
        labels = [item.label for item in TAB_NAV] + ["メニュー"]
        for label in labels:
            link = tabs.get_by_role("link", name=label, exact=True)
            box = link.bounding_box()
            assert box is not None, label
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, label
            assert box["y"] + box["height"] <= height and box["height"] >= 44, label
            assert link.evaluate("e => e.scrollWidth <= e.clientWidth"), f"{label} is cut off"
        expect(tabs.get_by_role("link", name="マイページ")).to_have_attribute("aria-current", "page")
        assert_no_horizontal_scroll(page)
        screenshot(page, f"tab-bar-{width}")

        tabs.get_by_role("link", name="メニュー").click()
        expect(page).to_have_url(re.compile(r"/menu$"))
        expect(tabs.get_by_role("link", name="メニュー")).to_have_attribute("aria-current", "page")
        menu = page.get_by_role("navigation", name="すべてのメニュー")
        for item in MEMBER_NAV:
            link = menu.get_by_role("link", name=item.label, exact=True)
            expect(link).to_be_visible()
            box = link.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, item.label
            assert link.evaluate("e => e.scrollWidth <= e.clientWidth"), f"{item.label} is cut off"
        assert_no_horizontal_scroll(page)
        screenshot(page, f"menu-{width}")

        for item in MEMBER_NAV:
            page.goto("/menu")
            menu.get_by_role("link", name=item.label, exact=True).click()
            expect(page).to_have_url(re.compile(re.escape(item.path) + r"/?$"))
            assert_no_horizontal_scroll(page)
            tab_names = [t.label for t in TAB_NAV]
            current = tabs.locator("[aria-current]")
            expect(current).to_have_count(1)
            expect(current).to_have_text(item.label if item.label in tab_names else _tab_label(item.path))
    finally:
        context.close()


def _tab_label(path: str) -> str:
    for tab in TAB_NAV:
        if tab.path == path:
            return tab.label
    return "メニュー"


def test_tab_bar_works_with_the_keyboard(page: Any, live_server: LiveServer) -> None:
    member_with(live_server, "520001")
    log_in(page, "520001")
    expect(page).to_have_url(re.compile(r"/mypage$"))
    menu_tab = page.get_by_role("navigation", name="タブメニュー").get_by_role("link", name="メニュー")
    for _ in range(200):
        page.keyboard.press("Tab")
        if menu_tab.evaluate("e => e === document.activeElement"):
            break
    else:
        pytest.fail("メニュー is not reachable with Tab")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/menu$"))


def test_selected_condition_chip_scrolls_into_view(browser: Any, live_server: LiveServer) -> None:
    from db import conditions as condition_queries

    number = "520002"
    member_with(live_server, number)

    async def conditions(ctx: Any) -> int:
        from db import members as member_queries

        member = await member_queries.get_by_number(ctx.db, number)
        assert member is not None
        term = await ctx.db.fetchval("SELECT id FROM terms WHERE taxonomy = 'region' ORDER BY id LIMIT 1")
        last = 0
        for n in range(8):
            made = await condition_queries.create(
                ctx.db,
                int(member["id"]),
                f"とても長い名前の新着条件その{n}",
                [term],
                now=ctx.clock.now(),
                limit=10,
            )
            assert made is not None
            last = made
        return last

    last = live_server.run(conditions)
    context = phone_context(browser, live_server.url, 360, 740)
    page = context.new_page()
    try:
        log_in(page, number)
        page.goto(f"/mypage?condition={last}")
        chip = page.locator(".view-tabs a[aria-current='page']")
        expect(chip).to_contain_text("その7")
        # Polled from here, not with page.wait_for_function: its in-page polling is code the CSP refuses.
        in_view = (
            "() => { const c = document.querySelector(\".view-tabs a[aria-current='page']\").getBoundingClientRect();"
            " return c.left >= 0 && c.right <= window.innerWidth; }"
        )
        for _ in range(100):
            if page.evaluate(in_view):
                break
            page.wait_for_timeout(50)
        assert page.evaluate(in_view), "the selected condition chip is not scrolled into view"
        assert_no_horizontal_scroll(page)
    finally:
        context.close()
