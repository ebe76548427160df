"""Passkeys (WebAuthn, via py_webauthn): creation and request options, and checking what the browser sends.

Rules: the relying party is the host of TSUDOI_BASE_URL and only its origin is accepted; every challenge is
single-use (taken from the table in one statement before anything else is checked) and lives five minutes;
user verification is required; the signature counter must move forward; a credential signs in only the
member it was registered to.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from db import audit, sign_ins
from db import members as member_queries
from db import passkeys as queries
from db.timestamps import from_db
from services.charset import check_text
from services.context import AppContext
from services.settings import Settings

Purpose = Literal["register", "login", "mfa", "reauth"]
CHALLENGE_LIFETIME = timedelta(minutes=5)
# Removing a passkey needs a sign-in (password or passkey) this recent.
REAUTH_WINDOW = timedelta(minutes=5)
REAUTH_FLAG = "reauth_at"
# Set by a password sign-in for a member with no passkey who has not declined: offer to add one.
OFFER_FLAG = "passkey_offer"
NAME_MAX_LENGTH = 50
_MAX_FIELD = 20_000  # a real attestation object is a few hundred bytes

NOT_ACCEPTED = "パスキーを確認できませんでした。もう一度お試しください。"
EXPIRED = "時間が経ったため、パスキーの確認を受け付けられませんでした。もう一度お試しください。"
UNKNOWN_PASSKEY = (
    "このパスキーは登録されていません。削除されたパスキーの可能性があります。"
    "会員番号とパスワードでログインしてください。"
)
ALREADY_REGISTERED = "このパスキーはすでに登録されています。"
ACCOUNT_LOCKED = "対象のログインIDはロックされています。"


class PasskeyError(Exception):
    """What the browser sent was refused; `message` is for the member."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(reason)
        self.message = message
        self.reason = reason  # short English word for the audit log


@dataclass(frozen=True)
class SignedIn:
    member: sqlite3.Row
    passkey_id: int


def rp_id(settings: Settings) -> str:
    return urlsplit(settings.base_url).hostname or "localhost"


def expected_origin(settings: Settings) -> str:
    parts = urlsplit(settings.base_url)
    return f"{parts.scheme}://{parts.netloc}"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _from_b64url(text: Any) -> bytes:
    if not isinstance(text, str) or not text or len(text) > _MAX_FIELD or not text.isascii():
        raise PasskeyError(NOT_ACCEPTED, "malformed")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise PasskeyError(NOT_ACCEPTED, "malformed") from None


def _credential(payload: Any) -> dict[str, Any]:
    """The PublicKeyCredential as JSON, checked for shape before the library sees it."""
    credential = payload.get("credential") if isinstance(payload, dict) else None
    if not isinstance(credential, dict) or not isinstance(credential.get("response"), dict):
        raise PasskeyError(NOT_ACCEPTED, "malformed")
    for key in ("id", "rawId"):
        _from_b64url(credential.get(key))
    return credential


def _challenge_of(credential: dict[str, Any]) -> str:
    raw = _from_b64url(credential["response"].get("clientDataJSON"))
    try:
        client_data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise PasskeyError(NOT_ACCEPTED, "malformed") from None
    challenge = client_data.get("challenge") if isinstance(client_data, dict) else None
    if not isinstance(challenge, str) or not challenge or len(challenge) > 200:
        raise PasskeyError(NOT_ACCEPTED, "malformed")
    return challenge


async def _take(
    app: AppContext, credential: dict[str, Any], purpose: Purpose, member_id: int | None
) -> bytes:
    challenge = _challenge_of(credential)
    if not await queries.take_challenge(
        app.db, challenge, purpose=purpose, member_id=member_id, now=app.clock.now()
    ):
        raise PasskeyError(EXPIRED, "challenge")
    return _from_b64url(challenge)


async def _new_challenge(app: AppContext, purpose: Purpose, member_id: int | None) -> bytes:
    challenge = secrets.token_bytes(32)
    now = app.clock.now()
    await queries.save_challenge(
        app.db,
        _b64url(challenge),
        purpose=purpose,
        member_id=member_id,
        now=now,
        expires_at=now + CHALLENGE_LIFETIME,
    )
    return challenge


def _transports(text: str) -> list[AuthenticatorTransport]:
    found = []
    for value in text.split(","):
        try:
            found.append(AuthenticatorTransport(value))
        except ValueError:
            continue
    return found


def validate_name(raw: str, default: str) -> tuple[str, str | None]:
    name = " ".join(raw.split())[:200] or default
    if len(name) > NAME_MAX_LENGTH:
        return name, f"パスキーの名前は{NAME_MAX_LENGTH}文字以内で入力してください。"
    return name, check_text(name)


async def registration_options(app: AppContext, member: sqlite3.Row) -> dict[str, Any]:
    member_id = int(member["id"])
    handle = await queries.user_handle(app.db, member_id, _b64url(secrets.token_bytes(32)))
    existing = await queries.for_member(app.db, member_id)
    display = f"{member['family_name']} {member['given_name']}".strip() or str(member["member_number"])
    options = generate_registration_options(
        rp_id=rp_id(app.settings),
        rp_name=app.org.org_name or "Tsudoi",
        user_name=str(member["member_number"]),
        user_id=_from_b64url(handle),
        user_display_name=display,
        challenge=await _new_challenge(app, "register", member_id),
        timeout=int(CHALLENGE_LIFETIME.total_seconds() * 1000),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(
                id=bytes(row["credential_id"]), transports=_transports(row["transports"])
            )
            for row in existing
        ],
    )
    result: dict[str, Any] = json.loads(options_to_json(options))
    return result


async def register(app: AppContext, member_id: int, payload: Any, *, name: str, ip: str = "") -> int:
    """Check the browser's attestation and keep the new passkey; returns its id or raises PasskeyError."""
    credential = _credential(payload)
    challenge = await _take(app, credential, "register", member_id)
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id(app.settings),
            expected_origin=expected_origin(app.settings),
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as error:
        # The library raises its own errors for what it checks, and plain ones for some odd shapes.
        await audit.record(
            app.db,
            "passkey.register_failed",
            now=app.clock.now(),
            subject_member_id=member_id,
            ip=ip,
            detail={"reason": type(error).__name__},
        )
        raise PasskeyError(NOT_ACCEPTED, "verification") from None
    transports = credential["response"].get("transports")
    transport_text = (
        ",".join(t for t in transports if isinstance(t, str))[:200] if isinstance(transports, list) else ""
    )
    now = app.clock.now()
    passkey_id = await queries.create(
        app.db,
        member_id=member_id,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        name=name,
        transports=transport_text,
        backed_up=verified.credential_backed_up,
        now=now,
    )
    if passkey_id is None:
        raise PasskeyError(ALREADY_REGISTERED, "duplicate")
    await audit.record(
        app.db,
        "passkey.added",
        now=now,
        actor_member_id=member_id,
        subject_member_id=member_id,
        ip=ip,
        detail={"passkey_id": passkey_id, "name": name},
    )
    return passkey_id


async def authentication_options(app: AppContext, purpose: Purpose, member_id: int | None) -> dict[str, Any]:
    """Request options. Sign-in names no credentials (discoverable passkeys: no member number typed); the
    second factor and the fresh sign-in list the member's own."""
    allow = []
    if member_id is not None:
        allow = [
            PublicKeyCredentialDescriptor(
                id=bytes(row["credential_id"]), transports=_transports(row["transports"])
            )
            for row in await queries.for_member(app.db, member_id)
        ]
    options = generate_authentication_options(
        rp_id=rp_id(app.settings),
        challenge=await _new_challenge(app, purpose, member_id),
        timeout=int(CHALLENGE_LIFETIME.total_seconds() * 1000),
        allow_credentials=allow,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    result: dict[str, Any] = json.loads(options_to_json(options))
    return result


async def authenticate(
    app: AppContext,
    payload: Any,
    purpose: Purpose,
    member_id: int | None,
    *,
    ip: str = "",
    user_agent: str = "",
) -> SignedIn:
    """Check an assertion. For "login" any member's passkey (the credential names the member); for "mfa"
    and "reauth" only one of `member_id`'s. Raises PasskeyError."""
    credential = _credential(payload)
    challenge = await _take(app, credential, purpose, member_id)
    now = app.clock.now()
    passkey = await queries.by_credential_id(app.db, _from_b64url(credential["rawId"]))
    if passkey is None or (member_id is not None and int(passkey["member_id"]) != member_id):
        await audit.record(
            app.db,
            "passkey.unknown",
            now=now,
            subject_member_id=member_id,
            ip=ip,
            detail={"purpose": purpose},
        )
        raise PasskeyError(UNKNOWN_PASSKEY, "unknown")
    owner_id = int(passkey["member_id"])
    member = await member_queries.get_by_id(app.db, owner_id)
    if member is None or member["status"] != "active":
        raise PasskeyError(UNKNOWN_PASSKEY, "closed")
    handle = credential["response"].get("userHandle")
    if handle not in (None, "") and handle != member["webauthn_user_id"]:
        await _failed(app, owner_id, ip, user_agent, "user_handle")
        raise PasskeyError(NOT_ACCEPTED, "user_handle")
    if purpose == "login":
        locked = from_db(await sign_ins.lock_of(app.db, str(member["member_number"])))
        if locked is not None and locked > now:
            await _failed(app, owner_id, ip, user_agent, "locked")
            raise PasskeyError(ACCOUNT_LOCKED, "locked")
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id(app.settings),
            expected_origin=expected_origin(app.settings),
            credential_public_key=bytes(passkey["public_key"]),
            credential_current_sign_count=int(passkey["sign_count"]),
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as error:
        await _failed(app, owner_id, ip, user_agent, type(error).__name__)
        raise PasskeyError(NOT_ACCEPTED, "verification") from None
    if not await queries.record_use(
        app.db,
        int(passkey["id"]),
        old_count=int(passkey["sign_count"]),
        new_count=verified.new_sign_count,
        now=now,
    ):
        await _failed(app, owner_id, ip, user_agent, "counter")
        raise PasskeyError(NOT_ACCEPTED, "counter")
    await audit.record(
        app.db,
        "passkey.used",
        now=now,
        subject_member_id=owner_id,
        ip=ip,
        detail={"purpose": purpose, "passkey_id": int(passkey["id"])},
    )
    return SignedIn(member=member, passkey_id=int(passkey["id"]))


async def _failed(app: AppContext, member_id: int, ip: str, user_agent: str, reason: str) -> None:
    now = app.clock.now()
    await audit.record(
        app.db, "passkey.failed", now=now, subject_member_id=member_id, ip=ip, detail={"reason": reason}
    )
    await sign_ins.record_attempt(
        app.db, member_id, succeeded=False, method="passkey", ip=ip, user_agent=user_agent, now=now
    )


async def remove(app: AppContext, member_id: int, passkey_id: int, *, ip: str = "") -> bool:
    row = await queries.delete(app.db, member_id, passkey_id)
    if row is None:
        return False
    await audit.record(
        app.db,
        "passkey.removed",
        now=app.clock.now(),
        actor_member_id=member_id,
        subject_member_id=member_id,
        ip=ip,
        detail={"passkey_id": passkey_id, "name": row["name"]},
    )
    return True


async def has_passkeys(app: AppContext, member_id: int) -> bool:
    return await queries.count_for_member(app.db, member_id) > 0


def is_fresh(flags: dict[str, Any], now: datetime) -> bool:
    """Whether the session signed in (password or passkey) within REAUTH_WINDOW."""
    value = flags.get(REAUTH_FLAG)
    if not isinstance(value, str):
        return False
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return False
    return moment.tzinfo is not None and now - REAUTH_WINDOW <= moment <= now + timedelta(seconds=5)
