"""A member's digest preferences: how often, and unsubscribing (the signed one-click link too)."""

from __future__ import annotations

import functools

from itsdangerous import BadSignature, Signer

from db import audit
from db import digests as digests_db
from services.context import AppContext
from services.digests.options import FREQUENCIES, UNSUBSCRIBE_LIST, UNSUBSCRIBE_LISTS
from services.perks import Perk, tiers_for
from services.templates import plan_label

# ------------------------------------------------------------------------------ composing mails


class UnsubscribeTokenInvalid(Exception):
    """Tampered, made for another list, or not a token at all."""


class _KeyedSigner(Signer):
    """itsdangerous derives the HMAC key on every signature; a run signs one link per member."""

    @functools.cached_property
    def _own_key(self) -> bytes:
        return super().derive_key()

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        return self._own_key if secret_key is None else super().derive_key(secret_key)


@functools.lru_cache(maxsize=4)
def _unsubscribe_signer(secret_key: str) -> Signer:
    return _KeyedSigner(secret_key, salt="tsudoi:unsubscribe")


def unsubscribe_token(secret_key: str, member_id: int, list_name: str = UNSUBSCRIBE_LIST) -> str:
    """'<member id>.<list>.<signature>': names the member and the list (the digest, or 事務局からのお知らせ:
    each mail stops only its own category). It never expires, because an old mail's link must keep
    working; a plain signer keeps making 100,000 of them cheap."""
    return _unsubscribe_signer(secret_key).sign(f"{member_id}.{list_name}").decode("ascii")


def read_unsubscribe_link(secret_key: str, token: str) -> tuple[int, str]:
    """(member id, list name) of a signed unsubscribe token."""
    if not token or len(token) > 200:
        raise UnsubscribeTokenInvalid(token[:20])
    try:
        value = _unsubscribe_signer(secret_key).unsign(token).decode("ascii")
    except (BadSignature, UnicodeError) as error:
        raise UnsubscribeTokenInvalid("bad signature") from error
    member_text, _, list_name = value.partition(".")
    if list_name not in UNSUBSCRIBE_LISTS or not member_text.isdigit() or len(member_text) > 12:
        raise UnsubscribeTokenInvalid("wrong list")
    return int(member_text), list_name


def read_unsubscribe_token(secret_key: str, token: str) -> int:
    """The member of a digest unsubscribe token (another list's token is refused)."""
    member_id, list_name = read_unsubscribe_link(secret_key, token)
    if list_name != UNSUBSCRIBE_LIST:
        raise UnsubscribeTokenInvalid("wrong list")
    return member_id


# ----------------------------------------------------------------------------- member settings


DAILY_NOT_ALLOWED = "毎日の配信は{tier}の特典です。"


async def change_frequency(app: AppContext, member_id: int, frequency: str, *, ip: str = "") -> str | None:
    """Set the member's digest frequency; a Japanese error message, or None when saved."""
    if frequency not in FREQUENCIES:
        return "配信頻度を選んでください。"
    if frequency == "daily":
        tier = (await tiers_for(app.db, [member_id], now=app.clock.now(), tz=app.settings.tz))[member_id]
        if not tier.may(Perk.DAILY_DIGEST):
            return (
                DAILY_NOT_ALLOWED.format(tier=plan_label(await daily_tier_name(app)))
                + "毎週または受け取らないを選んでください。"
            )
    await digests_db.set_frequency(app.db, member_id, frequency, now=app.clock.now())
    await audit.record(
        app.db,
        "digest.frequency_changed",
        now=app.clock.now(),
        actor_member_id=member_id,
        subject_member_id=member_id,
        ip=ip,
        detail={"frequency": frequency},
    )
    return None


async def daily_tier_name(app: AppContext) -> str:
    """The name of the tier that includes the daily digest (set by the admin), for the member's line."""
    from db import tiers as tier_queries

    for row in await tier_queries.all_tiers(app.db):
        if row["perk_daily_digest"]:
            return str(row["name"])
    return "有料会員"


async def unsubscribe(app: AppContext, member_id: int, *, one_click: bool, ip: str = "") -> bool:
    """The unsubscribe link: frequency none. True when something changed."""
    member = await digests_db.member_for_preview(app.db, member_id)
    if member is None:
        return False
    changed = str(member["digest_frequency"]) != "none"
    if changed:
        await digests_db.set_frequency(app.db, member_id, "none", now=app.clock.now())
        await audit.record(
            app.db,
            "digest.unsubscribed",
            now=app.clock.now(),
            subject_member_id=member_id,
            ip=ip,
            detail={"one_click": one_click},
        )
    return changed
