"""The password lifecycle rules: policy from settings, expiry, tick states, history, reset tokens, identifiers."""

from __future__ import annotations

import string
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from db import members as member_queries
from db.timestamps import to_db
from services import password_flow
from services.org import OrgSettings
from services.password_policy import PasswordPolicy, check_password, failed
from services.readings import READINGS
from services.tokens import make_token
from tests.helpers import DEFAULT_PASSWORD, make_member

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
LOOK_ALIKES = set("lI10Oo")


# --- policy from the admin's settings -----------------------------------------------------------


def test_default_settings_give_the_guide_policy() -> None:
    assert password_flow.policy_from_org(OrgSettings()) == PasswordPolicy.guide()


def test_each_guide_number_is_a_setting() -> None:
    org = OrgSettings(
        password_min_length=10, password_max_length=30, password_history=5, password_expiry_days=90
    )
    policy = password_flow.policy_from_org(org)
    assert (policy.min_length, policy.max_length, policy.history_count, policy.expiry_days) == (10, 30, 5, 90)


def test_zero_expiry_days_turns_expiry_off() -> None:
    assert password_flow.policy_from_org(OrgSettings(password_expiry_days=0)).expiry_days is None


def test_modern_preset_keeps_nist_lengths_and_never_expires() -> None:
    policy = password_flow.policy_from_org(OrgSettings(password_preset="modern", password_min_length=6))
    assert policy.name == "modern"
    assert policy.min_length == 8 and policy.max_length == 64
    assert policy.expiry_days is None
    assert not policy.require_upper and not policy.require_digit


@pytest.mark.parametrize(
    "changes",
    [
        {"password_min_length": 0},
        {"password_min_length": 30, "password_max_length": 10},
        {"password_history": -1},
        {"password_expiry_days": -5},
    ],
)
def test_unusable_numbers_fall_back_to_the_preset(changes: dict[str, int]) -> None:
    policy = password_flow.policy_from_org(OrgSettings(**changes))
    assert policy.min_length >= 1 and policy.max_length >= policy.min_length
    assert policy.history_count >= 0


def test_unknown_preset_name_means_the_guide() -> None:
    assert password_flow.policy_from_org(OrgSettings(password_preset="nonsense")).name == "guide"


# --- expiry ------------------------------------------------------------------------------------


def member_changed(days_ago: float | None, created_days_ago: float = 400) -> dict[str, Any]:
    return {
        "password_changed_at": to_db(NOW - timedelta(days=days_ago)) if days_ago is not None else None,
        "created_at": to_db(NOW - timedelta(days=created_days_ago)),
    }


def test_password_expires_on_day_120() -> None:
    org = OrgSettings()
    assert not password_flow.password_expired(org, member_changed(119.9), NOW)  # type: ignore[arg-type]
    assert password_flow.password_expired(org, member_changed(120), NOW)  # type: ignore[arg-type]


def test_missing_change_date_counts_from_account_creation() -> None:
    org = OrgSettings()
    assert password_flow.password_expired(org, member_changed(None, 200), NOW)  # type: ignore[arg-type]
    assert not password_flow.password_expired(org, member_changed(None, 10), NOW)  # type: ignore[arg-type]


def test_modern_preset_never_nags() -> None:
    org = OrgSettings(password_preset="modern")
    assert not password_flow.password_expired(org, member_changed(5000), NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        ("/mypage", "/password/expired"),
        ("", "/password/expired"),
        ("/settings/mail", "/password/expired?next=/settings/mail"),
        ("/articles?topic=a&page=2", "/password/expired?next=/articles%3Ftopic%3Da%26page%3D2"),
    ],
)
def test_expired_path_carries_the_destination(requested: str, expected: str) -> None:
    assert password_flow.expired_path(requested) == expected


# --- what the forgot page accepts --------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kind", "value"),
    [
        ("001234", "member_number", "001234"),
        ("　００１２３４ ", "member_number", "001234"),
        ("Hanako@Example.JP", "email", "Hanako@example.jp"),
        ("ｈａｎａｋｏ＠ｅｘａｍｐｌｅ．ｊｐ", "email", "hanako@example.jp"),
    ],
)
def test_identifier_is_a_member_number_or_an_address(raw: str, kind: str, value: str) -> None:
    identifier = password_flow.parse_identifier(raw)
    assert isinstance(identifier, password_flow.Identifier)
    assert (identifier.kind, identifier.value) == (kind, value)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", password_flow.IDENTIFIER_REQUIRED),
        ("   ", password_flow.IDENTIFIER_REQUIRED),
        ("山田花子", password_flow.IDENTIFIER_INVALID),
        ("12-34", password_flow.IDENTIFIER_INVALID),
        ("a@", password_flow.IDENTIFIER_INVALID),
        ("1" * 5000, password_flow.IDENTIFIER_INVALID),
    ],
)
def test_bad_identifier_gets_a_japanese_message(raw: str, message: str) -> None:
    assert password_flow.parse_identifier(raw) == message


# --- tick list ---------------------------------------------------------------------------------


def test_every_rule_has_a_tick_list_label() -> None:
    policy = PasswordPolicy.guide()
    for result in check_password("x", member_number="1", policy=policy):
        assert password_flow.rule_label(str(result.code), policy)
    assert password_flow.rule_label("length", policy) == "8文字以上20文字以下"
    assert '!"#$%' in password_flow.rule_label("charset", policy)
    assert "3つ" in password_flow.rule_label("not_recent", policy)


async def test_empty_password_leaves_every_rule_unticked(app_ctx: Any) -> None:
    await make_member(app_ctx, "001001")
    member = await member_queries.get_by_number(app_ctx.db, "001001")
    evaluation = await password_flow.evaluate(app_ctx, member, "", "", check_history=True)
    assert {line.state for line in evaluation.lines} == {"todo"}
    assert evaluation.confirm.state == "todo"
    assert evaluation.ime_hint is None


async def test_history_waits_for_the_cheap_rules(app_ctx: Any) -> None:
    await make_member(app_ctx, "001001")
    member = await member_queries.get_by_number(app_ctx.db, "001001")
    weak = await password_flow.evaluate(app_ctx, member, "abc", "", check_history=True)
    by_code = {line.code: line.state for line in weak.lines}
    assert by_code["not_recent"] == "todo" and by_code["length"] == "ng"
    later = await password_flow.evaluate(app_ctx, member, "Hikari2027", "Hikari2027", check_history=False)
    assert {line.code: line.state for line in later.lines}["not_recent"] == "later"
    assert later.confirm.state == "ok"
    current = await password_flow.evaluate(app_ctx, member, DEFAULT_PASSWORD, "x", check_history=True)
    assert {line.code: line.state for line in current.lines}["not_recent"] == "ng"
    assert current.confirm.state == "ng"
    assert current.failed_messages == [
        "最近使用した3つのパスワード（現在のパスワードを含みます）は使用できません。"
    ]


async def test_full_width_input_gets_the_ime_hint(app_ctx: Any) -> None:
    await make_member(app_ctx, "001001")
    member = await member_queries.get_by_number(app_ctx.db, "001001")
    evaluation = await password_flow.evaluate(
        app_ctx, member, "Ｈｉｋａｒｉ２０２７", "", check_history=False
    )
    assert evaluation.ime_hint and "IME" in evaluation.ime_hint


async def test_history_is_verified_off_the_event_loop(app_ctx: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    await make_member(app_ctx, "001001")
    member = await member_queries.get_by_number(app_ctx.db, "001001")
    threads: list[str] = []
    original = app_ctx.hasher.verify_sync

    def spy(password_hash: str, password: str) -> bool:
        threads.append(threading.current_thread().name)
        return original(password_hash, password)

    monkeypatch.setattr(app_ctx.hasher, "verify_sync", spy)
    assert await password_flow.is_recent_password(app_ctx, member, DEFAULT_PASSWORD)
    assert not await password_flow.is_recent_password(app_ctx, member, "Hikari2027")
    assert threads and threading.main_thread().name not in threads
    assert len(threads) == 1 + 1  # a match stops early; the new member has one stored password


async def test_live_history_checks_are_capped_per_member(app_ctx: Any) -> None:
    await make_member(app_ctx, "001001")
    member = await member_queries.get_by_number(app_ctx.db, "001001")
    for _ in range(password_flow.LIVE_HISTORY_LIMIT.attempts):
        await password_flow.live_evaluation(app_ctx, member, "Hikari2027", "")
    capped = await password_flow.live_evaluation(app_ctx, member, "Hikari2027", "")
    assert {line.code: line.state for line in capped.lines}["not_recent"] == "later"


async def test_validate_reports_one_message_per_failed_rule(app_ctx: Any) -> None:
    await make_member(app_ctx, "001001")
    member = await member_queries.get_by_number(app_ctx.db, "001001")
    errors = await password_flow.validate_new_password(app_ctx, member, "abc", "abd")
    assert errors["new_password"] == [
        "8文字以上20文字以下で入力してください。",
        "英大文字を1文字以上含めてください。",
        "数字を1文字以上含めてください。",
    ]
    assert errors["new_password_confirm"] == [password_flow.CONFIRM_MISMATCH]
    assert await password_flow.validate_new_password(app_ctx, member, "", "") == {
        "new_password": [password_flow.NEW_REQUIRED],
        "new_password_confirm": [password_flow.CONFIRM_REQUIRED],
    }


# --- reset tokens ------------------------------------------------------------------------------


async def test_reset_link_opens_without_being_spent(app_ctx: Any) -> None:
    await make_member(app_ctx, "001001")
    member = await member_queries.get_by_number(app_ctx.db, "001001")
    token = password_flow.reset_url(app_ctx, member).rsplit("/", 1)[1]
    for _ in range(2):
        ticket = await password_flow.open_reset(app_ctx, token)
        assert ticket.problem is None and ticket.member["member_number"] == "001001"


async def test_reset_token_with_a_bad_member_id_is_invalid(app_ctx: Any) -> None:
    secret = app_ctx.settings.secret_key
    for payload in ({"m": "1", "p": "x"}, {"m": True, "p": "x"}, {"m": 999, "p": "x"}, {}):
        token = make_token(secret, password_flow.RESET_PURPOSE, payload, now=app_ctx.clock.now())
        assert (await password_flow.open_reset(app_ctx, token)).problem == "invalid"


async def test_reset_for_a_closed_account_is_invalid(app_ctx: Any) -> None:
    member_id = await make_member(app_ctx, "001001")
    member = await member_queries.get_by_id(app_ctx.db, member_id)
    token = password_flow.reset_url(app_ctx, member).rsplit("/", 1)[1]
    await app_ctx.db.execute("UPDATE members SET status = 'closed' WHERE id = ?", (member_id,))
    assert (await password_flow.open_reset(app_ctx, token)).problem == "invalid"


async def test_reset_mails_per_member_are_capped_silently(app_ctx: Any) -> None:
    await make_member(app_ctx, "001001")
    identifier = password_flow.Identifier("member_number", "001001")
    sent = [
        await password_flow.send_reset_links(app_ctx, identifier)
        for _ in range(password_flow.RESET_MAIL_MEMBER_LIMIT.attempts + 2)
    ]
    assert sum(sent) == password_flow.RESET_MAIL_MEMBER_LIMIT.attempts


async def test_unknown_accounts_get_no_mail(app_ctx: Any) -> None:
    assert (
        await password_flow.send_reset_links(app_ctx, password_flow.Identifier("email", "x@example.jp")) == 0
    )
    assert await password_flow.send_member_number_reminder(app_ctx, "x@example.jp") == 0


# --- admin's new initial password --------------------------------------------------------------


async def test_new_initial_password_passes_the_policy_and_avoids_look_alikes(app_ctx: Any) -> None:
    member_id = await make_member(app_ctx, "001001")
    policy = password_flow.policy_from_org(app_ctx.org)
    for _ in range(5):
        password = await password_flow.set_initial_password(app_ctx, member_id, actor_id=1)
        assert not failed(check_password(password, member_number="001001", policy=policy))
        assert not LOOK_ALIKES & set(password)
        assert all(ch in READINGS for ch in password)
    member = await member_queries.get_by_id(app_ctx.db, member_id)
    assert member["must_change_password"] == 1
    assert await app_ctx.hasher.verify(member["password_hash"], password)


async def test_initial_password_length_follows_a_longer_minimum(app_ctx: Any) -> None:
    await app_ctx.update_org({"password_min_length": "14", "password_max_length": "20"})
    member_id = await make_member(app_ctx, "001001")
    password = await password_flow.set_initial_password(app_ctx, member_id, actor_id=1)
    assert len(password) == 14
    assert set(password) <= set(string.ascii_letters + string.digits)


async def test_initial_password_for_an_unknown_member_raises(app_ctx: Any) -> None:
    with pytest.raises(LookupError):
        await password_flow.set_initial_password(app_ctx, 424242, actor_id=1)
