"""The help pages: public FAQ from the demo, search in place (and without JS), the admin's editor."""

from __future__ import annotations

import re
from typing import Any

from db import help as help_queries
from services.help import check_entry, seed_demo_help
from tests.helpers import login, login_admin, make_member, post_form, visible_text

DEMO_TOPICS = {
    "料金": "/settings/membership",
    "ログインできません": "/password/forgot",
    "ロックされています": "/password/forgot",
    "自動ログイン": "/login",
    "ログアウトされました": "/login",
    "新着記事には": "/conditions",
    "メールが届きません": "/settings/mail",
    "毎日": "/settings/mail",
    "曜日": "/settings/mail",
    "止めたい": "/settings/mail",
    "特典": "/settings/membership",
    "参加するには": "/settings/membership",
    "閲覧履歴": "/history",
    "退会したい": "/settings/membership/leave",
}


def entries_in(html: str) -> list[tuple[str, bool, str]]:
    """(question, shown, first link) for every entry on the page."""
    found = []
    for match in re.finditer(r"<details class=\"help-entry\"([^>]*)>(.*?)</details>", html, flags=re.S):
        attrs, inner = match.groups()
        question = re.search(r"<summary>(.*?)</summary>", inner, flags=re.S)
        link = re.search(r'class="help-link" href="([^"]+)"', inner)
        assert question and link
        found.append((question.group(1).strip(), " hidden" not in attrs, link.group(1).replace("&amp;", "&")))
    return found


async def test_help_is_public_and_the_demo_answers_the_guides_questions(client: Any, app_ctx: Any) -> None:
    await seed_demo_help(app_ctx)
    response = await client.get("/help")
    assert response.status_code == 200
    entries = entries_in(response.text)
    assert len(entries) == 14
    for topic, link in DEMO_TOPICS.items():
        matching = [entry for entry in entries if topic in entry[0]]
        assert matching, topic
        assert matching[0][2] == link, topic
    text = visible_text(response.text)
    assert "30日間" in text and "2時間" in text and "14日以内" in text and "最大30件" in text
    assert "<search>" in response.text and 'name="q"' in response.text


async def test_demo_help_is_loaded_once(app_ctx: Any) -> None:
    await seed_demo_help(app_ctx)
    await seed_demo_help(app_ctx)
    assert await help_queries.count_sections(app_ctx.db) == 6
    assert len(await help_queries.entries(app_ctx.db, published_only=False)) == 14


async def test_search_without_javascript_hides_what_does_not_match(client: Any, app_ctx: Any) -> None:
    await seed_demo_help(app_ctx)
    response = await client.get("/help", params={"q": "めーる　停止"})
    shown = [question for question, visible, _ in entries_in(response.text) if visible]
    assert shown == ["新着お知らせメールを止めたいです。"]
    assert "当てはまる質問：1件" in visible_text(response.text)
    none = await client.get("/help", params={"q": "存在しない話題"})
    assert not [q for q, visible, _ in entries_in(none.text) if visible]
    assert 'id="help-empty" class="help-empty" data-help-empty>' in none.text


async def test_search_text_is_on_each_entry_for_the_in_place_filter(client: Any, app_ctx: Any) -> None:
    await seed_demo_help(app_ctx)
    response = await client.get("/help")
    assert response.text.count("data-search=") == 14
    assert "/static/js/help.js" in response.text
    first = re.search(r'data-search="([^"]*)"', response.text)
    assert first and "マイページ" in first.group(1)


async def test_help_page_query_count_does_not_grow_with_entries(client: Any, app_ctx: Any) -> None:
    await seed_demo_help(app_ctx)
    before = app_ctx.db.query_count
    await client.get("/help")
    small = app_ctx.db.query_count - before
    section_id = await help_queries.create_section(
        app_ctx.db, title="追加", sort_order=99, now=app_ctx.clock.now()
    )
    for index in range(10):
        values, _ = check_entry(
            {
                "section_id": str(section_id),
                "question": f"質問{index}",
                "answer_md": "回答",
                "published": "1",
            },
            {section_id},
        )
        await help_queries.create_entry(
            app_ctx.db,
            section_id=section_id,
            values=values,
            published=True,
            sort_order=index,
            now=app_ctx.clock.now(),
        )
    before = app_ctx.db.query_count
    await client.get("/help")
    assert app_ctx.db.query_count - before == small


async def admin_client(client: Any, app_ctx: Any) -> None:
    await login_admin(client, app_ctx, "900100")


async def test_admin_help_is_for_admins_only(client: Any, app_ctx: Any) -> None:
    anonymous = await client.get("/admin/help", follow_redirects=False)
    assert anonymous.status_code == 303
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    assert (await client.get("/admin/help")).status_code == 403
    assert (await post_form(client, "/admin/help/sections", {"title": "x"})).status_code == 403


async def test_admin_adds_a_section_and_an_entry_whose_markdown_is_sanitized(
    client: Any, app_ctx: Any
) -> None:
    await admin_client(client, app_ctx)
    page = await client.get("/admin/help")
    assert "ヘルプ編集" in page.text and 'href="/admin/inbox"' in page.text
    created = await post_form(
        client, "/admin/help/sections", {"title": "会費", "sort_order": "５"}, follow_redirects=False
    )
    assert created.status_code == 303
    section = (await help_queries.sections(app_ctx.db))[0]
    assert (section["title"], section["sort_order"]) == ("会費", 5)
    answer = "**お支払い**は[支払い画面](/payments)から。<script>alert(1)</script>[x](javascript:alert(1))"
    response = await post_form(
        client,
        "/admin/help/entries",
        {
            "section_id": str(section["id"]),
            "question": "会費はいつ払いますか？",
            "answer_md": answer,
            "link_path": "/payments",
            "link_label": "",
            "sort_order": "",
            "published": "1",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    public = await client.get("/help")
    assert "<strong>お支払い</strong>" in public.text
    assert "<script>alert(1)</script>" not in public.text
    assert 'href="javascript:' not in public.text
    assert entries_in(public.text) == [("会費はいつ払いますか？", True, "/payments")]
    assert "この画面を開く" in public.text


async def test_bad_entry_keeps_what_was_typed(client: Any, app_ctx: Any) -> None:
    await admin_client(client, app_ctx)
    section_id = await help_queries.create_section(
        app_ctx.db, title="その他", sort_order=1, now=app_ctx.clock.now()
    )
    response = await post_form(
        client,
        "/admin/help/entries",
        {
            "section_id": str(section_id),
            "question": "質問です" + "😀",
            "answer_md": "",
            "link_path": "https://evil.example/phish",
            "link_label": "開く",
            "sort_order": "abc",
            "published": "1",
        },
    )
    assert response.status_code == 422
    text = visible_text(response.text)
    assert "回答を入力してください" in text
    assert "/ で始まるこのサイト内のパス" in text
    assert "半角の整数" in text
    assert 'value="質問です😀"' in response.text
    assert 'value="https://evil.example/phish"' in response.text
    assert await help_queries.entries(app_ctx.db, published_only=False) == []


async def test_admin_edits_unpublishes_and_deletes(client: Any, app_ctx: Any) -> None:
    await seed_demo_help(app_ctx)
    await admin_client(client, app_ctx)
    entry = (await help_queries.entries(app_ctx.db, published_only=False))[0]
    form = await client.get(f"/admin/help/entries/{entry['id']}/edit")
    assert form.status_code == 200 and entry["question"] in form.text
    response = await post_form(
        client,
        f"/admin/help/entries/{entry['id']}",
        {
            "section_id": str(entry["section_id"]),
            "question": "料金はかかりますか？",
            "answer_md": "無料です。",
            "link_path": "/settings/membership",
            "link_label": "プランを見る",
            "sort_order": "1",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    public = await client.get("/help")
    assert "料金はかかりますか？" not in public.text  # unchecked "公開する" hides it
    assert "非公開" in (await client.get("/admin/help")).text
    section_id = entry["section_id"]
    refused = await post_form(client, f"/admin/help/sections/{section_id}/delete", {})
    assert "削除できません" in refused.text
    assert await help_queries.section(app_ctx.db, section_id) is not None
    await post_form(client, f"/admin/help/entries/{entry['id']}/delete", {})
    assert await help_queries.entry(app_ctx.db, entry["id"]) is None
    await post_form(client, f"/admin/help/sections/{section_id}/delete", {})
    assert await help_queries.section(app_ctx.db, section_id) is None
    assert (await client.get("/admin/help/entries/99999/edit")).status_code == 404


async def test_preview_renders_sanitized_markdown(client: Any, app_ctx: Any) -> None:
    await admin_client(client, app_ctx)
    response = await post_form(
        client,
        "/admin/help/preview",
        {"answer_md": "- 一つ目\n- <img src=x onerror=alert(1)>"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "<li>一つ目</li>" in response.text
    assert "onerror" not in response.text


async def test_the_faq_names_the_paid_plan_as_the_admin_set_it(client: Any, app_ctx: Any) -> None:
    """Issue 26: the FAQ says 「…」プラン with the tier's current name, so a rename cannot leave it wrong."""
    await seed_demo_help(app_ctx)
    text = visible_text((await client.get("/help")).text)
    assert (
        "「有料会員」プランの特典は何ですか？" in text and "Members" not in text and "{プラン名}" not in text
    )
    await app_ctx.db.execute("UPDATE tiers SET name = 'サポーター' WHERE code = 'members'")
    renamed = await client.get("/help", params={"q": "サポーター"})
    shown = [question for question, visible, _ in entries_in(renamed.text) if visible]
    assert (
        "「サポーター」プランの特典は何ですか？" in shown and "「サポーター」プランに参加するには？" in shown
    )
    assert "有料会員" not in visible_text(renamed.text)
    searchable = re.findall(r'data-search="([^"]*)"', renamed.text)
    assert any("サポーター" in text for text in searchable)  # the in-page filter finds the new name too
