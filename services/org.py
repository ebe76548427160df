"""Organization settings the admin edits (name, contact, policy numbers), with defaults."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import asdict, dataclass, fields
from email.headerregistry import Address
from email.utils import parseaddr
from typing import Any


@dataclass(frozen=True)
class OrgSettings:
    org_name: str = "集い会員ポータル"
    # A short name for mail subjects (【…】 before the subject); empty = the organization's name.
    org_short_name: str = ""
    org_address: str = ""
    # The office's phone, printed on letters for members who cannot log in.
    org_phone: str = ""
    # Where the association publishes its 会員規約 (the sign-up consent links it); empty = the text on the form.
    terms_url: str = ""
    contact_email: str = "info@example.jp"
    # The sender of every mail (asked at first start); empty name = the organization's name.
    mail_from_name: str = ""
    mail_from_address: str = ""
    base_url: str = ""  # set in the console or at first start; empty = TSUDOI_BASE_URL
    invoice_number: str = ""
    lockout_threshold: int = 5
    lockout_minutes: int = 120
    remember_days: int = 30
    remember_absolute_days: int = 0  # 0 = no absolute cap (the guide's default)
    idle_minutes: int = 120
    password_preset: str = "guide"
    password_min_length: int = 8
    password_max_length: int = 20
    password_history: int = 3
    password_expiry_days: int = 120
    signup_enabled: bool = True
    payment_card_enabled: bool = True
    payment_konbini_enabled: bool = True
    # Fee reminders (services/fee_reminders.py): days before the due date, on it, days after (0 = none).
    reminder_days_before: int = 14
    reminder_on_due_date: bool = True
    reminder_days_after: int = 14
    reminder_konbini: bool = True
    weekly_digest_hour: int = 7
    daily_digest_hour: int = 7
    member_number_width: int = 6
    # The installable app's colour (manifest, browser bar, the default icon) and the logo's version: a
    # short hash that changes with every upload, so icon URLs can be cached for a year.
    theme_color: str = "#0172ad"
    logo_version: str = ""
    # DiscourseConnect: the forum's address and its shared secret (sealed with the secret key).
    discourse_url: str = ""
    discourse_secret_sealed: str = ""
    # The one length every member number has (import pads Excel-shortened numbers to it); 0 = not set.
    member_number_length: int = 0
    # The character range of names and addresses: "jis0208" (the guide's rule) or "jis0213".
    name_charset: str = "jis0208"
    # The month the fiscal year (年度) starts: fee years and the statistics' fee tables follow it.
    fiscal_year_start_month: int = 4

    @property
    def short_name(self) -> str:
        return self.org_short_name.strip() or self.org_name

    @property
    def icon_version(self) -> str:
        """Changes with whatever the app icons are drawn from: the logo, the colour, the default mark's name."""
        source = f"{self.logo_version}|{self.theme_color}|{self.short_name}"
        return hashlib.sha256(source.encode()).hexdigest()[:10]

    def to_strings(self) -> dict[str, str]:
        return {
            key: str(int(value) if isinstance(value, bool) else value) for key, value in asdict(self).items()
        }


FALLBACK_ADDRESS = "no-reply@localhost"


def _fallback_sender(org: OrgSettings) -> str:
    """Before the sender is set: still the organization's name, never the product's."""
    try:
        return str(Address(display_name=org.mail_from_name or org.org_name, addr_spec=FALLBACK_ADDRESS))
    except (ValueError, IndexError):
        return FALLBACK_ADDRESS


@dataclass(frozen=True)
class Sender:
    value: str  # "Name <address>", ready for the From header
    source: str  # env (TSUDOI_MAIL_FROM), settings (the console), default (nothing set yet)

    @functools.cached_property
    def address(self) -> str:
        return parseaddr(self.value)[1]

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]

    @property
    def source_label(self) -> str:
        return {
            "env": "環境変数 TSUDOI_MAIL_FROM",
            "settings": "この設定画面",
            "default": "未設定（仮の送信元）",
        }[self.source]


# Kept per (setting, org settings): parsing the address costs ~0.2 ms and My Page asks for it on every view.
@functools.lru_cache(maxsize=16)
def effective_sender(mail_from_env: str, org: OrgSettings) -> Sender:
    """TSUDOI_MAIL_FROM, when set, wins over the sender stored in the console."""
    if mail_from_env.strip():
        return Sender(mail_from_env.strip(), "env")
    if org.mail_from_address:
        name = org.mail_from_name or org.org_name
        try:
            # Address quotes specials but keeps the name readable (formataddr would MIME-encode it here).
            value = str(Address(display_name=name, addr_spec=org.mail_from_address))
        except (ValueError, IndexError):
            value = org.mail_from_address
        return Sender(value, "settings")
    return Sender(_fallback_sender(org), "default")


def org_from_strings(values: dict[str, str]) -> OrgSettings:
    """Build settings from stored text, ignoring unknown keys and keeping defaults for bad values."""
    parsed: dict[str, Any] = {}
    defaults = OrgSettings()
    for field in fields(OrgSettings):
        if field.name not in values:
            continue
        raw = values[field.name]
        default = getattr(defaults, field.name)
        try:
            if isinstance(default, bool):
                parsed[field.name] = raw.strip().lower() in {"1", "true", "on", "yes"}
            elif isinstance(default, int):
                parsed[field.name] = int(raw)
            else:
                parsed[field.name] = raw
        except ValueError:
            continue
    return OrgSettings(**parsed)
