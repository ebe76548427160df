"""Rate limits for forms people can abuse: a fixed number of attempts per bucket per window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from db import rate_limits
from db.database import Database

RATE_LIMITED_MESSAGE = "短時間に何度も送信されたため、受け付けを一時停止しています。しばらく時間をおいてから、もう一度お試しください。"


@dataclass(frozen=True)
class Limit:
    name: str
    attempts: int
    window: timedelta


async def allow(db: Database, limit: Limit, key: str, *, now: datetime) -> bool:
    """Count this attempt; False once the bucket has more than `attempts` in the window."""
    bucket = f"{limit.name}:{key}"
    return await rate_limits.hit_and_count(db, bucket, now=now, window=limit.window) <= limit.attempts
