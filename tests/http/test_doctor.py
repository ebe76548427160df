"""The go-live check: `litestar tsudoi doctor` (exit code for deploy scripts) and the dashboard's 公開前チェック."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from html import unescape
from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient

from app import create_app
from services import backup
from services.context import AppContext
from services.doctor import CHECKS, Check, run_checks
from tests.helpers import SmtpSink, login_admin, visible_text
from tests.http.test_cli import ROOT, run_cli

TITLES = (
    "メールの送信サーバー",
    "メールの送信元",
    "公開URL",
    "オンライン決済",
    "秘密鍵とデータのファイル権限",
    "バックアップ",
    "タイムゾーン",
    "ディスクの空き容量",
    "オフサイト複製（Litestream）",
    "データベースの構造",
)


DOCTOR_ENV_PREFIXES = ("TSUDOI_SMTP", "TSUDOI_BASE", "TSUDOI_MAIL", "TSUDOI_PAYMENT", "TSUDOI_STRIPE")


def doctor_process(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`litestar tsudoi doctor` (or ARGS) as its own process, exactly as a deploy script runs it."""
    full_env = {key: value for key, value in os.environ.items() if not key.startswith(DOCTOR_ENV_PREFIXES)}
    full_env.update(
        TSUDOI_DATABASE=str(tmp_path / "data" / "tsudoi.sqlite3"),
        TSUDOI_SCHEDULER="off",
        TSUDOI_LOG_REQUESTS="off",
        **env,
    )
    return subprocess.run(
        [str(Path(sys.executable).parent / "litestar"), "--app", "app:app", "tsudoi", *(args or ("doctor",))],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def doctor(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The same command in this process (Click's runner: a process start costs seconds); the environment's
    mail, URL and payment settings are left out as in doctor_process."""
    unset: dict[str, str | None] = {key: None for key in os.environ if key.startswith(DOCTOR_ENV_PREFIXES)}
    return run_cli(tmp_path, *(args or ("doctor",)), env={**unset, **env})


def test_doctor_on_a_fresh_install_lists_what_to_do_and_exits_non_zero(tmp_path: Path) -> None:
    result = doctor_process(tmp_path)  # the one real process start of the doctor tests: its exit code
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    for title in TITLES:
        assert f"] {title}:" in out, title
    assert "[要対応] メールの送信サーバー: TSUDOI_SMTP_URL が未設定" in out
    assert "[要対応] メールの送信元: 送信元が no-reply@localhost です" in out
    assert "[要対応] 公開URL: 公開URLが http://127.0.0.1:8000 です" in out
    assert "[要対応] オンライン決済: 決済サービスが設定されていません" in out and "gmo または stripe" in out
    assert "[要対応] バックアップ: まだバックアップがありません" in out
    assert "別のマシンにも毎日コピーしてください" in out
    assert "[OK] タイムゾーン: Asia/Tokyo" in out
    assert "[OK] 秘密鍵とデータのファイル権限" in out
    # Off-site replication is optional: off is an OK line that says how to turn it on.
    assert "[OK] オフサイト複製（Litestream）: 使っていません（任意）" in out and "TSUDOI_REPLICA_URL=" in out
    assert "要対応が 5 件あります。" in out


def test_doctor_on_a_well_configured_install_exits_zero(tmp_path: Path, smtp_sink: SmtpSink) -> None:
    env = {
        "TSUDOI_SMTP_URL": smtp_sink.url,
        "TSUDOI_BASE_URL": "https://portal.tsudoi.example.jp",
        "TSUDOI_MAIL_FROM": "日本つどい学会 事務局 <no-reply@tsudoi.example.jp>",
        "TSUDOI_PAYMENT_GATEWAY": "stripe",
        "TSUDOI_STRIPE_SECRET_KEY": "sk_test_doctor",
        "TSUDOI_STRIPE_WEBHOOK_SECRET": "whsec_doctor",
    }
    made = doctor(tmp_path, "backup", str(tmp_path / "data" / "backups" / "first.sqlite3"), **env)
    assert made.returncode == 0, made.stderr
    result = doctor(tmp_path, **env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "要対応" not in result.stdout
    assert f"[OK] メールの送信サーバー: 127.0.0.1:{smtp_sink.port} が応答しました（250" in result.stdout
    assert "[OK] 公開URL: https://portal.tsudoi.example.jp" in result.stdout
    assert "[OK] オンライン決済: 決済サービス「Stripe」で" in result.stdout
    assert "[OK] データベースの構造: 新しく作ったデータベースと同じです。" in result.stdout
    assert "公開の準備ができています。" in result.stdout
    # A gateway named but without its credentials needs action again.
    missing = doctor(tmp_path, **{**env, "TSUDOI_STRIPE_WEBHOOK_SECRET": ""})
    assert missing.returncode == 1
    assert "[要対応] オンライン決済: 決済サービス「Stripe」の設定が不足しています" in missing.stdout
    assert "TSUDOI_STRIPE_WEBHOOK_SECRET" in missing.stdout


async def test_dashboard_shows_the_go_live_card(settings: Any, clock: Any, smtp_sink: SmtpSink) -> None:
    app = create_app(settings.with_(smtp_url=smtp_sink.url), clock)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        ctx = app.state.ctx
        await login_admin(client, ctx)
        page = await client.get("/admin")
        text = unescape(visible_text(page.text))
        assert "公開前チェック" in text and "litestar tsudoi doctor" in text
        for title in TITLES:
            assert title in text, title
        assert f"OK メールの送信サーバー 127.0.0.1:{smtp_sink.port} が応答しました" in text
        assert "要対応 公開URL 公開URLが http://testserver.local です" in text
        assert "要対応 バックアップ まだバックアップがありません" in text
        assert "<details open>" in page.text  # opened while something needs action
        await backup.run_nightly_backup(ctx)
        text = unescape(visible_text((await client.get("/admin")).text))
        assert "OK バックアップ 最後のバックアップは 0 時間前です" in text


async def test_loose_file_permissions_need_action(app_ctx: AppContext) -> None:
    loose = app_ctx.settings.data_dir / "secret_key"
    loose.write_text("copied by hand", encoding="ascii")
    os.chmod(loose, 0o644)
    results = {check.title: check for check in await run_checks(app_ctx)}
    permissions = results["秘密鍵とデータのファイル権限"]
    assert not permissions.ok and str(loose) in permissions.detail


async def test_a_check_is_a_plain_function_and_one_that_fails_does_not_hide_the_others(
    app_ctx: AppContext,
) -> None:
    async def schema_matches(app: AppContext) -> Check:
        return Check("データベースの構造", True, "一致しています。")

    async def broken(app: AppContext) -> Check:
        raise OSError("disk gone")

    results = await run_checks(app_ctx, [*CHECKS, broken, schema_matches])
    assert len(results) == len(CHECKS) + 2
    assert results[-2].status == "要対応" and "OSError" in results[-2].detail
    assert results[-1] == Check("データベースの構造", True, "一致しています。")


async def test_the_demo_sandbox_needs_action_before_go_live(app_ctx: AppContext) -> None:
    from services.demo import load_demo

    app_ctx.settings = app_ctx.settings.with_(payment_gateway="")  # a real install: none set
    await load_demo(app_ctx)
    results = {check.title: check for check in await run_checks(app_ctx)}
    gateway = results["オンライン決済"]
    assert not gateway.ok and "デモデータが読み込まれているため、テスト決済が有効です" in gateway.detail


def test_doctor_names_what_an_upgrade_left_out_of_the_schema(tmp_path: Path) -> None:
    assert doctor(tmp_path, "backup", str(tmp_path / "made.sqlite3")).returncode == 0  # creates the database
    with sqlite3.connect(tmp_path / "data" / "tsudoi.sqlite3") as conn:
        conn.execute("DROP INDEX articles_window")
    result = doctor(tmp_path)
    assert result.returncode == 1
    assert "[要対応] データベースの構造: インデックス articles_window がありません。" in result.stdout
