"""Digest settings and words shared by every part: frequencies, limits, skip reasons, the admin's sending options."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from db import app_settings
from services.context import AppContext

# The engine's limits, shared with announcements; re-exported where the digest code has always read them.
from services.delivery import CLAIM_LEASE as CLAIM_LEASE
from services.delivery import HARD_BOUNCE_LIMIT as HARD_BOUNCE_LIMIT
from services.delivery import MAX_ATTEMPTS as MAX_ATTEMPTS
from services.delivery import RETRY_DELAYS as RETRY_DELAYS
from services.perks import MemberTier, Perk

FREQUENCIES = ("none", "weekly", "daily")
FREQUENCY_LABELS = {"none": "受け取らない", "weekly": "毎週（水曜日）", "daily": "毎日"}
KIND_LABELS = {"weekly": "毎週", "daily": "毎日"}

# A condition lists its newest items and counts the rest, so a digest stays readable on a phone.
MAX_ITEMS_PER_CONDITION = 10
BUILD_BATCH_SIZE = 500
# A run started this long after it was due is a catch-up (shown as such to the admin).
SCHEDULE_SLACK = timedelta(minutes=30)

SKIP_NO_MATCH = "該当する新着記事がありません"
SKIP_NO_ADDRESS = "メールアドレスが登録されていません"
SKIP_FLAGGED = f"宛先不明で{HARD_BOUNCE_LIMIT}回戻ったため、送信を止めています"
SKIP_UNSUBSCRIBED = "送信前に配信が停止されました"
SKIP_CLOSED = "退会済みの会員です"
SKIP_ARTICLES_GONE = "記事が非公開になったため送信しませんでした"
SKIP_EXPIRED = "配信期限を過ぎたため送信しませんでした"

UNSUBSCRIBE_LIST = "digest"
# Each list stops one category of mail: the digest, or optional 事務局からのお知らせ.
ANNOUNCEMENT_LIST = "announcements"
UNSUBSCRIBE_LISTS = (UNSUBSCRIBE_LIST, ANNOUNCEMENT_LIST)


# ------------------------------------------------------------------------------------ options


@dataclass(frozen=True)
class DigestOptions:
    """Sending settings the admin can change on /admin/digests (stored with the organization settings)."""

    rate_per_second: float = 10.0  # 0 = no limit
    concurrency: int = 4  # messages in flight at once (over at most TSUDOI_SMTP_CONNECTIONS connections)
    catch_up_days: int = 3

    @property
    def claim_size(self) -> int:
        # About half a minute of sending per claim keeps every claim far inside CLAIM_LEASE.
        if self.rate_per_second <= 0:
            return 200
        return max(1, min(200, int(self.rate_per_second * 30)))

    @property
    def catch_up_limit(self) -> timedelta:
        return timedelta(days=self.catch_up_days)


OPTION_KEYS = ("digest_rate_per_second", "digest_concurrency", "digest_catch_up_days")


def options_from_strings(values: Mapping[str, str]) -> DigestOptions:
    defaults = DigestOptions()

    def number(key: str, default: float, low: float, high: float) -> float:
        try:
            value = float(values.get(key, default))
        except ValueError:
            return default
        return value if low <= value <= high else default

    return DigestOptions(
        rate_per_second=number("digest_rate_per_second", defaults.rate_per_second, 0, 100_000),
        concurrency=int(number("digest_concurrency", defaults.concurrency, 1, 32)),
        catch_up_days=int(number("digest_catch_up_days", defaults.catch_up_days, 0, 30)),
    )


async def load_options(app: AppContext) -> DigestOptions:
    return options_from_strings(await app_settings.get_all(app.db))


def send_hour(app: AppContext, kind: str) -> int:
    return app.org.weekly_digest_hour if kind == "weekly" else app.org.daily_digest_hour


def effective_frequency(frequency: str, tier: MemberTier) -> str:
    """Daily is a Members perk: without it a member set to daily gets the weekly digest."""
    if frequency == "daily" and not tier.may(Perk.DAILY_DIGEST):
        return "weekly"
    return frequency if frequency in FREQUENCIES else "weekly"
