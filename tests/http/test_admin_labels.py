"""Address labels from the members list: A4 sheets of 12 or 24, for the ticked members or the whole
filter; members without an address are left out; staff may make them too."""

from __future__ import annotations

import io
import re

from pypdf import PdfReader

from db import audit
from tests.helpers import login_admin, make_member, post_form

ADDRESS = {
    "postal_code": "1000001",
    "prefecture": "東京都",
    "address1": "千代田区千代田1-1-1",
    "address2": "101号室",
}


def texts(pdf: bytes) -> list[str]:
    reader = PdfReader(io.BytesIO(pdf))
    return [re.sub(r"[\s\x00]+", "", page.extract_text()) for page in reader.pages]


async def test_ticked_members_get_labels_in_member_number_order(client, app_ctx):
    await login_admin(client, app_ctx)
    first = await make_member(app_ctx, "001001", family_name="山田", given_name="太郎", **ADDRESS)
    await make_member(app_ctx, "001002", family_name="佐藤", given_name="花子", **ADDRESS)
    third = await make_member(app_ctx, "001003", family_name="鈴木", given_name="一郎", **ADDRESS)
    page = await client.get("/admin/members")
    assert 'name="member_id"' in page.text and 'form="labels-form"' in page.text
    response = await post_form(
        client,
        "/admin/members/labels",
        {"layout": "12", "scope": "selected", "member_id": [str(third), str(first)]},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    (text,) = texts(response.content)
    assert "〒100-0001" in text and "東京都千代田区千代田1-1-1" in text and "101号室" in text
    assert text.index("山田太郎様") < text.index("鈴木一郎様")
    assert "佐藤花子" not in text
    (entry,) = await audit.events(app_ctx.db, "members.labels_made")
    assert '"count": 2' in entry["detail"]


async def test_the_whole_filter_fills_sheets_of_24(client, app_ctx):
    await login_admin(client, app_ctx)
    for n in range(30):
        await make_member(app_ctx, f"00{2000 + n}", family_name="会員", given_name=f"{n}", **ADDRESS)
    await make_member(app_ctx, "003000", family_name="住所", given_name="なし")
    response = await post_form(client, "/admin/members/labels?q=会員", {"layout": "24", "scope": "all"})
    assert response.status_code == 200
    pages = texts(response.content)
    assert len(pages) == 2  # 30 labels: 24 + 6
    assert pages[0].count("様") == 24 and pages[1].count("様") == 6
    assert "住所なし" not in "".join(pages)


async def test_nothing_chosen_or_no_address_is_explained_on_the_list(client, app_ctx):
    await login_admin(client, app_ctx)
    member_id = await make_member(app_ctx, "001001")
    for data, message in (
        ({"layout": "12", "scope": "selected"}, "ラベルを作成する会員を選んでください"),
        ({"layout": "99", "scope": "all"}, "ラベルの用紙を選んでください"),
        ({"layout": "12", "scope": "selected", "member_id": str(member_id)}, "住所が登録されていない"),
        ({"layout": "12", "member_id": ["x", "9" * 40, "\x00"]}, "ラベルを作成する会員を選んでください"),
    ):
        response = await post_form(client, "/admin/members/labels", data, follow_redirects=False)
        assert response.status_code == 303
        page = await client.get(response.headers["location"])
        assert message in page.text, data
