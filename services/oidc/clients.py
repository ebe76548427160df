"""Registering the services that sign members in through Tsudoi (OpenID Connect clients)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from db import audit
from db import oidc as queries
from services.context import AppContext
from services.oidc.provider import SCOPES, token_hash

MAX_URIS = 10


@dataclass(frozen=True)
class NewClient:
    client_id: str
    secret: str | None  # shown once; None for a public client


def _redirect_uri_problem(uri: str) -> str | None:
    parts = urlsplit(uri)
    if parts.fragment or not parts.netloc:
        return (
            f"「{uri}」はURLとして正しくありません（https:// から始まり、# を含まない形で入力してください）。"
        )
    loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        return f"「{uri}」は https:// で始まるURLにしてください（http:// は localhost だけで使えます）。"
    return None


def validate(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    name = str(values.get("name", "")).strip()
    if not name:
        errors["name"] = "サービスの名前を入力してください（会員に表示されます）。"
    elif len(name) > 60:
        errors["name"] = "サービスの名前は60文字以内にしてください。"
    redirect_uris = [
        line.strip() for line in str(values.get("redirect_uris", "")).splitlines() if line.strip()
    ]
    if not redirect_uris:
        errors["redirect_uris"] = "リダイレクトURIを1行に1つ入力してください。"
    elif len(redirect_uris) > MAX_URIS:
        errors["redirect_uris"] = f"リダイレクトURIは{MAX_URIS}個までです。"
    else:
        for uri in redirect_uris:
            if problem := _redirect_uri_problem(uri):
                errors["redirect_uris"] = problem
                break
    logout_uris = [
        line.strip() for line in str(values.get("post_logout_redirect_uris", "")).splitlines() if line.strip()
    ]
    for uri in logout_uris[:MAX_URIS]:
        if problem := _redirect_uri_problem(uri):
            errors["post_logout_redirect_uris"] = problem
            break
    scopes = [scope for scope in SCOPES if scope == "openid" or scope in values.get("scopes", [])]
    clean = {
        "name": name,
        "redirect_uris": redirect_uris,
        "post_logout_redirect_uris": logout_uris[:MAX_URIS],
        "is_public": bool(values.get("is_public")),
        "refresh_tokens": bool(values.get("refresh_tokens")),
        "scopes": " ".join(scopes),
    }
    return clean, errors


async def register(
    app: AppContext, clean: dict[str, Any], *, actor_id: int | None, ip: str = ""
) -> NewClient:
    client_id = "tsudoi-" + secrets.token_urlsafe(12)
    secret = None if clean["is_public"] else secrets.token_urlsafe(32)
    await queries.add_client(
        app.db,
        client_id=client_id,
        name=clean["name"],
        secret_hash=token_hash(secret) if secret else None,
        is_public=clean["is_public"],
        redirect_uris=clean["redirect_uris"],
        post_logout_redirect_uris=clean["post_logout_redirect_uris"],
        scopes=clean["scopes"],
        refresh_tokens=clean["refresh_tokens"],
        now=app.clock.now(),
    )
    await audit.record(
        app.db,
        "oidc.client_added",
        now=app.clock.now(),
        actor_member_id=actor_id,
        ip=ip,
        detail={"client_id": client_id, "name": clean["name"], "public": clean["is_public"]},
    )
    return NewClient(client_id, secret)


async def remove(app: AppContext, client_id: str, *, actor_id: int, ip: str = "") -> bool:
    removed = await queries.remove_client(app.db, client_id, now=app.clock.now())
    if removed:
        await audit.record(
            app.db,
            "oidc.client_removed",
            now=app.clock.now(),
            actor_member_id=actor_id,
            ip=ip,
            detail={"client_id": client_id},
        )
    return removed
