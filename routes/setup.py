"""First-start setup page: only on an empty database, only with the token from the server log, only once."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template

from routes.common import client_ip, form_error_status, redirect, render, session_cookie, text_field
from services import setup
from services.accounts import AccountError
from services.context import AppContext
from services.sessions import start_session

FIELDS = (
    "setup_token",
    "org_name",
    "contact_email",
    "mail_from_name",
    "mail_from_address",
    "base_url",
    "member_number",
    "family_name",
    "given_name",
    "email",
    "password",
    "password_confirm",
)


class SetupController(Controller):
    path = "/setup"

    @get("/")
    async def show(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, token: str | None = None
    ) -> Template:
        if not await setup.is_open(app_ctx):
            raise NotFoundException()
        values = {
            "setup_token": (token or "")[:200],
            "base_url": app_ctx.settings.base_url,
            "org_name": "",
            "member_number": "900001",
        }
        return render(
            request,
            "setup/page.html",
            {
                "values": values,
                "errors": {},
                "base_url_from_env": app_ctx.settings.base_url_from_env,
                "mail_from_env": app_ctx.settings.mail_from,
            },
        )

    @post("/", status_code=200)
    async def submit(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Response[Any]:
        if not await setup.is_open(app_ctx):
            raise NotFoundException()
        form = await request.form()
        typed = {name: text_field(form, name, max_length=1000) for name in FIELDS}
        clean, errors = setup.validate(app_ctx, typed)
        if not errors:
            try:
                admin_id = await setup.complete(app_ctx, clean, ip=client_ip(request))
            except AccountError as error:
                errors["member_number"] = str(error)
            else:
                if admin_id is None:
                    raise NotFoundException()
                token, _ = await start_session(
                    app_ctx.db,
                    member_id=admin_id,
                    remember=False,
                    now=app_ctx.clock.now(),
                    org=app_ctx.org,
                    user_agent=request.headers.get("user-agent", ""),
                    ip=client_ip(request),
                )
                response = redirect(request, "/mfa/enrol?next=/admin")
                response.set_cookie(session_cookie(request, token, remember=False, max_age=None))
                return response
        values = {
            name: value for name, value in typed.items() if name not in ("password", "password_confirm")
        }
        if app_ctx.settings.base_url_from_env:
            values["base_url"] = app_ctx.settings.base_url
        return render(
            request,
            "setup/page.html",
            {
                "values": values,
                "errors": errors,
                "base_url_from_env": app_ctx.settings.base_url_from_env,
                "mail_from_env": app_ctx.settings.mail_from,
            },
            status=form_error_status(request),
        )
