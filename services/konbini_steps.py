"""How to pay at each convenience store: the same steps on the payment pages and in the number mail."""

from __future__ import annotations

from typing import Final

# The store's own terminal issues a slip to take to the till (the chains' published procedures).
_TERMINALS: Final[dict[str, str]] = {
    "ローソン": "Loppi",
    "ミニストップ": "Loppi",
    "ファミリーマート": "マルチコピー機",
}
_LAST_STEP: Final = "金額をご確認のうえ、現金でお支払いください。レシートは控えとして保管してください。"


def konbini_steps(store: str | None, *, has_confirmation: bool) -> list[str]:
    """The steps for `store`, in order; a store not listed gets the steps that hold at every till."""
    numbers = "お支払い番号と確認番号" if has_confirmation else "お支払い番号"
    terminal = _TERMINALS.get(str(store or "").strip())
    if terminal is not None:
        return [
            f"店内の端末「{terminal}」で「各種番号をお持ちの方」（または「代金支払い」）を選んでください。",
            f"{numbers}を入力し、印刷される申込券を受け取ってください。",
            f"申込券をレジにお持ちください（発行から30分以内）。{_LAST_STEP}",
        ]
    return [
        "コンビニのレジで「インターネット代金の支払い」とお伝えください。",
        f"{numbers}をお知らせください（店舗によっては、レジの画面で番号を入力します）。",
        _LAST_STEP,
    ]
