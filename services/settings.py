"""Settings read from TSUDOI_* environment variables, with working defaults.

The only module that reads the environment: every other module takes its settings from here.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path
from zoneinfo import ZoneInfo

from services.private_files import make_private, private_dir

DEFAULT_PAYMENT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Settings:
    database: Path = Path("data/tsudoi.sqlite3")
    base_url: str = "http://127.0.0.1:8000"
    # True when TSUDOI_BASE_URL is set: it then wins over the base URL stored in the console.
    base_url_from_env: bool = False
    secret_key: str = ""
    timezone: str = "Asia/Tokyo"
    smtp_url: str | None = None
    # TSUDOI_SMTP_CONNECTIONS: connections to the SMTP server a bulk send (digest, announcement) keeps
    # open at once, each reused across mails; 1 to 32.
    smtp_connections: int = 4
    # "" = no gateway configured (the sandbox only on a demo database); "sandbox", "gmo" or "stripe".
    payment_gateway: str = ""
    scheduler: bool = True
    mail_from: str = ""  # TSUDOI_MAIL_FROM; empty: the sender set in the console (services/org.py)
    # argon2id at RFC 9106's second recommended strength (t=3, 64 MiB) with one lane: a hash takes one
    # core, never all of them, so pages keep being served during a burst of logins (services/hashing.py).
    # Hashes made with other parameters (the earlier p=4) still verify and are redone at the next login.
    # Tests and benchmarks lower the costs.
    argon2_time_cost: int = 3
    argon2_memory_cost: int = 65536
    argon2_parallelism: int = 1
    trust_proxy: bool = False
    log_requests: bool = True
    # How long a write waits for a lock held by another process (a backup, a CLI command) before giving up.
    db_busy_timeout_ms: int = 5000
    # Failed logins one address may make across all login IDs before /login answers 429 for a while.
    login_ip_failures: int = 30
    login_ip_window_minutes: int = 10
    # Off-site replication with Litestream (services/replication.py): off while the URL is empty.
    replica_url: str = ""  # TSUDOI_REPLICA_URL: s3://bucket/path, sftp://user@host/path, file:///path
    replica_max_lag: int = 300  # TSUDOI_REPLICA_MAX_LAG: seconds since the last sync before the card is red
    replica_sync_interval: int = 1  # TSUDOI_REPLICA_SYNC_INTERVAL: seconds between Litestream's uploads
    # The payment gateways' credentials (services/payment_config.py says which are missing; never logged).
    gmo_shop_id: str = ""  # TSUDOI_GMO_SHOP_ID
    gmo_shop_pass: str = field(default="", repr=False)  # TSUDOI_GMO_SHOP_PASS
    gmo_api_base: str = ""  # TSUDOI_GMO_API_BASE; empty: GMO's test or production host, by the shop ID
    stripe_secret_key: str = field(default="", repr=False)  # TSUDOI_STRIPE_SECRET_KEY
    # TSUDOI_STRIPE_WEBHOOK_SECRET, comma-separated: every secret is accepted while one is being rotated.
    stripe_webhook_secrets: tuple[str, ...] = field(default=(), repr=False)
    stripe_api_base: str = ""  # TSUDOI_STRIPE_API_BASE; empty: Stripe's API
    payment_timeout: float = DEFAULT_PAYMENT_TIMEOUT  # TSUDOI_PAYMENT_TIMEOUT: seconds, above 0, at most 120
    pdf_font: str = ""  # TSUDOI_PDF_FONT: a Japanese font file for PDFs; empty: the bundled one
    # TSUDOI_TIER_GRACE_DAYS: a paid tier whose renewal fee is unpaid stays this many days past its year's end.
    tier_grace_days: int = 30
    # TSUDOI_LEASE_SECONDS: how long a lease (services/leases.py: the scheduler, a checkout, a digest run)
    # outlives a worker that died holding it; a live holder renews it every third of this.
    lease_seconds: int = 30

    @property
    def data_dir(self) -> Path:
        return self.database.parent

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def replication(self) -> bool:
        return bool(self.replica_url)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def https(self) -> bool:
        return self.base_url.startswith("https://")

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "on", "true", "yes"}


def _positive_int(env: dict[str, str], name: str, default: int) -> int:
    text = (env.get(name) or "").strip()
    if not text:
        return default
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, not {text!r}")
    return int(text)


def _smtp_connections(env: dict[str, str]) -> int:
    value = _positive_int(env, "TSUDOI_SMTP_CONNECTIONS", 4)
    if value > 32:
        raise ValueError(f"TSUDOI_SMTP_CONNECTIONS must be at most 32, not {value}")
    return value


def _seconds(value: str | None, default: int, minimum: int = 1) -> int:
    try:
        return max(int((value or "").strip()), minimum)
    except ValueError:
        return default


def _payment_timeout(value: str | None) -> float:
    try:
        seconds = float((value or "").strip() or DEFAULT_PAYMENT_TIMEOUT)
    except ValueError:
        return DEFAULT_PAYMENT_TIMEOUT
    return seconds if 0 < seconds <= 120 else DEFAULT_PAYMENT_TIMEOUT


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def load_or_create_secret_key(data_dir: Path) -> str:
    """Keep one generated key in the data folder so sessions survive restarts. Workers starting at once
    make it once: the key is written whole to a temporary file, then linked into place, which fails for
    every process but the first; each then reads the one key."""
    private_dir(data_dir)
    key_file = data_dir / "secret_key"
    if not key_file.exists():
        # A name of its own per call (not just per process: threads of one process may race here too).
        part = data_dir / f"secret_key.{os.getpid()}.{secrets.token_hex(8)}.part"
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(part, key_file)
        except FileExistsError:
            pass
        finally:
            part.unlink(missing_ok=True)
    make_private(key_file)
    return key_file.read_text(encoding="ascii").strip()


def get_settings(environ: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    database = Path(env.get("TSUDOI_DATABASE") or "data/tsudoi.sqlite3")
    secret_key = env.get("TSUDOI_SECRET_KEY") or load_or_create_secret_key(database.parent)
    env_base_url = (env.get("TSUDOI_BASE_URL") or "").strip().rstrip("/")
    return Settings(
        database=database,
        base_url=env_base_url or "http://127.0.0.1:8000",
        base_url_from_env=bool(env_base_url),
        secret_key=secret_key,
        timezone=env.get("TSUDOI_TIMEZONE") or "Asia/Tokyo",
        smtp_url=env.get("TSUDOI_SMTP_URL") or None,
        smtp_connections=_smtp_connections(env),
        payment_gateway=(env.get("TSUDOI_PAYMENT_GATEWAY") or "").strip().lower(),
        scheduler=_flag(env.get("TSUDOI_SCHEDULER"), True),
        mail_from=env.get("TSUDOI_MAIL_FROM") or "",
        trust_proxy=_flag(env.get("TSUDOI_TRUST_PROXY"), False),
        log_requests=_flag(env.get("TSUDOI_LOG_REQUESTS"), True),
        login_ip_failures=_positive_int(env, "TSUDOI_LOGIN_IP_FAILURES", 30),
        login_ip_window_minutes=_positive_int(env, "TSUDOI_LOGIN_IP_WINDOW_MINUTES", 10),
        tier_grace_days=_positive_int(env, "TSUDOI_TIER_GRACE_DAYS", 30),
        lease_seconds=_positive_int(env, "TSUDOI_LEASE_SECONDS", 30),
        replica_url=(env.get("TSUDOI_REPLICA_URL") or "").strip(),
        replica_max_lag=_seconds(env.get("TSUDOI_REPLICA_MAX_LAG"), 300),
        replica_sync_interval=_seconds(env.get("TSUDOI_REPLICA_SYNC_INTERVAL"), 1),
        gmo_shop_id=(env.get("TSUDOI_GMO_SHOP_ID") or "").strip(),
        gmo_shop_pass=env.get("TSUDOI_GMO_SHOP_PASS") or "",
        gmo_api_base=(env.get("TSUDOI_GMO_API_BASE") or "").strip(),
        stripe_secret_key=(env.get("TSUDOI_STRIPE_SECRET_KEY") or "").strip(),
        stripe_webhook_secrets=_list(env.get("TSUDOI_STRIPE_WEBHOOK_SECRET")),
        stripe_api_base=(env.get("TSUDOI_STRIPE_API_BASE") or "").strip(),
        payment_timeout=_payment_timeout(env.get("TSUDOI_PAYMENT_TIMEOUT")),
        pdf_font=(env.get("TSUDOI_PDF_FONT") or "").strip(),
    )
