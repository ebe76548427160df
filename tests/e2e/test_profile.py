"""会員情報 in a phone-sized Chromium: editing, the postal-code fill and the unsaved-changes guard."""

from __future__ import annotations

import itertools
from typing import Any

from playwright.sync_api import expect

from db import members as member_queries
from tests.e2e.conftest import LiveServer, assert_no_horizontal_scroll, screenshot
from tests.helpers import DEFAULT_PASSWORD, make_member

_numbers = itertools.count(1)


def new_member(live_server: LiveServer, **profile: str) -> str:
    """A member of this test alone (the live server is shared by every e2e test)."""
    number = f"0044{next(_numbers):02d}"
    live_server.run(lambda ctx: make_member(ctx, number, email=f"p{number}@example.jp", **profile))
    return number


def log_in(page: Any, number: str) -> None:
    page.goto("/login?next=/profile")
    page.get_by_label("ログインID（会員番号）").fill(number)
    page.get_by_label("パスワード").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="ログイン", exact=True).click()
    expect(page).to_have_url("/profile")


def stored(live_server: LiveServer, number: str) -> Any:
    return live_server.run(lambda ctx: member_queries.get_by_number(ctx.db, number))


def test_member_checks_and_edits_the_profile_at_phone_width(page: Any, live_server: LiveServer) -> None:
    number = new_member(live_server, phone="0312345678", postal_code="1000001", prefecture="東京都")
    log_in(page, number)
    expect(page.get_by_role("heading", name="会員情報")).to_be_visible()
    expect(page.get_by_text("ご登録内容をご確認ください")).to_be_visible()
    expect(page.locator("#field-phone")).to_have_value("03-1234-5678")
    expect(page.locator("#field-postal_code")).to_have_value("100-0001")
    assert_no_horizontal_scroll(page)
    screenshot(page, "profile")

    page.locator("#field-family_kana").fill("すずき")
    page.locator("#field-phone").fill("０９０ー１２３４ー５６７８")
    page.locator("#field-affiliation").fill("つどい大学 文学部")
    page.get_by_role("button", name="保存").click()

    expect(page.get_by_text("会員情報を保存しました。")).to_be_visible()
    expect(page.locator("#field-family_kana")).to_have_value("スズキ")
    expect(page.locator("#field-phone")).to_have_value("090-1234-5678")
    expect(page.get_by_text("ご登録内容をご確認ください")).to_have_count(0)
    row = stored(live_server, number)
    assert (row["phone"], row["affiliation"]) == ("09012345678", "つどい大学 文学部")
    assert row["profile_checked_at"] is not None


def test_errors_show_beside_each_field_and_keep_what_was_typed(page: Any, live_server: LiveServer) -> None:
    number = new_member(live_server)
    log_in(page, number)
    page.locator("#field-family_name").fill("髙橋")
    page.locator("#field-phone").fill("03-1234")
    page.locator("#field-address2").fill("つどいビル")
    page.get_by_role("button", name="保存").click()

    summary = page.locator("#error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    expect(page.locator("#error-family_name")).to_contain_text("「髙」は")
    expect(page.locator("#error-family_name")).to_contain_text("「高」をお使いください")
    expect(page.locator("#error-phone")).to_contain_text("10桁または11桁")
    expect(page.locator("#field-family_name")).to_have_value("髙橋")
    expect(page.locator("#field-phone")).to_have_value("03-1234")
    expect(page.locator("#field-address2")).to_have_value("つどいビル")
    assert_no_horizontal_scroll(page)
    screenshot(page, "profile-errors")
    assert stored(live_server, number)["family_name"] == "鈴木"


def test_postal_code_fills_prefecture_and_address_which_stay_editable(
    page: Any, live_server: LiveServer
) -> None:
    number = new_member(live_server)
    log_in(page, number)
    postal = page.locator("#field-postal_code")
    postal.click()
    postal.press_sequentially("1000001")
    expect(page.locator("#field-prefecture")).to_have_value("東京都")
    expect(page.locator("#field-address1")).to_have_value("千代田区千代田")
    expect(page.locator("#postal-status")).to_contain_text("続けて番地を入力してください")
    screenshot(page, "profile-postal-fill")

    address1 = page.locator("#field-address1")
    address1.click()
    address1.press("End")
    address1.press_sequentially("1-1")
    page.locator("#field-prefecture").select_option("東京都")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_text("会員情報を保存しました。")).to_be_visible()
    row = stored(live_server, number)
    assert (row["postal_code"], row["prefecture"], row["address1"]) == (
        "1000001",
        "東京都",
        "千代田区千代田1-1",
    )


def _type_an_edit(page: Any) -> None:
    field = page.locator("#field-affiliation")
    field.click()
    field.press_sequentially("追記")


def test_leaving_with_unsaved_edits_asks_first_on_back_and_close(page: Any, live_server: LiveServer) -> None:
    number = new_member(live_server)
    log_in(page, number)
    page.goto("/mypage")
    page.get_by_role("link", name="会員情報").first.click()
    expect(page).to_have_url("/profile")
    _type_an_edit(page)

    dialogs: list[str] = []

    def dismiss(dialog: Any) -> None:
        dialogs.append(dialog.type)
        dialog.dismiss()

    page.on("dialog", dismiss)
    # Browser back: the guard asks, and staying keeps the typed text.
    with page.expect_event("dialog"):
        page.evaluate("history.back()")
    assert dialogs == ["beforeunload"]
    expect(page).to_have_url("/profile")
    expect(page.locator("#field-affiliation")).to_have_value("追記")
    # A plain link in the menu asks too.
    with page.expect_event("dialog"):
        page.get_by_role("link", name="マイページ").first.click()
    assert dialogs == ["beforeunload", "beforeunload"]
    expect(page).to_have_url("/profile")
    # Closing the tab asks as well; staying keeps the tab open.
    with page.expect_event("dialog"):
        page.close(run_before_unload=True)
    assert dialogs == ["beforeunload"] * 3
    assert not page.is_closed()
    # The page answers again once staying has been processed: a close asked while the last one was still
    # being cancelled was dropped by the browser (no dialog, no close; seen once under load).
    expect(page.locator("#field-affiliation")).to_have_value("追記")
    # Leave the tab the way a person would (confirming), so no dialog is pending when the context closes.
    page.remove_listener("dialog", dismiss)
    page.on("dialog", lambda dialog: dialog.accept())
    with page.expect_event("close"):
        page.close(run_before_unload=True)


def test_htmx_navigation_with_unsaved_edits_asks_first(page: Any, live_server: LiveServer) -> None:
    number = new_member(live_server)
    log_in(page, number)
    # An htmx-driven link, as other screens use (data-hx-get into the page, URL pushed).
    page.evaluate(
        """() => {
        const link = document.createElement("a");
        link.id = "htmx-nav";
        link.href = "/mypage";
        link.textContent = "htmxで移動";
        link.setAttribute("data-hx-get", "/mypage");
        link.setAttribute("data-hx-target", "body");
        link.setAttribute("data-hx-push-url", "true");
        document.querySelector("main").prepend(link);
        htmx.process(link);
    }"""
    )
    _type_an_edit(page)
    answers = iter([False, True])
    seen: list[str] = []

    def answer(dialog: Any) -> None:
        seen.append(dialog.type)
        if next(answers):
            dialog.accept()
        else:
            dialog.dismiss()

    page.on("dialog", answer)
    with page.expect_event("dialog"):
        page.locator("#htmx-nav").click()
    assert seen == ["confirm"]
    expect(page).to_have_url("/profile")
    expect(page.locator("#field-affiliation")).to_have_value("追記")
    page.locator("#htmx-nav").click()
    expect(page).to_have_url("/mypage")
    assert seen == ["confirm", "confirm"]


def test_no_question_after_saving_and_question_again_after_an_error(
    page: Any, live_server: LiveServer
) -> None:
    number = new_member(live_server)
    log_in(page, number)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.type), dialog.dismiss()))

    _type_an_edit(page)
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_text("会員情報を保存しました。")).to_be_visible()
    assert dialogs == []

    # An error swaps the form in place: what was typed is still unsaved, so the guard stays on.
    page.locator("#field-phone").fill("12")
    page.get_by_role("button", name="保存").click()
    expect(page.locator("#error-phone")).to_contain_text("10桁または11桁")
    with page.expect_event("dialog"):
        page.get_by_role("link", name="マイページ").first.click()
    assert dialogs == ["beforeunload"]
    expect(page).to_have_url("/profile")


def test_second_tab_with_an_old_form_is_refused_and_shows_newer_data(
    page: Any, live_server: LiveServer
) -> None:
    number = new_member(live_server)
    log_in(page, number)
    second = page.context.new_page()
    second.goto("/profile")
    # Tab 1 saves.
    page.locator("#field-affiliation").fill("一つ目のタブ")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_text("会員情報を保存しました。")).to_be_visible()
    # Tab 2 still shows the old form.
    second.locator("#field-affiliation").fill("二つ目のタブ")
    second.get_by_role("button", name="保存").click()
    expect(second.get_by_text("この内容は保存されませんでした")).to_be_visible()
    expect(second.locator("#field-affiliation")).to_have_value("一つ目のタブ")
    expect(second.get_by_text("ご入力の内容：二つ目のタブ")).to_be_visible()
    assert_no_horizontal_scroll(second)
    screenshot(second, "profile-stale")
    assert stored(live_server, number)["affiliation"] == "一つ目のタブ"
    second.get_by_role("button", name="入力した内容で保存し直す").click()
    expect(second.get_by_text("会員情報を保存しました。")).to_be_visible()
    assert stored(live_server, number)["affiliation"] == "二つ目のタブ"
