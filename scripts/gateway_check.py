"""Before going live: one card and one convenience-store payment against a GMO or Stripe *test* account.

    .venv/bin/python scripts/gateway_check.py gmo     # TSUDOI_GMO_SHOP_ID / TSUDOI_GMO_SHOP_PASS
    .venv/bin/python scripts/gateway_check.py stripe  # TSUDOI_STRIPE_SECRET_KEY (sk_test_…)

Each step is printed. The script makes the payment pages through the app's own adapters, prints their
URLs for a person to pay in a browser (test card numbers below), then asks the gateway until the payment
shows up. For GMO it also settles the three facts that public material cannot: whether `configid` is
required, whether the convenience-store term-days key (PaymentTermDay) is honoured, and what
SearchTradeMulti answers when the pay type does not match. Only test accounts are accepted. Without
credentials it says which variables to set and exits with status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.payments import CheckoutRequest, GatewayUnavailable, Notification, PaymentGateway, states
from services.payments.gmo import JST, NOT_FOUND_ERRORS, PRODUCTION_API_BASE, TEST_API_BASE, GmoGateway
from services.payments.stripe import DEFAULT_API_BASE, StripeGateway

NOT_SET = 2
FAILED = 1

Print = Callable[[str], None]


def _missing(env: Mapping[str, str], names: tuple[str, ...]) -> list[str]:
    return [name for name in names if not env.get(name)]


def _request(method: str, amount: int, email: str) -> CheckoutRequest:
    # A short, unique order ID per run: GMO refuses an OrderID it has seen before.
    order_id = f"CHK{datetime.now(UTC):%y%m%d%H%M}-{secrets.token_hex(3).upper()}"
    return CheckoutRequest(
        attempt_id=f"check-{order_id}",
        order_id=order_id,
        amount=amount,
        method=method,  # type: ignore[arg-type]
        member_name="テスト 太郎",
        member_email=email,
        return_url="https://tsudoi.invalid/payments/return?order=" + order_id,
        notify_url="https://tsudoi.invalid/payments/notify",
        description="Tsudoi 接続確認",
    )


async def _wait_for(
    gateway: PaymentGateway, reference: str, wanted: set[str], *, wait: float, poll: float, out: Print
) -> Notification | None:
    """Ask the gateway every `poll` seconds until the state is one of `wanted` (or `wait` runs out)."""
    waited = 0.0
    last = ""
    while True:
        try:
            note = await gateway.fetch_state(reference)
        except GatewayUnavailable as error:
            out(f"   照会に失敗しました: {error.detail}")
            return None
        if note.state != last:
            out(f"   状態: {states.STATE_LABELS.get(note.state, note.state)} ({note.state})")
            last = note.state
        if note.state in wanted:
            return note
        if waited >= wait:
            out(f"   {wait:.0f}秒待ちましたが、まだです。")
            return None
        await asyncio.sleep(poll)
        waited += poll


def _konbini_lines(note: Notification, out: Print) -> None:
    info = note.konbini
    if info is None:
        out("   コンビニの番号はまだ返っていません。")
        return
    out(
        f"   コンビニ: {info.store} / お支払い番号: {info.payment_number} / 確認番号: {info.confirmation_number}"
    )
    out(
        f"   お支払い期限: {info.deadline.astimezone(JST):%Y-%m-%d %H:%M} (JST)"
        if info.deadline
        else "   期限なし"
    )


async def check_gmo(env: Mapping[str, str], args: argparse.Namespace, out: Print) -> int:
    missing = _missing(env, ("TSUDOI_GMO_SHOP_ID", "TSUDOI_GMO_SHOP_PASS"))
    if missing:
        out(
            "GMO のテスト用ショップの認証情報がありません。次の環境変数を設定してから実行してください: "
            + ", ".join(missing)
        )
        return NOT_SET
    shop_id, shop_pass = env["TSUDOI_GMO_SHOP_ID"], env["TSUDOI_GMO_SHOP_PASS"]
    api_base = env.get("TSUDOI_GMO_API_BASE") or TEST_API_BASE
    if not shop_id.startswith("tshop") or api_base.rstrip("/") == PRODUCTION_API_BASE:
        out(
            "テスト用ショップ（tshop…、テスト環境 pt01.mul-pay.jp）でのみ実行できます。本番のショップでは実行しません。"
        )
        return NOT_SET
    config_id = env.get("TSUDOI_GMO_CONFIG_ID") or None
    konbini_days = 3
    out(f"GMO リンクタイプPlus の接続確認 ({api_base}, ショップ {shop_id})")
    plain = GmoGateway(
        api_base, shop_id, shop_pass, konbini_days=konbini_days, contact_name="Tsudoi 接続確認"
    )
    failures = 0

    out("1. configid なしで決済URLを作成します（Tsudoi は configid を送りません）。")
    card = _request("card", args.amount, args.email)
    try:
        start = await plain.start_checkout(card)
        out(f"   作成できました: configid は必須ではありません。URL: {start.redirect_url}")
        out(f"   有効期限 (PaymentExpireDate): {start.expires_at:%Y-%m-%d %H:%M} (JST)")
    except GatewayUnavailable as error:
        out(f"   作成できませんでした: {error.detail}")
        if config_id is None:
            out(
                "   configid が必須の可能性があります。TSUDOI_GMO_CONFIG_ID を設定して、もう一度実行してください。"
            )
            return FAILED
        out(f"   configid={config_id} を付けてもう一度作成します。")
        plain = GmoGateway(
            api_base,
            shop_id,
            shop_pass,
            config_id=config_id,
            konbini_days=konbini_days,
            contact_name="Tsudoi 接続確認",
        )
        card = _request("card", args.amount, args.email)
        start = await plain.start_checkout(card)
        out(f"   作成できました: このショップでは configid が必須です。URL: {start.redirect_url}")

    out(
        "2. カード決済: 上のURLをブラウザで開き、テストカード 4111 1111 1111 1111（有効期限は未来の月、セキュリティコードは任意）で支払ってください。"
    )
    paid = await _wait_for(
        plain, card.order_id, {states.PAID, states.DECLINED}, wait=args.wait, poll=args.poll, out=out
    )
    if paid is None or paid.state != states.PAID:
        failures += 1
    else:
        out(f"   お支払いを確認しました: {paid.amount}円（依頼した金額 {card.amount}円）")
        out("3. 支払い方法が違う照会（PayType=3 でカードの取引）に SearchTradeMulti が何を返すか確かめます。")
        fields = await plain.search_answer(card.order_id, "3")
        out(f"   答え: { ({key: fields.get(key, '') for key in ('ErrCode', 'ErrInfo', 'Status')}) }")
        if fields.get("ErrCode") and set(fields.get("ErrInfo", "").split("|")) <= NOT_FOUND_ERRORS:
            out(
                "   「取引なし」と同じ答えです: Tsudoi はこのときもう一方の支払い方法で照会し直します（想定どおり）。"
            )
        else:
            out(
                "   想定と違う答えです: services/payments/gmo.py の _NOT_FOUND にこの ErrInfo を加える必要があります。"
            )
            failures += 1

    out(f"4. コンビニ決済: PaymentTermDay={konbini_days} で決済URLを作成します。")
    cvs = _request("konbini", args.amount, args.email)
    cvs_start = await plain.start_checkout(cvs)
    out(f"   URL: {cvs_start.redirect_url}")
    out(
        "   ブラウザで開き、コンビニを選んで番号を発行してください（テスト環境では実際のお支払いは不要です）。"
    )
    issued = await _wait_for(
        plain, cvs.order_id, {states.AWAITING_KONBINI, states.PAID}, wait=args.wait, poll=args.poll, out=out
    )
    if issued is None:
        failures += 1
    else:
        _konbini_lines(issued, out)
        out("5. コンビニのお支払い期限の日数キー (cvs.PaymentTermDay) が効いているか確かめます。")
        deadline = issued.konbini.deadline if issued.konbini else None
        if deadline is None or issued.occurred_at is None:
            out("   期限または発行日時が返っていないため判断できません。")
            failures += 1
        elif deadline.astimezone(JST).date() == (
            expected := (issued.occurred_at.astimezone(JST) + timedelta(days=konbini_days)).date()
        ):
            out(f"   期限は {expected} で、PaymentTermDay は効いています。")
        else:
            out(
                f"   期限は {deadline.astimezone(JST).date()} で、発行から{konbini_days}日後 ({expected}) ではありません: "
                "リンクタイプPlus の cvs の日数キーが違う可能性があります（管理画面の既定値が使われています）。"
            )
            failures += 1
        if issued.state == states.AWAITING_KONBINI:
            out("6. 発行した番号を取り消します (CvsCancel)。")
            try:
                await plain.cancel(cvs.order_id)
                after = await plain.fetch_state(cvs.order_id)
                out(f"   取り消しました: {states.STATE_LABELS.get(after.state, after.state)}")
            except GatewayUnavailable as error:
                out(f"   取り消せませんでした: {error.detail}")
                failures += 1
    out(
        "完了しました。"
        if failures == 0
        else f"確認できなかった項目が {failures} 件あります。上の表示をご確認ください。"
    )
    return 0 if failures == 0 else FAILED


async def check_stripe(env: Mapping[str, str], args: argparse.Namespace, out: Print) -> int:
    missing = _missing(env, ("TSUDOI_STRIPE_SECRET_KEY",))
    if missing:
        out(
            "Stripe のテストモードのキーがありません。次の環境変数を設定してから実行してください: "
            + ", ".join(missing)
        )
        return NOT_SET
    key = env["TSUDOI_STRIPE_SECRET_KEY"]
    if not key.startswith(("sk_test_", "rk_test_")):
        out("テストモードのキー（sk_test_…）でのみ実行できます。本番のキーでは実行しません。")
        return NOT_SET
    api_base = env.get("TSUDOI_STRIPE_API_BASE") or DEFAULT_API_BASE
    # Webhooks are not part of this check (the signing secret is only needed by the app).
    gateway = StripeGateway(key, "whsec_unused_by_the_check", api_base=api_base)
    out(f"Stripe Checkout の接続確認 ({api_base}, テストモード)")
    failures = 0
    out("1. カード決済の Checkout Session を作成します。")
    card = _request("card", args.amount, args.email)
    start = await gateway.start_checkout(card)
    out(f"   URL: {start.redirect_url}")
    if start.expires_at:
        out(f"   有効期限: {start.expires_at.astimezone(JST):%Y-%m-%d %H:%M} (JST)")
    out(
        "2. ブラウザで開き、テストカード 4242 4242 4242 4242（有効期限は未来の月、セキュリティコードは任意）で支払ってください。"
    )
    paid = await _wait_for(gateway, start.reference, {states.PAID}, wait=args.wait, poll=args.poll, out=out)
    if paid is None:
        failures += 1
    else:
        out(f"   お支払いを確認しました: {paid.amount}円（依頼した金額 {card.amount}円）")
    out("3. コンビニ決済の Checkout Session を作成します。")
    cvs = _request("konbini", args.amount, args.email)
    cvs_start = await gateway.start_checkout(cvs)
    out(f"   URL: {cvs_start.redirect_url}")
    out("   ブラウザで開き、番号の発行まで進めてください。")
    issued = await _wait_for(
        gateway,
        cvs_start.reference,
        {states.AWAITING_KONBINI, states.PAID},
        wait=args.wait,
        poll=args.poll,
        out=out,
    )
    if issued is None:
        failures += 1
    else:
        _konbini_lines(issued, out)
        if issued.state == states.AWAITING_KONBINI:
            out("4. 発行した番号を取り消します (PaymentIntent の cancel)。")
            try:
                await gateway.cancel(cvs_start.reference)
                out("   取り消しました。")
            except GatewayUnavailable as error:
                out(f"   取り消せませんでした: {error.detail}")
                failures += 1
    out(
        "完了しました。"
        if failures == 0
        else f"確認できなかった項目が {failures} 件あります。上の表示をご確認ください。"
    )
    return 0 if failures == 0 else FAILED


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None, out: Print = print) -> int:
    parser = argparse.ArgumentParser(
        description="GMO / Stripe のテスト環境で、カードとコンビニの支払いを1件ずつ確かめます。"
    )
    parser.add_argument("gateway", choices=("gmo", "stripe"))
    parser.add_argument("--amount", type=int, default=1000, help="金額（円, 120〜300000）")
    parser.add_argument("--email", default="tsudoi-check@example.com", help="決済ページに渡すメールアドレス")
    parser.add_argument("--wait", type=float, default=600.0, help="各支払いを待つ秒数")
    parser.add_argument("--poll", type=float, default=5.0, help="照会の間隔（秒）")
    args = parser.parse_args(argv)
    if not 120 <= args.amount <= 300_000:
        parser.error("--amount は 120〜300000 円にしてください（コンビニ払いの上限と下限）")
    environment: Mapping[str, Any] = os.environ if env is None else env
    check = check_gmo if args.gateway == "gmo" else check_stripe
    try:
        return asyncio.run(check(environment, args, out))
    except GatewayUnavailable as error:
        out(f"決済サービスに接続できませんでした: {error.detail}")
        return FAILED


if __name__ == "__main__":
    sys.exit(main())
