"""Statistics for the console (/admin/stats): tables of figures, each drawn as a small server-side SVG
chart and downloadable as CSV. No chart library: the SVG is a few rectangles and text, escaped here.

Monthly figures cover one fiscal year (年度), whose first month is the organization's setting
(`fiscal_year_start_month`, default April), bucketed in the organization's time zone.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from markupsafe import Markup

from db import stats as queries
from db.database import Database
from db.timestamps import from_db
from services.fees import PAID_METHOD_LABELS, fiscal_year_range
from services.japanese import PREFECTURES

# The mail log's kinds as the office reads them; a kind not listed (a new screen's mails, announcement
# mails) is shown under its own name, so nothing is dropped from the counts.
MAIL_KIND_LABELS = {
    "announcement": "お知らせ（一斉送信）",
    "password_reset": "パスワード再設定",
    "password_member_number": "会員番号のお知らせ",
    "password_changed": "パスワード変更の通知",
    "account_locked": "ロックの通知",
    "signup_confirm": "会員登録の確認",
    "signup_welcome": "会員登録の完了",
    "email_change_confirm": "メールアドレス変更の確認",
    "email_change_notice": "メールアドレス変更の通知",
    "contact_admin": "問い合わせの通知（事務局宛）",
    "contact_auto_reply": "問い合わせの自動返信",
    "contact_reply": "問い合わせへの返信",
    "closure_requested": "退会の申し出の受付",
    "closure_request_admin": "退会の申し出の通知（事務局宛）",
    "account_closed": "退会完了の通知",
    "tier_ended": "プラン終了の通知",
    "digest_test": "お知らせメールのテスト送信",
    "payment": "会費のお支払い",
    "receipt": "領収書",
    "test": "テストメール",
}
DIGEST_LABEL = "お知らせメール（新着記事）"
UNSET_LABEL = "（未入力）"


@dataclass
class Table:
    """One statistic: a title, column headers, rows, and the chart drawn from it."""

    key: str
    title: str
    headers: list[str]
    rows: list[list[str | int]]
    chart: Markup = field(default_factory=lambda: Markup(""))
    note: str = ""


def fiscal_months(year: int, start_month: int) -> list[tuple[int, int]]:
    months = []
    for offset in range(12):
        index = start_month - 1 + offset
        months.append((year + index // 12, index % 12 + 1))
    return months


def fiscal_year_instants(year: int, start_month: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start, end = fiscal_year_range(year, start_month)
    since = datetime(start.year, start.month, start.day, tzinfo=tz)
    after = date.fromordinal(end.toordinal() + 1)
    return since, datetime(after.year, after.month, after.day, tzinfo=tz)


def _month_of(stored: str, tz: ZoneInfo) -> tuple[int, int] | None:
    moment = from_db(stored)
    if moment is None:
        return None
    local = moment.astimezone(tz)
    return local.year, local.month


def _bucket(stored: Sequence[str], months: list[tuple[int, int]], tz: ZoneInfo) -> list[int]:
    counts = dict.fromkeys(months, 0)
    for value in stored:
        month = _month_of(value, tz)
        if month in counts:
            counts[month] += 1
    return [counts[month] for month in months]


def month_label(month: tuple[int, int]) -> str:
    return f"{month[0]}年{month[1]}月"


# --- charts ------------------------------------------------------------------------------------------

_COLORS = ("#2f6f9f", "#d08a2c", "#5a9a5a", "#9a4d8f")


def _svg_open(width: int, height: int, title: str) -> Markup:
    return Markup(
        '<svg class="stat-chart" viewBox="0 0 {} {}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">'
    ).format(width, height, title)


def bar_chart(labels: Sequence[str], values: Sequence[int], *, title: str, limit: int = 12) -> Markup:
    """Horizontal bars, largest first as given; at most `limit` bars (the table beside it has all).
    Built with Markup.format, so every label is escaped."""
    shown = list(zip(labels, values, strict=True))[:limit]
    width, label_width, bar_height, gap = 320, 110, 16, 6
    height = max(1, len(shown)) * (bar_height + gap) + gap
    top = max([value for _, value in shown] or [0]) or 1
    parts = [_svg_open(width, height, title)]
    for index, (label, value) in enumerate(shown):
        y = gap + index * (bar_height + gap)
        length = (width - label_width - 40) * value / top
        short = label if len(label) <= 8 else label[:7] + "…"
        parts.append(
            Markup(
                '<text x="{}" y="{}" text-anchor="end" font-size="11">{}</text>'
                '<rect x="{}" y="{}" width="{:.1f}" height="{}" fill="{}"/>'
                '<text x="{:.1f}" y="{}" font-size="11">{}</text>'
            ).format(
                label_width - 6,
                y + bar_height - 4,
                short,
                label_width,
                y,
                length,
                bar_height,
                _COLORS[0],
                label_width + length + 4,
                y + bar_height - 4,
                value,
            )
        )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def column_chart(months: Sequence[str], series: Sequence[tuple[str, Sequence[int]]], *, title: str) -> Markup:
    """Vertical columns per month (or year), one colour per series, with a legend; escaped like bar_chart."""
    width, height, left, bottom, legend = 340, 170, 28, 22, 16
    plot_height = height - bottom - legend - 6
    base = legend + 6 + plot_height
    top = max([value for _, values in series for value in values] or [0]) or 1
    slot = (width - left - 4) / max(1, len(months))
    bar = max(2.0, (slot - 3) / max(1, len(series)))
    parts = [
        _svg_open(width, height, title),
        Markup('<text x="2" y="{}" font-size="9">{}</text>').format(legend + 8, top),
        Markup('<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#999"/>').format(left, base, width, base),
    ]
    for index, (name, _) in enumerate(series):
        x = left + index * 110
        color = _COLORS[index % len(_COLORS)]
        parts.append(
            Markup(
                '<rect x="{}" y="2" width="10" height="10" fill="{}"/><text x="{}" y="11" font-size="10">{}</text>'
            ).format(x, color, x + 14, name)
        )
    for month_index, month in enumerate(months):
        x0 = left + month_index * slot
        for series_index, (_, values) in enumerate(series):
            value = values[month_index]
            bar_height = plot_height * value / top
            parts.append(
                Markup(
                    '<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="{}"><title>{} {}</title></rect>'
                ).format(
                    x0 + 1 + series_index * bar,
                    base - bar_height,
                    bar - 0.5,
                    bar_height,
                    _COLORS[series_index % len(_COLORS)],
                    month,
                    value,
                )
            )
        parts.append(
            Markup('<text x="{:.1f}" y="{}" text-anchor="middle" font-size="9">{}</text>').format(
                x0 + slot / 2, height - 6, month.split("年")[-1] if month.endswith("月") else month
            )
        )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


# --- the statistics ----------------------------------------------------------------------------------


def _categorical(
    key: str, title: str, heading: str, rows: list[sqlite3.Row], order: Sequence[str] = ()
) -> Table:
    pairs = [(str(row["label"] or "") or UNSET_LABEL, int(row["count"])) for row in rows]
    if order:
        rank = {name: index for index, name in enumerate(order)}
        pairs.sort(key=lambda pair: (rank.get(pair[0], len(rank)), pair[0]))
    total = sum(count for _, count in pairs)
    table_rows: list[list[str | int]] = [[label, count] for label, count in pairs]
    table_rows.append(["合計", total])
    chart_pairs = sorted(pairs, key=lambda pair: -pair[1]) if order else pairs
    return Table(
        key,
        title,
        [heading, "人数"],
        table_rows,
        bar_chart([label for label, _ in chart_pairs], [count for _, count in chart_pairs], title=title),
    )


async def members_tables(db: Database, today: date) -> list[Table]:
    return [
        _categorical("tiers", "プラン別の会員数", "プラン", await queries.members_by_tier(db, today)),
        _categorical(
            "types",
            "会員種別ごとの会員数",
            "会員種別",
            await queries.members_by_column(db, "membership_type"),
        ),
        _categorical(
            "prefectures",
            "都道府県別の会員数",
            "都道府県",
            await queries.members_by_column(db, "prefecture"),
            order=PREFECTURES,
        ),
    ]


async def joins_and_leaves(db: Database, year: int, start_month: int, tz: ZoneInfo) -> Table:
    months = fiscal_months(year, start_month)
    since, until = fiscal_year_instants(year, start_month, tz)
    joins = _bucket(await queries.join_instants(db, since, until), months, tz)
    leaves = _bucket(await queries.leave_instants(db, since, until), months, tz)
    labels = [month_label(month) for month in months]
    rows: list[list[str | int]] = [
        [label, j, leave] for label, j, leave in zip(labels, joins, leaves, strict=True)
    ]
    rows.append(["合計", sum(joins), sum(leaves)])
    title = f"{year}年度の入会と退会（月別）"
    return Table(
        "joins",
        title,
        ["月", "入会", "退会"],
        rows,
        column_chart(labels, [("入会", joins), ("退会", leaves)], title=title),
        "入会は会員の登録日（取り込み・申込・管理画面）、退会は退会の手続きが済んだ日で数えます。",
    )


async def fees_table(db: Database) -> Table:
    rows = await queries.fees_by_fiscal_year(db)
    table_rows: list[list[str | int]] = [
        [
            f"{row['year']}年度",
            int(row["issued"]),
            int(row["issued_amount"]),
            int(row["paid"]),
            int(row["paid_amount"]),
            int(row["unpaid"]),
            int(row["unpaid_amount"]),
            int(row["expired"]),
            int(row["card_amount"]),
            int(row["konbini_amount"]),
            int(row["bank_transfer_amount"]),
        ]
        for row in rows
    ]
    title = "年度別の会費の収納状況"
    labels = [f"{row['year']}年度" for row in rows]
    return Table(
        "fees",
        title,
        [
            "年度",
            "請求件数",
            "請求額（円）",
            "お支払い済み件数",
            "お支払い済み額（円）",
            "未納件数",
            "未納額（円）",
            "期限切れ件数",
            *(f"{label}（円）" for label in PAID_METHOD_LABELS.values()),
        ],
        table_rows,
        column_chart(
            labels,
            [
                ("お支払い済み", [int(row["paid"]) for row in rows]),
                ("未納", [int(row["unpaid"]) for row in rows]),
            ],
            title=title,
        ),
        "年度は会費の年度です。取り消した会費は数えません。未納にはコンビニでのお支払い待ちを含みます。",
    )


async def mails_table(db: Database, year: int, start_month: int, tz: ZoneInfo) -> Table:
    """Mails sent and failed per month: the digests (their own delivery table) and every mail in the mail
    log by kind (announcement mails count here as soon as they are logged there)."""
    months = fiscal_months(year, start_month)
    since, until = fiscal_year_instants(year, start_month, tz)
    sent: dict[str, list[int]] = {}
    failed: dict[str, list[int]] = {}

    def add(label: str, status: str, stored: str) -> None:
        month = _month_of(stored, tz)
        if month not in months:
            return
        target = sent if status == "sent" else failed
        counts = target.setdefault(label, [0] * 12)
        counts[months.index(month)] += 1

    for row in await queries.digest_outcomes(db, since, until):
        add(DIGEST_LABEL, str(row["status"]), str(row["at"]))
    for row in await queries.logged_mails(db, since, until):
        kind = str(row["kind"])
        add(MAIL_KIND_LABELS.get(kind, kind), str(row["status"]), str(row["at"]))
    labels = [month_label(month) for month in months]
    total_sent = [sum(values[i] for values in sent.values()) for i in range(12)]
    total_failed = [sum(values[i] for values in failed.values()) for i in range(12)]
    rows: list[list[str | int]] = []
    for kind in sorted(set(sent) | set(failed), key=lambda name: (name != DIGEST_LABEL, name)):
        s, f = sent.get(kind, [0] * 12), failed.get(kind, [0] * 12)
        rows.append([kind, *(f"{a} / {b}" if b else a for a, b in zip(s, f, strict=True)), sum(s), sum(f)])
    rows.append(
        [
            "合計",
            *(f"{a} / {b}" if b else a for a, b in zip(total_sent, total_failed, strict=True)),
            sum(total_sent),
            sum(total_failed),
        ]
    )
    title = f"{year}年度のメール送信（月別）"
    return Table(
        "mails",
        title,
        ["種類", *(label.split("年")[-1] for label in labels), "送信", "失敗"],
        rows,
        column_chart(labels, [("送信", total_sent), ("失敗", total_failed)], title=title),
        "月ごとの欄は「送信数 / 失敗数」（失敗がない月は送信数だけ）です。",
    )


async def event_registrations_table(db: Database) -> Table | None:
    """Registrations per event, once event registration exists (a table `event_registrations` with an
    `article_id` column); None before that, and the screen leaves the section out."""
    if not await queries.table_exists(db, "event_registrations"):
        return None
    columns = {str(row[1]) for row in await db.fetchall("PRAGMA table_info(event_registrations)")}
    if "article_id" not in columns:
        return None
    rows = await db.fetchall(
        "SELECT a.title AS label, count(r.rowid) AS count FROM event_registrations r "
        "JOIN articles a ON a.id = r.article_id GROUP BY a.id ORDER BY a.event_date DESC, a.id DESC LIMIT 50"
    )
    title = "イベントごとの参加申込数"
    pairs = [(str(row["label"]), int(row["count"])) for row in rows]
    return Table(
        "events",
        title,
        ["イベント", "申込数"],
        [[label, count] for label, count in pairs],
        bar_chart([label for label, _ in pairs], [count for _, count in pairs], title=title),
    )
