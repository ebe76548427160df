"""The one answer to "may this member X?" for every tier gate (daily digest, events, members-only)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from db import tiers as tier_queries
from db.database import Database


class Perk(StrEnum):
    DAILY_DIGEST = "daily_digest"
    EVENTS = "events"
    MEMBERS_ONLY = "members_only"


# What members and the admin read for each perk.
PERK_LABELS: dict[Perk, str] = {
    Perk.DAILY_DIGEST: "新着お知らせメールを毎日受け取る",
    Perk.EVENTS: "イベント情報の閲覧",
    Perk.MEMBERS_ONLY: "会員限定記事の閲覧",
}


@dataclass(frozen=True)
class MemberTier:
    code: str
    name: str
    is_paid: bool
    perks: frozenset[Perk]
    starts_on: date | None = None
    ends_on: date | None = None

    def may(self, perk: Perk) -> bool:
        return perk in self.perks


def _tier_from_row(row: sqlite3.Row, *, with_dates: bool) -> MemberTier:
    perks = frozenset(perk for perk in Perk if row[f"perk_{perk.value}"])
    return MemberTier(
        code=row["code"],
        name=row["name"],
        is_paid=bool(row["is_paid"]),
        perks=perks,
        starts_on=date.fromisoformat(row["starts_on"]) if with_dates and row["starts_on"] else None,
        ends_on=date.fromisoformat(row["ends_on"]) if with_dates and row["ends_on"] else None,
    )


def org_today(now: datetime, tz: ZoneInfo) -> date:
    """'Today' in the organization's time zone: a tier ends at the end of its last local day."""
    return now.astimezone(tz).date()


async def tiers_for(
    db: Database, member_ids: Sequence[int], *, now: datetime, tz: ZoneInfo
) -> dict[int, MemberTier]:
    """Every member's tier today, with two queries whatever the number of members."""
    today = org_today(now, tz)
    rows = await tier_queries.current_tier_rows(db, member_ids, today)
    free = _tier_from_row(await tier_queries.free_tier(db), with_dates=False)
    return {
        member_id: _tier_from_row(rows[member_id], with_dates=True) if member_id in rows else free
        for member_id in member_ids
    }


async def tier_of(db: Database, member_id: int, *, now: datetime, tz: ZoneInfo) -> MemberTier:
    return (await tiers_for(db, [member_id], now=now, tz=tz))[member_id]


async def tier_and_perk_tier_name(
    db: Database, member_id: int, *, now: datetime, tz: ZoneInfo
) -> tuple[MemberTier, str | None]:
    """`tier_of` and the name of the first tier with the events or members-only perk (None when no tier
    has one), in one query: the pages that gate articles need both."""
    rows = await tier_queries.access_rows(db, member_id, org_today(now, tz))
    periods = [row for row in rows if row["source"] == "member"]
    free = next(row for row in rows if row["source"] == "free")
    perk_tier = next((row for row in rows if row["source"] == "perk"), None)
    # The latest started period, as `tiers_for` picks it.
    tier = _tier_from_row(periods[-1], with_dates=True) if periods else _tier_from_row(free, with_dates=False)
    return tier, str(perk_tier["name"]) if perk_tier is not None else None


async def may(db: Database, member_id: int, perk: Perk, *, now: datetime, tz: ZoneInfo) -> bool:
    return (await tier_of(db, member_id, now=now, tz=tz)).may(perk)


def effective_digest_frequency(frequency: str, tier: MemberTier) -> str:
    """The digest a member really gets: daily is a perk, so without it daily falls back to weekly
    (DESIGN §2). The digest sender and the mail settings ask this, so a tier that ended since the
    last daily job never gets one more daily mail."""
    if frequency == "daily" and not tier.may(Perk.DAILY_DIGEST):
        return "weekly"
    return frequency
