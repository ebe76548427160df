"""The digital membership card (/card) and the public check of its QR code (/verify/{token}).

The QR code holds a signed URL: member id, the member's card epoch and the time it was issued. The
check is live: whether the membership is valid today comes from the database, never from the token, so
a closed member's card turns 無効 at once; reissuing the card (a new epoch) revokes every older QR code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from db import app_card
from services.context import AppContext
from services.perks import MemberTier, org_today, tier_of
from services.qr import make_qr_svg_async
from services.rate_limit import Limit, allow

# A card opened once keeps working offline for this long; opening it online issues a fresh code.
TOKEN_VALID = timedelta(days=30)
MAX_TOKEN_LENGTH = 200
# A venue's door checks a few hundred cards an hour; a script guessing tokens gets far less.
VERIFY_LIMIT = Limit("card-verify", attempts=120, window=timedelta(minutes=10))
_SALT = "tsudoi:member-card"


@dataclass(frozen=True)
class Card:
    member_number: str
    name: str
    tier: MemberTier
    valid_until: date | None
    verify_url: str
    qr_svg: str
    refreshed_at: datetime


@dataclass(frozen=True)
class Verification:
    valid: bool
    # Why a card is 無効, for the staff at the door (never personal data).
    reason: str = ""
    name: str = ""
    tier_name: str = ""
    valid_until: date | None = None
    member_id: int | None = None


def _serializer(app: AppContext) -> URLSafeSerializer:
    return URLSafeSerializer(app.settings.secret_key, salt=_SALT)


def make_token(app: AppContext, member_id: int, epoch: int) -> str:
    return str(_serializer(app).dumps([member_id, epoch, int(app.clock.now().timestamp())]))


def _read_token(app: AppContext, token: str) -> tuple[int, int, int] | None:
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        return None
    try:
        payload: Any = _serializer(app).loads(token)
    except (BadSignature, ValueError, UnicodeDecodeError):
        return None
    if (
        not isinstance(payload, list)
        or len(payload) != 3
        or not all(isinstance(part, int) and not isinstance(part, bool) for part in payload)
    ):
        return None
    member_id, epoch, issued = payload
    return member_id, epoch, issued


def _valid_until(tier: MemberTier) -> date | None:
    return tier.ends_on if tier.is_paid else None


async def card_for(app: AppContext, member_id: int) -> Card | None:
    holder = await app_card.card_holder(app.db, member_id)
    if holder is None or holder["status"] != "active":
        return None
    now = app.clock.now()
    tier = await tier_of(app.db, member_id, now=now, tz=app.settings.tz)
    url = (
        f"{app.settings.base_url.rstrip('/')}/verify/{make_token(app, member_id, int(holder['card_epoch']))}"
    )
    return Card(
        member_number=str(holder["member_number"]),
        name=f"{holder['family_name']} {holder['given_name']}",
        tier=tier,
        valid_until=_valid_until(tier),
        verify_url=url,
        qr_svg=await make_qr_svg_async(url, title="会員証のQRコード"),
        refreshed_at=now,
    )


async def reissue(app: AppContext, member_id: int) -> bool:
    return await app_card.reissue_card(app.db, member_id) is not None


async def verify_allowed(app: AppContext, ip: str) -> bool:
    return await allow(app.db, VERIFY_LIMIT, ip or "unknown", now=app.clock.now())


async def verify(app: AppContext, token: str) -> Verification:
    """Whether the card behind `token` is valid today; name and tier only when it is."""
    parsed = _read_token(app, token)
    if parsed is None:
        return Verification(False, "この会員証のQRコードは確認できません。")
    member_id, epoch, issued = parsed
    now = app.clock.now()
    issued_at = datetime.fromtimestamp(issued, tz=now.tzinfo)
    if now - issued_at > TOKEN_VALID or issued_at - now > timedelta(minutes=5):
        return Verification(
            False,
            "QRコードの有効期限が切れています。会員証をインターネットにつながった状態で開き直してもらってください。",
        )
    holder = await app_card.card_holder(app.db, member_id)
    if holder is None or holder["status"] != "active":
        return Verification(False, "有効な会員ではありません。")
    if int(holder["card_epoch"]) != epoch:
        return Verification(False, "この会員証は再発行されたため、使えなくなっています。")
    tier = await tier_of(app.db, member_id, now=now, tz=app.settings.tz)
    return Verification(
        True,
        name=f"{holder['family_name']} {holder['given_name']}",
        tier_name=tier.name,
        valid_until=_valid_until(tier),
        member_id=member_id,
    )


def checked_on(app: AppContext) -> date:
    return org_today(app.clock.now(), app.settings.tz)
