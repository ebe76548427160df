"""Queries for the OpenID Connect provider: clients, codes, tokens, consents and signing keys."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from db.database import Database
from db.timestamps import to_db

# --- clients ------------------------------------------------------------------------------------------


async def client(db: Database, client_id: str) -> sqlite3.Row | None:
    return await db.fetchone(
        "SELECT * FROM oidc_clients WHERE client_id = ? AND removed_at IS NULL", (client_id,)
    )


async def clients(db: Database) -> list[sqlite3.Row]:
    return await db.fetchall("SELECT * FROM oidc_clients WHERE removed_at IS NULL ORDER BY id")


async def add_client(
    db: Database,
    *,
    client_id: str,
    name: str,
    secret_hash: str | None,
    is_public: bool,
    redirect_uris: list[str],
    post_logout_redirect_uris: list[str],
    scopes: str,
    refresh_tokens: bool,
    now: datetime,
) -> int:
    return await db.execute(
        "INSERT INTO oidc_clients (client_id, name, secret_hash, is_public, redirect_uris, "
        "post_logout_redirect_uris, scopes, refresh_tokens, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            client_id,
            name,
            secret_hash,
            int(is_public),
            "\n".join(redirect_uris),
            "\n".join(post_logout_redirect_uris),
            scopes,
            int(refresh_tokens),
            to_db(now),
        ),
    )


async def remove_client(db: Database, client_id: str, *, now: datetime) -> bool:
    async with db.write() as conn:
        db.query_count += 1
        cursor = await conn.execute(
            "UPDATE oidc_clients SET removed_at = ? WHERE client_id = ? AND removed_at IS NULL RETURNING id",
            (to_db(now), client_id),
        )
        removed = await cursor.fetchone() is not None
        await conn.execute(
            "UPDATE oidc_tokens SET revoked_at = ? WHERE client_id = ? AND revoked_at IS NULL",
            (to_db(now), client_id),
        )
        await conn.execute("DELETE FROM oidc_consents WHERE client_id = ?", (client_id,))
    return removed


# --- authorization codes ------------------------------------------------------------------------------


async def save_code(
    db: Database,
    *,
    code_hash: str,
    client_id: str,
    member_id: int,
    redirect_uri: str,
    scope: str,
    nonce: str | None,
    code_challenge: str | None,
    code_challenge_method: str | None,
    auth_time: int,
    expires_at: datetime,
) -> None:
    await db.execute(
        "INSERT INTO oidc_codes (code_hash, client_id, member_id, redirect_uri, scope, nonce, code_challenge, "
        "code_challenge_method, auth_time, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            code_hash,
            client_id,
            member_id,
            redirect_uri,
            scope,
            nonce,
            code_challenge,
            code_challenge_method,
            auth_time,
            to_db(expires_at),
        ),
    )


async def take_code(db: Database, code_hash: str, client_id: str, *, now: datetime) -> sqlite3.Row | None:
    """Use a code: one statement, so of two requests racing with the same code exactly one gets it."""
    async with db.write() as conn:
        db.query_count += 1
        cursor = await conn.execute(
            "UPDATE oidc_codes SET used_at = ? WHERE code_hash = ? AND client_id = ? AND used_at IS NULL "
            "AND expires_at > ? RETURNING *",
            (to_db(now), code_hash, client_id, to_db(now)),
        )
        row: sqlite3.Row | None = await cursor.fetchone()
    return row


async def nonce_used(db: Database, client_id: str, nonce: str) -> bool:
    return bool(
        await db.fetchval("SELECT 1 FROM oidc_codes WHERE client_id = ? AND nonce = ?", (client_id, nonce))
    )


async def delete_stale_codes(db: Database, *, before: datetime) -> None:
    await db.execute("DELETE FROM oidc_codes WHERE expires_at < ?", (to_db(before),))


# --- tokens -----------------------------------------------------------------------------------------


async def save_token(
    db: Database,
    *,
    client_id: str,
    member_id: int,
    access_token_hash: str,
    refresh_token_hash: str | None,
    scope: str,
    issued_at: datetime,
    expires_at: datetime,
    refresh_expires_at: datetime | None,
) -> None:
    await db.execute(
        "INSERT INTO oidc_tokens (client_id, member_id, access_token_hash, refresh_token_hash, scope, issued_at, "
        "expires_at, refresh_expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            client_id,
            member_id,
            access_token_hash,
            refresh_token_hash,
            scope,
            to_db(issued_at),
            to_db(expires_at),
            to_db(refresh_expires_at) if refresh_expires_at else None,
        ),
    )


async def token_by_access(db: Database, access_token_hash: str) -> sqlite3.Row | None:
    return await db.fetchone("SELECT * FROM oidc_tokens WHERE access_token_hash = ?", (access_token_hash,))


async def take_refresh_token(
    db: Database, refresh_token_hash: str, client_id: str, *, now: datetime
) -> sqlite3.Row | None:
    """Use a refresh token once (rotation): the row it belonged to is revoked in the same statement."""
    async with db.write() as conn:
        db.query_count += 1
        cursor = await conn.execute(
            "UPDATE oidc_tokens SET revoked_at = ? WHERE refresh_token_hash = ? AND client_id = ? "
            "AND revoked_at IS NULL AND refresh_expires_at > ? RETURNING *",
            (to_db(now), refresh_token_hash, client_id, to_db(now)),
        )
        row: sqlite3.Row | None = await cursor.fetchone()
    return row


async def revoke_tokens(db: Database, member_id: int, client_id: str | None, *, now: datetime) -> None:
    """A member's tokens for one client (or, with None, for every client)."""
    await db.execute(
        "UPDATE oidc_tokens SET revoked_at = ? WHERE member_id = ? AND revoked_at IS NULL "
        "AND (? IS NULL OR client_id = ?)",
        (to_db(now), member_id, client_id, client_id),
    )


# --- consents ---------------------------------------------------------------------------------------


async def consent(db: Database, member_id: int, client_id: str) -> sqlite3.Row | None:
    return await db.fetchone(
        "SELECT * FROM oidc_consents WHERE member_id = ? AND client_id = ?", (member_id, client_id)
    )


async def put_consent(db: Database, member_id: int, client_id: str, scope: str, *, now: datetime) -> None:
    await db.execute(
        "INSERT INTO oidc_consents (member_id, client_id, scope, granted_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (member_id, client_id) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at",
        (member_id, client_id, scope, to_db(now)),
    )


async def withdraw_consent(db: Database, member_id: int, client_id: str, *, now: datetime) -> bool:
    async with db.write() as conn:
        db.query_count += 1
        cursor = await conn.execute(
            "DELETE FROM oidc_consents WHERE member_id = ? AND client_id = ? RETURNING client_id",
            (member_id, client_id),
        )
        withdrawn = await cursor.fetchone() is not None
        await conn.execute(
            "UPDATE oidc_tokens SET revoked_at = ? WHERE member_id = ? AND client_id = ? AND revoked_at IS NULL",
            (to_db(now), member_id, client_id),
        )
    return withdrawn


async def consents_of(db: Database, member_id: int) -> list[sqlite3.Row]:
    return await db.fetchall(
        "SELECT c.client_id, c.scope, c.granted_at, k.name FROM oidc_consents c "
        "JOIN oidc_clients k ON k.client_id = c.client_id AND k.removed_at IS NULL "
        "WHERE c.member_id = ? ORDER BY c.granted_at DESC",
        (member_id,),
    )


# --- signing keys -----------------------------------------------------------------------------------


async def keys(db: Database) -> list[sqlite3.Row]:
    """Every key still published: the current one first, then retired ones."""
    return await db.fetchall("SELECT * FROM oidc_keys ORDER BY retired_at IS NOT NULL, created_at DESC")


async def add_key(db: Database, kid: str, private_jwk_sealed: str, *, now: datetime) -> None:
    async with db.write() as conn:
        db.query_count += 1
        await conn.execute("UPDATE oidc_keys SET retired_at = ? WHERE retired_at IS NULL", (to_db(now),))
        await conn.execute(
            "INSERT INTO oidc_keys (kid, private_jwk_sealed, created_at) VALUES (?, ?, ?)",
            (kid, private_jwk_sealed, to_db(now)),
        )


async def drop_retired_keys(db: Database, *, retired_before: datetime) -> None:
    await db.execute(
        "DELETE FROM oidc_keys WHERE retired_at IS NOT NULL AND retired_at < ?", (to_db(retired_before),)
    )


async def fee_paid_in(db: Database, member_id: int, fiscal_year: int) -> bool:
    """Whether the member has a paid fee for `fiscal_year` (the `fee_paid_this_year` claim)."""
    return bool(
        await db.fetchval(
            "SELECT 1 FROM fees f JOIN fee_items i ON i.id = f.fee_item_id "
            "WHERE f.member_id = ? AND i.fiscal_year = ? AND f.status = 'paid' LIMIT 1",
            (member_id, fiscal_year),
        )
    )


async def member(db: Database, member_id: int) -> sqlite3.Row | None:
    return await db.fetchone("SELECT * FROM members WHERE id = ?", (member_id,))


async def member_by_public_id(db: Database, public_id: str) -> sqlite3.Row | None:
    return await db.fetchone("SELECT * FROM members WHERE public_id = ?", (public_id,))
