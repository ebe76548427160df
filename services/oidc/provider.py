"""The OpenID Connect provider on Authlib's authorization server.

Authlib's server is synchronous and calls back into hooks (find the client, save a code, …). It runs in a
worker thread (`anyio.to_thread`), and every hook reaches the app's async database through
`anyio.from_thread.run`, so the event loop keeps serving pages meanwhile. Nothing here knows HTTP
frameworks: routes/oidc.py turns requests into `OAuth2Request`s and Authlib's (status, body, headers)
back into responses.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

import anyio.from_thread
import anyio.to_thread
from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode, UserInfo
from authlib.oidc.rpinitiated import EndSessionEndpoint, EndSessionRequest
from joserfc.jwk import ECKey

from db import oidc as queries
from services.context import AppContext
from services.oidc import keys
from services.perks import org_today, tier_of

T = TypeVar("T")

SCOPES = ("openid", "profile", "email", "membership")
CODE_LIFETIME = timedelta(minutes=1)
ACCESS_TOKEN_LIFETIME = timedelta(hours=1)
REFRESH_TOKEN_LIFETIME = timedelta(days=30)
ID_TOKEN_LIFETIME = timedelta(hours=1)
# What each scope gives, in the words the consent page uses.
SCOPE_LABELS = {
    "openid": "会員であること（サービスごとに変わらない会員のID。会員番号ではありません）",
    "profile": "お名前",
    "email": "メールアドレス",
    "membership": "会員番号、プランとその有効期限、会員種別、今年度の会費のお支払い状況",
}


def _run(make: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
    """An async database call from Authlib's worker thread."""
    return anyio.from_thread.run(make, *args)


def token_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def split_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


# --- the objects Authlib asks about ----------------------------------------------------------------


@dataclass
class Client:
    row: Any

    @property
    def client_id(self) -> str:
        return str(self.row["client_id"])

    @property
    def name(self) -> str:
        return str(self.row["name"])

    @property
    def is_public(self) -> bool:
        return bool(self.row["is_public"])

    @property
    def redirect_uris(self) -> list[str]:
        return split_lines(self.row["redirect_uris"])

    @property
    def post_logout_redirect_uris(self) -> list[str]:
        return split_lines(self.row["post_logout_redirect_uris"])

    @property
    def scopes(self) -> list[str]:
        return str(self.row["scopes"]).split()

    @property
    def client_metadata(self) -> dict[str, Any]:
        return {"post_logout_redirect_uris": self.post_logout_redirect_uris}

    # Authlib's ClientMixin
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str) -> str:
        allowed = set(self.scopes)
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris  # exactly, never a prefix

    def check_client_secret(self, client_secret: str) -> bool:
        stored = self.row["secret_hash"]
        return bool(stored) and hmac.compare_digest(stored, token_hash(client_secret or ""))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.is_public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        if grant_type == "refresh_token":
            return bool(self.row["refresh_tokens"])
        return grant_type == "authorization_code"


@dataclass
class AuthCode:
    row: Any

    def get_redirect_uri(self) -> str:
        return str(self.row["redirect_uri"])

    def get_scope(self) -> str:
        return str(self.row["scope"])

    def get_nonce(self) -> str | None:
        return str(self.row["nonce"]) if self.row["nonce"] else None

    def get_auth_time(self) -> int:
        return int(self.row["auth_time"])

    def get_acr(self) -> str | None:
        return None

    def get_amr(self) -> list[str] | None:
        return None


@dataclass
class Token:
    row: Any
    now: datetime
    revoked: bool = False

    def get_scope(self) -> str:
        return str(self.row["scope"])

    def get_client_id(self) -> str:
        return str(self.row["client_id"])

    def check_client(self, client: Client) -> bool:
        return self.get_client_id() == client.get_client_id()

    def is_expired(self) -> bool:
        return datetime.fromisoformat(self.row["expires_at"]) <= self.now

    def is_revoked(self) -> bool:
        return self.revoked or self.row["revoked_at"] is not None

    def get_user(self) -> Member:
        return Member(int(self.row["member_id"]))

    def get_expires_in(self) -> int:
        return int(ACCESS_TOKEN_LIFETIME.total_seconds())


@dataclass
class Member:
    member_id: int
    extra: dict[str, Any] = field(default_factory=dict)

    def get_user_id(self) -> int:
        return self.member_id


# --- who may sign in, and what they share ------------------------------------------------------------


def may_sign_in(row: Any, now: datetime) -> bool:
    """A closed or locked account (or one still on its initial password) gets no code and no token."""
    if row is None or row["status"] != "active" or row["must_change_password"]:
        return False
    locked_until = row["locked_until"]
    return not (locked_until and datetime.fromisoformat(locked_until) > now)


async def claims_for(app: AppContext, member_id: int, scope: str) -> dict[str, Any]:
    row = await queries.member(app.db, member_id)
    if row is None:
        return {}
    scopes = set(scope.split())
    claims: dict[str, Any] = {"sub": str(row["public_id"])}
    if "profile" in scopes:
        claims["name"] = f"{row['family_name']} {row['given_name']}"
        claims["family_name"] = row["family_name"]
        claims["given_name"] = row["given_name"]
        claims["locale"] = "ja-JP"
    if "email" in scopes and row["email"]:
        claims["email"] = row["email"]
        claims["email_verified"] = True
    if "membership" in scopes:
        now = app.clock.now()
        tier = await tier_of(app.db, member_id, now=now, tz=app.settings.tz)
        today = org_today(now, app.settings.tz)
        claims["member_number"] = row["member_number"]
        claims["tier"] = tier.name
        claims["tier_until"] = tier.ends_on.isoformat() if tier.is_paid and tier.ends_on else None
        claims["membership_type"] = row["membership_type"]
        claims["fee_paid_this_year"] = await queries.fee_paid_in(app.db, member_id, _fiscal_year(today))
    return claims


def _fiscal_year(today: date) -> int:
    return today.year if today.month >= 4 else today.year - 1


# --- Authlib's server, grants and extensions ---------------------------------------------------------


class _CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]  # Authlib is untyped
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    server: TsudoiServer

    def generate_authorization_code(self) -> str:
        return secrets.token_urlsafe(32)

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        app = self.server.app
        data = request.payload.data
        user: Member = request.user
        _run(
            _save_code,
            app,
            code,
            request.client.get_client_id(),
            user.member_id,
            request.payload.redirect_uri,
            request.payload.scope,
            data.get("nonce"),
            data.get("code_challenge"),
            data.get("code_challenge_method"),
            int(user.extra.get("auth_time", app.clock.now().timestamp())),
        )

    def query_authorization_code(self, code: str, client: Client) -> AuthCode | None:
        app = self.server.app
        take = functools.partial(queries.take_code, now=app.clock.now())
        row = _run(take, app.db, token_hash(code), client.get_client_id())
        return AuthCode(row) if row is not None else None

    def delete_authorization_code(self, authorization_code: AuthCode) -> None:
        """Used already: take_code marked it in the same statement that read it."""

    def authenticate_user(self, authorization_code: AuthCode) -> Member | None:
        app = self.server.app
        row = _run(queries.member, app.db, int(authorization_code.row["member_id"]))
        if row is None or not may_sign_in(row, app.clock.now()):
            return None
        return Member(int(row["id"]))


async def _save_code(
    app: AppContext,
    code: str,
    client_id: str,
    member_id: int,
    redirect_uri: str,
    scope: str,
    nonce: str | None,
    challenge: str | None,
    method: str | None,
    auth_time: int,
) -> None:
    await queries.save_code(
        app.db,
        code_hash=token_hash(code),
        client_id=client_id,
        member_id=member_id,
        redirect_uri=redirect_uri,
        scope=scope,
        nonce=nonce,
        code_challenge=challenge,
        code_challenge_method=method,
        auth_time=auth_time,
        expires_at=app.clock.now() + CODE_LIFETIME,
    )


class _RefreshGrant(grants.RefreshTokenGrant):  # type: ignore[misc]  # Authlib is untyped
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True
    server: TsudoiServer

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        app = self.server.app
        client_id = self.request.client.get_client_id() if self.request.client else ""
        take = functools.partial(queries.take_refresh_token, now=app.clock.now())
        row = _run(take, app.db, token_hash(refresh_token), client_id)
        return Token(row, app.clock.now()) if row is not None else None

    def authenticate_user(self, refresh_token: Token) -> Member | None:
        app = self.server.app
        row = _run(queries.member, app.db, int(refresh_token.row["member_id"]))
        if row is None or not may_sign_in(row, app.clock.now()):
            return None
        return Member(int(row["id"]))

    def revoke_old_credential(self, refresh_token: Token) -> None:
        """Revoked already: take_refresh_token marked it when it was used."""


class _PkceS256(CodeChallenge):  # type: ignore[misc]  # Authlib is untyped
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def get_authorization_code_challenge(self, authorization_code: AuthCode) -> str | None:
        value = authorization_code.row["code_challenge"]
        return str(value) if value else None

    def get_authorization_code_challenge_method(self, authorization_code: AuthCode) -> str | None:
        value = authorization_code.row["code_challenge_method"]
        return str(value) if value else None


class _OpenID(OpenIDCode):  # type: ignore[misc]  # Authlib is untyped
    def __init__(self, server: TsudoiServer) -> None:
        super().__init__(require_nonce=False)
        self.server = server

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return _run(queries.nonce_used, self.server.app.db, request.payload.client_id, nonce)

    def resolve_client_private_key(self, client: Client) -> ECKey:
        return _run(keys.signing_key, self.server.app)

    def get_client_algorithm(self, client: Client) -> str:
        return keys.ALGORITHM

    def get_encode_header(self, client: Client) -> dict[str, str]:
        key = _run(keys.signing_key, self.server.app)
        return {"alg": keys.ALGORITHM, "kid": str(key.kid), "typ": "JWT"}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        # The app's clock, not the wall clock Authlib would read.
        now = int(self.server.app.clock.now().timestamp())
        return {
            "iss": self.server.issuer,
            "aud": [client.get_client_id()],
            "iat": now,
            "exp": now + int(ID_TOKEN_LIFETIME.total_seconds()),
        }

    def generate_user_info(self, user: Member, scope: str) -> UserInfo:
        return UserInfo(_run(claims_for, self.server.app, user.member_id, scope))


class TsudoiServer(AuthorizationServer):  # type: ignore[misc]  # Authlib is untyped
    def __init__(self, app: AppContext) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.app = app
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=lambda *_args, **_kw: secrets.token_urlsafe(32),
                refresh_token_generator=lambda *_args, **_kw: secrets.token_urlsafe(48),
                expires_generator=lambda *_args, **_kw: int(ACCESS_TOKEN_LIFETIME.total_seconds()),
            ),
        )
        self.register_grant(_CodeGrant, [_PkceS256(required=True), _OpenID(self)])
        self.register_grant(_RefreshGrant)
        self.register_endpoint(_EndSession)

    @property
    def issuer(self) -> str:
        return self.app.settings.base_url.rstrip("/")

    def query_client(self, client_id: str) -> Client | None:
        if not client_id or len(client_id) > 200:
            return None
        row = _run(queries.client, self.app.db, client_id)
        return Client(row) if row is not None else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        _run(_store_token, self.app, token, request.client.get_client_id(), request.user.member_id)

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request

    def create_json_request(self, request: OAuth2Request) -> OAuth2Request:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> tuple[int, Any, list[tuple[str, str]]]:
        return status, body, list(headers or [])

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None


async def _store_token(app: AppContext, token: dict[str, Any], client_id: str, member_id: int) -> None:
    now = app.clock.now()
    refresh = token.get("refresh_token")
    await queries.save_token(
        app.db,
        client_id=client_id,
        member_id=member_id,
        access_token_hash=token_hash(token["access_token"]),
        refresh_token_hash=token_hash(refresh) if refresh else None,
        scope=str(token.get("scope", "")),
        issued_at=now,
        expires_at=now + ACCESS_TOKEN_LIFETIME,
        refresh_expires_at=now + REFRESH_TOKEN_LIFETIME if refresh else None,
    )


class _EndSession(EndSessionEndpoint):  # type: ignore[misc]  # Authlib is untyped
    server: TsudoiServer

    def get_server_jwks(self) -> dict[str, Any]:
        return _run(keys.public_jwks, self.server.app)

    def resolve_client_from_id_token_claims(self, id_token_claims: dict[str, Any]) -> Client | None:
        # Our ID tokens name one audience, as a one-element list.
        audience = id_token_claims.get("aud")
        if isinstance(audience, list) and len(audience) == 1:
            audience = audience[0]
        return self.server.query_client(audience) if isinstance(audience, str) else None

    def end_session(self, end_session_request: EndSessionRequest) -> None:
        """The client's tokens for this member end; the portal session is the member's own choice."""
        claims = end_session_request.id_token_claims or {}
        client = end_session_request.client
        if claims.get("sub") and client is not None:
            _run(_revoke_for_sub, self.server.app, str(claims["sub"]), client.get_client_id())


async def _revoke_for_sub(app: AppContext, public_id: str, client_id: str) -> None:
    row = await queries.member_by_public_id(app.db, public_id)
    if row is not None:
        await queries.revoke_tokens(app.db, int(row["id"]), client_id, now=app.clock.now())


class _AccessTokens(BearerTokenValidator):  # type: ignore[misc]  # Authlib is untyped
    def __init__(self, app: AppContext) -> None:
        super().__init__()
        self.app = app

    def authenticate_token(self, token_string: str) -> Token | None:
        row = _run(queries.token_by_access, self.app.db, token_hash(token_string))
        if row is None:
            return None
        member = _run(queries.member, self.app.db, int(row["member_id"]))
        return Token(row, self.app.clock.now(), revoked=not may_sign_in(member, self.app.clock.now()))


def oauth_request(
    method: str,
    path: str,
    data: dict[str, str],
    headers: dict[str, str],
    *,
    form: dict[str, str] | None = None,
) -> OAuth2Request:
    # Transport security is the deployment's (HTTPS in front; see `litestar tsudoi doctor`): Authlib's own
    # check would refuse the plain-HTTP address a proxy forwards to.
    request = OAuth2Request(method, f"https://tsudoi.invalid{path}", headers=headers)
    request.payload = BasicOAuth2Payload(data)
    request._body = form  # Authlib reads request.form at the token endpoint
    return request


async def in_thread(function: Callable[..., T], *args: Any) -> T:
    return await anyio.to_thread.run_sync(function, *args)


def server_for(app: AppContext) -> TsudoiServer:
    return TsudoiServer(app)


def access_token_validator(app: AppContext) -> _AccessTokens:
    return _AccessTokens(app)


__all__ = ["InvalidGrantError", "SCOPES", "SCOPE_LABELS", "TsudoiServer", "claims_for", "oauth_request"]
