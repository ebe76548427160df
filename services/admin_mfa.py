"""The admins' second factor: TOTP (RFC 6238, via pyotp) with a QR code to enrol, and recovery codes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import quote

import pyotp

from db import admin_mfa as queries
from db import audit
from services.context import AppContext
from services.qr import make_qr_svg_async
from services.rate_limit import Limit, allow
from services.sealing import open_text, seal

SEAL_PURPOSE = "admin-totp"
STEP_SECONDS = 30
RECOVERY_CODE_COUNT = 10
# No look-alikes (0/o, 1/l/i): the codes are read off paper.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
# Ten tries in a quarter hour stop guessing of six-digit codes cold, and leave room for typos.
MFA_LIMIT = Limit("admin-mfa", 10, timedelta(minutes=15))

CODE_INVALID_MESSAGE = "確認コードが正しくありません。認証アプリに表示されている6桁の数字を入力してください。"
CODE_REQUIRED_MESSAGE = "確認コードを入力してください。"


@dataclass(frozen=True)
class Enrolment:
    secret: str
    uri: str
    qr_svg: str

    @property
    def secret_groups(self) -> str:
        """The key in groups of four, easier to type into an authenticator by hand."""
        return " ".join(self.secret[i : i + 4] for i in range(0, len(self.secret), 4))


def normalize_code(raw: str) -> str:
    """Codes typed with the IME on or with spaces and hyphens still count."""
    value = unicodedata.normalize("NFKC", raw[:100]).strip().lower()
    return "".join(ch for ch in value if ch not in " -\u3000ー")


def _recovery_hash(app: AppContext, code: str) -> str:
    key = hashlib.sha256(f"tsudoi-recovery:{app.settings.secret_key}".encode()).digest()
    return hmac.new(key, normalize_code(code).encode(), hashlib.sha256).hexdigest()


def new_recovery_codes() -> list[str]:
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    return pyotp.TOTP(secret, interval=STEP_SECONDS).provisioning_uri(name=account, issuer_name=issuer)


async def secret_of(app: AppContext, member_id: int) -> str | None:
    """The admin's TOTP secret (for the enrolment page and for tests that compute codes)."""
    row = await queries.get(app.db, member_id)
    if row is None:
        return None
    return open_text(app.settings.secret_key, SEAL_PURPOSE, row["secret_sealed"])


async def is_enrolled(app: AppContext, member_id: int) -> bool:
    row = await queries.get(app.db, member_id)
    return row is not None and row["confirmed_at"] is not None


async def begin_enrolment(app: AppContext, member_id: int, member_number: str) -> Enrolment:
    """The secret being enrolled; reloading the page keeps the same one so a scanned code stays valid."""
    row = await queries.get(app.db, member_id)
    if row is not None and row["confirmed_at"] is None:
        secret = open_text(app.settings.secret_key, SEAL_PURPOSE, row["secret_sealed"])
    else:
        secret = pyotp.random_base32()
        sealed = seal(app.settings.secret_key, SEAL_PURPOSE, secret)
        await queries.start_enrolment(app.db, member_id, sealed, now=app.clock.now())
    uri = provisioning_uri(secret, account=f"{member_number}", issuer=app.org.org_name or "Tsudoi")
    svg = await make_qr_svg_async(uri, title="二段階認証の登録用QRコード")
    return Enrolment(secret=secret, uri=uri, qr_svg=svg)


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The step whose code matches, allowing one step of clock drift either way."""
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    current = totp.timecode(now)
    for step in (current, current - 1, current + 1):
        expected = totp.generate_otp(step)
        if hmac.compare_digest(expected, code):
            return step
    return None


async def confirm_enrolment(app: AppContext, member_id: int, raw_code: str) -> list[str] | None:
    """Check the first code from the authenticator; on success return fresh recovery codes (shown once)."""
    row = await queries.get(app.db, member_id)
    if row is None or row["confirmed_at"] is not None:
        return None
    secret = open_text(app.settings.secret_key, SEAL_PURPOSE, row["secret_sealed"])
    now = app.clock.now()
    step = _matching_step(secret, normalize_code(raw_code), now)
    if step is None:
        return None
    codes = new_recovery_codes()
    hashes = [_recovery_hash(app, code) for code in codes]
    if not await queries.confirm(app.db, member_id, step=step, now=now, code_hashes=hashes):
        return None
    await audit.record(
        app.db, "admin.mfa_enrolled", now=now, actor_member_id=member_id, subject_member_id=member_id
    )
    return codes


async def attempt_allowed(app: AppContext, member_id: int) -> bool:
    return await allow(app.db, MFA_LIMIT, str(member_id), now=app.clock.now())


async def verify_second_factor(
    app: AppContext, member_id: int, raw_code: str, *, ip: str = ""
) -> Literal["totp", "recovery"] | None:
    """Accept a current TOTP code (never the same one twice) or an unused recovery code."""
    row = await queries.get(app.db, member_id)
    if row is None or row["confirmed_at"] is None:
        return None
    now = app.clock.now()
    code = normalize_code(raw_code)
    secret = open_text(app.settings.secret_key, SEAL_PURPOSE, row["secret_sealed"])
    step = _matching_step(secret, code, now)
    method: Literal["totp", "recovery"] | None = None
    if step is not None and await queries.use_step(app.db, member_id, step):
        method = "totp"
    elif len(code) == 10 and await queries.use_recovery_code(
        app.db, member_id, _recovery_hash(app, code), now=now
    ):
        method = "recovery"
    if method is None:
        await audit.record(app.db, "admin.mfa_failed", now=now, subject_member_id=member_id, ip=ip)
        return None
    await audit.record(
        app.db, "admin.mfa_ok", now=now, subject_member_id=member_id, ip=ip, detail={"method": method}
    )
    return method


async def regenerate_recovery_codes(app: AppContext, member_id: int, *, ip: str = "") -> list[str]:
    codes = new_recovery_codes()
    now = app.clock.now()
    await queries.replace_recovery_codes(app.db, member_id, [_recovery_hash(app, c) for c in codes], now=now)
    await audit.record(
        app.db,
        "admin.recovery_codes_renewed",
        now=now,
        actor_member_id=member_id,
        subject_member_id=member_id,
        ip=ip,
    )
    return codes


async def unused_recovery_count(app: AppContext, member_id: int) -> int:
    return await queries.unused_recovery_count(app.db, member_id)


async def reset(app: AppContext, member_id: int, *, actor_id: int | None = None, ip: str = "") -> None:
    """Forget the admin's second factor; the next login asks to enrol again (a lost phone)."""
    await queries.reset(app.db, member_id)
    await audit.record(
        app.db,
        "admin.mfa_reset",
        now=app.clock.now(),
        actor_member_id=actor_id,
        subject_member_id=member_id,
        ip=ip,
    )


def code_for(secret: str, moment: datetime) -> str:
    """The code an authenticator shows at a moment (tests and the e2e helper use it)."""
    return str(pyotp.TOTP(secret, interval=STEP_SECONDS).at(moment))


def after_password_path(is_admin: bool, must_change_password: bool, target: str, requested: str) -> str:
    """Admins go through the code step (or enrolment) right after the password, then on to where the
    login flow would have sent them (an expiry notice) or to what they asked for (the console by default)."""
    if not is_admin or must_change_password:
        return target
    destination = target if target != (requested or "/mypage") else (requested or "/admin")
    return "/mfa?next=" + quote(destination, safe="/")
