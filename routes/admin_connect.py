"""Admin: other services that sign members in through Tsudoi (DiscourseConnect for the forum)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.response import Template

from db import audit
from db import oidc as oidc_queries
from routes.common import client_ip, form_error_status, redirect_with_flash, render, text_field
from routes.guards import ADMIN_GUARDS
from services import discourse_connect
from services.context import AppContext
from services.oidc import clients as oidc_clients
from services.oidc import keys as oidc_keys
from services.oidc.provider import SCOPE_LABELS, SCOPES
from services.sessions import LoggedIn


async def _page(
    request: Request[Any, Any, Any],
    app_ctx: AppContext,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
    new_client: oidc_clients.NewClient | None = None,
) -> Template:
    base = app_ctx.settings.base_url.rstrip("/")
    return render(
        request,
        "admin_connect/page.html",
        {
            "errors": errors or {},
            "values": values or {"discourse_url": app_ctx.org.discourse_url},
            "discourse_enabled": discourse_connect.forum(app_ctx) is not None,
            "discourse_sealed_unreadable": bool(app_ctx.org.discourse_secret_sealed)
            and discourse_connect.forum(app_ctx) is None,
            "sso_url": f"{base}/discourse/sso",
            "issuer": base,
            "clients": await oidc_queries.clients(app_ctx.db),
            "scope_labels": [(name, SCOPE_LABELS[name]) for name in SCOPES if name != "openid"],
            "new_client": new_client,
            "keys": await oidc_queries.keys(app_ctx.db),
        },
        status=status,
    )


def _chosen(form: Any, name: str) -> list[str]:
    """Every checked value of a checkbox group (none checked: no key at all)."""
    try:
        values = form.getall(name)
    except KeyError:
        return []
    return [value for value in values if isinstance(value, str)][:10]


class AdminConnectController(Controller):
    path = "/admin/connect"
    guards = ADMIN_GUARDS

    @get("/")
    async def show(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        return await _page(request, app_ctx)

    @post("/discourse", status_code=200)
    async def save_discourse(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        form = await request.form()
        url = text_field(form, "discourse_url", max_length=300)
        secret = text_field(form, "discourse_secret", max_length=300)
        errors = await discourse_connect.configure(
            app_ctx, url, secret, actor_id=auth.member_id, ip=client_ip(request)
        )
        if errors:
            return await _page(
                request, app_ctx, errors, {"discourse_url": url}, status=form_error_status(request)
            )
        return redirect_with_flash(
            request, "/admin/connect", "フォーラム（Discourse）との連携を保存しました。"
        )

    @post("/discourse/delete", status_code=200)
    async def disable_discourse(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        await discourse_connect.disable(app_ctx, actor_id=auth.member_id, ip=client_ip(request))
        return redirect_with_flash(
            request, "/admin/connect", "フォーラム（Discourse）との連携を解除しました。"
        )

    @post("/oidc", status_code=200)
    async def add_client(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        form = await request.form()
        values = {
            "name": text_field(form, "name", max_length=200),
            "redirect_uris": text_field(form, "redirect_uris", max_length=5000),
            "post_logout_redirect_uris": text_field(form, "post_logout_redirect_uris", max_length=5000),
            "is_public": text_field(form, "is_public", max_length=5) == "1",
            "refresh_tokens": text_field(form, "refresh_tokens", max_length=5) == "1",
            "scopes": _chosen(form, "scopes"),
        }
        clean, errors = oidc_clients.validate(values)
        if errors:
            shown = {**values, "discourse_url": app_ctx.org.discourse_url}
            return await _page(request, app_ctx, errors, shown, status=form_error_status(request))
        new_client = await oidc_clients.register(
            app_ctx, clean, actor_id=auth.member_id, ip=client_ip(request)
        )
        # Shown on this page once (never in a cookie or a redirect): the secret is not stored readable.
        return await _page(request, app_ctx, new_client=new_client)

    @post("/oidc/{client_id:str}/delete", status_code=200)
    async def remove_client(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, client_id: str
    ) -> Response[Any]:
        await oidc_clients.remove(app_ctx, client_id[:200], actor_id=auth.member_id, ip=client_ip(request))
        return redirect_with_flash(
            request,
            "/admin/connect",
            "サービスの登録を削除しました。そのサービスのトークンは使えなくなりました。",
        )

    @post("/oidc/rotate-key", status_code=200)
    async def rotate_key(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        kid = await oidc_keys.rotate(app_ctx)
        await audit.record(
            app_ctx.db,
            "oidc.key_rotated",
            now=app_ctx.clock.now(),
            actor_member_id=auth.member_id,
            ip=client_ip(request),
            detail={"kid": kid},
        )
        return redirect_with_flash(
            request,
            "/admin/connect",
            "署名鍵を新しくしました。古い鍵は、発行済みのIDトークンの期限まで公開を続けます。",
        )
