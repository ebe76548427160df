"""Creating accounts: admins from the CLI, members from the admin or an import."""

from __future__ import annotations

from typing import Any

from db import members as member_queries
from services.context import AppContext
from services.japanese import normalize_member_number


class AccountError(ValueError):
    pass


async def create_member(
    app: AppContext,
    *,
    member_number: str,
    password: str,
    role: str = "member",
    must_change_password: bool = True,
    profile: dict[str, Any] | None = None,
) -> int:
    number = normalize_member_number(member_number)
    if number is None:
        raise AccountError("会員番号は数字で入力してください。")
    if await member_queries.get_by_number(app.db, number) is not None:
        raise AccountError(f"会員番号 {number} はすでに使われています。")
    password_hash = await app.hasher.hash(password)
    return await member_queries.create(
        app.db,
        member_number=number,
        password_hash=password_hash,
        now=app.clock.now(),
        role=role,
        must_change_password=must_change_password,
        profile=profile,
    )


async def create_admin(app: AppContext, *, member_number: str, email: str, password: str) -> int:
    return await create_member(
        app,
        member_number=member_number,
        password=password,
        role="admin",
        must_change_password=False,
        profile={"email": email, "family_name": "管理者", "given_name": ""},
    )
