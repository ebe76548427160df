"""Demo data for a first look: an organization, an admin and members (safe to load twice)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from db import app_settings
from db import members as member_queries
from db.timestamps import to_db
from services.accounts import create_member
from services.announcements import demo_announcement
from services.article_demo import load_article_demo
from services.context import AppContext
from services.event_demo import load_event_demo
from services.fees import demo_fees
from services.help import seed_demo_help
from services.membership import demo_membership

DEMO_ORG = {
    "org_name": "一般社団法人 日本つどい学会",
    "org_address": "〒100-0001 東京都千代田区千代田1-1",
    "contact_email": "office@tsudoi.example.jp",
    "mail_from_name": "日本つどい学会 事務局",
    "mail_from_address": "no-reply@tsudoi.example.jp",
}

DEMO_MEMBERS = [
    {
        "member_number": "001234",
        "password": "Tsudoi2026",
        "must_change_password": False,
        "role": "member",
        "profile": {
            "family_name": "山田",
            "given_name": "花子",
            "family_kana": "ヤマダ",
            "given_kana": "ハナコ",
            "email": "hanako.yamada@example.jp",
            "phone": "0312345678",
            "postal_code": "1000001",
            "prefecture": "東京都",
            "address1": "千代田区千代田1-1",
            "address2": "",
            "affiliation": "つどい大学 経済学部",
            "membership_type": "正会員",
        },
    },
    {
        "member_number": "000123",
        "password": "Hajime2026",
        "must_change_password": True,
        "role": "member",
        "profile": {
            "family_name": "佐藤",
            "given_name": "一郎",
            "family_kana": "サトウ",
            "given_kana": "イチロウ",
            "email": "ichiro.sato@example.jp",
            "phone": "09012345678",
            "postal_code": "5300001",
            "prefecture": "大阪府",
            "address1": "大阪市北区梅田",
            "address2": "",
            "affiliation": "株式会社サンプル",
            "membership_type": "正会員",
        },
    },
    {
        "member_number": "900001",
        "password": "Kanri2026",
        "must_change_password": False,
        "role": "admin",
        "profile": {"family_name": "事務局", "given_name": "管理者", "email": "office@tsudoi.example.jp"},
    },
]

# Later features append their own demo steps (articles, fees, help entries…).
DEMO_STEPS: list[Callable[[AppContext], Awaitable[None]]] = []
DEMO_STEPS.append(demo_membership)
DEMO_STEPS.append(demo_fees)
DEMO_STEPS.append(load_article_demo)
DEMO_STEPS.append(seed_demo_help)
DEMO_STEPS.append(load_event_demo)
DEMO_STEPS.append(demo_announcement)


async def load_demo(app: AppContext) -> list[str]:
    if await app_settings.get(app.db, app_settings.DEMO_DATA_KEY) is None:
        # Recorded in the database: with no TSUDOI_PAYMENT_GATEWAY, a demo database uses the sandbox.
        await app.update_org({app_settings.DEMO_DATA_KEY: to_db(app.clock.now())})
    current = app.org.to_strings()
    if current.get("org_name") == type(app.org)().org_name:
        await app.update_org(DEMO_ORG)
    elif not app.org.mail_from_address:  # demo data loaded before the sender was a setting
        await app.update_org({key: DEMO_ORG[key] for key in ("mail_from_name", "mail_from_address")})
    lines = ["デモデータを読み込みました。次のアカウントでログインできます:"]
    for spec in DEMO_MEMBERS:
        number = str(spec["member_number"])
        if await member_queries.get_by_number(app.db, number) is None:
            await create_member(
                app,
                member_number=number,
                password=str(spec["password"]),
                role=str(spec["role"]),
                must_change_password=bool(spec["must_change_password"]),
                profile=dict(spec["profile"]),  # type: ignore[call-overload]
            )
        label = {"admin": "管理者", "member": "会員"}[str(spec["role"])]
        note = "（初回ログイン時にパスワード変更）" if spec["must_change_password"] else ""
        lines.append(f"  {label}: 会員番号 {number} / パスワード {spec['password']} {note}".rstrip())
    for step in DEMO_STEPS:
        await step(app)
    return lines
