"""Settings from the environment and the generated secret key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from services.settings import get_settings


def test_defaults_work_with_an_empty_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = get_settings({})
    assert settings.database == Path("data/tsudoi.sqlite3")
    assert settings.timezone == "Asia/Tokyo"
    assert settings.payment_gateway == ""  # no gateway until one is configured (not the sandbox)
    assert settings.base_url == "http://127.0.0.1:8000" and not settings.base_url_from_env
    assert settings.scheduler is True
    assert settings.smtp_url is None


def test_secret_key_is_generated_once_and_kept_private(tmp_path):
    env = {"TSUDOI_DATABASE": str(tmp_path / "data" / "t.sqlite3")}
    first = get_settings(env).secret_key
    second = get_settings(env).secret_key
    assert first == second and len(first) > 40
    mode = stat.S_IMODE((tmp_path / "data" / "secret_key").stat().st_mode)
    assert mode == 0o600


def test_environment_overrides(tmp_path):
    env = {
        "TSUDOI_DATABASE": str(tmp_path / "x.sqlite3"),
        "TSUDOI_SECRET_KEY": "k" * 40,
        "TSUDOI_SCHEDULER": "off",
        "TSUDOI_BASE_URL": "https://portal.example.jp/",
        "TSUDOI_TIMEZONE": "America/New_York",
        "TSUDOI_PAYMENT_GATEWAY": " Stripe ",
    }
    settings = get_settings(env)
    assert settings.scheduler is False
    assert settings.base_url == "https://portal.example.jp" and settings.base_url_from_env
    assert settings.https
    assert settings.secret_key == "k" * 40
    assert settings.payment_gateway == "stripe"


def test_login_throttle_settings_are_read_and_checked(tmp_path):
    base = {"TSUDOI_DATABASE": str(tmp_path / "x.sqlite3"), "TSUDOI_SECRET_KEY": "k" * 40}
    defaults = get_settings(base)
    assert (defaults.login_ip_failures, defaults.login_ip_window_minutes) == (30, 10)
    changed = get_settings({**base, "TSUDOI_LOGIN_IP_FAILURES": "50", "TSUDOI_LOGIN_IP_WINDOW_MINUTES": "15"})
    assert (changed.login_ip_failures, changed.login_ip_window_minutes) == (50, 15)
    with pytest.raises(ValueError, match="TSUDOI_LOGIN_IP_FAILURES"):
        get_settings({**base, "TSUDOI_LOGIN_IP_FAILURES": "0"})


def test_smtp_connections_are_read_and_checked(tmp_path):
    base = {"TSUDOI_DATABASE": str(tmp_path / "x.sqlite3"), "TSUDOI_SECRET_KEY": "k" * 40}
    assert get_settings(base).smtp_connections == 4
    assert get_settings({**base, "TSUDOI_SMTP_CONNECTIONS": "8"}).smtp_connections == 8
    for wrong in ("0", "33", "two"):
        with pytest.raises(ValueError, match="TSUDOI_SMTP_CONNECTIONS"):
            get_settings({**base, "TSUDOI_SMTP_CONNECTIONS": wrong})


ROOT = Path(__file__).resolve().parents[2]
APP_CODE = [
    ROOT / "app.py",
    ROOT / "cli.py",
    *sorted((ROOT / "routes").rglob("*.py")),
    *sorted((ROOT / "services").rglob("*.py")),
    *sorted((ROOT / "db").rglob("*.py")),
]


def test_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    source = (ROOT / "services" / "settings.py").read_text(encoding="utf-8")
    import re

    names = set(re.findall(r'"(TSUDOI_[A-Z_]+)"', source))
    # The payment gateways' and the PDF font's variables are settings too (they were read elsewhere once).
    assert {
        "TSUDOI_GMO_SHOP_ID",
        "TSUDOI_STRIPE_WEBHOOK_SECRET",
        "TSUDOI_PAYMENT_TIMEOUT",
        "TSUDOI_PDF_FONT",
    } <= names
    missing = sorted(name for name in names if name not in readme)
    assert not missing, f"README.md does not document: {missing}"


def test_only_the_settings_module_reads_the_environment():
    readers = [
        str(path.relative_to(ROOT))
        for path in APP_CODE
        if path.name != "settings.py"
        and any(word in path.read_text(encoding="utf-8") for word in ("os.environ", "getenv("))
    ]
    assert readers == []


def test_payment_and_pdf_variables_become_settings(tmp_path):
    base = {"TSUDOI_DATABASE": str(tmp_path / "x.sqlite3"), "TSUDOI_SECRET_KEY": "k" * 40}
    defaults = get_settings(base)
    assert (
        defaults.gmo_shop_id,
        defaults.stripe_webhook_secrets,
        defaults.payment_timeout,
        defaults.pdf_font,
    ) == (
        "",
        (),
        10.0,
        "",
    )
    settings = get_settings(
        {
            **base,
            "TSUDOI_GMO_SHOP_ID": " tshop001 ",
            "TSUDOI_GMO_SHOP_PASS": "pass",
            "TSUDOI_GMO_API_BASE": "http://127.0.0.1:9/",
            "TSUDOI_STRIPE_SECRET_KEY": "sk_test",
            "TSUDOI_STRIPE_WEBHOOK_SECRET": "whsec_old, whsec_new,",
            "TSUDOI_STRIPE_API_BASE": "http://127.0.0.1:8/",
            "TSUDOI_PAYMENT_TIMEOUT": "0.5",
            "TSUDOI_PDF_FONT": " /fonts/jp.otf ",
        }
    )
    assert settings.gmo_shop_id == "tshop001" and settings.gmo_shop_pass == "pass"
    assert (
        settings.gmo_api_base == "http://127.0.0.1:9/" and settings.stripe_api_base == "http://127.0.0.1:8/"
    )
    assert settings.stripe_secret_key == "sk_test"
    assert settings.stripe_webhook_secrets == ("whsec_old", "whsec_new")
    assert settings.payment_timeout == 0.5 and settings.pdf_font == "/fonts/jp.otf"
    # Secrets stay out of logs that print the settings.
    assert "pass" not in repr(settings) and "sk_test" not in repr(settings) and "whsec" not in repr(settings)
    for bad in ("x", "0", "-1", "121"):
        assert get_settings({**base, "TSUDOI_PAYMENT_TIMEOUT": bad}).payment_timeout == 10.0
