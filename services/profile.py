"""Member profile (会員情報): the field rules shared by /profile, sign-up and import, saving, e-mail change."""

from __future__ import annotations

import sqlite3
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from db import audit
from db import members as members_db
from db import profile as profile_db
from db.members import PROFILE_COLUMNS
from db.timestamps import from_db
from services.charset import DEFAULT_CHARSET, CharsetMode, charset_mode, check_text
from services.context import AppContext
from services.japanese import (
    PREFECTURES,
    check_furigana,
    format_phone,
    format_postal_code,
    lookup_postal_code,
    normalize_email,
    normalize_phone,
    normalize_postal_code,
    to_katakana,
)
from services.notify import send_mail
from services.rate_limit import Limit, allow
from services.tokens import TokenExpired, TokenInvalid, make_token, read_token, use_token

__all__ = [
    "EDITABLE_FIELDS",
    "EMAIL_CHANGE_MAX_AGE",
    "EMAIL_CHANGE_PURPOSE",
    "LABELS",
    "MAX_LENGTHS",
    "PROFILE_FIELDS",
    "REQUIRED_FIELDS",
    "ConfirmOutcome",
    "Difference",
    "PostalFill",
    "SaveOutcome",
    "cancel_email_change",
    "confirm_email_change",
    "differences",
    "display_values",
    "email_change_expires_at",
    "postal_fill",
    "save_profile",
    "validate_profile",
]

# The member CSV's column names (DESIGN.md §4), in form order. membership_type is set by the
# organization, so it is validated when given (import, admin) but never taken from /profile.
EDITABLE_FIELDS: tuple[str, ...] = tuple(column for column in PROFILE_COLUMNS if column != "membership_type")
PROFILE_FIELDS: tuple[str, ...] = (*EDITABLE_FIELDS, "membership_type")
REQUIRED_FIELDS: frozenset[str] = frozenset(
    {"family_name", "given_name", "family_kana", "given_kana", "email"}
)

LABELS: dict[str, str] = {
    "family_name": "姓",
    "given_name": "名",
    "family_kana": "フリガナ（セイ）",
    "given_kana": "フリガナ（メイ）",
    "email": "メールアドレス",
    "phone": "電話番号",
    "postal_code": "郵便番号",
    "prefecture": "都道府県",
    "address1": "住所1（市区町村・番地）",
    "address2": "住所2（建物名・部屋番号）",
    "affiliation": "勤務先・所属",
    "membership_type": "会員種別",
}

MAX_LENGTHS: dict[str, int] = {
    "family_name": 50,
    "given_name": 50,
    "family_kana": 100,
    "given_kana": 100,
    "address1": 100,
    "address2": 100,
    "affiliation": 100,
    "membership_type": 50,
}

_PLAIN_TEXT_FIELDS = ("family_name", "given_name", "address1", "address2", "affiliation")
_KANA_FIELDS = ("family_kana", "given_kana")

EMAIL_CHANGE_PURPOSE = "email-change"
EMAIL_CHANGE_MAX_AGE = timedelta(hours=24)
# Each change mails two addresses; a handful an hour is plenty for a person and useless for spam.
EMAIL_CHANGE_LIMIT = Limit("email-change", 5, timedelta(hours=1))
EMAIL_CHANGE_RATE_LIMITED = (
    "メールアドレスの変更が短時間に続いたため、受け付けを一時停止しています。"
    "1時間ほど時間をおいてから、もう一度お試しください。"
)
PREFECTURE_ERROR = "都道府県は一覧から選んでください。"


def _required_message(name: str) -> str:
    if name == "prefecture":
        return "都道府県を選んでください。"
    return f"{LABELS[name]}を入力してください。"


def _check_length_and_charset(name: str, value: str, charset: CharsetMode = DEFAULT_CHARSET) -> str | None:
    limit = MAX_LENGTHS.get(name)
    if limit is not None and len(value) > limit:
        return f"{LABELS[name]}は{limit}文字以内で入力してください（現在{len(value)}文字）。"
    problem = check_text(value, charset=charset)
    return f"{LABELS[name]}の{problem}" if problem else None


def _normalize_prefecture(raw: str) -> str | None:
    value = unicodedata.normalize("NFKC", raw).strip()
    if value in PREFECTURES:
        return value
    # Spreadsheets often drop the suffix (東京, 大阪); 北海道 has none to drop.
    for prefecture in PREFECTURES:
        if prefecture != "北海道" and prefecture[:-1] == value:
            return prefecture
    return None


def validate_profile(
    form_values: Mapping[str, str],
    *,
    required: Collection[str] = REQUIRED_FIELDS,
    charset: CharsetMode | str = DEFAULT_CHARSET,
) -> tuple[dict[str, str], dict[str, str]]:
    """Check and normalize profile values keyed by the member CSV's column names.

    Returns (clean values, errors): clean holds every field of EDITABLE_FIELDS (plus
    membership_type when it was given), normalized for storage — phone and postal code as
    digits, furigana in katakana, e-mail with a lowercased domain. errors maps a field name to
    one Japanese message. A missing key counts as an empty value. Pure: no database, no clock.
    charset is the organization's character range for names and addresses (OrgSettings.name_charset).
    """
    mode = charset_mode(charset)
    clean: dict[str, str] = {}
    errors: dict[str, str] = {}

    def raw(name: str) -> str:
        value = form_values.get(name, "")
        return value if isinstance(value, str) else ""

    names = [*EDITABLE_FIELDS, *(["membership_type"] if "membership_type" in form_values else [])]
    for name in names:
        typed = raw(name)
        if name in _KANA_FIELDS:
            value = to_katakana(typed.strip())
            problem = None
            if value:
                problem = _check_length_and_charset(name, value, mode)
                if problem is None and check_furigana(value):
                    problem = f"{LABELS[name]}はカタカナ（またはひらがな）で入力してください。"
        elif name == "email":
            value, problem = normalize_email(typed, required=False)
            if value and problem is None:
                problem = _check_length_and_charset(name, value)
        elif name == "phone":
            value, problem = normalize_phone(typed, required=False)
        elif name == "postal_code":
            value, problem = normalize_postal_code(typed, required=False)
        elif name == "prefecture":
            value = typed.strip()
            problem = None
            if value:
                prefecture = _normalize_prefecture(value)
                if prefecture is None:
                    problem = PREFECTURE_ERROR
                else:
                    value = prefecture
        else:
            value = typed.strip()
            problem = _check_length_and_charset(name, value, mode) if value else None
        if not value.strip() and problem is None and name in required:
            problem = _required_message(name)
        clean[name] = value.strip()
        if problem:
            errors[name] = problem
    return clean, errors


def display_values(member: sqlite3.Row | Mapping[str, object]) -> dict[str, str]:
    """The stored profile as the form shows it: phone and postal code formatted."""
    values = {name: str(member[name] or "") for name in EDITABLE_FIELDS}
    values["phone"] = format_phone(values["phone"])
    values["postal_code"] = format_postal_code(values["postal_code"])
    return values


@dataclass(frozen=True, slots=True)
class Difference:
    """A field the member typed differently from what another tab saved meanwhile."""

    name: str
    label: str
    latest: str
    typed: str


def differences(latest: sqlite3.Row | Mapping[str, object], typed: Mapping[str, str]) -> list[Difference]:
    """What the stale form would have changed, compared with the newer saved data."""
    clean, _ = validate_profile(typed, required=())
    shown = display_values(latest)
    found: list[Difference] = []
    for name in EDITABLE_FIELDS:
        stored = str(latest[name] or "")
        if clean.get(name, "") != stored:
            found.append(Difference(name, LABELS[name], shown[name], str(typed.get(name, "")).strip()))
    return found


@dataclass(frozen=True, slots=True)
class PostalFill:
    """What the postal-code lookup puts into the prefecture and address fields."""

    found: bool
    prefecture: str
    address1: str
    candidates: tuple[str, ...] = ()
    message: str = ""


def postal_fill(postal_code: str, *, prefecture: str = "", address1: str = "") -> PostalFill | None:
    """The address for a complete postal code (offline Japan Post data), or None while it is incomplete.

    Blocking (a SQLite lookup): call it from a worker thread. What the member already typed is kept
    when the code is unknown, and address1 is kept when it already starts with the found address
    (so retyping the same code never erases the street number).
    """
    digits, error = normalize_postal_code(postal_code)
    if error or len(digits) != 7:
        return None
    address = lookup_postal_code(digits)
    if address is None:
        return PostalFill(
            found=False,
            prefecture=prefecture,
            address1=address1,
            message="この郵便番号の住所が見つかりませんでした。番号をご確認いただくか、住所を直接入力してください。",
        )
    base = address.city + address.town
    candidates = tuple(address.city + town for town in address.town_candidates)
    if candidates:
        message = (
            "この郵便番号には複数の町域があります。住所1の候補から選ぶか、町名から続けて入力してください。"
        )
    else:
        message = "都道府県と住所1を入力しました。続けて番地を入力してください。"
    keep = address1.strip() if address1.strip().startswith(base) and prefecture == address.prefecture else ""
    return PostalFill(
        found=True,
        prefecture=address.prefecture,
        address1=keep or base,
        candidates=candidates,
        message=message,
    )


@dataclass
class SaveOutcome:
    status: Literal["saved", "stale", "invalid"]
    latest: sqlite3.Row | None = None
    """The newer saved data, when the form was stale."""
    errors: dict[str, str] = field(default_factory=dict)
    email_change_to: str = ""
    email_change_mail_sent: bool = False


def email_change_expires_at(member: sqlite3.Row) -> datetime | None:
    requested = from_db(member["pending_email_requested_at"])
    return requested + EMAIL_CHANGE_MAX_AGE if requested else None


def _current_email(member: sqlite3.Row) -> str:
    stored = str(member["email"] or "")
    normalized, error = normalize_email(stored, required=False)
    return stored if error else normalized


async def save_profile(
    app: AppContext,
    member: sqlite3.Row,
    form_values: Mapping[str, str],
    *,
    expected_version: int,
    ip: str = "",
) -> SaveOutcome:
    """Validate and save the member's own profile, refusing a form loaded before a newer save.

    An e-mail change is not applied: the new address gets a confirmation link (24 h) and the
    old one a notice; the old address stays in use until the link is opened.
    """
    member_id = int(member["id"])
    if expected_version != int(member["profile_version"]):
        return SaveOutcome("stale", latest=member)
    # A member imported without an address (letters by post) may keep it empty; one who has one keeps one.
    required = REQUIRED_FIELDS if member["email"] else REQUIRED_FIELDS - {"email"}
    clean, errors = validate_profile(form_values, required=required, charset=app.org.name_charset)
    if errors:
        return SaveOutcome("invalid", errors=errors)

    now = app.clock.now()
    new_email = clean["email"]
    email_changed = new_email != _current_email(member)
    if email_changed and not await allow(app.db, EMAIL_CHANGE_LIMIT, str(member_id), now=now):
        return SaveOutcome("invalid", errors={"email": EMAIL_CHANGE_RATE_LIMITED})

    saved = await profile_db.save_profile(
        app.db,
        member_id,
        clean,
        expected_version=expected_version,
        pending_email=new_email if email_changed else None,
        now=now,
    )
    if not saved:
        return SaveOutcome("stale", latest=await members_db.get_by_id(app.db, member_id))

    changed = [name for name in profile_db.SAVED_COLUMNS if clean[name] != str(member[name] or "")]
    await audit.record(
        app.db,
        "profile_saved",
        now=now,
        actor_member_id=member_id,
        subject_member_id=member_id,
        ip=ip,
        detail={"changed": changed, "email_change_requested": email_changed},
    )
    outcome = SaveOutcome("saved")
    if email_changed:
        outcome.email_change_to = new_email
        outcome.email_change_mail_sent = await _send_email_change_mails(app, member, new_email, now=now)
    return outcome


async def _send_email_change_mails(
    app: AppContext, member: sqlite3.Row, new_email: str, *, now: datetime
) -> bool:
    token = make_token(
        app.settings.secret_key,
        EMAIL_CHANGE_PURPOSE,
        {"member_id": int(member["id"]), "email": new_email},
        now=now,
    )
    context = {
        "org": app.org,
        "member": member,
        "old_email": member["email"],
        "new_email": new_email,
        "confirm_url": f"{app.settings.base_url}/profile/email/confirm/{token}",
        "expires_at": now + EMAIL_CHANGE_MAX_AGE,
        "profile_url": f"{app.settings.base_url}/profile",
    }
    sent = await send_mail(
        app.db,
        app.mailer,
        kind="email_change_confirm",
        to=new_email,
        subject=f"【{app.org.short_name}】メールアドレス変更の確認",
        context=context,
        now=now,
    )
    if member["email"]:
        await send_mail(
            app.db,
            app.mailer,
            kind="email_change_notice",
            to=str(member["email"]),
            subject=f"【{app.org.short_name}】メールアドレス変更手続きのお知らせ",
            context=context,
            now=now,
        )
    return sent


async def cancel_email_change(app: AppContext, member_id: int, *, ip: str = "") -> bool:
    cancelled = await profile_db.clear_pending_email(app.db, member_id)
    if cancelled:
        await audit.record(
            app.db,
            "email_change_cancelled",
            now=app.clock.now(),
            actor_member_id=member_id,
            subject_member_id=member_id,
            ip=ip,
        )
    return cancelled


@dataclass(frozen=True, slots=True)
class ConfirmOutcome:
    status: Literal["changed", "already", "expired", "invalid"]
    email: str = ""


async def confirm_email_change(app: AppContext, token: str, *, ip: str = "") -> ConfirmOutcome:
    """Apply a pending e-mail change from the link in the confirmation mail (single use, 24 h)."""
    now = app.clock.now()
    max_age = int(EMAIL_CHANGE_MAX_AGE.total_seconds())
    try:
        payload = read_token(
            app.settings.secret_key, EMAIL_CHANGE_PURPOSE, token, max_age_seconds=max_age, now=now
        )
    except TokenExpired:
        return ConfirmOutcome("expired")
    except TokenInvalid:
        return ConfirmOutcome("invalid")
    member_id, email = payload.get("member_id"), payload.get("email")
    if not isinstance(member_id, int) or not isinstance(email, str):
        return ConfirmOutcome("invalid")
    member = await members_db.get_by_id(app.db, member_id)
    if member is None or member["status"] != "active":
        return ConfirmOutcome("invalid")
    if member["pending_email"] != email:
        # Opened twice (or by a mail scanner first): the change is done, say so kindly.
        return ConfirmOutcome("already", email) if member["email"] == email else ConfirmOutcome("invalid")
    try:
        await use_token(
            app.db, app.settings.secret_key, EMAIL_CHANGE_PURPOSE, token, max_age_seconds=max_age, now=now
        )
    except TokenInvalid:
        return ConfirmOutcome("invalid")
    if not await profile_db.confirm_email(app.db, member_id, email, now=now):
        return ConfirmOutcome("invalid")
    await audit.record(
        app.db,
        "email_changed",
        now=now,
        actor_member_id=member_id,
        subject_member_id=member_id,
        ip=ip,
        detail={"from": member["email"], "to": email},
    )
    return ConfirmOutcome("changed", email)
