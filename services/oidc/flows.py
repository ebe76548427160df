"""The provider's endpoints as plain functions (no HTTP framework): each takes the request's parts and
returns what to answer. routes/oidc.py turns them into Litestar responses."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2 import OAuth2Error, ResourceProtector

from db import oidc as queries
from services.context import AppContext
from services.oidc import keys
from services.oidc.provider import (
    SCOPE_LABELS,
    SCOPES,
    Client,
    Member,
    access_token_validator,
    claims_for,
    in_thread,
    may_sign_in,
    oauth_request,
    server_for,
)

log = logging.getLogger("tsudoi.oidc")

AUTHORIZE_PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
)


@dataclass
class Answer:
    """What to send back: a redirect, JSON, or a page for the member (with its context)."""

    status: int = 200
    location: str | None = None
    json_body: Any = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    page: str | None = None
    context: dict[str, Any] = field(default_factory=dict)


def metadata(app: AppContext) -> dict[str, Any]:
    issuer = app.settings.base_url.rstrip("/")
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "userinfo_endpoint": f"{issuer}/oauth/userinfo",
        "jwks_uri": f"{issuer}/oauth/jwks",
        "end_session_endpoint": f"{issuer}/oauth/logout",
        "scopes_supported": list(SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [keys.ALGORITHM],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "name",
            "family_name",
            "given_name",
            "locale",
            "email",
            "email_verified",
            "member_number",
            "tier",
            "tier_until",
            "membership_type",
            "fee_paid_this_year",
        ],
        "ui_locales_supported": ["ja"],
    }


def _error_page(message: str, status: int = 400) -> Answer:
    return Answer(status=status, page="oidc/error.html", context={"message": message})


def _from_authlib(result: tuple[int, Any, list[tuple[str, str]]]) -> Answer:
    status, body, headers = result
    location = dict(headers).get("Location")
    if location:
        return Answer(status=302, location=location)
    return Answer(
        status=status, json_body=json.loads(body) if isinstance(body, str) and body else body, headers=headers
    )


def _pkce_problem(client: Client | None, params: dict[str, str]) -> str | None:
    if client is None:
        return None
    challenge = params.get("code_challenge", "")
    method = params.get("code_challenge_method", "")
    if client.is_public and not challenge:
        return "code_challenge (S256) is required for public clients"
    if challenge and method != "S256":
        return "only code_challenge_method=S256 is supported"
    return None


async def authorize(
    app: AppContext, params: dict[str, str], member_id: int, *, auth_time: int, decision: str | None = None
) -> Answer:
    """GET (decision None): validate, then code at once when consent exists, else the consent page.
    POST: `decision` is "allow" or "deny" from the consent page."""
    server = server_for(app)
    params = {key: value for key, value in params.items() if key in AUTHORIZE_PARAMS and value}
    request = oauth_request("GET", "/oauth/authorize", params, {})
    member = await queries.member(app.db, member_id)
    if not may_sign_in(member, app.clock.now()):
        return _error_page(
            "このアカウントでは、ほかのサービスにログインできません。事務局にお問い合わせください。", 403
        )
    user = Member(member_id, {"auth_time": auth_time})
    try:
        grant = await in_thread(server.get_consent_grant, request, user)
    except OAuth2Error as error:
        if error.redirect_uri:
            return _from_authlib(server.handle_error_response(request, error))
        return _error_page(
            "ログインを求めたサービスの設定が正しくありません（" + (error.description or error.error) + "）。"
            "そのサービスの運営者にお知らせください。"
        )
    client: Client = grant.client
    problem = _pkce_problem(client, params)
    if problem:
        return Answer(status=302, location=_error_location(grant, "invalid_request", problem, params))
    scope = client.get_allowed_scope(params.get("scope", ""))
    if decision is None:
        consent = await queries.consent(app.db, member_id, client.client_id)
        granted = set(consent["scope"].split()) if consent else set()
        if (
            consent is None
            or not set(scope.split()) <= granted
            or "consent" in params.get("prompt", "").split()
        ):
            return Answer(
                page="oidc/consent.html",
                context={
                    "client": client,
                    "scopes": [(name, SCOPE_LABELS[name]) for name in SCOPES if name in scope.split()],
                    "params": params,
                },
            )
    elif decision != "allow":
        return Answer(
            status=302, location=_error_location(grant, "access_denied", "the member declined", params)
        )
    else:
        await queries.put_consent(app.db, member_id, client.client_id, scope, now=app.clock.now())
    result = await in_thread(server.create_authorization_response, request, user, grant)
    return _from_authlib(result)


def _error_location(grant: Any, error: str, description: str, params: dict[str, str]) -> str:
    from authlib.common.urls import add_params_to_uri

    query = [("error", error), ("error_description", description)]
    if params.get("state"):
        query.append(("state", params["state"]))
    return str(add_params_to_uri(grant.redirect_uri or params.get("redirect_uri", ""), query))


async def token(app: AppContext, form: dict[str, str], headers: dict[str, str]) -> Answer:
    server = server_for(app)
    request = oauth_request("POST", "/oauth/token", form, headers, form=form)
    return _from_authlib(await in_thread(server.create_token_response, request))


async def userinfo(app: AppContext, headers: dict[str, str]) -> Answer:
    protector = ResourceProtector()
    protector.register_token_validator(access_token_validator(app))
    request = oauth_request("GET", "/oauth/userinfo", {}, headers)
    try:
        found = await in_thread(protector.validate_request, ["openid"], request)
    except OAuth2Error as error:
        status, body, error_headers = error()
        return Answer(
            status=status,
            json_body=json.loads(body) if isinstance(body, str) else body,
            headers=error_headers,
        )
    claims = await claims_for(app, int(found.row["member_id"]), found.get_scope())
    return Answer(json_body=claims)


async def end_session(app: AppContext, params: dict[str, str]) -> Answer:
    server = server_for(app)
    request = oauth_request("GET", "/oauth/logout", params, {})
    try:
        validated = await in_thread(server.validate_endpoint_request, "end_session", request)
        await in_thread(server.create_endpoint_response, "end_session", validated)
    except OAuth2Error as error:
        log.info("logout request refused: %s", error.description or error.error)
        return Answer(page="oidc/logged_out.html", context={"client": None, "redirect_uri": None})
    return Answer(
        page="oidc/logged_out.html",
        context={"client": validated.client, "redirect_uri": validated.redirect_uri},
    )
