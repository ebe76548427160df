"""The member navigation over HTTP: the tab bar, the メニュー page with every MEMBER_NAV entry, aria-current."""

from __future__ import annotations

import re

from routes.nav import MEMBER_NAV, NavItem
from tests.helpers import login, make_member


def tab_bar(html: str) -> str:
    match = re.search(r'<nav class="tab-bar" aria-label="タブメニュー">(.*?)</nav>', html, re.S)
    assert match, "no tab bar"
    return match.group(1)


def current_tabs(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<a href="([^"]+)" aria-current="([a-z]+)">', tab_bar(html))


async def test_tab_bar_has_the_four_tabs_and_menu(client, app_ctx):
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    html = (await client.get("/mypage")).text
    labels = re.findall(r">([^<>]+)</a></li>", tab_bar(html))
    assert labels == ["マイページ", "記事", "ブックマーク", "お支払い", "メニュー"]
    assert current_tabs(html) == [("/mypage", "page")]


async def test_menu_page_lists_every_member_screen(client, app_ctx):
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    page = await client.get("/menu")
    assert page.status_code == 200
    menu = re.search(r'aria-label="すべてのメニュー">(.*?)</nav>', page.text, re.S)
    assert menu
    for item in MEMBER_NAV:
        assert f'<a href="{item.path}"' in menu.group(1), item.path
    assert 'href="/help"' in page.text and 'href="/contact"' in page.text
    assert current_tabs(page.text) == [("/menu", "page")]


async def test_screen_under_menu_marks_the_menu_tab(client, app_ctx):
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    assert current_tabs((await client.get("/conditions")).text) == [("/menu", "true")]
    assert current_tabs((await client.get("/payments")).text) == [("/payments", "page")]
    assert current_tabs((await client.get("/articles")).text) == [("/articles", "page")]


async def test_a_new_screen_appears_under_menu_without_touching_the_tabs(client, app_ctx):
    MEMBER_NAV.append(NavItem("/events", "イベント"))
    try:
        await make_member(app_ctx, "001001")
        await login(client, "001001")
        page = await client.get("/menu")
        assert '<a href="/events">イベント</a>' in page.text
        assert "/events" not in tab_bar(page.text)
    finally:
        MEMBER_NAV.pop()


async def test_no_tab_bar_before_the_first_password_change_or_when_logged_out(client, app_ctx):
    assert 'class="tab-bar"' not in (await client.get("/login")).text
    await make_member(app_ctx, "001001", must_change_password=True)
    await login(client, "001001")
    page = await client.get("/password/change")
    assert page.status_code == 200 and 'class="tab-bar"' not in page.text
    answer = await client.get("/menu", follow_redirects=False)
    assert answer.headers["location"].startswith("/password/change")
