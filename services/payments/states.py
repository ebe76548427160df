"""The payment attempt state machine: which gateway reports may move an attempt, and where."""

from __future__ import annotations

from typing import Final, Literal

AttemptState = Literal["pending", "awaiting_konbini", "paid", "declined", "expired", "cancelled"]

PENDING: Final = "pending"
AWAITING_KONBINI: Final = "awaiting_konbini"
PAID: Final = "paid"
DECLINED: Final = "declined"
EXPIRED: Final = "expired"
CANCELLED: Final = "cancelled"

ALL_STATES: Final[frozenset[str]] = frozenset({PENDING, AWAITING_KONBINI, PAID, DECLINED, EXPIRED, CANCELLED})

_MOVES: Final[dict[str, frozenset[str]]] = {
    PENDING: frozenset({AWAITING_KONBINI, PAID, DECLINED, EXPIRED, CANCELLED}),
    AWAITING_KONBINI: frozenset({PAID, EXPIRED, CANCELLED}),
    # A declined card can be retried on the same hosted page (Stripe Checkout and GMO both
    # keep the session open), so a later success must still count: the money really moved.
    DECLINED: frozenset({PAID}),
    PAID: frozenset(),
    EXPIRED: frozenset(),
    CANCELLED: frozenset(),
}

# Only an admin cancels an attempt; gateways never report "cancelled" on our behalf.
ADMIN_CANCELLABLE: Final[frozenset[str]] = frozenset({PENDING, AWAITING_KONBINI})

STATE_LABELS: Final[dict[str, str]] = {
    PENDING: "お支払い待ち",
    AWAITING_KONBINI: "コンビニでのお支払い待ち",
    PAID: "お支払い済み",
    DECLINED: "カードがご利用いただけませんでした",
    EXPIRED: "期限切れ",
    CANCELLED: "取り消し済み",
}


def _require_state(state: str) -> None:
    if state not in ALL_STATES:
        raise ValueError(f"unknown payment attempt state: {state!r}")


def can_move(old: str, new: str) -> bool:
    """Whether an attempt in `old` may move to `new` (a same-state report is not a move)."""
    _require_state(old)
    _require_state(new)
    return new in _MOVES[old]


def next_state(old: str, incoming: str) -> str | None:
    """The state to store after a gateway report, or None to ignore it.

    None covers replays (same state), reports that arrive out of order (a konbini
    "number issued" after "paid") and anything that would go backwards.
    """
    return incoming if can_move(old, incoming) else None


def is_final(state: str) -> bool:
    """Whether nothing a gateway says can move this attempt any more (declined can still be paid)."""
    _require_state(state)
    return not _MOVES[state]


def allows_new_attempt(state: str) -> bool:
    """Whether the member may start a fresh attempt (the method is fixed until this one ends)."""
    _require_state(state)
    return state in {DECLINED, EXPIRED, CANCELLED}


def needs_attention(old: str, incoming: str) -> bool:
    """A payment reported for an attempt that was already expired or cancelled: money may have
    been taken for nothing, so an admin must look (refund or mark the fee paid by hand)."""
    _require_state(old)
    _require_state(incoming)
    return incoming == PAID and old in {EXPIRED, CANCELLED}


def amount_matches(expected: int, reported: int | None) -> bool:
    """Whether the gateway reported exactly the fee we asked for (yen, no rounding)."""
    if isinstance(expected, bool) or not isinstance(expected, int) or expected <= 0:
        raise ValueError("expected amount must be a positive whole number of yen")
    if reported is None or isinstance(reported, bool) or not isinstance(reported, int):
        return False
    return reported == expected
