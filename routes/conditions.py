"""New-arrival conditions (/conditions): up to 10 per member, created, edited and deleted in place."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template

from db import article_matching as matching_queries
from db import conditions as condition_queries
from db.tiers import all_tiers
from routes.articles import int_values
from routes.common import form_error_status, is_htmx, redirect, redirect_with_flash, render, text_field
from routes.guards import MEMBER_GUARDS
from services import articles as article_service
from services.articles import MAX_CONDITIONS, Condition, ConditionInput, Taxonomies
from services.context import AppContext
from services.perks import Perk, tier_of
from services.sessions import LoggedIn


async def _events_locked(
    app_ctx: AppContext, member_id: int, value: ConditionInput, taxonomies: Taxonomies
) -> str:
    """The paid tier's name when a member without the events perk picked the event topic, else ""."""
    if not article_service.picks_event_topic(value.topic_ids, taxonomies):
        return ""
    tier = await tier_of(app_ctx.db, member_id, now=app_ctx.clock.now(), tz=app_ctx.settings.tz)
    if tier.may(Perk.EVENTS):
        return ""
    paid = [row for row in await all_tiers(app_ctx.db) if row["is_paid"] and row["perk_events"]]
    return str(paid[0]["name"]) if paid else ""


LIMIT_MESSAGE = (
    f"新着条件は{MAX_CONDITIONS}件まで登録できます。使っていない条件を削除してから追加してください。"
)


async def _counts(app_ctx: AppContext, member_id: int) -> dict[int, int]:
    access = await article_service.access_for(app_ctx, member_id)
    start, end = article_service.new_arrivals_window(app_ctx.clock.now(), app_ctx.settings.tz)
    counts = await matching_queries.match_counts(
        app_ctx.db, member_id, start, end, events=access.events, members_only=access.members_only
    )
    return {key: value.shown for key, value in counts.items()}


def _input_of(condition: Condition) -> ConditionInput:
    return ConditionInput(condition.name, list(condition.region_ids), list(condition.topic_ids))


async def _read_form(
    request: Request[Any, Any, Any], taxonomies: Taxonomies
) -> tuple[ConditionInput, dict[str, str]]:
    form = await request.form()
    return article_service.check_condition(
        text_field(form, "name", max_length=500),
        int_values(form, "region"),
        int_values(form, "topic"),
        taxonomies,
    )


class ConditionsController(Controller):
    path = "/conditions"
    guards = MEMBER_GUARDS

    async def _list_context(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        auth: LoggedIn,
        *,
        new_value: ConditionInput | None = None,
        new_errors: dict[str, str] | None = None,
        new_count: int | None = None,
        message: str = "",
        welcome: bool = False,
    ) -> dict[str, Any]:
        member_id = auth.member_id
        conditions = await article_service.member_conditions(app_ctx, member_id)
        taxonomies = await article_service.load_taxonomies(app_ctx)
        counts = await _counts(app_ctx, member_id) if conditions else {}
        return {
            "conditions": conditions,
            "counts": counts,
            "taxonomies": taxonomies,
            "new_value": new_value or ConditionInput("", [], []),
            "new_errors": new_errors or {},
            "new_count": new_count,
            "max_conditions": MAX_CONDITIONS,
            "days": article_service.NEW_ARRIVAL_DAYS,
            "message": message,
            "welcome": welcome,
        }

    @get("/")
    async def index(self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn) -> Template:
        welcome = request.query_params.get("welcome") == "1"
        context = await self._list_context(request, app_ctx, auth, welcome=welcome)
        return render(request, "conditions/page.html", context)

    @post("/", status_code=200)
    async def create(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        member_id = auth.member_id
        taxonomies = await article_service.load_taxonomies(app_ctx)
        value, errors = await _read_form(request, taxonomies)
        welcome = text_field(await request.form(), "welcome", max_length=2) == "1"
        condition_id = None
        if not errors:
            condition_id = await condition_queries.create(
                app_ctx.db,
                member_id,
                value.name,
                [*value.region_ids, *value.topic_ids],
                now=app_ctx.clock.now(),
                limit=MAX_CONDITIONS,
            )
            if condition_id is None:
                errors = {"form": LIMIT_MESSAGE}
        if errors:
            context = await self._list_context(
                request, app_ctx, auth, new_value=value, new_errors=errors, welcome=welcome
            )
            return render(
                request,
                "conditions/page.html",
                context,
                fragment="conditions/_list.html",
                status=form_error_status(request),
            )
        message = f"新着条件「{value.name}」を追加しました。"
        if welcome:
            # First login, last step: My Page with what the new condition finds.
            return redirect_with_flash(
                request, f"/mypage?condition={condition_id}", message + "条件に合う新着記事をご覧ください。"
            )
        if is_htmx(request):
            context = await self._list_context(request, app_ctx, auth, message=message)
            return render(request, "conditions/page.html", context, fragment="conditions/_list.html")
        return redirect_with_flash(request, "/conditions", message)

    @post("/count", status_code=200)
    async def count(self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn) -> Template:
        """The live "N articles match" line; a plain POST (no JavaScript) re-renders the form with it."""
        member_id = auth.member_id
        taxonomies = await article_service.load_taxonomies(app_ctx)
        form = await request.form()
        value, _ = article_service.check_condition(
            text_field(form, "name", max_length=500),
            int_values(form, "region"),
            int_values(form, "topic"),
            taxonomies,
        )
        total = await article_service.count_preview(app_ctx, member_id, value.region_ids, value.topic_ids)
        events_locked = await _events_locked(app_ctx, member_id, value, taxonomies)
        if is_htmx(request):
            return render(
                request,
                "conditions/_count.html",
                {"count": total, "days": article_service.NEW_ARRIVAL_DAYS, "events_locked": events_locked},
            )
        raw_id = text_field(form, "condition_id", max_length=12)
        if raw_id.isdigit():
            condition = await article_service.member_condition(app_ctx, member_id, int(raw_id))
            if condition is None:
                raise NotFoundException()
            return self._edit_page(
                request, condition, value, {}, taxonomies, total, events_locked=events_locked
            )
        context = await self._list_context(
            request,
            app_ctx,
            auth,
            new_value=value,
            new_count=total,
            welcome=text_field(form, "welcome", max_length=2) == "1",
        )
        return render(request, "conditions/page.html", {**context, "events_locked": events_locked})

    def _edit_page(
        self,
        request: Request[Any, Any, Any],
        condition: Condition,
        value: ConditionInput,
        errors: dict[str, str],
        taxonomies: Taxonomies,
        count: int | None,
        status: int = 200,
        events_locked: str = "",
    ) -> Template:
        return render(
            request,
            "conditions/edit.html",
            {
                "condition": condition,
                "value": value,
                "errors": errors,
                "taxonomies": taxonomies,
                "count": count,
                "days": article_service.NEW_ARRIVAL_DAYS,
                "events_locked": events_locked,
            },
            fragment="conditions/_edit_form.html",
            status=status,
        )

    async def _owned(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, condition_id: int
    ) -> Condition:
        condition = await article_service.member_condition(app_ctx, auth.member_id, condition_id)
        if condition is None:
            raise NotFoundException()
        return condition

    @get("/{condition_id:int}/edit")
    async def edit(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, condition_id: int
    ) -> Template:
        condition = await self._owned(request, app_ctx, auth, condition_id)
        taxonomies = await article_service.load_taxonomies(app_ctx)
        count = await article_service.count_preview(
            app_ctx, auth.member_id, condition.region_ids, condition.topic_ids
        )
        return self._edit_page(request, condition, _input_of(condition), {}, taxonomies, count)

    @get("/{condition_id:int}/card")
    async def card(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, condition_id: int
    ) -> Response[Any]:
        """The condition's card again (the edit form's "cancel" in place); a plain GET goes to the list."""
        condition = await self._owned(request, app_ctx, auth, condition_id)
        if not is_htmx(request):
            return redirect(request, "/conditions")
        counts = await _counts(app_ctx, auth.member_id)
        return render(
            request,
            "conditions/_card.html",
            {"c": condition, "count": counts.get(condition.id, 0), "days": article_service.NEW_ARRIVAL_DAYS},
            fragment="conditions/_card.html",
        )

    @post("/{condition_id:int}", status_code=200)
    async def update(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, condition_id: int
    ) -> Response[Any]:
        member_id = auth.member_id
        condition = await self._owned(request, app_ctx, auth, condition_id)
        taxonomies = await article_service.load_taxonomies(app_ctx)
        value, errors = await _read_form(request, taxonomies)
        if errors:
            return self._edit_page(
                request, condition, value, errors, taxonomies, None, form_error_status(request)
            )
        saved = await condition_queries.update(
            app_ctx.db,
            member_id,
            condition_id,
            value.name,
            [*value.region_ids, *value.topic_ids],
            now=app_ctx.clock.now(),
        )
        if not saved:
            raise NotFoundException()
        message = f"新着条件「{value.name}」を保存しました。"
        if is_htmx(request):
            updated = await self._owned(request, app_ctx, auth, condition_id)
            counts = await _counts(app_ctx, member_id)
            return render(
                request,
                "conditions/_card.html",
                {
                    "c": updated,
                    "count": counts.get(condition_id, 0),
                    "days": article_service.NEW_ARRIVAL_DAYS,
                    "card_message": message,
                },
                fragment="conditions/_card.html",
            )
        return redirect_with_flash(request, "/conditions", message)

    @post("/{condition_id:int}/delete", status_code=200)
    async def delete(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, condition_id: int
    ) -> Response[Any]:
        condition = await self._owned(request, app_ctx, auth, condition_id)
        await condition_queries.delete(app_ctx.db, auth.member_id, condition_id)
        message = f"新着条件「{condition.name}」を削除しました。"
        if is_htmx(request):
            context = await self._list_context(request, app_ctx, auth, message=message)
            return render(request, "conditions/page.html", context, fragment="conditions/_list.html")
        return redirect_with_flash(request, "/conditions", message)
