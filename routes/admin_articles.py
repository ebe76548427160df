"""Admin screens for articles, events, the two taxonomies and the feed import."""

from __future__ import annotations

import math
from typing import Any, ClassVar
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Template

from db import articles as article_queries
from db import audit
from db import taxonomy as taxonomy_queries
from routes.articles import int_values, page_number
from routes.common import client_ip, form_error_status, logged_in, redirect_with_flash, render, text_field
from routes.guards import ADMIN_GUARDS, STAFF_ALLOWED
from services import articles as article_service
from services import feeds as feed_service
from services.articles import KINDS, STATE_LABELS, STATUSES, TAXONOMIES, local_input_value
from services.context import AppContext

ADMIN_PAGE_SIZE = 30
ARTICLE_FIELDS = {
    "title": 400,
    "summary": 2000,
    "body_md": 200_000,
    "external_url": 2000,
    "published_at": 40,
    "status": 20,
    "members_only": 5,
    "event_date": 40,
    "event_place": 400,
    "application_url": 2000,
}


class _ArticleAdmin(Controller):
    """Shared by /admin/articles and /admin/events: the same screens for one kind."""

    guards = ADMIN_GUARDS
    opt = STAFF_ALLOWED  # 事務局スタッフ may open it (routes/guards.py)
    kind: ClassVar[str] = "article"

    @property
    def base(self) -> str:
        return "/admin/events" if self.kind == "event" else "/admin/articles"

    def _labels(self) -> dict[str, str]:
        return {"kind": self.kind, "kind_label": KINDS[self.kind], "base": self.base}

    @get("/")
    async def index(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        params = request.query_params
        state = str(params.get("state") or "")
        state = state if state in STATE_LABELS else ""
        keyword = str(params.get("q") or "")[:200].strip()
        page = page_number(params.get("page"))
        rows, total = await article_queries.admin_list(
            app_ctx.db,
            kind=self.kind,
            state=state,
            search=article_service.parse_keywords(keyword),
            now=app_ctx.clock.now(),
            limit=ADMIN_PAGE_SIZE,
            offset=(page - 1) * ADMIN_PAGE_SIZE,
        )
        filters = [(k, v) for k, v in (("state", state), ("q", keyword)) if v]
        now = app_ctx.clock.now()
        return render(
            request,
            "admin_articles/list.html",
            {
                **self._labels(),
                "items": [(row, article_service.article_state(row, now)) for row in rows],
                "total": total,
                "state": state,
                "keyword": keyword,
                "states": STATE_LABELS,
                "page": page,
                "pages": max(1, math.ceil(total / ADMIN_PAGE_SIZE)),
                "page_base": self.base + ("?" + urlencode(filters) if filters else ""),
            },
        )

    async def _form(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        *,
        article_id: int | None,
        values: dict[str, str],
        region_ids: list[int],
        topic_ids: list[int],
        errors: dict[str, str],
        status: int = 200,
    ) -> Template:
        taxonomies = await article_service.load_taxonomies(app_ctx)
        return render(
            request,
            "admin_articles/form.html",
            {
                **self._labels(),
                "article_id": article_id,
                "values": values,
                "region_ids": region_ids,
                "topic_ids": topic_ids,
                "errors": errors,
                "taxonomies": taxonomies,
                "statuses": STATUSES,
            },
            status=status,
        )

    @get("/new")
    async def new(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        values = {"status": "published", "published_at": ""}
        return await self._form(
            request, app_ctx, article_id=None, values=values, region_ids=[], topic_ids=[], errors={}
        )

    async def _save(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, article_id: int | None
    ) -> Response[Any]:
        form = await request.form()
        values = {name: text_field(form, name, max_length=limit) for name, limit in ARTICLE_FIELDS.items()}
        region_ids, topic_ids = int_values(form, "region"), int_values(form, "topic")
        taxonomies = await article_service.load_taxonomies(app_ctx)
        data, term_ids, errors = article_service.check_article_form(
            values,
            region_ids,
            topic_ids,
            taxonomies,
            kind=self.kind,
            tz=app_ctx.settings.tz,
            now=app_ctx.clock.now(),
        )
        if data is None:
            return await self._form(
                request,
                app_ctx,
                article_id=article_id,
                values=values,
                region_ids=region_ids,
                topic_ids=topic_ids,
                errors=errors,
                status=form_error_status(request),
            )
        if article_id is None:
            article_id = await article_queries.create_article(
                app_ctx.db, data, term_ids, now=app_ctx.clock.now()
            )
            verb, event = "作成", "article.created"
        else:
            await article_queries.update_article(
                app_ctx.db, article_id, data, term_ids, now=app_ctx.clock.now()
            )
            verb, event = "保存", "article.updated"
        await self._audit(request, app_ctx, event, article_id, data.title, data.status)
        state = STATE_LABELS[
            "scheduled"
            if data.status == "published" and data.published_at > app_ctx.clock.now()
            else data.status
        ]
        return redirect_with_flash(
            request, self.base, f"{KINDS[self.kind]}「{data.title}」を{verb}しました（{state}）。"
        )

    @post("/", status_code=200)
    async def create(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Response[Any]:
        return await self._save(request, app_ctx, None)

    async def _audit(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        event: str,
        article_id: int,
        title: str,
        status: str,
    ) -> None:
        """Who wrote or published what: admins and staff both edit articles and events."""
        auth = logged_in(request)
        await audit.record(
            app_ctx.db,
            event,
            now=app_ctx.clock.now(),
            actor_member_id=auth.member_id if auth else None,
            ip=client_ip(request),
            detail={"kind": self.kind, "article_id": article_id, "title": title[:100], "status": status},
        )

    async def _owned(self, request: Request[Any, Any, Any], app_ctx: AppContext, article_id: int) -> Any:
        article = await article_queries.get_article(app_ctx.db, article_id)
        if article is None or article["kind"] != self.kind:
            raise NotFoundException()
        return article

    @get("/{article_id:int}/edit")
    async def edit(self, request: Request[Any, Any, Any], app_ctx: AppContext, article_id: int) -> Template:
        article = await self._owned(request, app_ctx, article_id)
        terms = (await article_queries.terms_of(app_ctx.db, [article_id]))[article_id]
        tz = app_ctx.settings.tz
        values = {name: str(article[name] or "") for name in ARTICLE_FIELDS if name in article.keys()}
        values["published_at"] = local_input_value(article["published_at"], tz)
        values["event_date"] = local_input_value(article["event_date"], tz)
        values["members_only"] = "1" if article["members_only"] else ""
        return await self._form(
            request,
            app_ctx,
            article_id=article_id,
            values=values,
            region_ids=[int(t["id"]) for t in terms if t["taxonomy"] == "region"],
            topic_ids=[int(t["id"]) for t in terms if t["taxonomy"] == "topic"],
            errors={},
        )

    @post("/{article_id:int}", status_code=200)
    async def update(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, article_id: int
    ) -> Response[Any]:
        await self._owned(request, app_ctx, article_id)
        return await self._save(request, app_ctx, article_id)

    @post("/{article_id:int}/status", status_code=200)
    async def set_status(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, article_id: int
    ) -> Response[Any]:
        """Publish or unpublish in one click from the list."""
        article = await self._owned(request, app_ctx, article_id)
        form = await request.form()
        status = text_field(form, "status", max_length=20)
        if status not in STATUSES:
            raise NotFoundException()
        await article_queries.set_status(app_ctx.db, article_id, status, now=app_ctx.clock.now())
        await self._audit(request, app_ctx, "article.status_changed", article_id, article["title"], status)
        return redirect_with_flash(
            request, self.base, f"「{article['title']}」を{STATUSES[status]}にしました。"
        )


class AdminArticlesController(_ArticleAdmin):
    path = "/admin/articles"
    kind: ClassVar[str] = "article"


class AdminEventsController(_ArticleAdmin):
    path = "/admin/events"
    kind: ClassVar[str] = "event"


class AdminTaxonomiesController(Controller):
    path = "/admin/taxonomies"
    guards = ADMIN_GUARDS

    async def _page(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        *,
        taxonomy: str = "",
        values: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        status: int = 200,
    ) -> Template:
        return render(
            request,
            "admin_taxonomies/page.html",
            {
                "taxonomies": await article_service.load_taxonomies(app_ctx),
                "usage": await article_service.term_usage(app_ctx),
                "names": TAXONOMIES,
                "form_taxonomy": taxonomy,
                "values": values or {},
                "errors": errors or {},
            },
            status=status,
        )

    @get("/")
    async def index(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        return await self._page(request, app_ctx)

    @post("/", status_code=200)
    async def create(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Response[Any]:
        form = await request.form()
        values = {
            k: text_field(form, k, max_length=200)
            for k in ("taxonomy", "name", "slug", "parent_id", "sort_order")
        }
        term_id, errors = await article_service.save_term(
            app_ctx,
            term_id=None,
            taxonomy=values["taxonomy"],
            name=values["name"],
            slug=values["slug"],
            parent_raw=values["parent_id"],
            sort_raw=values["sort_order"],
        )
        if errors:
            return await self._page(
                request,
                app_ctx,
                taxonomy=values["taxonomy"],
                values=values,
                errors=errors,
                status=form_error_status(request),
            )
        return redirect_with_flash(
            request, "/admin/taxonomies", f"「{values['name'].strip()}」を追加しました。"
        )

    async def _term(self, request: Request[Any, Any, Any], app_ctx: AppContext, term_id: int) -> Any:
        term = await taxonomy_queries.get_term(app_ctx.db, term_id)
        if term is None:
            raise NotFoundException()
        return term

    async def _edit_page(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        term: Any,
        *,
        values: dict[str, str],
        errors: dict[str, str],
        delete_error: str = "",
        status: int = 200,
    ) -> Template:
        taxonomies = await article_service.load_taxonomies(app_ctx)
        usage = (await article_service.term_usage(app_ctx)).get(
            int(term["id"]), article_service.TermUsage(0, 0, 0)
        )
        subtree = taxonomies.subtree_ids(int(term["id"]))
        same = taxonomies.flat(str(term["taxonomy"]))
        return render(
            request,
            "admin_taxonomies/edit.html",
            {
                "term": term,
                "values": values,
                "errors": errors,
                "usage": usage,
                "parents": [n for n in same if n.id not in subtree],
                "targets": [n for n in same if n.id != term["id"]],
                "taxonomy_name": TAXONOMIES[str(term["taxonomy"])],
                "path": taxonomies.path(int(term["id"])),
                "delete_error": delete_error,
            },
            status=status,
        )

    @get("/{term_id:int}")
    async def edit(self, request: Request[Any, Any, Any], app_ctx: AppContext, term_id: int) -> Template:
        term = await self._term(request, app_ctx, term_id)
        values = {
            "name": str(term["name"]),
            "slug": str(term["slug"]),
            "parent_id": str(term["parent_id"] or ""),
            "sort_order": str(term["sort_order"]),
        }
        return await self._edit_page(request, app_ctx, term, values=values, errors={})

    @post("/{term_id:int}", status_code=200)
    async def update(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, term_id: int
    ) -> Response[Any]:
        term = await self._term(request, app_ctx, term_id)
        form = await request.form()
        values = {k: text_field(form, k, max_length=200) for k in ("name", "slug", "parent_id", "sort_order")}
        _, errors = await article_service.save_term(
            app_ctx,
            term_id=term_id,
            taxonomy=str(term["taxonomy"]),
            name=values["name"],
            slug=values["slug"],
            parent_raw=values["parent_id"],
            sort_raw=values["sort_order"],
        )
        if errors:
            return await self._edit_page(
                request, app_ctx, term, values=values, errors=errors, status=form_error_status(request)
            )
        return redirect_with_flash(
            request, "/admin/taxonomies", f"「{values['name'].strip()}」を保存しました。"
        )

    @post("/{term_id:int}/delete", status_code=200)
    async def delete(
        self, request: Request[Any, Any, Any], app_ctx: AppContext, term_id: int
    ) -> Response[Any]:
        term = await self._term(request, app_ctx, term_id)
        form = await request.form()
        problem = await article_service.delete_term(
            app_ctx, term_id, text_field(form, "move_to", max_length=20)
        )
        if problem:
            values = {
                "name": str(term["name"]),
                "slug": str(term["slug"]),
                "parent_id": str(term["parent_id"] or ""),
                "sort_order": str(term["sort_order"]),
            }
            return await self._edit_page(
                request,
                app_ctx,
                term,
                values=values,
                errors={},
                delete_error=problem,
                status=form_error_status(request),
            )
        return redirect_with_flash(request, "/admin/taxonomies", f"「{term['name']}」を削除しました。")


MAP_ROWS_EXTRA = 3
MAP_ROWS_MAX = 100


class AdminFeedsController(Controller):
    path = "/admin/feeds"
    guards = ADMIN_GUARDS

    async def _page(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        *,
        url: str | None = None,
        pairs: list[tuple[str, int]] | None = None,
        errors: dict[str, str] | None = None,
        status: int = 200,
    ) -> Template:
        stored = await article_queries.feed_settings(app_ctx.db)
        taxonomies = await article_service.load_taxonomies(app_ctx)
        rows = (
            pairs if pairs is not None else feed_service.category_pairs(stored.get("feed_category_map", ""))
        )
        return render(
            request,
            "admin_feeds/page.html",
            {
                "url": stored.get("feed_url", "") if url is None else url,
                "rows": [*rows, *[("", 0)] * MAP_ROWS_EXTRA],
                "terms": [(n, taxonomies.path(n.id)) for tax in TAXONOMIES for n in taxonomies.flat(tax)],
                "errors": errors or {},
                "last_run_at": stored.get("feed_last_run_at", ""),
                "last_result": stored.get("feed_last_result", ""),
                "seen": feed_service.seen_categories(stored.get("feed_seen_categories", "")),
            },
            status=status,
        )

    @get("/")
    async def index(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Template:
        return await self._page(request, app_ctx)

    @post("/", status_code=200)
    async def save(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Response[Any]:
        form = await request.form()
        url = text_field(form, "feed_url", max_length=1000).strip()
        errors: dict[str, str] = {}
        if url and not article_service.URL_RE.match(url):
            errors["feed_url"] = "フィードのURLは http:// または https:// で始まるURLを入力してください。"
        categories = form.getall("category", []) if hasattr(form, "getall") else []
        term_values = form.getall("term", []) if hasattr(form, "getall") else []
        valid = {int(row["id"]) for row in await taxonomy_queries.all_terms(app_ctx.db)}
        pairs: list[tuple[str, int]] = []
        for index, (category, term) in enumerate(zip(categories[:MAP_ROWS_MAX], term_values, strict=False)):
            if not isinstance(category, str) or not isinstance(term, str):
                continue
            category = category.strip()[:100]
            if not category and not term:
                continue
            if not category or not term.isdigit() or int(term) not in valid:
                errors.setdefault(
                    "category",
                    f"{index + 1}行目: フィードのカテゴリ名と割り当てる項目を両方指定してください。",
                )
                continue
            pairs.append((category, int(term)))
        if errors:
            return await self._page(
                request, app_ctx, url=url, pairs=pairs, errors=errors, status=form_error_status(request)
            )
        await article_queries.put_feed_settings(
            app_ctx.db, {"feed_url": url, "feed_category_map": feed_service.dump_category_map(pairs)}
        )
        return redirect_with_flash(request, "/admin/feeds", "フィードの設定を保存しました。")

    @post("/import", status_code=200)
    async def run_now(self, request: Request[Any, Any, Any], app_ctx: AppContext) -> Response[Any]:
        stored = await article_queries.feed_settings(app_ctx.db)
        if not stored.get("feed_url"):
            return redirect_with_flash(
                request, "/admin/feeds", "先にフィードのURLを保存してください。", kind="warning"
            )
        await feed_service.run_feed_import_job(app_ctx)
        stored = await article_queries.feed_settings(app_ctx.db)
        result = stored.get("feed_last_result", "")
        kind = "warning" if result.startswith("取り込みに失敗") else "success"
        return redirect_with_flash(request, "/admin/feeds", result, kind=kind)
