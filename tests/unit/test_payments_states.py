"""The payment attempt state machine."""

from __future__ import annotations

import pytest

from services.payments import states


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("pending", "awaiting_konbini"),
        ("pending", "paid"),
        ("pending", "declined"),
        ("pending", "expired"),
        ("pending", "cancelled"),
        ("awaiting_konbini", "paid"),
        ("awaiting_konbini", "expired"),
        ("awaiting_konbini", "cancelled"),
        ("declined", "paid"),
    ],
)
def test_allowed_moves(old: str, new: str) -> None:
    assert states.can_move(old, new)
    assert states.next_state(old, new) == new


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("paid", "awaiting_konbini"),
        ("paid", "expired"),
        ("paid", "declined"),
        ("awaiting_konbini", "pending"),
        ("awaiting_konbini", "declined"),
        ("expired", "awaiting_konbini"),
        ("cancelled", "expired"),
        ("declined", "awaiting_konbini"),
    ],
)
def test_backwards_or_late_reports_are_ignored(old: str, new: str) -> None:
    assert not states.can_move(old, new)
    assert states.next_state(old, new) is None


@pytest.mark.parametrize("state", sorted(states.ALL_STATES))
def test_replayed_report_of_the_same_state_is_ignored(state: str) -> None:
    assert states.next_state(state, state) is None


def test_paid_is_final_and_blocks_a_new_attempt() -> None:
    assert states.is_final("paid")
    assert not states.allows_new_attempt("paid")
    assert not states.allows_new_attempt("awaiting_konbini")


@pytest.mark.parametrize("state", ["declined", "expired", "cancelled"])
def test_ended_attempts_allow_a_new_attempt(state: str) -> None:
    assert states.allows_new_attempt(state)


def test_only_open_attempts_are_admin_cancellable() -> None:
    assert states.ADMIN_CANCELLABLE == {"pending", "awaiting_konbini"}


def test_payment_after_cancel_needs_admin_attention() -> None:
    assert states.needs_attention("cancelled", "paid")
    assert states.needs_attention("expired", "paid")
    assert not states.needs_attention("pending", "paid")


def test_unknown_state_is_an_error() -> None:
    with pytest.raises(ValueError):
        states.can_move("pending", "refunded")
    with pytest.raises(ValueError):
        states.next_state("bogus", "paid")


def test_amount_must_match_exactly() -> None:
    assert states.amount_matches(5000, 5000)
    assert not states.amount_matches(5000, 4999)
    assert not states.amount_matches(5000, None)
    assert not states.amount_matches(5000, True)
    with pytest.raises(ValueError):
        states.amount_matches(0, 0)


def test_every_state_has_a_japanese_label() -> None:
    assert set(states.STATE_LABELS) == states.ALL_STATES
