"""scripts/gateway_check.py, the go-live check for a GMO or Stripe test account, run as a person runs it:
without credentials, with live ones, and against the local fake GMO and Stripe servers."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.gmo import FakeGmoServer
from tests.fakes.stripe import FakeStripeServer

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gateway_check.py"
FAST = ["--wait", "3", "--poll", "0.05"]


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        key: value for key, value in os.environ.items() if not key.startswith(("TSUDOI_GMO", "TSUDOI_STRIPE"))
    }
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def gmo() -> Iterator[FakeGmoServer]:
    server = FakeGmoServer().start()
    yield server
    server.stop()


@pytest.fixture
def stripe() -> Iterator[FakeStripeServer]:
    server = FakeStripeServer().start()
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("gateway", "named"),
    [("gmo", "TSUDOI_GMO_SHOP_ID, TSUDOI_GMO_SHOP_PASS"), ("stripe", "TSUDOI_STRIPE_SECRET_KEY")],
)
def test_without_credentials_it_says_what_to_set(gateway: str, named: str) -> None:
    done = run(gateway)
    assert done.returncode == 2
    assert "環境変数を設定してから実行してください" in done.stdout and named in done.stdout


def test_it_refuses_live_accounts() -> None:
    shop = run("gmo", TSUDOI_GMO_SHOP_ID="shop00012345", TSUDOI_GMO_SHOP_PASS="x")
    assert shop.returncode == 2 and "テスト用ショップ" in shop.stdout
    key = run("stripe", TSUDOI_STRIPE_SECRET_KEY="sk_live_123")
    assert key.returncode == 2 and "テストモードのキー" in key.stdout


def test_gmo_card_and_convenience_store_against_the_fake(gmo: FakeGmoServer) -> None:
    gmo.auto_pay = True
    done = run(
        "gmo",
        *FAST,
        TSUDOI_GMO_SHOP_ID=gmo.shop_id,
        TSUDOI_GMO_SHOP_PASS=gmo.shop_pass,
        TSUDOI_GMO_API_BASE=gmo.url,
    )
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    for line in (
        "1. configid なしで決済URLを作成します",
        "configid は必須ではありません",
        "有効期限 (PaymentExpireDate)",
        "2. カード決済",
        "お支払いを確認しました: 1000円（依頼した金額 1000円）",
        "3. 支払い方法が違う照会",
        "M01004002",
        "「取引なし」と同じ答えです",
        "4. コンビニ決済: PaymentTermDay=3",
        "お支払い番号: 123456789012",
        "PaymentTermDay は効いています",
        "6. 発行した番号を取り消します",
        "取り消しました: 取り消し済み",
        "完了しました。",
    ):
        assert line in done.stdout, line
    links = [request.json() for request in gmo.calls("/payment/GetLinkplusUrlPayment.json")]
    assert [body["transaction"]["PayMethods"] for body in links] == [["credit"], ["cvs"]]
    assert all("configid" not in body for body in links)
    assert len(gmo.calls("/payment/CvsCancel.idPass")) == 1


def test_gmo_nobody_paying_is_reported_not_hung(gmo: FakeGmoServer) -> None:
    done = run(
        "gmo",
        "--wait",
        "0.2",
        "--poll",
        "0.05",
        TSUDOI_GMO_SHOP_ID=gmo.shop_id,
        TSUDOI_GMO_SHOP_PASS=gmo.shop_pass,
        TSUDOI_GMO_API_BASE=gmo.url,
    )
    assert done.returncode == 1
    assert "まだです" in done.stdout and "確認できなかった項目が 2 件あります" in done.stdout


def test_stripe_card_and_konbini_against_the_fake(stripe: FakeStripeServer) -> None:
    stripe.auto_complete = True
    done = run("stripe", *FAST, TSUDOI_STRIPE_SECRET_KEY=stripe.secret_key, TSUDOI_STRIPE_API_BASE=stripe.url)
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    for line in (
        "1. カード決済の Checkout Session を作成します。",
        "お支払いを確認しました: 1000円（依頼した金額 1000円）",
        "3. コンビニ決済の Checkout Session を作成します。",
        "お支払い番号: 123456789012",
        "4. 発行した番号を取り消します",
        "完了しました。",
    ):
        assert line in done.stdout, line
    assert [s["status"] for s in stripe.sessions.values()] == ["complete", "complete"]
    assert [i["status"] for i in stripe.payment_intents.values()] == ["succeeded", "canceled"]


def test_gateway_down_is_a_clear_message(gmo: FakeGmoServer) -> None:
    gmo.fail_status = 500
    done = run(
        "gmo",
        *FAST,
        TSUDOI_GMO_SHOP_ID=gmo.shop_id,
        TSUDOI_GMO_SHOP_PASS=gmo.shop_pass,
        TSUDOI_GMO_API_BASE=gmo.url,
    )
    assert done.returncode == 1
    assert "作成できませんでした" in done.stdout and "TSUDOI_GMO_CONFIG_ID" in done.stdout
