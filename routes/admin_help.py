"""The admin's editor for the help pages: sections and entries (Markdown, sanitized when saved)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template

from db import audit
from db import help as help_queries
from routes.common import client_ip, form_error_status, redirect_with_flash, render, text_field
from routes.guards import ADMIN_GUARDS
from services.context import AppContext
from services.help import ANSWER_MAX, check_entry, check_section, group
from services.markdown import render_markdown
from services.sessions import LoggedIn

ENTRY_FIELDS = ("section_id", "question", "answer_md", "link_path", "link_label", "sort_order", "published")


async def _audit(
    request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, event: str, **detail: Any
) -> None:
    await audit.record(
        app_ctx.db,
        event,
        now=app_ctx.clock.now(),
        actor_member_id=auth.member_id,
        ip=client_ip(request),
        detail=detail,
    )


class AdminHelpController(Controller):
    path = "/admin/help"
    guards = ADMIN_GUARDS

    @get("/")
    async def index(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        db = app_ctx.db
        sections = await help_queries.sections(db)
        entries = await help_queries.entries(db, published_only=False)
        return render(
            request,
            "admin_help/page.html",
            {"sections": group(sections, entries), "empty_sections": _empty(sections, entries)},
        )

    # ------------------------------------------------------------ sections

    @get("/sections/new")
    async def new_section(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        count = await help_queries.count_sections(app_ctx.db)
        return self._section_form(request, None, {"title": "", "sort_order": str((count + 1) * 10)}, {})

    @post("/sections", status_code=200)
    async def create_section(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        raw = await _raw(request, ("title", "sort_order"))
        values, errors = check_section(raw)
        if errors:
            return self._section_form(request, None, raw, errors, status=form_error_status(request))
        section_id = await help_queries.create_section(app_ctx.db, now=app_ctx.clock.now(), **values)
        await _audit(
            request, app_ctx, auth, "help_section_created", section_id=section_id, title=values["title"]
        )
        return redirect_with_flash(
            request, f"/admin/help#section-{section_id}", f"見出し「{values['title']}」を追加しました。"
        )

    @get("/sections/{section_id:int}/edit")
    async def edit_section(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, section_id: int
    ) -> Template:
        section = await _section_or_404(request, app_ctx, section_id)
        values = {"title": str(section["title"]), "sort_order": str(section["sort_order"])}
        return self._section_form(request, section, values, {})

    @post("/sections/{section_id:int}", status_code=200)
    async def update_section(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, section_id: int
    ) -> Response[Any]:
        section = await _section_or_404(request, app_ctx, section_id)
        raw = await _raw(request, ("title", "sort_order"))
        values, errors = check_section(raw)
        if errors:
            return self._section_form(request, section, raw, errors, status=form_error_status(request))
        await help_queries.update_section(app_ctx.db, section_id, now=app_ctx.clock.now(), **values)
        await _audit(
            request, app_ctx, auth, "help_section_updated", section_id=section_id, title=values["title"]
        )
        return redirect_with_flash(
            request, f"/admin/help#section-{section_id}", f"見出し「{values['title']}」を保存しました。"
        )

    @post("/sections/{section_id:int}/delete", status_code=200)
    async def delete_section(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, section_id: int
    ) -> Response[Any]:
        section = await _section_or_404(request, app_ctx, section_id)
        if await help_queries.count_entries_in(app_ctx.db, section_id) > 0:
            return redirect_with_flash(
                request,
                "/admin/help",
                f"見出し「{section['title']}」には質問があるため削除できません。先に質問を別の見出しに移すか削除してください。",
                kind="warning",
            )
        await help_queries.delete_section(app_ctx.db, section_id)
        await _audit(
            request, app_ctx, auth, "help_section_deleted", section_id=section_id, title=section["title"]
        )
        return redirect_with_flash(request, "/admin/help", f"見出し「{section['title']}」を削除しました。")

    def _section_form(
        self,
        request: Request[Any, Any, Any],
        section: Any,
        values: dict[str, str],
        errors: dict[str, str],
        *,
        status: int = 200,
    ) -> Template:
        return render(
            request,
            "admin_help/section_form.html",
            {"section": section, "values": values, "errors": errors},
            status=status,
        )

    # ------------------------------------------------------------ entries

    @get("/entries/new")
    async def new_entry(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, section_id: int = 0
    ) -> Template:
        values = {"section_id": str(section_id), "published": "1", "sort_order": ""}
        return await self._entry_form(request, app_ctx, None, values, {})

    @post("/entries", status_code=200)
    async def create_entry(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn
    ) -> Response[Any]:
        raw = await _raw(request, ENTRY_FIELDS)
        values, errors = check_entry(raw, await _section_ids(request, app_ctx))
        if errors:
            return await self._entry_form(
                request, app_ctx, None, raw, errors, status=form_error_status(request)
            )
        entry_id = await help_queries.create_entry(
            app_ctx.db,
            section_id=values["section_id"],
            values=values,
            published=values["published"],
            sort_order=values["sort_order"],
            now=app_ctx.clock.now(),
        )
        await _audit(
            request, app_ctx, auth, "help_entry_created", entry_id=entry_id, question=values["question"]
        )
        return redirect_with_flash(request, f"/admin/help#entry-{entry_id}", "質問を追加しました。")

    @get("/entries/{entry_id:int}/edit")
    async def edit_entry(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, entry_id: int
    ) -> Template:
        entry = await _entry_or_404(request, app_ctx, entry_id)
        values = {key: str(entry[key]) for key in ENTRY_FIELDS if key != "published"}
        values["published"] = "1" if entry["published"] else ""
        return await self._entry_form(request, app_ctx, entry, values, {})

    @post("/entries/{entry_id:int}", status_code=200)
    async def update_entry(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, entry_id: int
    ) -> Response[Any]:
        entry = await _entry_or_404(request, app_ctx, entry_id)
        raw = await _raw(request, ENTRY_FIELDS)
        values, errors = check_entry(raw, await _section_ids(request, app_ctx))
        if errors:
            return await self._entry_form(
                request, app_ctx, entry, raw, errors, status=form_error_status(request)
            )
        await help_queries.update_entry(
            app_ctx.db,
            entry_id,
            section_id=values["section_id"],
            values=values,
            published=values["published"],
            sort_order=values["sort_order"],
            now=app_ctx.clock.now(),
        )
        await _audit(
            request, app_ctx, auth, "help_entry_updated", entry_id=entry_id, question=values["question"]
        )
        return redirect_with_flash(request, f"/admin/help#entry-{entry_id}", "質問を保存しました。")

    @post("/entries/{entry_id:int}/delete", status_code=200)
    async def delete_entry(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, auth: LoggedIn, entry_id: int
    ) -> Response[Any]:
        entry = await _entry_or_404(request, app_ctx, entry_id)
        await help_queries.delete_entry(app_ctx.db, entry_id)
        await _audit(
            request, app_ctx, auth, "help_entry_deleted", entry_id=entry_id, question=entry["question"]
        )
        return redirect_with_flash(request, "/admin/help", f"質問「{entry['question']}」を削除しました。")

    @post("/preview", status_code=200)
    async def preview(self, request: Request[Any, Any, Any]) -> Template:
        form = await request.form()
        html = render_markdown(text_field(form, "answer_md", max_length=ANSWER_MAX))
        return render(request, "admin_help/_preview.html", {"preview_html": html})

    async def _entry_form(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        entry: Any,
        values: dict[str, str],
        errors: dict[str, str],
        *,
        status: int = 200,
    ) -> Template:
        sections = await help_queries.sections(app_ctx.db)
        return render(
            request,
            "admin_help/entry_form.html",
            {
                "entry": entry,
                "sections": sections,
                "values": values,
                "errors": errors,
                "preview_html": render_markdown(values.get("answer_md", "")),
            },
            status=status,
        )


def _empty(sections: list[Any], entries: list[Any]) -> list[Any]:
    used = {int(entry["section_id"]) for entry in entries}
    return [section for section in sections if int(section["id"]) not in used]


async def _raw(request: Request[Any, Any, Any], names: tuple[str, ...]) -> dict[str, str]:
    form = await request.form()
    return {name: text_field(form, name, max_length=ANSWER_MAX + 1000) for name in names}


async def _section_ids(request: Request[Any, Any, Any], app_ctx: AppContext) -> set[int]:
    return {int(row["id"]) for row in await help_queries.sections(app_ctx.db)}


async def _section_or_404(request: Request[Any, Any, Any], app_ctx: AppContext, section_id: int) -> Any:
    section = await help_queries.section(app_ctx.db, section_id)
    if section is None:
        raise NotFoundException()
    return section


async def _entry_or_404(request: Request[Any, Any, Any], app_ctx: AppContext, entry_id: int) -> Any:
    entry = await help_queries.entry(app_ctx.db, entry_id)
    if entry is None:
        raise NotFoundException()
    return entry
