"""The convenience-store result over HTTP: the store chosen in the sandbox, one deadline (the store's) in
one date format, and that store's steps on the page as in the mail."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from services.konbini_steps import konbini_steps
from tests.helpers import body_text, post_form, visible_text
from tests.payments_support import attempts, choose, mails, member_with_fee, to_gateway


async def issue_number(client, app_ctx):
    _, fee_id = await member_with_fee(app_ctx, client)
    await choose(client, fee_id, "konbini")
    hosted = urlsplit(await to_gateway(client, fee_id)).path
    return fee_id, hosted


async def test_sandbox_asks_for_the_store_and_uses_the_one_chosen(client, app_ctx):
    fee_id, hosted = await issue_number(client, app_ctx)
    page = visible_text((await client.get(hosted)).text)
    assert "お支払いに使うコンビニを選んでください" in page
    for store in ("ファミリーマート", "ローソン", "ミニストップ", "セイコーマート"):
        assert store in page
    refused = await post_form(client, hosted, {"outcome": "konbini_issued"}, follow_redirects=False)
    assert refused.status_code == 422 and "お支払いに使うコンビニを選んでください。" in visible_text(
        refused.text
    )
    odd = await post_form(
        client, hosted, {"outcome": "konbini_issued", "store": "ローソン\x00"}, follow_redirects=False
    )
    assert odd.status_code == 422
    assert (await attempts(app_ctx, fee_id))[0]["state"] == "pending"
    done = await post_form(
        client, hosted, {"outcome": "konbini_issued", "store": "ミニストップ"}, follow_redirects=False
    )
    assert done.status_code == 303
    assert (await attempts(app_ctx, fee_id))[0]["konbini_store"] == "ミニストップ"


async def test_result_page_has_one_deadline_and_the_stores_steps_as_in_the_mail(client, app_ctx, settings):
    fee_id, hosted = await issue_number(client, app_ctx)
    done = await post_form(
        client, hosted, {"outcome": "konbini_issued", "store": "ファミリーマート"}, follow_redirects=False
    )
    result = await client.get(
        urlsplit(done.headers["location"]).path + "?" + urlsplit(done.headers["location"]).query
    )
    text = visible_text(result.text)
    attempt = (await attempts(app_ctx, fee_id))[0]
    steps = konbini_steps("ファミリーマート", has_confirmation=bool(attempt["konbini_confirmation"]))
    assert "マルチコピー機" in steps[0]
    for step in steps:
        assert step in text, step
    # One deadline, the store's, in the one format (2026年11月26日(木) 12:00).
    deadline = app_ctx.clock.now() + timedelta(days=3)
    assert "会費の支払期限" not in text
    assert text.count("コンビニでのお支払い期限") >= 1
    assert f"{deadline.astimezone(app_ctx.settings.tz):%Y年%-m月%-d日}(木) 12:00" in text
    checkout = visible_text((await client.get(f"/payments/{fee_id}/checkout")).text)
    assert "会費の支払期限" not in checkout and all(step in checkout for step in steps)
    [mail] = mails(settings, "コンビニでのお支払い番号のお知らせ")
    body = body_text(mail)
    for step in steps:
        assert step in body, step


def test_steps_name_the_store_terminal_or_the_till():
    assert "Loppi" in konbini_steps("ローソン", has_confirmation=True)[0]
    assert "Loppi" in konbini_steps("ミニストップ", has_confirmation=True)[0]
    till = konbini_steps("セイコーマート", has_confirmation=False)
    assert "レジ" in till[0] and "確認番号" not in till[1]
    assert konbini_steps(None, has_confirmation=True)[1].startswith("お支払い番号と確認番号")
