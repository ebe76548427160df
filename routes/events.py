"""イベント (/events): upcoming events, one event with 申し込む, a member's registration with its check-in
QR code, the .ics download, and the private calendar feed."""

from __future__ import annotations

import re
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template

from db import events as event_queries
from routes.common import redirect_with_flash, render
from routes.guards import MEMBER_GUARDS
from services import events as event_service
from services.articles import JOIN_TIER_URL, access_for, may_read
from services.context import AppContext
from services.qr import make_qr_svg_async
from services.sessions import LoggedIn

_EVENT_KEY = re.compile(r"^(\d{1,18})(\.ics)?$")


def _calendar_response(body: bytes, filename: str, *, download: bool) -> Response[bytes]:
    headers = {"Cache-Control": "no-store" if download else "private, max-age=300"}
    if download:
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return Response(body, media_type="text/calendar; charset=utf-8", headers=headers)


class EventsController(Controller):
    path = "/events"

    @get("/", guards=MEMBER_GUARDS)
    async def index(self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn) -> Template:
        now = app_ctx.clock.now()
        rows = await event_queries.upcoming_events(app_ctx.db, now=now, viewer=auth.member_id)
        access = await access_for(app_ctx, auth.member_id)
        items = [
            {
                "event": row,
                "readable": may_read(row, access),
                "openness": event_service.openness(row, now),
                "seats_left": event_service.seats_left(row) if row["takes_registrations"] else 0,
            }
            for row in rows
        ]
        return render(
            request,
            "events/list.html",
            {
                "items": items,
                "mine": [row for row in rows if row["my_status"]],
                "access": access,
                "join_url": JOIN_TIER_URL,
                "labels": event_service.OPENNESS_LABELS,
                "status_labels": event_service.STATUS_LABELS,
                "page_title": "イベント",
            },
        )

    @get("/{event_key:str}", guards=MEMBER_GUARDS)
    async def show(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, event_key: str
    ) -> Response[Any]:
        """/events/{id} (the page) and /events/{id}.ics (the event as a calendar file)."""
        match = _EVENT_KEY.match(event_key)
        if match is None:
            raise NotFoundException()
        event_id = int(match.group(1))
        found = await event_service.viewable_event(app_ctx, event_id, auth.member_id)
        if found is None:
            raise NotFoundException()
        event, access = found
        readable = may_read(event, access)
        if match.group(2):
            if not readable:
                raise NotFoundException()
            return _calendar_response(
                event_service.event_ics(app_ctx, event), f"event-{event_id}.ics", download=True
            )
        now = app_ctx.clock.now()
        registration = await event_queries.registration_for(app_ctx.db, event_id, auth.member_id)
        return render(
            request,
            "events/show.html",
            {
                "event": event,
                "readable": readable,
                "access": access,
                "join_url": JOIN_TIER_URL,
                "openness": event_service.openness(event, now),
                "labels": event_service.OPENNESS_LABELS,
                "seats_left": event_service.seats_left(event) if event["takes_registrations"] else 0,
                "registration": registration,
                "status_labels": event_service.STATUS_LABELS,
                "page_title": event["title"],
            },
        )

    @post("/{event_id:int}/register", guards=MEMBER_GUARDS, status_code=200)
    async def register(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, event_id: int
    ) -> Response[Any]:
        found = await event_service.viewable_event(app_ctx, event_id, auth.member_id)
        if found is None:
            raise NotFoundException()
        event, access = found
        result = await event_service.register(app_ctx, event, auth.member, access)
        kind = {
            event_service.Outcome.REGISTERED: "success",
            event_service.Outcome.WAITLISTED: "info",
            event_service.Outcome.ALREADY: "info",
        }.get(result.outcome, "warning")
        target = (
            f"/events/registrations/{result.registration_id}"
            if result.registration_id is not None
            else f"/events/{event_id}"
        )
        return redirect_with_flash(request, target, result.message(), kind)

    @get("/registrations/{registration_id:int}", guards=MEMBER_GUARDS)
    async def registration(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, registration_id: int
    ) -> Template:
        row = await event_queries.member_registration(app_ctx.db, registration_id, auth.member_id)
        if row is None:
            raise NotFoundException()
        base = app_ctx.settings.base_url
        code = str(row["checkin_code"])
        qr = ""
        if row["status"] == "registered":
            qr = await make_qr_svg_async(f"{base}/admin/events/checkin?code={code}", title="受付用のQRコード")
        return render(
            request,
            "events/registration.html",
            {
                "r": row,
                "code": event_service.display_code(code),
                "qr_svg": qr,
                "can_cancel": event_service.can_cancel(row, app_ctx.clock.now()),
                "status_labels": event_service.STATUS_LABELS,
                "page_title": f"お申し込み内容：{row['title']}",
            },
        )

    @post("/registrations/{registration_id:int}/cancel", guards=MEMBER_GUARDS, status_code=200)
    async def cancel(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, registration_id: int
    ) -> Response[Any]:
        row = await event_queries.member_registration(app_ctx.db, registration_id, auth.member_id)
        if row is None:
            raise NotFoundException()
        result = await event_service.cancel(app_ctx, row, auth.member_id)
        target = f"/events/{row['article_id']}" if result.ok else f"/events/registrations/{registration_id}"
        return redirect_with_flash(request, target, result.message, "success" if result.ok else "warning")

    @get("/calendar", guards=MEMBER_GUARDS)
    async def calendar(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Template:
        url = await event_service.feed_url(app_ctx, auth.member_id)
        return render(
            request,
            "events/calendar.html",
            {"feed_url": url, "webcal_url": event_service.webcal_url(url), "page_title": "カレンダーに登録"},
        )

    @post("/calendar/regenerate", guards=MEMBER_GUARDS, status_code=200)
    async def regenerate(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        await event_service.feed_url(app_ctx, auth.member_id, regenerate=True)
        return redirect_with_flash(
            request,
            "/events/calendar",
            "カレンダーのURLを新しくしました。以前のURLは使えなくなりました。カレンダーアプリで登録し直してください。",
        )

    @get("/feed/{token:str}")
    async def feed(self, app_ctx: AppContext, token: str) -> Response[bytes]:
        """The private feed phone calendars subscribe to: no login, the signed token is the key."""
        feed_id = event_service.feed_id_from_token(app_ctx, token[:120])
        member = await event_queries.member_by_feed_id(app_ctx.db, feed_id) if feed_id else None
        if member is None:
            raise NotFoundException()
        body = await event_service.feed_ics(app_ctx, int(member["id"]))
        return _calendar_response(body, "events.ics", download=False)
