"""Shared set-up for the payment tests: fee items, issued fees, a checked profile, PDF text."""

from __future__ import annotations

import io
import re
from datetime import date, datetime
from typing import Any

from pypdf import PdfReader

from db import payments as payment_queries
from db.timestamps import to_db
from services import fees as fee_rules
from services.context import AppContext
from tests.helpers import login, make_member, outbox, post_form


async def issue_fee(
    app_ctx: AppContext,
    *,
    year: int = 2026,
    amount: int = 10_000,
    membership_type: str = "正会員",
    name: str | None = None,
    due_on: date = date(2027, 3, 31),
) -> int:
    """Create (or reuse) a fee item and issue it to every active member of the type; returns the item id."""
    form = fee_rules.check_fee_item(
        {
            "fiscal_year": str(year),
            "membership_type": membership_type,
            "name": name or fee_rules.default_fee_name(year),
            "amount": str(amount),
            "due_on": due_on.isoformat(),
        }
    )
    assert form.ok, form.errors
    item_id = await fee_rules.create_fee_item(app_ctx.db, form, now=app_ctx.clock.now())
    if item_id is None:
        found = await payment_queries.find_fee_item(app_ctx.db, year, membership_type, form.values["name"])
        assert found is not None
        item_id = int(found["id"])
    await fee_rules.issue_fee_item(app_ctx.db, item_id, now=app_ctx.clock.now())
    return item_id


async def fee_id_of(app_ctx: AppContext, member_id: int, item_id: int) -> int:
    fee = await payment_queries.fee_for_member_item(app_ctx.db, member_id, item_id)
    assert fee is not None
    return int(fee["id"])


async def check_profile(app_ctx: AppContext, member_id: int, at: datetime | None = None) -> None:
    """What saving the profile form does for the pay flow: the profile counts as checked at `at`."""
    await app_ctx.db.execute(
        "UPDATE members SET profile_checked_at = ? WHERE id = ?",
        (to_db(at or app_ctx.clock.now()), member_id),
    )


async def fee_row(app_ctx: AppContext, fee_id: int) -> Any:
    return await payment_queries.fee(app_ctx.db, fee_id)


async def attempts(app_ctx: AppContext, fee_id: int) -> list[Any]:
    return await payment_queries.attempts_for_fee(app_ctx.db, fee_id)


def pdf_text(pdf: bytes) -> str:
    """The PDF's text without whitespace and NULs (pypdf reads fpdf2's two-byte CMap a byte at a
    time, leaving NULs and spaces between glyphs; see tests/unit/test_receipts.py)."""
    reader = PdfReader(io.BytesIO(pdf))
    return re.sub(r"[\s\x00]+", "", "".join(page.extract_text() for page in reader.pages))


async def member_with_fee(app_ctx, client, number="001001", *, checked=True, amount=10_000, **profile):
    member_id = await make_member(app_ctx, number, **profile)
    item_id = await issue_fee(app_ctx, amount=amount)
    if checked:
        await check_profile(app_ctx, member_id)
    await login(client, number)
    return member_id, await fee_id_of(app_ctx, member_id, item_id)


async def choose(client, fee_id, method="card"):
    response = await post_form(
        client, f"/payments/{fee_id}/method", {"method": method}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/payments/{fee_id}/checkout"
    return response


async def to_gateway(client, fee_id):
    response = await post_form(client, f"/payments/{fee_id}/checkout", {}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return response.headers["location"]


def mails(settings, subject_part):
    return [m for m in outbox(settings) if subject_part in str(m["Subject"])]


async def method_page_text(client, fee_id):
    page = await client.get(f"/payments/{fee_id}/method")
    assert page.status_code == 200
    return page.text
