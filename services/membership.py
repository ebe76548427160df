"""Membership tiers: joining with a code, admin edits of tiers and codes, and what happens when a tier ends."""

from __future__ import annotations

import secrets
import sqlite3
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from db import audit, rate_limits
from db import members as members_db
from db import membership as queries
from db import payments as payment_queries
from db import tiers as tier_queries
from services.charset import check_text
from services.context import AppContext
from services.fees import current_fiscal_year, fiscal_year_range
from services.japanese import normalize_member_number
from services.notify import send_mail
from services.perks import PERK_LABELS, MemberTier, Perk, org_today, tier_of, tiers_for
from services.templates import WEEKDAYS_JA, plan_label

# Guessing a code is cheap; only failures count, so a member who types a real code is never held back.
CODE_FAILURES_PER_MEMBER = 10
CODE_FAILURES_PER_IP = 30
CODE_FAILURE_WINDOW = timedelta(hours=1)

CODE_REQUIRED = "コードを入力してください。"
CODE_UNKNOWN = "入力されたコードは見つかりませんでした。英字と数字をもう一度ご確認ください。"
CODE_EXPIRED = "このコードは有効期限（{date}まで）が過ぎているため、ご利用いただけません。"
CODE_USED_UP = "このコードは利用できる人数の上限に達したため、受け付けを終了しました。"
CODE_INACTIVE = "このコードは現在ご利用いただけません。発行元にお問い合わせください。"
CODE_ALREADY_REDEEMED = "このコードはすでにご利用済みです。"
CODE_ALREADY_IN_TIER = "すでに{tier}をご利用中のため、このコードを使う必要はありません。"
CODE_RATE_LIMITED = (
    "コードの入力に続けて失敗したため、しばらく受け付けを停止しています。"
    "1時間ほど時間をおいてから、もう一度お試しください。"
)

# Codes are read aloud and typed on phones: no look-alike characters in generated ones.
CODE_ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ23456789"
CODE_MIN_LENGTH = 4
CODE_MAX_LENGTH = 32
TIER_NAME_MAX_LENGTH = 40
NOTE_MAX_LENGTH = 200
SIGNUP_LINK_HOURS = 24


def normalize_code(raw: str) -> str:
    """What the member typed (full-width, lower case, spaces or hyphens) as the stored form."""
    text = unicodedata.normalize("NFKC", raw[:200]).upper()
    return "".join(ch for ch in text if ch.isascii() and ch.isalnum())


def generate_code(length: int = 10) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def fiscal_year(today: date) -> tuple[date, date]:
    """The Japanese fiscal year (April to March) that contains `today`."""
    start_year = today.year if today.month >= 4 else today.year - 1
    return date(start_year, 4, 1), date(start_year + 1, 3, 31)


def today_for(app: AppContext) -> date:
    return org_today(app.clock.now(), app.settings.tz)


@dataclass(frozen=True)
class CodeOutcome:
    ok: bool
    message: str
    tier_name: str = ""
    ends_on: date | None = None


def _problem_message(result: queries.Redemption) -> str:
    code = result.code
    if result.status == "expired" and code is not None:
        ends = date.fromisoformat(code["expires_on"])
        return CODE_EXPIRED.format(
            date=f"{ends.year}年{ends.month}月{ends.day}日({WEEKDAYS_JA[ends.weekday()]})"
        )
    if result.status == "already_in_tier" and code is not None:
        return CODE_ALREADY_IN_TIER.format(tier=plan_label(str(code["tier_name"])))
    return {
        "unknown": CODE_UNKNOWN,
        "inactive": CODE_INACTIVE,
        "used_up": CODE_USED_UP,
        "already_redeemed": CODE_ALREADY_REDEEMED,
    }.get(result.status, CODE_UNKNOWN)


def _buckets(member_id: int | None, ip: str) -> list[tuple[str, int]]:
    buckets = [(f"code-ip:{ip}", CODE_FAILURES_PER_IP)]
    if member_id is not None:
        buckets.append((f"code-member:{member_id}", CODE_FAILURES_PER_MEMBER))
    return buckets


async def _rate_limited(app: AppContext, member_id: int | None, ip: str) -> bool:
    now = app.clock.now()
    for bucket, limit in _buckets(member_id, ip):
        if await rate_limits.count(app.db, bucket, now=now, window=CODE_FAILURE_WINDOW) >= limit:
            return True
    return False


async def _count_failure(app: AppContext, member_id: int | None, ip: str) -> None:
    now = app.clock.now()
    for bucket, _ in _buckets(member_id, ip):
        await rate_limits.hit_and_count(app.db, bucket, now=now, window=CODE_FAILURE_WINDOW)


async def check_code(app: AppContext, raw: str, *, ip: str) -> str | None:
    """A Japanese error when a code given at sign-up could not be used; None when it could."""
    code = normalize_code(raw)
    if not code:
        return CODE_UNKNOWN if raw.strip() else None
    if await _rate_limited(app, None, ip):
        return CODE_RATE_LIMITED
    result = await queries.check_code(app.db, code, today_for(app))
    if result.status == "ok":
        return None
    await _count_failure(app, None, ip)
    return _problem_message(result)


async def redeem(app: AppContext, member_id: int, raw: str, *, ip: str) -> CodeOutcome:
    """Join the code's tier from today, in place of the current one."""
    code = normalize_code(raw)
    if not raw.strip():
        return CodeOutcome(False, CODE_REQUIRED)
    if await _rate_limited(app, member_id, ip):
        return CodeOutcome(False, CODE_RATE_LIMITED)
    now = app.clock.now()
    result = (
        await queries.redeem_code(app.db, code=code, member_id=member_id, today=today_for(app), now=now)
        if code
        else queries.Redemption("unknown")
    )
    if result.status != "ok":
        if result.status in ("unknown", "expired", "inactive", "used_up"):
            await _count_failure(app, member_id, ip)
        return CodeOutcome(False, _problem_message(result))
    assert result.code is not None
    await audit.record(
        app.db,
        "tier.code_redeemed",
        now=now,
        actor_member_id=member_id,
        subject_member_id=member_id,
        ip=ip,
        detail={"code_id": int(result.code["id"]), "tier": result.code["tier_name"]},
    )
    ends_on = date.fromisoformat(result.code["tier_ends_on"]) if result.code["tier_ends_on"] else None
    if ends_on is not None:
        message = (
            f"{plan_label(str(result.code['tier_name']))}に参加しました。"
            f"{ends_on.year}年{ends_on.month}月{ends_on.day}日({WEEKDAYS_JA[ends_on.weekday()]})までご利用いただけます。"
        )
    else:
        message = f"{plan_label(str(result.code['tier_name']))}に参加しました。"
    return CodeOutcome(True, message, str(result.code["tier_name"]), ends_on)


# --- the membership page ---------------------------------------------------------------------


@dataclass(frozen=True)
class PerkLine:
    label: str
    included: bool


def perk_lines(tier: MemberTier) -> list[PerkLine]:
    return [PerkLine(PERK_LABELS[perk], tier.may(perk)) for perk in Perk]


@dataclass(frozen=True)
class PlanColumn:
    """One tier in the side-by-side comparison on /settings/membership."""

    code: str
    name: str
    is_paid: bool
    annual_fee: int
    perks: list[PerkLine]
    current: bool
    # The member's fee for this tier and fiscal year, when one is waiting for payment.
    open_fee_id: int | None = None


def _perk_lines_of(row: sqlite3.Row) -> list[PerkLine]:
    return [PerkLine(PERK_LABELS[perk], bool(row[f"perk_{perk.value}"])) for perk in Perk]


async def membership_overview(app: AppContext, member_id: int) -> dict[str, Any]:
    """Everything /settings/membership shows, after settling a tier that ended since the last daily run."""
    await settle_member(app, member_id)
    tier = await tier_of(app.db, member_id, now=app.clock.now(), tz=app.settings.tz)
    year = current_fiscal_year(app.clock.now(), app.settings.tz)
    plans = []
    for row in await tier_queries.all_tiers(app.db):
        open_fee = None
        if row["is_paid"] and row["annual_fee"] > 0:
            fee = await queries.open_tier_fee(app.db, member_id, int(row["id"]), year)
            open_fee = (
                int(fee["id"])
                if fee is not None and fee["status"] in ("unpaid", "awaiting_konbini")
                else None
            )
        plans.append(
            PlanColumn(
                code=str(row["code"]),
                name=str(row["name"]),
                is_paid=bool(row["is_paid"]),
                annual_fee=int(row["annual_fee"]),
                perks=_perk_lines_of(row),
                current=row["code"] == tier.code,
                open_fee_id=open_fee,
            )
        )
    return {
        "tier": tier,
        "perks": perk_lines(tier),
        "plans": plans,
        "fiscal_year": year,
        "year_end": fiscal_year_range(year)[1],
        "history": await queries.tier_history(app.db, member_id, limit=5),
        "closure": await queries.pending_closure(app.db, member_id),
    }


# --- joining and renewing the paid tier online -----------------------------------------------------

APPLY_NOT_ON_SALE = (
    "このプランは、現在オンラインでのお申し込みを受け付けていません。事務局にお問い合わせください。"
)
APPLY_ALREADY = "{plan}は{date}までご利用いただけます。今年度のお申し込みは必要ありません。"


def tier_fee_name(year: int, tier_name: str) -> str:
    """The fee's name, as 会費支払明細 and the receipt show it: 「2026年度 「有料会員」プラン会費」."""
    return f"{year}年度 {plan_label(tier_name)}会費"


@dataclass(frozen=True)
class Application:
    fee_id: int | None
    message: str = ""


async def apply_online(app: AppContext, member_id: int, tier_code: str, *, ip: str) -> Application:
    """「…に申し込む」: the tier's fee for this fiscal year, issued once however often the button is pressed;
    the tier itself starts when the payment is confirmed (on_fee_paid)."""
    tier = await queries.get_tier_by_code(app.db, tier_code)
    if tier is None or not tier["is_paid"] or int(tier["annual_fee"]) <= 0:
        return Application(None, APPLY_NOT_ON_SALE)
    now = app.clock.now()
    year = current_fiscal_year(now, app.settings.tz)
    year_end = fiscal_year_range(year)[1]
    current = await tier_of(app.db, member_id, now=now, tz=app.settings.tz)
    if current.code == tier["code"] and (current.ends_on is None or current.ends_on >= year_end):
        ends = current.ends_on or year_end
        return Application(
            None,
            APPLY_ALREADY.format(
                plan=plan_label(str(tier["name"])),
                date=f"{ends.year}年{ends.month}月{ends.day}日({WEEKDAYS_JA[ends.weekday()]})",
            ),
        )
    item_id = await queries.tier_fee_item(
        app.db, tier, year, name=tier_fee_name(year, str(tier["name"])), due_on=year_end, now=now
    )
    if await payment_queries.issue_fee_item_to(app.db, item_id, member_id, now=now):
        await audit.record(
            app.db,
            "tier.applied_online",
            now=now,
            actor_member_id=member_id,
            subject_member_id=member_id,
            ip=ip,
            detail={"tier": tier["code"], "fiscal_year": year},
        )
    fee = await payment_queries.fee_for_member_item(app.db, member_id, item_id)
    assert fee is not None
    return Application(int(fee["id"]))


async def on_fee_paid(app: AppContext, fee_id: int) -> bool:
    """A paid fee whose item is a tier's: the member is in that tier for the item's fiscal year (from today
    when paid during the year). Called for every confirmed payment; once per fee."""
    row = await queries.fee_tier(app.db, fee_id)
    if row is None or row["member_id"] is None or row["status"] != "paid":
        return False
    start, end = fiscal_year_range(int(row["fiscal_year"]))
    today = today_for(app)
    granted = await queries.grant_tier_for_fee(
        app.db,
        fee_id=fee_id,
        member_id=int(row["member_id"]),
        tier_id=int(row["tier_id"]),
        starts_on=max(start, today),
        ends_on=end,
        now=app.clock.now(),
    )
    if granted:
        await audit.record(
            app.db,
            "tier.joined_by_payment",
            now=app.clock.now(),
            subject_member_id=int(row["member_id"]),
            detail={"fee_id": fee_id, "tier": row["code"], "ends_on": end.isoformat()},
        )
    return granted


async def issue_renewals(app: AppContext, fiscal_year: int) -> int:
    """Next year's tier fees, issued with the annual fees (and by the daily job once the year has begun):
    each member whose paid-for tier ends with the previous year gets the fee, and keeps the tier for the
    grace period (TSUDOI_TIER_GRACE_DAYS) while it is unpaid; after that it ends as any tier ends."""
    previous_end = fiscal_year_range(fiscal_year - 1)[1]
    grace_end = previous_end + timedelta(days=app.settings.tier_grace_days)
    now = app.clock.now()
    issued = 0
    for tier in await queries.paid_tiers_on_sale(app.db):
        item_id = await queries.tier_fee_item(
            app.db,
            tier,
            fiscal_year,
            name=tier_fee_name(fiscal_year, str(tier["name"])),
            due_on=grace_end,
            now=now,
        )
        issued += await queries.issue_tier_renewals(
            app.db,
            tier_id=int(tier["id"]),
            item_id=item_id,
            year_end=previous_end,
            grace_end=grace_end,
            now=now,
        )
    return issued


# --- admin: tiers and codes ------------------------------------------------------------------

# Short names for the admin's tier table, in the order of queries.PERK_COLUMNS.
PERK_TITLES = ("毎日の新着お知らせメール", "イベント情報", "会員限定記事")


def validate_tier_form(values: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    name = values.get("name", "").strip()
    if not name:
        errors["name"] = "プランの名前を入力してください。"
    elif len(name) > TIER_NAME_MAX_LENGTH:
        errors["name"] = f"プランの名前は{TIER_NAME_MAX_LENGTH}文字以内で入力してください。"
    elif message := check_text(name):
        errors["name"] = message
    perks = {column: values.get(column) in {"1", "on", "true"} for column in queries.PERK_COLUMNS}
    fee_text = (
        unicodedata.normalize("NFKC", values.get("annual_fee", "")).replace(",", "").replace("円", "").strip()
    )
    annual_fee = 0
    if fee_text:
        if not fee_text.isascii() or not fee_text.isdigit() or int(fee_text) > 9_999_999:
            errors["annual_fee"] = (
                "年額は0円から9,999,999円までの整数で入力してください（0または空欄：オンラインでの申し込みなし）。"
            )
        else:
            annual_fee = int(fee_text)
    return {"name": name, "perks": perks, "annual_fee": annual_fee}, errors


async def update_tier(app: AppContext, tier_id: int, clean: dict[str, Any], *, admin_id: int) -> None:
    await queries.update_tier(
        app.db, tier_id, name=clean["name"], perks=clean["perks"], annual_fee=clean.get("annual_fee", 0)
    )
    await audit.record(
        app.db,
        "tier.updated",
        now=app.clock.now(),
        actor_member_id=admin_id,
        detail={
            "tier_id": tier_id,
            "name": clean["name"],
            "annual_fee": clean.get("annual_fee", 0),
            **clean["perks"],
        },
    )


def _parse_date(raw: str) -> date | None:
    text = unicodedata.normalize("NFKC", raw).strip().replace("/", "-")
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def validate_code_form(
    values: dict[str, str], tiers: list[sqlite3.Row], today: date
) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    raw_code = values.get("code", "")
    code = normalize_code(raw_code) if raw_code.strip() else generate_code()
    if raw_code.strip() and not CODE_MIN_LENGTH <= len(code) <= CODE_MAX_LENGTH:
        errors["code"] = (
            f"コードは半角の英字と数字で{CODE_MIN_LENGTH}〜{CODE_MAX_LENGTH}文字にしてください"
            "（空欄にすると自動で作成します）。"
        )
    tier_ids = {str(row["id"]): row for row in tiers}
    tier = tier_ids.get(values.get("tier_id", ""))
    if tier is None:
        errors["tier_id"] = "参加できるプランを選んでください。"
    use_limit: int | None = None
    raw_limit = unicodedata.normalize("NFKC", values.get("use_limit", "")).strip()
    if raw_limit:
        if not raw_limit.isascii() or not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 1_000_000:
            errors["use_limit"] = "利用できる人数は1以上の数字で入力してください（空欄は無制限）。"
        else:
            use_limit = int(raw_limit)
    expires_on = None
    if values.get("expires_on", "").strip():
        expires_on = _parse_date(values["expires_on"])
        if expires_on is None:
            errors["expires_on"] = "有効期限は 2027-03-31 の形式で入力してください。"
        elif expires_on < today:
            errors["expires_on"] = "有効期限には今日以降の日付を入力してください。"
    tier_ends_on = None
    if values.get("tier_ends_on", "").strip():
        tier_ends_on = _parse_date(values["tier_ends_on"])
        if tier_ends_on is None:
            errors["tier_ends_on"] = "プランの終了日は 2027-03-31 の形式で入力してください。"
        elif tier_ends_on < today:
            errors["tier_ends_on"] = "プランの終了日には今日以降の日付を入力してください。"
    note = values.get("note", "").strip()
    if len(note) > NOTE_MAX_LENGTH:
        errors["note"] = f"メモは{NOTE_MAX_LENGTH}文字以内で入力してください。"
    elif message := check_text(note):
        errors["note"] = message
    clean = {
        "code": code,
        "tier_id": int(tier["id"]) if tier is not None else 0,
        "use_limit": use_limit,
        "expires_on": expires_on,
        "tier_ends_on": tier_ends_on,
        "note": note,
    }
    return clean, errors


async def create_code(app: AppContext, clean: dict[str, Any], *, admin_id: int) -> int | None:
    """The new code's id, or None when that code already exists."""
    code_id = await queries.create_code(
        app.db,
        code=clean["code"],
        tier_id=clean["tier_id"],
        use_limit=clean["use_limit"],
        expires_on=clean["expires_on"],
        tier_ends_on=clean["tier_ends_on"],
        note=clean["note"],
        now=app.clock.now(),
    )
    if code_id is not None:
        await audit.record(
            app.db,
            "tier.code_created",
            now=app.clock.now(),
            actor_member_id=admin_id,
            detail={"code_id": code_id, "code": clean["code"]},
        )
    return code_id


async def validate_grant_form(
    app: AppContext, values: dict[str, str]
) -> tuple[sqlite3.Row | None, str, date | None, dict[str, str]]:
    """The admin's "put this member in a tier" form: (member, tier code, end date, errors)."""
    errors: dict[str, str] = {}
    number = normalize_member_number(values.get("member_number", ""))
    member = await members_db.get_by_number(app.db, number) if number else None
    if member is None or member["status"] != "active":
        errors["member_number"] = "その会員番号の会員は見つかりませんでした（退会済みの会員は選べません）。"
        member = None
    tier_code = values.get("tier_code", "")
    if await queries.get_tier_by_code(app.db, tier_code) is None:
        errors["tier_code"] = "プランを選んでください。"
    ends_on = None
    if values.get("ends_on", "").strip():
        ends_on = _parse_date(values["ends_on"])
        if ends_on is None:
            errors["ends_on"] = "終了日は 2027-03-31 の形式で入力してください。"
        elif ends_on < today_for(app):
            errors["ends_on"] = "終了日には今日以降の日付を入力してください。"
    return member, tier_code, ends_on, errors


async def grant_tier(
    app: AppContext,
    member_id: int,
    tier_code: str,
    *,
    ends_on: date | None,
    source: str,
    actor_id: int | None = None,
) -> int:
    """Put a member in a tier from today (an admin's decision, a paid fee), replacing the current one."""
    tier = await queries.get_tier_by_code(app.db, tier_code)
    if tier is None:
        raise ValueError(f"unknown tier: {tier_code}")
    member_tier_id = await queries.grant_tier(
        app.db,
        member_id=member_id,
        tier_id=int(tier["id"]),
        today=today_for(app),
        ends_on=ends_on,
        source=source,
        now=app.clock.now(),
    )
    await audit.record(
        app.db,
        "tier.granted",
        now=app.clock.now(),
        actor_member_id=actor_id,
        subject_member_id=member_id,
        detail={"tier": tier_code, "ends_on": ends_on.isoformat() if ends_on else None, "source": source},
    )
    return member_tier_id


# --- tier endings ------------------------------------------------------------------------------

# Past this, an ending found late (the app was off for weeks) is settled without a stale mail.
NOTICE_GRACE = timedelta(days=7)


async def apply_tier_endings(app: AppContext) -> int:
    """The daily job: tiers whose last day has passed lose their perks (that needs no write: perks
    are read by date), daily digests without the perk fall back to weekly, and each member is told
    by e-mail. Safe to run twice or on several workers. Returns the number of mails sent.
    Renewal fees of the paid tier go out first (if the annual fees have not already taken them), so a
    tier paid online moves into its grace period instead of ending on the year's last day."""
    await issue_renewals(app, current_fiscal_year(app.clock.now(), app.settings.tz))
    sent = await _settle(app, None)
    # Unconfirmed sign-ups whose link ran out keep no personal data.
    await queries.expire_signup_requests(
        app.db, created_before=app.clock.now() - timedelta(hours=SIGNUP_LINK_HOURS)
    )
    return sent


async def settle_member(app: AppContext, member_id: int) -> int:
    """The same as the daily job for one member, wherever a stale state would show."""
    return await _settle(app, member_id)


async def _settle(app: AppContext, member_id: int | None) -> int:
    now = app.clock.now()
    today = org_today(now, app.settings.tz)
    ended: list[sqlite3.Row] = []
    if member_id is None or await queries.has_unprocessed_ending(app.db, member_id, today):
        ended = await queries.claim_ended_tiers(app.db, today=today, now=now, member_id=member_id)
    daily = await queries.daily_digest_member_ids(app.db, member_id)
    candidates = sorted({int(row["member_id"]) for row in ended} | set(daily))
    if not candidates:
        return 0
    current = await tiers_for(app.db, candidates, now=now, tz=app.settings.tz)
    members = await queries.members_by_ids(app.db, candidates)
    tiers = await queries.tiers_by_ids(app.db)
    ended_by_member: dict[int, sqlite3.Row] = {}
    for row in ended:
        previous = ended_by_member.get(int(row["member_id"]))
        if previous is None or row["ends_on"] > previous["ends_on"]:
            ended_by_member[int(row["member_id"])] = row
    sent = 0
    for candidate in candidates:
        member = members.get(candidate)
        if member is None or member["status"] != "active":
            continue
        tier = current[candidate]
        fell_back = False
        if member["digest_frequency"] == "daily" and not tier.may(Perk.DAILY_DIGEST):
            fell_back = await queries.fall_back_to_weekly(app.db, candidate, now=now)
        ending = ended_by_member.get(candidate)
        ended_tier = tiers.get(int(ending["tier_id"])) if ending is not None else None
        ended_on = date.fromisoformat(ending["ends_on"]) if ending is not None else None
        # Renewed (the same tier again today) or long past: nothing to tell about the ending itself.
        tell_ending = (
            ended_tier is not None
            and ended_on is not None
            and ended_tier["code"] != tier.code
            and today - ended_on <= NOTICE_GRACE
        )
        if fell_back:
            await audit.record(
                app.db, "digest.fell_back_to_weekly", now=now, subject_member_id=candidate, detail={}
            )
        if not (tell_ending or fell_back):
            continue
        if await _send_ending_mail(
            app,
            member,
            ended_tier_name=str(ended_tier["name"]) if tell_ending and ended_tier is not None else "",
            ended_on=ended_on if tell_ending else None,
            current=tier,
            fell_back=fell_back,
        ):
            sent += 1
    return sent


async def _send_ending_mail(
    app: AppContext,
    member: sqlite3.Row,
    *,
    ended_tier_name: str,
    ended_on: date | None,
    current: MemberTier,
    fell_back: bool,
) -> bool:
    if ended_tier_name:
        subject = f"【{app.org.short_name}】{plan_label(ended_tier_name)}のご利用期間が終了しました"
    else:
        subject = f"【{app.org.short_name}】新着お知らせメールの配信頻度を変更しました"
    return await send_mail(
        app.db,
        app.mailer,
        kind="tier_ended",
        to=member["email"],
        subject=subject,
        context={
            "org": app.org,
            "member": member,
            "ended_tier_name": ended_tier_name,
            "ended_on": ended_on,
            "current_tier_name": current.name,
            "fell_back": fell_back,
            "membership_url": f"{app.settings.base_url}/settings/membership",
            "mail_settings_url": f"{app.settings.base_url}/settings/mail",
        },
        now=app.clock.now(),
    )


# --- demo --------------------------------------------------------------------------------------

DEMO_CODE = "TSUDOI2026"
DEMO_TIER_FEE = 5_000


async def demo_membership(app: AppContext) -> None:
    """Demo member 001234 is in the Members tier for this fiscal year; a demo code exists."""
    today = today_for(app)
    start, end = fiscal_year(today)
    await queries.set_demo_annual_fee(app.db, "members", DEMO_TIER_FEE)
    members_tier = await queries.get_tier_by_code(app.db, "members")
    assert members_tier is not None
    member = await members_db.get_by_number(app.db, "001234")
    if member is not None and not await queries.has_tier_source(app.db, int(member["id"]), "demo"):
        await queries.add_tier_period(
            app.db,
            member_id=int(member["id"]),
            tier_id=int(members_tier["id"]),
            starts_on=start,
            ends_on=end,
            source="demo",
            now=app.clock.now(),
        )
    if await queries.get_code_by_text(app.db, DEMO_CODE) is None:
        await queries.create_code(
            app.db,
            code=DEMO_CODE,
            tier_id=int(members_tier["id"]),
            use_limit=100,
            expires_on=end,
            tier_ends_on=end,
            note="デモ用のキャンペーンコード",
            now=app.clock.now(),
        )
