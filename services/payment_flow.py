"""The annual-fee pay flow: profile check, method choice, checkout, gateway reports, mails, receipts."""

from __future__ import annotations

import logging
import re
import secrets
import sqlite3
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx

from db import app_settings, audit
from db import members as member_queries
from db import payments as payment_queries
from db.payments import AttemptChoice, Decision
from db.timestamps import from_db
from services import leases, membership
from services.context import AppContext
from services.fees import FEE_STATUS_LABELS, PAID_METHOD_LABELS, receipt_purpose
from services.konbini_steps import konbini_steps
from services.notify import send_mail
from services.org import OrgSettings
from services.payments import (
    CheckoutRequest,
    GatewayUnavailable,
    Notification,
    PaymentGateway,
    states,
)
from services.payments.base import konbini_allows, konbini_limits
from services.profile_check import profile_checked_today
from services.receipts import ReceiptData, TaxMode, render_receipt_pdf_async

log = logging.getLogger("tsudoi.payments")

METHOD_LABELS: Final[dict[str, str]] = {
    "card": "クレジットカード（一括払い）",
    "konbini": "コンビニ払い",
}
METHOD_HINTS: Final[dict[str, str]] = {
    "card": "その場でお支払いが完了します。Visa・Mastercard・JCB・American Express・Diners Club がご利用いただけます。",
    "konbini": "お支払い番号をお知らせしますので、期限までにコンビニのレジでお支払いください。",
}
TAX_MODE_KEY: Final = "receipt_tax_mode"
TAX_MODE_LABELS: Final[dict[str, str]] = {
    "outside": "不課税（会費は消費税の対象外）",
    "inclusive10": "課税（10%・税込金額から内税を表示）",
}
# The sandbox page link carries a signed token that lasts an hour; make a fresh one well before.
_SANDBOX_LINK_REUSE: Final = timedelta(minutes=30)
_NOTIFY_TRIES: Final = 3
# The most gateway calls one checkout makes (a dead link: ask the gateway, then a new session), each within
# TSUDOI_PAYMENT_TIMEOUT: how long a second request for the attempt may wait for the first.
_CHECKOUT_CALLS: Final = 2
# How long after the hosted page's stated end the link still counts as usable (see link_is_dead).
LINK_EXPIRY_GRACE: Final = timedelta(minutes=10)
# GMO refuses an OrderID it has seen; Stripe must see the same parameters again (idempotency key).
_SINGLE_USE_ORDER_IDS: Final = frozenset({"gmo"})
_REGISTRATION_NUMBER: Final = re.compile(r"T[0-9]{13}")


def enabled_methods(org: OrgSettings) -> list[str]:
    methods = []
    if org.payment_card_enabled:
        methods.append("card")
    if org.payment_konbini_enabled:
        methods.append("konbini")
    return methods


def konbini_limit_note(gateway_name: str | None, amount: int) -> str | None:
    """Why convenience-store payment is not offered for this amount, or None when it is."""
    if konbini_allows(gateway_name, amount):
        return None
    low, high = konbini_limits(gateway_name)
    if amount > high:
        return (
            f"コンビニ払いは1回{high:,}円までのため、この会費（{amount:,}円）にはご利用いただけません。"
            "クレジットカードでお支払いいただくか、事務局までお問い合わせください。"
        )
    return (
        f"コンビニ払いは{low:,}円以上のお支払いにご利用いただけるため、この会費（{amount:,}円）には"
        "ご利用いただけません。クレジットカードでお支払いいただくか、事務局までお問い合わせください。"
    )


def offered_methods(org: OrgSettings, gateway_name: str | None, amount: int) -> list[str]:
    """The methods the member may choose for this fee: enabled ones, within the gateway's limits."""
    return [
        method
        for method in enabled_methods(org)
        if method != "konbini" or konbini_limit_note(gateway_name, amount) is None
    ]


def method_page_url(fee_id: int) -> str:
    return f"/payments/{fee_id}/method"


def checkout_page_url(fee_id: int) -> str:
    return f"/payments/{fee_id}/checkout"


def profile_check_url(fee_id: int) -> str:
    """The profile form, which comes back to the method page after 変更してお支払い手続きへ."""
    return "/profile?next=" + quote(method_page_url(fee_id), safe="/") + "&purpose=payment"


def start_url(member: sqlite3.Row, fee_id: int, *, now: datetime, tz: ZoneInfo) -> str:
    """Where 会員情報確認 支払手続き leads: the method page if the profile was saved today, else the profile."""
    if profile_checked_today(member, now=now, tz=tz):
        return method_page_url(fee_id)
    return profile_check_url(fee_id)


def new_order_id(now: datetime) -> str:
    """A gateway order ID: unique across installs, within GMO's 27 characters of [A-Za-z0-9-]."""
    return f"TS{now:%y%m%d}-{secrets.token_hex(6).upper()}"


@dataclass(frozen=True)
class FeeView:
    """How one fee is shown in 会費支払明細."""

    status: str
    label: str
    can_pay: bool
    in_progress: bool
    receipt: bool


def fee_view(fee: sqlite3.Row) -> FeeView:
    status = str(fee["status"])
    live = fee["attempt_state"] in payment_queries.LIVE_STATES
    return FeeView(
        status=status,
        label=FEE_STATUS_LABELS.get(status, status),
        can_pay=status != "paid" and not live,
        in_progress=status != "paid" and live,
        receipt=status == "paid",
    )


def is_overdue(fee: sqlite3.Row, *, now: datetime, tz: ZoneInfo) -> bool:
    return fee["status"] != "paid" and str(fee["due_on"]) < now.astimezone(tz).date().isoformat()


async def choose_method(
    ctx: AppContext, *, member_id: int, fee_id: int, method: str, gateway: str
) -> AttemptChoice:
    """決定: the fee's one live attempt with this method at `gateway` (an existing live attempt wins)."""
    if method not in enabled_methods(ctx.org):
        raise ValueError("method not offered")
    fee_row = await payment_queries.fee(ctx.db, fee_id)
    if fee_row is not None and method not in offered_methods(ctx.org, gateway, int(fee_row["amount"])):
        raise ValueError("method not offered for this amount")
    now = ctx.clock.now()
    choice = await payment_queries.create_attempt(
        ctx.db,
        fee_id=fee_id,
        member_id=member_id,
        method=method,
        gateway=gateway,
        order_id=new_order_id(now.astimezone(ctx.settings.tz)),
        idempotency_key=secrets.token_hex(16),
        now=now,
    )
    if choice.created and choice.attempt is not None:
        await audit.record(
            ctx.db,
            "payment.attempt_created",
            now=now,
            actor_member_id=member_id,
            subject_member_id=member_id,
            detail={"fee_id": fee_id, "attempt_id": choice.attempt["id"], "method": method},
        )
    return choice


def _attempt_lease(ctx: AppContext, attempt_id: int) -> AbstractAsyncContextManager[leases.Lease]:
    """One checkout per attempt at a time, across every worker process: the lease covers the gateway call
    (slow HTTP, renewed while it runs); a second request for the attempt waits for the holder, then finds
    the link it stored. Waiting is bounded by what the holder's gateway calls may take."""
    return leases.held(
        ctx.db,
        f"payment-checkout:{attempt_id}",
        seconds=ctx.settings.lease_seconds,
        wait=_CHECKOUT_CALLS * ctx.settings.payment_timeout + ctx.settings.lease_seconds,
    )


async def start_checkout(
    ctx: AppContext, gateway: PaymentGateway, *, member: sqlite3.Row, fee: sqlite3.Row, attempt_id: int
) -> str | None:
    """The hosted page URL for the fee's live attempt (GatewayUnavailable when the gateway fails).

    A double click, a back button or a retry after a failure lands on the same attempt, and
    the same gateway session where the gateway keeps one (Stripe by idempotency key; the
    stored link otherwise) while that page still takes payments. Once it no longer does
    (GMO's PaymentExpireDate, Stripe's 24 hours), the attempt is checked with the gateway
    and, when nothing happened there, expired and replaced by a new attempt with the same
    method and a new link. None when the attempt is no longer waiting for the member.
    """
    try:
        async with _attempt_lease(ctx, attempt_id):
            return await _checkout_held(ctx, gateway, member=member, fee=fee, attempt_id=attempt_id)
    except leases.LeaseBusy:
        raise GatewayUnavailable("another request kept this attempt's checkout busy") from None


async def _checkout_held(
    ctx: AppContext, gateway: PaymentGateway, *, member: sqlite3.Row, fee: sqlite3.Row, attempt_id: int
) -> str | None:
    attempt = await payment_queries.attempt(ctx.db, attempt_id)
    if attempt is None or attempt["state"] not in payment_queries.LIVE_STATES:
        return None
    now = ctx.clock.now()
    if attempt["redirect_url"]:
        started = from_db(attempt["checkout_started_at"])
        fresh = started is not None and now - started < _SANDBOX_LINK_REUSE
        if gateway.name == "sandbox":
            if fresh:
                return str(attempt["redirect_url"])
        elif not link_is_dead(attempt, now):
            return str(attempt["redirect_url"])
        elif attempt["state"] != states.PENDING:
            # A convenience-store number was issued: the checkout page shows it, no new link.
            return None
        else:
            attempt = await _replace_dead_link(ctx, gateway, attempt, now=now)
            if attempt is None:
                return None
    if attempt["state"] != states.PENDING and gateway.name != "sandbox":
        return None
    return await _new_checkout(ctx, gateway, member=member, fee=fee, attempt=attempt, now=now)


def link_is_dead(attempt: sqlite3.Row, now: datetime) -> bool:
    """Whether the stored hosted-page link stopped taking payments (with a margin: GMO lets a
    member who reached 3-D Secure before the end finish after it)."""
    expires = from_db(attempt["link_expires_at"])
    return expires is not None and now >= expires + LINK_EXPIRY_GRACE


async def _replace_dead_link(
    ctx: AppContext, gateway: PaymentGateway, attempt: sqlite3.Row, *, now: datetime
) -> sqlite3.Row | None:
    """The attempt to start instead of one whose link is dead, or None when it must not be replaced.

    The gateway is asked first: a payment it knows of (a lost notification) is applied like a
    report and wins. Only a link nobody used is expired, and a new attempt (same method) made.
    """
    if attempt["reference"] and attempt["gateway"] == gateway.name:
        current = await gateway.fetch_state(str(attempt["reference"]))
        if current.state != states.PENDING:
            await apply_report(ctx, gateway.name, current)
            after = await payment_queries.attempt(ctx.db, int(attempt["id"]))
            if after is None or after["state"] != states.EXPIRED:
                return None
            attempt = after
    if attempt["state"] == states.PENDING:
        expired = await payment_queries.expire_dead_link(
            ctx.db, int(attempt["id"]), dead_before=now - LINK_EXPIRY_GRACE, now=now
        )
        if not expired:
            return None
        await audit.record(
            ctx.db,
            "payment.link_expired",
            now=now,
            detail={"attempt_id": attempt["id"], "fee_id": attempt["fee_id"]},
        )
    fee = await payment_queries.fee(ctx.db, int(attempt["fee_id"]))
    if fee is None or fee["member_id"] is None:
        return None
    try:
        choice = await choose_method(
            ctx,
            member_id=int(fee["member_id"]),
            fee_id=int(fee["id"]),
            method=str(attempt["method"]),
            gateway=gateway.name,
        )
    except ValueError:
        # The method is no longer offered (turned off, or outside the gateway's limits now):
        # with the old attempt expired, the member chooses again on the method page.
        return None
    if not choice.created or choice.attempt is None:
        # Another tab made the new attempt first: the checkout page shows that one.
        return None
    return choice.attempt


async def _new_checkout(
    ctx: AppContext,
    gateway: PaymentGateway,
    *,
    member: sqlite3.Row,
    fee: sqlite3.Row,
    attempt: sqlite3.Row,
    now: datetime,
) -> str:
    attempt_id = int(attempt["id"])
    base = ctx.settings.base_url
    request = CheckoutRequest(
        attempt_id=str(attempt["idempotency_key"]),
        order_id=str(attempt["order_id"]),
        amount=int(attempt["amount"]),
        method=attempt["method"],
        member_name=f"{member['family_name']} {member['given_name']}".strip() or str(member["member_number"]),
        member_email=str(member["email"]),
        return_url=f"{base}/payments/return?order={attempt['order_id']}",
        notify_url=f"{base}/payments/notify/{gateway.name}",
        description=f"{ctx.org.org_name} {fee['item_name']}"[:100],
    )
    try:
        start = await gateway.start_checkout(request)
    except GatewayUnavailable:
        if gateway.name in _SINGLE_USE_ORDER_IDS:
            # The failed call may have used the order ID up at the gateway (a timeout after GMO
            # registered it); the member's retry needs a fresh one. Still the same attempt.
            await payment_queries.renew_order_id(
                ctx.db, attempt_id, new_order_id(now.astimezone(ctx.settings.tz))
            )
        raise
    await payment_queries.set_checkout(
        ctx.db,
        attempt_id,
        reference=start.reference,
        redirect_url=start.redirect_url,
        now=now,
        expires_at=start.expires_at,
    )
    return start.redirect_url


# ------------------------------------------------------------------ gateway reports


def decide(note: Notification) -> Callable[[sqlite3.Row | None, sqlite3.Row | None], Decision]:
    """The rules for one report: forward moves only, the amount exactly as asked."""

    def rule(attempt: sqlite3.Row | None, fee: sqlite3.Row | None) -> Decision:
        if attempt is None:
            return Decision("unknown")
        old = str(attempt["state"])
        if old == note.state:
            return Decision("replay")
        expected = int(attempt["amount"])
        if note.amount is not None or note.state == states.PAID:
            if not states.amount_matches(expected, note.amount):
                return Decision(
                    "mismatch",
                    attention=f"金額が一致しない通知（請求 {expected:,}円 / 通知 {note.amount}）",
                )
        new = states.next_state(old, note.state)
        if new is None:
            if states.needs_attention(old, note.state):
                return Decision(
                    "ignored",
                    attention="期限切れ・取消後に入金の通知がありました。返金または入金済みへの変更をご確認ください。",
                )
            return Decision("ignored")
        attention = ""
        if new == states.PAID and fee is not None and fee["status"] == "paid":
            attention = "すでにお支払い済みの会費に入金の通知がありました（二重払いの可能性）。"
        return Decision("applied", new, attention)

    return rule


@dataclass(frozen=True)
class NotifyResult:
    duplicate: bool
    outcome: str
    new_state: str | None


def _konbini_fields(note: Notification) -> dict[str, str | None] | None:
    info = note.konbini
    if info is None:
        return None
    store = info.store
    for other in info.other_stores:
        # Stripe gives some chains their own number; the member must know which to use where.
        extra = f"・確認番号 {other.confirmation_number}" if other.confirmation_number else ""
        store += f"（{other.store}でのお支払いは番号 {other.payment_number}{extra}）"
    return {
        "store": store[:300],
        "number": info.payment_number[:64],
        "confirmation": (info.confirmation_number or None),
        "deadline": info.deadline.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if info.deadline
        else None,
        "voucher_url": info.voucher_url
        if info.voucher_url and info.voucher_url.startswith("https://")
        else None,
    }


async def receive_notification(
    ctx: AppContext, gateway: PaymentGateway, raw_body: bytes, headers: Mapping[str, str]
) -> NotifyResult:
    """Check, store and apply one server-to-server report.

    NotificationRejected / NotificationIgnored / GatewayUnavailable propagate to the route,
    which answers the gateway accordingly. A key already stored changes nothing.
    """
    parsed = gateway.parse_notification(raw_body, headers)
    # The attempt's own method tells GMO's trade search which pay type to ask first.
    method = await payment_queries.attempt_method(
        ctx.db, gateway.name, parsed.reference, parsed.order_id or parsed.reference
    )
    note = await gateway.confirm(parsed, method=method)
    return await apply_report(ctx, gateway.name, note)


async def apply_report(ctx: AppContext, gateway_name: str, note: Notification) -> NotifyResult:
    """Store one trusted report (a confirmed notification, or the gateway's own answer) and apply it."""
    now = ctx.clock.now()
    applied = await payment_queries.apply_notification(
        ctx.db,
        gateway=gateway_name,
        key=note.key[:300],
        reference=note.reference,
        order_id=note.order_id,
        reported_state=note.state,
        reported_amount=note.amount,
        raw=note.raw[:20_000],
        konbini=_konbini_fields(note),
        now=now,
        decide=decide(note),
    )
    if applied.duplicate or applied.decision is None:
        return NotifyResult(True, "duplicate", None)
    decision = applied.decision
    attempt = applied.attempt
    if decision.attention and attempt is not None:
        log.warning("payment attempt %s needs attention: %s", attempt["id"], decision.outcome)
        await audit.record(
            ctx.db,
            "payment.needs_attention",
            now=now,
            detail={"attempt_id": attempt["id"], "outcome": decision.outcome, "reason": decision.attention},
        )
    if decision.outcome == "unknown":
        log.info("payment report for an unknown attempt (%s)", gateway_name)
    if decision.new_state is not None and attempt is not None:
        await _after_move(ctx, attempt, applied.previous_state or "", now=now)
    return NotifyResult(False, decision.outcome, decision.new_state)


MAIL_SUBJECTS: Final[dict[str, str]] = {
    "payment_paid_card": "会費のお支払いが完了しました",
    "payment_konbini_issued": "コンビニでのお支払い番号のお知らせ",
    "payment_paid_konbini": "コンビニでのお支払いを確認しました",
    "payment_expired": "コンビニでのお支払い期限が過ぎました",
}


def mail_kind(method: str, previous: str, new: str) -> str | None:
    """Which mail a state change sends (each change happens once, so each mail goes once)."""
    if new == states.PAID:
        return "payment_paid_card" if method == "card" else "payment_paid_konbini"
    if new == states.AWAITING_KONBINI:
        return "payment_konbini_issued"
    if new == states.EXPIRED and method == "konbini" and previous == states.AWAITING_KONBINI:
        # An abandoned payment page also expires; only a konbini number the member holds needs a notice.
        return "payment_expired"
    return None


async def _after_move(ctx: AppContext, attempt: sqlite3.Row, previous: str, *, now: datetime) -> None:
    new = str(attempt["state"])
    fee = await payment_queries.fee(ctx.db, int(attempt["fee_id"]))
    if fee is None:
        return
    if new == states.PAID:
        # A paid tier's fee: the tier starts now that the payment is confirmed.
        await membership.on_fee_paid(ctx, int(fee["id"]))
    await audit.record(
        ctx.db,
        "payment.state_changed",
        now=now,
        subject_member_id=fee["member_id"],
        detail={"attempt_id": attempt["id"], "from": previous, "to": new},
    )
    kind = mail_kind(str(attempt["method"]), previous, new)
    if kind is None or fee["member_id"] is None:
        return
    member = await member_queries.get_by_id(ctx.db, int(fee["member_id"]))
    if member is None or member["status"] != "active":
        return
    base = ctx.settings.base_url
    await send_mail(
        ctx.db,
        ctx.mailer,
        kind=kind,
        to=str(member["email"]),
        subject=f"【{ctx.org.short_name}】{MAIL_SUBJECTS[kind]}",
        context={
            "member": member,
            "fee": fee,
            "attempt": attempt,
            "org": ctx.org,
            "payments_url": f"{base}/payments",
            "receipt_url": f"{base}/payments/{fee['id']}/receipt.pdf",
            "start_url": f"{base}/payments/{fee['id']}/start",
            "konbini_steps": konbini_steps(
                attempt["konbini_store"], has_confirmation=bool(attempt["konbini_confirmation"])
            ),
        },
        now=now,
    )


async def deliver_sandbox_report(
    ctx: AppContext, gateway: PaymentGateway, body: bytes, headers: dict[str, str]
) -> NotifyResult | int:
    """Post a signed sandbox report to the app's own notify route, as a gateway would.

    Real HTTP to the base URL when it answers (so signature checks, de-duplication and
    retries run exactly as for a real gateway); when the base URL is not reachable from
    here (tests, some proxies), the same handler function is called in-process.
    Returns the HTTP status, or the in-process result.
    """
    url = f"{ctx.settings.base_url}/payments/notify/{gateway.name}"
    if ctx.sandbox_http:
        status = 0
        for _ in range(_NOTIFY_TRIES):
            try:
                async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0)) as client:
                    response = await client.post(url, content=body, headers=headers)
            except httpx.ConnectError:
                ctx.sandbox_http = False
                break
            except httpx.HTTPError as error:
                log.warning("sandbox report delivery failed: %s", type(error).__name__)
                continue
            status = response.status_code
            if status < 500:
                return status
        if ctx.sandbox_http:
            return status
    return await receive_notification(ctx, gateway, body, headers)


# ------------------------------------------------------------------ admin actions


async def cancel_attempt(
    ctx: AppContext, gateway: PaymentGateway, attempt_id: int, *, actor_id: int
) -> tuple[bool, str]:
    """Admin cancel: stopped at the gateway first, so the member cannot pay what we call cancelled."""
    attempt = await payment_queries.attempt(ctx.db, attempt_id)
    if attempt is None or attempt["state"] not in payment_queries.LIVE_STATES:
        return False, "このお支払い手続きは進行中ではないため、取り消せません。"
    if attempt["reference"] and attempt["gateway"] == gateway.name:
        try:
            await gateway.cancel(str(attempt["reference"]))
        except GatewayUnavailable as error:
            log.warning("gateway cancel failed: %s", error.detail)
            return False, "決済サービスで取り消せませんでした。しばらくしてからもう一度お試しください。"
    now = ctx.clock.now()
    row = await payment_queries.cancel_attempt(ctx.db, attempt_id, now=now)
    if row is None:
        return False, "このお支払い手続きは進行中ではないため、取り消せません。"
    await audit.record(
        ctx.db,
        "payment.attempt_cancelled",
        now=now,
        actor_member_id=actor_id,
        detail={"attempt_id": attempt_id, "fee_id": attempt["fee_id"]},
    )
    return True, "お支払い手続きを取り消しました。会員は新しくお支払い手続きができます。"


async def mark_paid_by_transfer(
    ctx: AppContext, gateway: PaymentGateway | None, fee_id: int, *, note: str, paid_on: date, actor_id: int
) -> tuple[bool, str]:
    """A fee paid by bank transfer; a live attempt is cancelled here and, best effort, at the gateway."""
    now = ctx.clock.now()
    tz = ctx.settings.tz
    paid_at = datetime(paid_on.year, paid_on.month, paid_on.day, 12, tzinfo=tz)
    done, cancelled = await payment_queries.mark_paid_by_transfer(
        ctx.db, fee_id, note=note, paid_at=paid_at, now=now
    )
    if not done:
        return False, "この会費はすでにお支払い済みです。"
    await membership.on_fee_paid(ctx, fee_id)
    if cancelled is not None and cancelled["reference"]:
        try:
            if gateway is None or cancelled["gateway"] != gateway.name:
                raise GatewayUnavailable("gateway for the attempt is not configured")
            await gateway.cancel(str(cancelled["reference"]))
        except GatewayUnavailable as error:
            log.warning("gateway cancel after bank transfer failed: %s", error.detail)
            await payment_queries.flag_attempt(
                ctx.db,
                int(cancelled["id"]),
                "銀行振込で入金済みにしましたが、決済サービスでの取り消しに失敗しました。二重払いにご注意ください。",
                now=now,
            )
    await audit.record(
        ctx.db,
        "payment.marked_paid_bank_transfer",
        now=now,
        actor_member_id=actor_id,
        detail={"fee_id": fee_id, "paid_on": paid_on.isoformat(), "note": note},
    )
    return True, "銀行振込で入金済みにしました。"


# ------------------------------------------------------------------ receipts


async def tax_mode(ctx: AppContext) -> TaxMode:
    value = (await app_settings.get_all(ctx.db)).get(TAX_MODE_KEY, "outside")
    return "inclusive10" if value == "inclusive10" else "outside"


@dataclass(frozen=True)
class ReceiptFile:
    pdf: bytes
    receipt_number: str
    reissue: bool


async def receipt_pdf(ctx: AppContext, member: sqlite3.Row, fee: sqlite3.Row) -> ReceiptFile:
    """Number (first time) or count (again) the fee's receipt and render it in a worker thread.

    The first issue fixes what the receipt says (payer, issuer, registration number, tax line, test
    payment): later changes to the settings or the member's name never change an issued receipt.
    """
    now = ctx.clock.now()
    tz = ctx.settings.tz
    today = now.astimezone(tz).date()
    paid_at = from_db(fee["paid_at"]) or now
    org = ctx.org
    number = org.invoice_number.strip()
    if not _REGISTRATION_NUMBER.fullmatch(number):
        number = ""  # a malformed number is left off rather than failing the member's download
    receipt = await payment_queries.issue_receipt(
        ctx.db,
        int(fee["id"]),
        year=today.year,
        member_number=str(fee["member_number"]),
        payer_name=f"{member['family_name']} {member['given_name']}".strip() or str(member["member_number"]),
        amount=int(fee["amount"]),
        purpose=receipt_purpose(str(fee["item_name"])),
        payment_method=PAID_METHOD_LABELS.get(str(fee["paid_method"] or ""), "その他"),
        paid_on=paid_at.astimezone(tz).date(),
        issued_on=today,
        now=now,
        issuer_name=org.org_name,
        issuer_address=org.org_address,
        registration_number=number,
        tax_mode=await tax_mode(ctx) if number else "outside",
    )
    registration = str(receipt["registration_number"] or "")
    data = ReceiptData(
        receipt_number=str(receipt["receipt_number"]),
        issue_date=date.fromisoformat(str(receipt["issued_on"])),
        payer_name=str(receipt["payer_name"]),
        amount=int(receipt["amount"]),
        purpose=str(receipt["purpose"]),
        payment_method=str(receipt["payment_method"]),
        paid_on=date.fromisoformat(str(receipt["paid_on"])),
        issuer_name=str(receipt["issuer_name"]),
        issuer_address=str(receipt["issuer_address"] or ""),
        registration_number=registration or None,
        tax_mode="inclusive10" if registration and receipt["tax_mode"] == "inclusive10" else "outside",
        reissue=int(receipt["issue_count"]) > 1,
        test_payment=bool(receipt["test_payment"]),
    )
    pdf = await render_receipt_pdf_async(data, font=ctx.settings.pdf_font)
    await audit.record(
        ctx.db,
        "payment.receipt_downloaded",
        now=now,
        actor_member_id=member["id"],
        subject_member_id=member["id"],
        detail={"fee_id": fee["id"], "receipt_number": data.receipt_number, "count": receipt["issue_count"]},
    )
    return ReceiptFile(pdf=pdf, receipt_number=data.receipt_number, reissue=data.reissue)
