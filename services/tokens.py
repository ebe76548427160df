"""Signed, time-limited links (itsdangerous), optionally single-use."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from db import used_tokens
from db.database import Database


class TokenInvalid(Exception):
    """Tampered, for another purpose, or already used."""


class TokenExpired(TokenInvalid):
    pass


def _serializer(secret_key: str, purpose: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret_key, salt=f"tsudoi:{purpose}")


def make_token(secret_key: str, purpose: str, payload: dict[str, Any], *, now: datetime) -> str:
    """A URL-safe token. The issue time comes from the app's clock (so tests can move time); a random
    id lets single-use links be recorded."""
    body = {**payload, "iat": int(now.timestamp()), "jti": secrets.token_urlsafe(12)}
    return str(_serializer(secret_key, purpose).dumps(body))


def read_token(
    secret_key: str, purpose: str, token: str, *, max_age_seconds: int, now: datetime
) -> dict[str, Any]:
    if not token or len(token) > 2000:
        raise TokenInvalid("invalid token")
    try:
        payload = _serializer(secret_key, purpose).loads(token)
    except BadSignature as error:
        raise TokenInvalid("invalid token") from error
    if not isinstance(payload, dict) or not isinstance(payload.get("iat"), int) or "jti" not in payload:
        raise TokenInvalid("invalid token")
    age = now.timestamp() - payload["iat"]
    if age > max_age_seconds or age < -300:
        raise TokenExpired("expired")
    return payload


async def use_token(
    db: Database, secret_key: str, purpose: str, token: str, *, max_age_seconds: int, now: datetime
) -> dict[str, Any]:
    """Read a single-use token and record it; a second use raises TokenInvalid."""
    payload = read_token(secret_key, purpose, token, max_age_seconds=max_age_seconds, now=now)
    if not await used_tokens.mark_used(db, f"{purpose}:{payload['jti']}", purpose, now=now):
        raise TokenInvalid("already used")
    return payload
