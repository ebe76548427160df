"""Console accounts: a second admin or 事務局スタッフ created and removed by an admin in the console.

A new account gets a generated initial password that the console shows once (it is stored only as a hash):
at the first login the account must change it and then set up its authenticator app (TOTP), like every
admin. Removing an account closes it, ends its sessions and drops its second factor; an admin cannot remove
their own account, so there is always at least one admin.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass

from db import audit
from db import console_accounts as queries
from db import members as member_queries
from services.charset import check_text
from services.context import AppContext
from services.japanese import normalize_email, normalize_member_number
from services.password_flow import initial_password_length, policy_from_org
from services.password_policy import generate_initial_password

ROLES = {"staff": "事務局スタッフ", "admin": "管理者"}
NAME_MAX = 30


@dataclass(frozen=True)
class NewAccount:
    member_id: int
    member_number: str
    role: str
    password: str


def role_of(row: sqlite3.Row | Mapping[str, object]) -> str:
    return "staff" if row["staff"] else "admin"


async def validate(app: AppContext, values: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The typed form checked field by field: (clean values, Japanese errors by field)."""
    clean: dict[str, str] = {}
    errors: dict[str, str] = {}
    role = values.get("role", "")
    if role not in ROLES:
        errors["role"] = "役割を選んでください。"
    else:
        clean["role"] = role
    raw_number = values.get("member_number", "")
    number = normalize_member_number(raw_number)
    if number is None:
        errors["member_number"] = (
            "ログインIDは数字で入力してください。" if raw_number.strip() else "ログインIDを入力してください。"
        )
    elif await member_queries.get_by_number(app.db, number) is not None:
        errors["member_number"] = f"ログインID {number} はすでに使われています。"
    else:
        clean["member_number"] = number
    for name, label in (("family_name", "姓"), ("given_name", "名")):
        value = values.get(name, "").strip()
        if not value and name == "family_name":
            errors[name] = f"{label}を入力してください。"
        elif len(value) > NAME_MAX:
            errors[name] = f"{label}は{NAME_MAX}文字以内で入力してください。"
        elif value and (problem := check_text(value)):
            errors[name] = problem
        else:
            clean[name] = value
    email = normalize_email(values.get("email", ""))
    if email.error:
        errors["email"] = email.error
    else:
        clean["email"] = email.value
    return clean, errors


async def create(app: AppContext, clean: Mapping[str, str], *, actor_id: int, ip: str = "") -> NewAccount:
    """Create the account with a generated initial password; the caller shows the password once.
    Raises queries.DuplicateLogin when the login ID was taken meanwhile."""
    policy = policy_from_org(app.org)
    password = generate_initial_password(policy, initial_password_length(policy))
    now = app.clock.now()
    member_id = await queries.create(
        app.db,
        member_number=clean["member_number"],
        staff=clean["role"] == "staff",
        password_hash=await app.hasher.hash(password),
        family_name=clean["family_name"],
        given_name=clean.get("given_name", ""),
        email=clean["email"],
        now=now,
    )
    await audit.record(
        app.db,
        "console.account_created",
        now=now,
        actor_member_id=actor_id,
        subject_member_id=member_id,
        ip=ip,
        detail={"role": clean["role"]},
    )
    return NewAccount(member_id, clean["member_number"], clean["role"], password)


async def remove(app: AppContext, member_id: int, *, actor_id: int, ip: str = "") -> sqlite3.Row | None:
    """Close another console account (None when there is none such: gone already, a member, oneself)."""
    now = app.clock.now()
    row = await queries.remove(app.db, member_id, actor_id=actor_id, now=now)
    if row is not None:
        await audit.record(
            app.db,
            "console.account_removed",
            now=now,
            actor_member_id=actor_id,
            subject_member_id=member_id,
            ip=ip,
            detail={"role": role_of(row)},
        )
    return row
