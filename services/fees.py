"""Annual fees: fiscal years, defining fee items and issuing them to the members of a membership type."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final
from zoneinfo import ZoneInfo

from db import payments as payment_queries
from db.database import Database
from services.charset import check_text
from services.context import AppContext

# The default start of the fiscal year (April to March); the organization sets its own (fiscal_year_start_month).
FISCAL_YEAR_START_MONTH: Final = 4
MAX_AMOUNT: Final = 9_999_999

FEE_STATUS_LABELS: Final[dict[str, str]] = {
    "unpaid": "お支払い待ち",
    "awaiting_konbini": "コンビニでのお支払い待ち",
    "paid": "お支払い済み",
    "expired": "期限切れ",
    "cancelled": "取り消し済み",
}
PAID_METHOD_LABELS: Final[dict[str, str]] = {
    "card": "クレジットカード",
    "konbini": "コンビニ払い",
    "bank_transfer": "銀行振込",
}


def fiscal_year_of(day: date, start_month: int = FISCAL_YEAR_START_MONTH) -> int:
    """The fiscal year a day belongs to: 2027-03-31 is in 2026年度 when years start in April."""
    return day.year if day.month >= start_month else day.year - 1


def current_fiscal_year(now: datetime, tz: ZoneInfo, start_month: int = FISCAL_YEAR_START_MONTH) -> int:
    return fiscal_year_of(now.astimezone(tz).date(), start_month)


def fiscal_year_range(year: int, start_month: int = FISCAL_YEAR_START_MONTH) -> tuple[date, date]:
    """First and last day of a fiscal year."""
    start = date(year, start_month, 1)
    end = date(year + 1, start_month, 1) if start_month > 1 else date(year + 1, 1, 1)
    return start, date.fromordinal(end.toordinal() - 1)


def default_fee_name(year: int) -> str:
    return f"{year}年度 年会費"


def receipt_purpose(item_name: str) -> str:
    """The receipt's 但し書き: 「2026年度 年会費として」."""
    return f"{item_name}として"


@dataclass
class FeeItemForm:
    """A checked fee item form: values to show again and errors by field."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    fiscal_year: int = 0
    amount: int = 0
    due_on: date | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


def _digits(raw: str) -> str:
    return unicodedata.normalize("NFKC", raw).replace(",", "").replace("円", "").replace("¥", "").strip()


def check_fee_item(values: dict[str, str]) -> FeeItemForm:
    form = FeeItemForm(values=dict(values))
    year_text = _digits(values.get("fiscal_year", ""))
    if not year_text.isdigit() or not 2000 <= int(year_text) <= 2100:
        form.errors["fiscal_year"] = "年度を西暦4桁の数字で入力してください（例：2026）。"
    else:
        form.fiscal_year = int(year_text)
        form.values["fiscal_year"] = year_text
    membership_type = unicodedata.normalize("NFKC", values.get("membership_type", "")).strip()
    form.values["membership_type"] = membership_type
    if not membership_type:
        form.errors["membership_type"] = "会員種別を入力してください（例：正会員）。"
    elif len(membership_type) > 40:
        form.errors["membership_type"] = "会員種別は40文字以内で入力してください。"
    elif problem := check_text(membership_type):
        form.errors["membership_type"] = problem
    name = values.get("name", "").strip()
    if not name and form.fiscal_year:
        name = default_fee_name(form.fiscal_year)
    form.values["name"] = name
    if not name:
        form.errors["name"] = "名称を入力してください（例：2026年度 年会費）。"
    elif len(name) > 60:
        form.errors["name"] = "名称は60文字以内で入力してください。"
    elif problem := check_text(name):
        form.errors["name"] = problem
    amount_text = _digits(values.get("amount", ""))
    if not amount_text.isdigit() or not 1 <= int(amount_text) <= MAX_AMOUNT:
        form.errors["amount"] = f"金額を1円から{MAX_AMOUNT:,}円までの整数で入力してください（例：10000）。"
    else:
        form.amount = int(amount_text)
        form.values["amount"] = amount_text
    due_text = unicodedata.normalize("NFKC", values.get("due_on", "")).strip().replace("/", "-")
    try:
        form.due_on = date.fromisoformat(due_text)
        form.values["due_on"] = form.due_on.isoformat()
    except ValueError:
        form.errors["due_on"] = "支払期限を日付で入力してください（例：2026-06-30）。"
    if form.due_on is not None and not 2000 <= form.due_on.year <= 2101:
        form.errors["due_on"] = "支払期限の年をご確認ください。"
        form.due_on = None
    return form


async def create_fee_item(db: Database, form: FeeItemForm, *, now: datetime) -> int | None:
    """The new item's id, or None (with an error on the form) when it already exists."""
    assert form.ok and form.due_on is not None
    item_id = await payment_queries.create_fee_item(
        db,
        fiscal_year=form.fiscal_year,
        membership_type=form.values["membership_type"],
        name=form.values["name"],
        amount=form.amount,
        due_on=form.due_on,
        now=now,
    )
    if item_id is None:
        form.errors["name"] = (
            "同じ年度・会員種別・名称の会費がすでにあります。名称を変えるか、既存の会費を発行してください。"
        )
    return item_id


@dataclass(frozen=True)
class IssueResult:
    issued: int
    eligible: int

    @property
    def already(self) -> int:
        return self.eligible - self.issued

    def message(self) -> str:
        if self.eligible == 0:
            return "対象の会員がいないため、発行しませんでした。会員種別をご確認ください。"
        if self.issued == 0:
            return f"対象の会員 {self.eligible} 名にはすべて発行済みです（重複して発行はしていません）。"
        text = f"{self.issued} 名に発行しました。"
        if self.already:
            text += f"（発行済みの {self.already} 名は対象外としました）"
        return text


async def issue_fee_item(db: Database, item_id: int, *, now: datetime) -> IssueResult:
    """Issue to every active member of the item's type; running it again only reaches new members."""
    issued, eligible = await payment_queries.issue_fee_item(db, item_id, now=now)
    return IssueResult(issued=issued, eligible=eligible)


DEMO_FEE_AMOUNT: Final = 10_000


async def demo_fees(app: AppContext) -> None:
    """2025年度 and 2026年度 年会費 for 正会員, issued; 001234 paid 2025 by card and has its receipt."""
    from db import members as member_queries

    now = app.clock.now()
    items = {}
    for year, due in ((2025, date(2025, 6, 30)), (2026, date(2027, 3, 31))):
        name = default_fee_name(year)
        found = await payment_queries.find_fee_item(app.db, year, "正会員", name)
        if found is None:
            await payment_queries.create_fee_item(
                app.db,
                fiscal_year=year,
                membership_type="正会員",
                name=name,
                amount=DEMO_FEE_AMOUNT,
                due_on=due,
                now=now,
            )
            found = await payment_queries.find_fee_item(app.db, year, "正会員", name)
        assert found is not None
        items[year] = found
    member = await member_queries.get_by_number(app.db, "001234")
    if member is None:
        return
    # Only the earlier year goes to 001234 alone; this year's fee goes to every 正会員.
    await payment_queries.issue_fee_item(app.db, int(items[2026]["id"]), now=now)
    await payment_queries.issue_fee_item_to(app.db, int(items[2025]["id"]), int(member["id"]), now=now)
    fee = await payment_queries.fee_for_member_item(app.db, int(member["id"]), int(items[2025]["id"]))
    if fee is None or fee["status"] == "paid":
        return
    paid_at = datetime(2025, 5, 20, 10, 30, tzinfo=ZoneInfo("Asia/Tokyo"))
    await payment_queries.record_paid_attempt(
        app.db, int(fee["id"]), method="card", gateway="sandbox", order_id="DEMO-2025-001234", paid_at=paid_at
    )
    await payment_queries.issue_receipt(
        app.db,
        int(fee["id"]),
        year=2025,
        member_number="001234",
        payer_name=f"{member['family_name']} {member['given_name']}",
        amount=DEMO_FEE_AMOUNT,
        purpose=receipt_purpose(default_fee_name(2025)),
        payment_method=PAID_METHOD_LABELS["card"],
        paid_on=paid_at.date(),
        issued_on=paid_at.date(),
        now=paid_at,
        count=False,
    )
