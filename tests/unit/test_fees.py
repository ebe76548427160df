"""Fee rules without HTTP: fiscal years, the fee item form, report decisions, mails, gateway config."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from services import fees
from services.payment_config import PaymentNotConfigured, gateway_config
from services.payment_flow import decide, mail_kind, new_order_id, profile_check_url, start_url
from services.payments import Notification, states
from services.settings import get_settings

TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.mark.parametrize(
    ("day", "year"),
    [
        (date(2026, 4, 1), 2026),
        (date(2027, 3, 31), 2026),
        (date(2026, 3, 31), 2025),
        (date(2026, 12, 31), 2026),
    ],
)
def test_fiscal_year_runs_april_to_march(day: date, year: int) -> None:
    assert fees.fiscal_year_of(day) == year


def test_fiscal_year_is_taken_in_the_org_time_zone() -> None:
    # 2027-03-31 15:30 UTC is already April 1st in Tokyo: the next fiscal year.
    assert fees.current_fiscal_year(datetime(2027, 3, 31, 15, 30, tzinfo=UTC), TOKYO) == 2027
    assert fees.fiscal_year_range(2026) == (date(2026, 4, 1), date(2027, 3, 31))


def test_fee_item_form_normalizes_full_width_input_and_fills_the_name() -> None:
    form = fees.check_fee_item(
        {
            "fiscal_year": "２０２６",
            "membership_type": " 正会員 ",
            "name": "",
            "amount": "１２，０００円",
            "due_on": "2026/06/30",
        }
    )
    assert form.ok, form.errors
    assert (form.fiscal_year, form.amount, form.due_on) == (2026, 12_000, date(2026, 6, 30))
    assert form.values["name"] == "2026年度 年会費" and form.values["membership_type"] == "正会員"
    assert fees.receipt_purpose(form.values["name"]) == "2026年度 年会費として"


def test_issue_result_messages() -> None:
    assert "3 名に発行しました" in fees.IssueResult(3, 3).message()
    assert "発行済みの 2 名" in fees.IssueResult(1, 3).message()
    assert "すべて発行済み" in fees.IssueResult(0, 3).message()
    assert "対象の会員がいない" in fees.IssueResult(0, 0).message()


def note(state: str, amount: int | None) -> Notification:
    return Notification(
        gateway="sandbox", key="k", reference="r", order_id="o", state=state, amount=amount, raw=""
    )


def attempt(state: str, amount: int = 5000) -> dict[str, object]:
    return {"state": state, "amount": amount}


@pytest.mark.parametrize(
    ("old", "incoming", "amount", "outcome", "new"),
    [
        ("pending", "paid", 5000, "applied", "paid"),
        ("pending", "awaiting_konbini", 5000, "applied", "awaiting_konbini"),
        ("awaiting_konbini", "paid", 5000, "applied", "paid"),
        ("paid", "awaiting_konbini", 5000, "ignored", None),
        ("paid", "paid", 5000, "replay", None),
        ("expired", "awaiting_konbini", 5000, "ignored", None),
        ("pending", "paid", 4999, "mismatch", None),
        ("pending", "paid", None, "mismatch", None),
        ("pending", "expired", None, "applied", "expired"),
    ],
)
def test_report_decisions(old: str, incoming: str, amount: int | None, outcome: str, new: str | None) -> None:
    decision = decide(note(incoming, amount))(attempt(old), {"status": "unpaid"})  # type: ignore[arg-type]
    assert (decision.outcome, decision.new_state) == (outcome, new)


def test_paid_after_cancel_or_on_a_paid_fee_needs_the_admin() -> None:
    late = decide(note("paid", 5000))(attempt("cancelled"), {"status": "cancelled"})  # type: ignore[arg-type]
    assert late.new_state is None and late.attention
    double = decide(note("paid", 5000))(attempt("pending"), {"status": "paid"})  # type: ignore[arg-type]
    assert double.new_state == "paid" and "二重払い" in double.attention
    assert decide(note("paid", 5000))(None, None).outcome == "unknown"


def test_one_mail_kind_per_change() -> None:
    assert mail_kind("card", "pending", states.PAID) == "payment_paid_card"
    assert mail_kind("konbini", "awaiting_konbini", states.PAID) == "payment_paid_konbini"
    assert mail_kind("konbini", "pending", states.AWAITING_KONBINI) == "payment_konbini_issued"
    assert mail_kind("konbini", "awaiting_konbini", states.EXPIRED) == "payment_expired"
    # A page left before any number was issued needs no "deadline passed" notice.
    assert mail_kind("konbini", "pending", states.EXPIRED) is None
    assert mail_kind("card", "pending", states.EXPIRED) is None
    assert mail_kind("card", "pending", states.DECLINED) is None


def test_start_url_depends_on_the_profile_check_day_in_tokyo() -> None:
    member = {"profile_checked_at": "2026-11-22T15:10:00.000000Z"}  # 00:10 JST on the 23rd
    same_day = datetime(2026, 11, 23, 14, 59, tzinfo=UTC)
    next_day = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    assert start_url(member, 7, now=same_day, tz=TOKYO) == "/payments/7/method"  # type: ignore[arg-type]
    assert start_url(member, 7, now=next_day, tz=TOKYO) == profile_check_url(7)  # type: ignore[arg-type]
    assert profile_check_url(7) == "/profile?next=/payments/7/method&purpose=payment"


def test_order_ids_fit_gmo_and_do_not_repeat() -> None:
    now = datetime(2026, 11, 23, 12, tzinfo=TOKYO)
    ids = {new_order_id(now) for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) <= 27 and i.replace("-", "").isalnum() for i in ids)


def fake_ctx(gateway: str, environ: dict[str, str] | None = None) -> SimpleNamespace:
    """A context whose settings come from these TSUDOI_* variables, as at start."""
    env = {"TSUDOI_SECRET_KEY": "k" * 40, "TSUDOI_BASE_URL": "https://portal.example.jp", **(environ or {})}
    settings = get_settings(env).with_(payment_gateway=gateway)
    return SimpleNamespace(
        settings=settings,
        clock=SimpleNamespace(now=lambda: datetime(2026, 11, 23, 3, 0, tzinfo=UTC)),
        org=SimpleNamespace(org_name="会"),
    )


def test_gateway_config_reads_the_environment_and_names_what_is_missing() -> None:
    with pytest.raises(PaymentNotConfigured, match="TSUDOI_GMO_SHOP_PASS"):
        gateway_config(fake_ctx("gmo", {"TSUDOI_GMO_SHOP_ID": "tshop001"}))  # type: ignore[arg-type]
    name, config = gateway_config(
        fake_ctx("gmo", {"TSUDOI_GMO_SHOP_ID": "tshop001", "TSUDOI_GMO_SHOP_PASS": "p"})  # type: ignore[arg-type]
    )
    assert name == "gmo" and config["api_base"] == "https://pt01.mul-pay.jp"  # test shops use the test host
    _, config = gateway_config(
        fake_ctx("gmo", {"TSUDOI_GMO_SHOP_ID": "9100001", "TSUDOI_GMO_SHOP_PASS": "p"})  # type: ignore[arg-type]
    )
    assert config["api_base"] == "https://p01.mul-pay.jp"
    with pytest.raises(PaymentNotConfigured, match="TSUDOI_STRIPE_WEBHOOK_SECRET"):
        gateway_config(fake_ctx("stripe", {"TSUDOI_STRIPE_SECRET_KEY": "sk"}))  # type: ignore[arg-type]
    _, config = gateway_config(
        fake_ctx(  # type: ignore[arg-type]
            "stripe",
            {
                "TSUDOI_STRIPE_SECRET_KEY": "sk",
                "TSUDOI_STRIPE_WEBHOOK_SECRET": "a, b",
                "TSUDOI_PAYMENT_TIMEOUT": "x",
            },
        )
    )
    assert config["webhook_secret"] == ["a", "b"] and config["timeout"] == 10.0
    name, config = gateway_config(fake_ctx("sandbox"))  # type: ignore[arg-type]
    assert name == "sandbox" and config["secret"] and config["secret"] != "k" * 40
