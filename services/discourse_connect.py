"""DiscourseConnect (Discourse's single sign-on): Tsudoi signs members in to the organization's forum.

The forum sends the member here with `sso` (a base64 query string holding a nonce and the URL to return
to) and `sig` (its HMAC-SHA256 with the shared secret, hex). Tsudoi checks the signature, makes sure the
member is signed in, and sends them back with the member's details signed the same way. Protocol:
https://meta.discourse.org/t/discourseconnect-official-single-sign-on-for-discourse-sso/13045
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import sqlite3
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

from db import audit, tiers
from services.context import AppContext
from services.perks import tier_of
from services.sealing import SealError, open_text, seal

SEAL_PURPOSE = "discourse-secret"
MIN_SECRET_LENGTH = 10
MAX_PAYLOAD = 4000


class DiscourseConnectError(ValueError):
    """A request that cannot be answered; the message is for the member (Japanese)."""


@dataclass(frozen=True)
class Forum:
    url: str
    secret: str


def sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def read_request(secret: str, sso: str, sig: str) -> dict[str, str]:
    """The forum's request as a dict; raises DiscourseConnectError when it is not the forum's."""
    if not sso or not sig or len(sso) > MAX_PAYLOAD or len(sig) > 200:
        raise DiscourseConnectError(
            "フォーラムからのログイン要求が正しくありません。フォーラムからもう一度ログインしてください。"
        )
    if not hmac.compare_digest(sign(secret, sso), sig.strip().lower()):
        raise DiscourseConnectError(
            "フォーラムからのログイン要求を確認できませんでした。フォーラムからもう一度ログインしてください。"
        )
    try:
        decoded = base64.b64decode(sso, validate=False).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise DiscourseConnectError("フォーラムからのログイン要求が正しくありません。") from None
    values = {key: items[0] for key, items in parse_qs(decoded, keep_blank_values=True).items() if items}
    if not values.get("nonce"):
        raise DiscourseConnectError("フォーラムからのログイン要求が正しくありません。")
    return values


def encode_response(secret: str, params: dict[str, str]) -> tuple[str, str]:
    payload = base64.b64encode(urlencode(params).encode()).decode("ascii")
    return payload, sign(secret, payload)


def forum(app: AppContext) -> Forum | None:
    org = app.org
    if not org.discourse_url or not org.discourse_secret_sealed:
        return None
    try:
        secret = open_text(app.settings.secret_key, SEAL_PURPOSE, org.discourse_secret_sealed)
    except SealError:
        return None  # sealed under another key: the admin enters the secret again
    return Forum(org.discourse_url, secret)


def _same_site(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.netloc.lower()) == (b.scheme, b.netloc.lower()) and a.scheme in ("https", "http")


def validate_forum_url(raw: str) -> tuple[str, str | None]:
    url = raw.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        return url, "フォーラムのURLは https://forum.example.jp のように入力してください。"
    return url, None


async def configure(
    app: AppContext, raw_url: str, raw_secret: str, *, actor_id: int, ip: str = ""
) -> dict[str, str]:
    """Save the forum's URL and secret (an empty secret keeps the stored one); returns errors by field."""
    errors: dict[str, str] = {}
    url, url_error = validate_forum_url(raw_url)
    if url_error:
        errors["discourse_url"] = url_error
    secret = raw_secret.strip()
    if secret and len(secret) < MIN_SECRET_LENGTH:
        errors["discourse_secret"] = f"共有シークレットは{MIN_SECRET_LENGTH}文字以上にしてください。"
    if not secret and not app.org.discourse_secret_sealed:
        errors["discourse_secret"] = (
            "Discourse の設定画面の discourse connect secret と同じ文字列を入力してください。"
        )
    if errors:
        return errors
    values = {"discourse_url": url}
    if secret:
        values["discourse_secret_sealed"] = seal(app.settings.secret_key, SEAL_PURPOSE, secret)
    await app.update_org(values)
    # The secret itself is never written to the audit log.
    await audit.record(
        app.db,
        "sso.discourse_configured",
        now=app.clock.now(),
        actor_member_id=actor_id,
        ip=ip,
        detail={"url": url, "secret_changed": bool(secret)},
    )
    return {}


async def disable(app: AppContext, *, actor_id: int, ip: str = "") -> None:
    await app.update_org({"discourse_url": "", "discourse_secret_sealed": ""})
    await audit.record(app.db, "sso.discourse_disabled", now=app.clock.now(), actor_member_id=actor_id, ip=ip)


async def sign_in_url(app: AppContext, member: sqlite3.Row, sso: str, sig: str, *, ip: str = "") -> str:
    """The forum URL that signs `member` in, for the forum's request `sso`/`sig`."""
    config = forum(app)
    if config is None:
        raise DiscourseConnectError("フォーラムとの連携は設定されていません。")
    request = read_request(config.secret, sso, sig)
    return_url = request.get("return_sso_url", "")
    if not _same_site(return_url, config.url):
        raise DiscourseConnectError(
            "このフォーラムへのログインには対応していません。事務局にお問い合わせください。"
        )
    row = member
    email = str(row["email"] or "")
    if not email:
        raise DiscourseConnectError(
            "メールアドレスが登録されていないため、フォーラムにログインできません。会員情報でメールアドレスを登録してください。"
        )
    member_id = int(row["id"])
    tier = await tier_of(app.db, member_id, now=app.clock.now(), tz=app.settings.tz)
    other_tiers = [code for code in await tiers.all_codes(app.db) if code != tier.code]
    params = {
        "nonce": request["nonce"],
        "external_id": str(row["public_id"]),
        "email": email,
        "name": f"{row['family_name']} {row['given_name']}",
        "require_activation": "false",
        "add_groups": tier.code,
        "remove_groups": ",".join(other_tiers),
    }
    payload, signature = encode_response(config.secret, params)
    await audit.record(
        app.db,
        "sso.discourse_login",
        now=app.clock.now(),
        actor_member_id=member_id,
        subject_member_id=member_id,
        ip=ip,
    )
    separator = "&" if "?" in return_url else "?"
    return f"{return_url}{separator}{urlencode({'sso': payload, 'sig': signature})}"
