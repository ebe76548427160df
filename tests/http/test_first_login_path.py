"""First login, start to finish, over HTTP: password → profile → conditions (with 後で) → My Page."""

from __future__ import annotations

import re

from tests.helpers import login, make_member, post_form, visible_text

NEW_PASSWORD = "Hikari2027"
PROFILE = {
    "family_name": "鈴木",
    "given_name": "太郎",
    "family_kana": "スズキ",
    "given_kana": "タロウ",
    "email": "member001001@example.jp",
    "phone": "03-1234-5678",
    "postal_code": "100-0001",
    "prefecture": "東京都",
    "address1": "千代田区千代田1-1",
    "address2": "",
    "affiliation": "つどい大学",
}


async def first_login_to_the_conditions(client, app_ctx) -> str:
    await make_member(app_ctx, "001001", must_change_password=True)
    await login(client, "001001")
    changed = await post_form(
        client,
        "/password/change",
        {"new_password": NEW_PASSWORD, "new_password_confirm": NEW_PASSWORD},
        follow_redirects=False,
    )
    profile_url = changed.headers["location"]
    profile = await client.get(profile_url)
    assert "続いて、ご登録の会員情報をご確認ください" in visible_text(profile.text)
    version = re.search(r'name="profile_version" value="(\d+)"', profile.text)
    assert version
    # The profile button says 保存 here: only the pay flow's profile check says 変更してお支払い手続きへ.
    assert "変更してお支払い手続きへ" not in profile.text
    saved = await post_form(
        client,
        "/profile",
        {**PROFILE, "profile_version": version.group(1), "next": "/conditions?welcome=1"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    return str(saved.headers["location"])


async def test_first_profile_save_leads_on_to_the_conditions_with_later(client, app_ctx):
    location = await first_login_to_the_conditions(client, app_ctx)
    assert location == "/conditions?welcome=1"
    page = await client.get(location)
    text = visible_text(page.text)
    assert "会員情報を保存しました。" in text
    assert "続いて、新着記事の条件を設定しましょう" in text
    assert re.search(r'<a href="/mypage"[^>]*>後で</a>', page.text)
    assert '<input type="hidden" name="welcome" value="1">' in page.text


async def test_the_first_condition_lands_on_my_page_with_its_matches(client, app_ctx):
    from tests.article_helpers import add_article, seed_terms

    ids = await seed_terms(app_ctx)
    await add_article(app_ctx, "中国の通商政策の動向", ["china", "trade"], ids=ids)
    await first_login_to_the_conditions(client, app_ctx)
    created = await post_form(
        client,
        "/conditions",
        {"name": "中国", "region": str(ids["china"]), "welcome": "1"},
        follow_redirects=False,
    )
    assert created.status_code == 303
    assert re.fullmatch(r"/mypage\?condition=\d+", created.headers["location"])
    page = await client.get(created.headers["location"])
    text = visible_text(page.text)
    assert "新着条件「中国」を追加しました。条件に合う新着記事をご覧ください。" in text
    assert "中国の通商政策の動向" in text


async def test_htmx_first_condition_goes_to_my_page_as_a_full_page(client, app_ctx):
    from tests.article_helpers import seed_terms

    ids = await seed_terms(app_ctx)
    await first_login_to_the_conditions(client, app_ctx)
    created = await post_form(
        client,
        "/conditions",
        {"name": "アジア", "region": str(ids["asia"]), "welcome": "1"},
        headers={"HX-Request": "true"},
    )
    assert re.fullmatch(r"/mypage\?condition=\d+", created.headers["hx-redirect"])


async def test_conditions_outside_the_first_login_stay_on_the_conditions_page(client, app_ctx):
    from tests.article_helpers import seed_terms

    ids = await seed_terms(app_ctx)
    await make_member(app_ctx, "001001")
    await login(client, "001001")
    page = await client.get("/conditions")
    assert "続いて、新着記事の条件を設定しましょう" not in page.text and 'name="welcome"' not in page.text
    created = await post_form(
        client, "/conditions", {"name": "アジア", "region": str(ids["asia"])}, follow_redirects=False
    )
    assert created.headers["location"] == "/conditions"


async def test_counting_without_javascript_keeps_the_first_login_step(client, app_ctx):
    from tests.article_helpers import seed_terms

    ids = await seed_terms(app_ctx)
    await first_login_to_the_conditions(client, app_ctx)
    page = await post_form(
        client, "/conditions/count", {"name": "", "region": str(ids["asia"]), "welcome": "1"}
    )
    assert page.status_code == 200
    assert '<input type="hidden" name="welcome" value="1">' in page.text
    assert "続いて、新着記事の条件を設定しましょう" in visible_text(page.text)
