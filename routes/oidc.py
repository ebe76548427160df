"""OpenID Connect provider endpoints: discovery, JWKS, authorize (with the consent page), token, userinfo,
RP-initiated logout; and the member's list of connected services."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from db import oidc as queries
from routes.common import redirect_with_flash, render, safe_next, text_field
from routes.guards import MEMBER_GUARDS, MFA_FLAG, MfaRequired
from services.context import AppContext
from services.oidc import flows, keys
from services.oidc.provider import SCOPE_LABELS
from services.sessions import LoggedIn

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _answer(request: Request[Any, Any, Any], answer: flows.Answer) -> Response[Any]:
    if answer.location:
        return Redirect(answer.location, status_code=302, headers=NO_STORE)
    if answer.page:
        return render(request, answer.page, answer.context, status=answer.status)
    headers = {**dict(answer.headers), **NO_STORE}
    headers.pop("Content-Type", None)
    return Response(
        answer.json_body, status_code=answer.status, headers=headers, media_type="application/json"
    )


def _headers(request: Request[Any, Any, Any]) -> dict[str, str]:
    return (
        {"Authorization": request.headers.get("authorization", "")}
        if request.headers.get("authorization")
        else {}
    )


class OidcDiscoveryController(Controller):
    path = "/"

    @get("/.well-known/openid-configuration")
    async def configuration(self, app_ctx: AppContext) -> Response[Any]:
        return Response(flows.metadata(app_ctx), headers={"Cache-Control": "public, max-age=3600"})

    @get("/oauth/jwks")
    async def jwks(self, app_ctx: AppContext) -> Response[Any]:
        return Response(await keys.public_jwks(app_ctx), headers={"Cache-Control": "public, max-age=600"})


class OidcAuthorizeController(Controller):
    """The member-facing step: signed in (password or passkey, second factor for admins, initial password
    changed) before any code is issued; the consent page the first time for each service."""

    path = "/oauth/authorize"
    guards = MEMBER_GUARDS

    @get("/")
    async def start(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        if auth.is_admin and not auth.flags.get(MFA_FLAG):
            raise MfaRequired()
        params = {key: str(value)[:2000] for key, value in request.query_params.items()}
        answer = await flows.authorize(
            app_ctx, params, auth.member_id, auth_time=int(app_ctx.clock.now().timestamp())
        )
        return _answer(request, answer)

    @post("/", status_code=200)
    async def decide(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        if auth.is_admin and not auth.flags.get(MFA_FLAG):
            raise MfaRequired()
        form = await request.form()
        params = {key: text_field(form, key, max_length=2000) for key in flows.AUTHORIZE_PARAMS}
        decision = "allow" if text_field(form, "decision", max_length=10) == "allow" else "deny"
        answer = await flows.authorize(
            app_ctx, params, auth.member_id, auth_time=int(app_ctx.clock.now().timestamp()), decision=decision
        )
        return _answer(request, answer)


class OidcTokenController(Controller):
    """Machine to machine (no browser, no CSRF cookie): the clients' back channel."""

    path = "/oauth"

    @post("/token", status_code=200)
    async def token(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Response[Any]:
        form = await request.form()
        data = {key: text_field(form, key, max_length=4000) for key in form}
        return _answer(request, await flows.token(app_ctx, data, _headers(request)))

    @get("/userinfo")
    async def userinfo(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Response[Any]:
        return _answer(request, await flows.userinfo(app_ctx, _headers(request)))

    @post("/userinfo", status_code=200)
    async def userinfo_post(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Response[Any]:
        return _answer(request, await flows.userinfo(app_ctx, _headers(request)))

    @get("/logout")
    async def logout(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Response[Any]:
        params = {key: str(value)[:4000] for key, value in request.query_params.items()}
        return _answer(request, await flows.end_session(app_ctx, params))


class ConnectedServicesController(Controller):
    """The services a member let sign them in, and withdrawing that consent."""

    path = "/settings/connections"
    guards = MEMBER_GUARDS

    @get("/")
    async def show(self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn) -> Template:
        rows = await queries.consents_of(app_ctx.db, auth.member_id)
        services = [
            {
                "client_id": row["client_id"],
                "name": row["name"],
                "granted_at": row["granted_at"],
                "labels": [SCOPE_LABELS[s] for s in row["scope"].split() if s in SCOPE_LABELS],
            }
            for row in rows
        ]
        return render(request, "oidc/connections.html", {"services": services})

    @post("/{client_id:str}/withdraw", status_code=200)
    async def withdraw(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, client_id: str
    ) -> Response[Any]:
        withdrawn = await queries.withdraw_consent(
            app_ctx.db, auth.member_id, client_id[:200], now=app_ctx.clock.now()
        )
        message = (
            "連携を解除しました。次にそのサービスにログインするときは、もう一度確認します。"
            if withdrawn
            else "その連携はすでに解除されています。"
        )
        form = await request.form()
        back = safe_next(text_field(form, "next", max_length=200), "/settings/connections")
        return redirect_with_flash(request, back, message)
