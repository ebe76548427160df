"""Initial passwords: creating members with one, issuing a new one, and their one-time letters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio.to_thread

from db import admin_members as member_admin_queries
from db import audit
from db import initial_letters as letter_queries
from services import password_flow
from services.context import AppContext
from services.letters import LetterData, render_initial_password_letters_async
from services.password_flow import initial_password_length, policy_from_org
from services.password_policy import generate_initial_password
from services.perks import org_today
from services.readings import readings
from services.sealing import open_text, seal

SEAL_PURPOSE = "initial-password-letter"


@dataclass
class NewMember:
    member_number: str
    password: str
    profile: dict[str, str] = field(default_factory=dict)
    generated: bool = True


def login_url(app: AppContext) -> str:
    return f"{app.settings.base_url}/login"


async def create_members(
    app: AppContext, members: Sequence[NewMember], *, actor_id: int | None, source: str, ip: str = ""
) -> list[int]:
    """Hash every password (off the event loop), then create them all in one transaction."""
    key = app.settings.secret_key

    def prepare() -> list[member_admin_queries.NewMemberRow]:
        return [
            member_admin_queries.NewMemberRow(
                member_number=member.member_number,
                password_hash=app.hasher.hash_sync(member.password),
                password_sealed=seal(key, SEAL_PURPOSE, member.password),
                profile=member.profile,
            )
            for member in members
        ]

    rows = await anyio.to_thread.run_sync(prepare)
    return await member_admin_queries.create_many(
        app.db, rows, now=app.clock.now(), actor_id=actor_id, source=source, ip=ip
    )


async def create_member_with_letter(
    app: AppContext, member_number: str, profile: dict[str, str], *, actor_id: int, ip: str = ""
) -> int:
    """One member created by the admin, with a generated initial password waiting for its letter."""
    policy = policy_from_org(app.org)
    password = generate_initial_password(policy, initial_password_length(policy))
    (member_id,) = await create_members(
        app, [NewMember(member_number, password, profile)], actor_id=actor_id, source="admin", ip=ip
    )
    return member_id


async def issue_new_initial_password(app: AppContext, member_id: int, *, actor_id: int) -> None:
    """A new initial password (the member must change it at the next login, every session ends); the
    plain password is only kept sealed until its letter is made."""
    password = await password_flow.set_initial_password(app, member_id, actor_id=actor_id)
    sealed = seal(app.settings.secret_key, SEAL_PURPOSE, password)
    await letter_queries.put(
        app.db, member_id, sealed, now=app.clock.now(), actor_id=actor_id, source="admin"
    )


class LettersAlreadyMade(Exception):
    """Another tab or admin made some of these letters meanwhile (or a newer password was issued)."""


async def make_letters(app: AppContext, member_ids: Sequence[int], *, actor_id: int, ip: str = "") -> bytes:
    """The PDF of the chosen waiting letters; once it is made the plain passwords are erased, so each
    initial password is printed exactly once."""
    rows = await letter_queries.pending(app.db, member_ids)
    if not rows or len(rows) != len(set(member_ids)):
        raise LettersAlreadyMade()
    key = app.settings.secret_key
    today = org_today(app.clock.now(), app.settings.tz)
    letters = []
    for row in rows:
        password = open_text(key, SEAL_PURPOSE, row["password_sealed"])
        letters.append(
            LetterData(
                organization_name=app.org.org_name,
                member_name=f"{row['family_name']} {row['given_name']}".strip() or str(row["member_number"]),
                member_number=str(row["member_number"]),
                initial_password=password,
                readings=readings(password),
                login_url=login_url(app),
                issued_on=today,
                postal_code=str(row["postal_code"] or ""),
                address_lines=[
                    f"{row['prefecture'] or ''}{row['address1'] or ''}",
                    str(row["address2"] or ""),
                ],
                organization_address=app.org.org_address,
                organization_phone=app.org.org_phone,
                contact_email=app.org.contact_email,
                contact_url=f"{app.settings.base_url}/contact",
            )
        )
    pdf = await render_initial_password_letters_async(letters, font=app.settings.pdf_font)
    claims = [(int(row["member_id"]), str(row["password_sealed"])) for row in rows]
    if not await letter_queries.mark_made_or_false(
        app.db, claims, now=app.clock.now(), actor_id=actor_id, ip=ip
    ):
        raise LettersAlreadyMade()
    await audit.record(
        app.db,
        "letters.made",
        now=app.clock.now(),
        actor_member_id=actor_id,
        ip=ip,
        detail={"count": len(rows)},
    )
    return pdf
