"""Self sign-up: the form, the confirmation link, choosing a password, the welcome page."""

from __future__ import annotations

import json
from typing import Any

import anyio.to_thread
from litestar import Controller, Request, Response, get, post
from litestar.response import Template

from db import membership as membership_db
from routes.common import (
    client_ip,
    flash,
    form_error_status,
    logged_in,
    redirect,
    render,
    session_cookie,
    text_field,
)
from routes.guards import MEMBER_GUARDS
from services import membership, signup
from services.context import AppContext
from services.japanese import PREFECTURES
from services.profile import postal_fill
from services.rate_limit import RATE_LIMITED_MESSAGE
from services.sessions import end_session, start_session

HONEYPOT = "website"


def _interest_ids(form: Any) -> list[int]:
    values = form.getall("interests", []) if hasattr(form, "getall") else []
    ids = []
    for value in values[:100]:
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 10:
            ids.append(int(value))
    return ids


class SignupController(Controller):
    path = "/signup"

    async def _closed(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template | None:
        if app_ctx.org.signup_enabled:
            return None
        title, text = signup.LINK_MESSAGES["closed"]
        return render(request, "signup/closed.html", {"title": title, "text": text})

    async def _form(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        values: dict[str, Any],
        errors: dict[str, str],
        interests: list[int],
        status: int = 200,
    ) -> Template:
        terms = await membership_db.interest_terms(app_ctx.db)
        return render(
            request,
            "signup/page.html",
            {
                "values": values,
                "errors": errors,
                "chosen": set(interests),
                "terms": terms,
                "prefectures": PREFECTURES,
            },
            status=status,
        )

    @get("/", name="signup")
    async def show(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Response[Any]:
        if closed := await self._closed(request, app_ctx):
            return closed
        if logged_in(request):
            return redirect(request, "/settings/membership")
        code = text_field(request.query_params, "code", max_length=40)
        return await self._form(request, app_ctx, {"code": code}, {}, [])

    @post("/", status_code=200)
    async def submit(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Response[Any]:
        if closed := await self._closed(request, app_ctx):
            return closed
        form = await request.form()
        values = {name: text_field(form, name, max_length=1000) for name in signup.PROFILE_FIELDS}
        values["code"] = text_field(form, "code", max_length=100)
        agreed = text_field(form, "terms") in {"1", "on", "true"}
        values["terms"] = "1" if agreed else ""
        interests = _interest_ids(form)
        if text_field(form, HONEYPOT, max_length=200):
            # A bot filled the field people never see: answer as if it worked, do nothing.
            return redirect(request, "/signup/sent")
        terms = await membership_db.interest_terms(app_ctx.db)
        clean, chosen, errors = signup.validate_signup(
            signup.SignupForm(values, interests, values["code"], agreed),
            [int(t["id"]) for t in terms],
            charset=app_ctx.org.name_charset,
        )
        ip = client_ip(request)
        if values["code"].strip() and "code" not in errors:
            code_error = await membership.check_code(app_ctx, values["code"], ip=ip)
            if code_error:
                errors["code"] = code_error
        if errors:
            return await self._form(
                request, app_ctx, values, errors, interests, status=form_error_status(request)
            )
        code = membership.normalize_code(values["code"])
        status = await signup.submit(app_ctx, clean, chosen, code, ip=ip)
        if status == "rate_limited":
            return await self._form(
                request,
                app_ctx,
                values,
                {"form": RATE_LIMITED_MESSAGE},
                interests,
                status=form_error_status(request),
            )
        return redirect(request, "/signup/sent")

    @get("/sent")
    async def sent(self, request: Request[Any, Any, Any]) -> Template:
        return render(request, "signup/sent.html", {"hours": membership.SIGNUP_LINK_HOURS})

    @get("/address")
    async def address(self, request: Request[Any, Any, Any]) -> Template:
        """The prefecture and address filled from the postal code (htmx, as the member types)."""
        query = request.query_params
        values = {
            name: text_field(query, name, max_length=200)
            for name in ("postal_code", "prefecture", "address1")
        }
        fill = await anyio.to_thread.run_sync(
            lambda: postal_fill(
                values["postal_code"], prefecture=values["prefecture"], address1=values["address1"]
            )
        )
        if fill is not None:
            values["prefecture"] = fill.prefecture
            values["address1"] = fill.address1
        return render(
            request,
            "signup/_address.html",
            {"values": values, "errors": {}, "fill": fill, "prefectures": PREFECTURES},
        )

    @get("/confirm/{token:str}")
    async def confirm(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, token: str
    ) -> Response[Any]:
        if closed := await self._closed(request, app_ctx):
            return closed
        opened = await signup.open_link(app_ctx, token)
        if isinstance(opened, str):
            return self._link_problem(request, opened)
        return self._password_form(request, app_ctx, token, opened, {})

    def _link_problem(self, request: Request[Any, Any, Any], problem: str) -> Template:
        title, text = signup.LINK_MESSAGES[problem]
        status = 410 if problem in ("expired", "completed") else 400 if problem == "invalid" else 409
        return render(request, "signup/link_problem.html", {"title": title, "text": text}, status=status)

    def _password_form(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        token: str,
        request_row: Any,
        errors: dict[str, str],
        status: int = 200,
    ) -> Template:
        profile = json.loads(request_row["profile"] or "{}")
        return render(
            request,
            "signup/confirm.html",
            {
                "token": token,
                "profile": profile,
                "email": request_row["email"],
                "errors": errors,
                "values": {},
                "evaluation": signup.password_evaluation(app_ctx.org, "", ""),
                "width": app_ctx.org.member_number_width,
            },
            status=status,
        )

    @post("/confirm/{token:str}", status_code=200)
    async def complete(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, token: str
    ) -> Response[Any]:
        if closed := await self._closed(request, app_ctx):
            return closed
        form = await request.form()
        password = text_field(form, "new_password", max_length=1000)
        confirm = text_field(form, "new_password_confirm", max_length=1000)
        outcome = await signup.complete(app_ctx, token, password, confirm, ip=client_ip(request))
        if isinstance(outcome, str):
            return self._link_problem(request, outcome)
        if isinstance(outcome, dict):
            opened = await signup.open_link(app_ctx, token)
            if isinstance(opened, str):
                return self._link_problem(request, opened)
            return self._password_form(
                request, app_ctx, token, opened, outcome, status=form_error_status(request)
            )
        old = logged_in(request)
        if old is not None:
            await end_session(app_ctx.db, old.token)
        session_token, _ = await start_session(
            app_ctx.db,
            member_id=outcome.member_id,
            remember=False,
            now=app_ctx.clock.now(),
            org=app_ctx.org,
            user_agent=request.headers.get("user-agent", ""),
            ip=client_ip(request),
        )
        response = redirect(request, "/signup/welcome")
        response.set_cookie(session_cookie(request, session_token, remember=False, max_age=None))
        if outcome.code_message:
            flash(request, response, outcome.code_message, "success" if outcome.code_ok else "warning")
        return response

    @post("/password-rules", status_code=200)
    async def password_rules(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        """The rule list, ticked live as the member types (htmx)."""
        form = await request.form()
        password = text_field(form, "new_password", max_length=1000)
        confirm = text_field(form, "new_password_confirm", max_length=1000)
        return render(
            request,
            "signup/_rules.html",
            {"evaluation": signup.password_evaluation(app_ctx.org, password, confirm)},
        )

    @get("/welcome", guards=MEMBER_GUARDS)
    async def welcome(self, request: Request[Any, Any, Any]) -> Template:
        return render(request, "signup/welcome.html")
