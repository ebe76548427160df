"""Demo articles: a realistic region/topic taxonomy, 220 articles over the last 60 days, events, conditions."""

from __future__ import annotations

import random
from datetime import timedelta

from db import articles as article_queries
from db import conditions as condition_queries
from db import members as member_queries
from db import taxonomy as taxonomy_queries
from db.articles import ArticleData
from services.context import AppContext
from services.markdown import render_markdown

DEMO_GUID = "tsudoi-demo:"
ARTICLE_COUNT = 220
DAYS = 60

REGIONS: list[tuple[str, str, list[tuple[str, str]]]] = [
    (
        "asia",
        "アジア",
        [
            ("china", "中国"),
            ("korea", "韓国"),
            ("taiwan", "台湾"),
            ("hong-kong", "香港"),
            ("vietnam", "ベトナム"),
            ("thailand", "タイ"),
            ("indonesia", "インドネシア"),
            ("philippines", "フィリピン"),
            ("singapore", "シンガポール"),
            ("malaysia", "マレーシア"),
            ("india", "インド"),
        ],
    ),
    ("north-america", "北米", [("us", "米国"), ("canada", "カナダ"), ("mexico", "メキシコ")]),
    (
        "europe",
        "欧州",
        [
            ("uk", "英国"),
            ("germany", "ドイツ"),
            ("france", "フランス"),
            ("italy", "イタリア"),
            ("netherlands", "オランダ"),
            ("poland", "ポーランド"),
        ],
    ),
    ("latin-america", "中南米", [("brazil", "ブラジル"), ("chile", "チリ"), ("peru", "ペルー")]),
    (
        "middle-east-africa",
        "中東・アフリカ",
        [
            ("uae", "アラブ首長国連邦"),
            ("saudi-arabia", "サウジアラビア"),
            ("turkey", "トルコ"),
            ("south-africa", "南アフリカ"),
            ("kenya", "ケニア"),
        ],
    ),
    ("oceania", "オセアニア", [("australia", "オーストラリア"), ("new-zealand", "ニュージーランド")]),
]

TOPICS: list[tuple[str, str]] = [
    ("trade-policy", "通商政策"),
    ("investment", "投資"),
    ("regulation", "規制・制度"),
    ("market-trends", "市場動向"),
    ("economic-security", "経済安全保障"),
    ("supply-chain", "サプライチェーン"),
    ("energy", "脱炭素・エネルギー"),
    ("digital", "デジタル"),
    ("labor", "労働・人材"),
    ("events", "イベント"),
]

TITLES: dict[str, list[str]] = {
    "trade-policy": [
        "{c}、{item}に対する追加関税措置を発表",
        "{c}とのEPA交渉、第{n}回会合が終了",
        "{c}政府、輸出管理の対象品目を拡大",
        "{c}、原産地規則の運用を見直し",
    ],
    "investment": [
        "{c}への直接投資、上期は前年比{p}%増",
        "{c}で日系企業の工場新設が相次ぐ",
        "{c}、外資誘致へ新たな税制優遇を導入",
        "{c}の経済特区、{item}分野の企業誘致を強化",
    ],
    "regulation": [
        "{c}、個人情報保護法の改正案を公表",
        "{c}で{item}の製品安全規制が{m}月から施行",
        "{c}の会社法改正、外国企業への影響を整理",
        "{c}、輸入許可手続きをオンライン化",
    ],
    "market-trends": [
        "{c}の{item}市場、拡大続く",
        "{c}の消費者物価、{m}月は{p}%上昇",
        "{c}の小売売上高、堅調に推移",
        "{c}の{item}需要、年末に向け回復傾向",
    ],
    "economic-security": [
        "{c}、重要鉱物の供給確保へ新戦略",
        "{c}で先端半導体の輸出規制が強化",
        "{c}、重要インフラへの外資審査を厳格化",
    ],
    "supply-chain": [
        "{c}の港湾混雑が緩和、物流コストが低下",
        "サプライチェーン再編で{c}へ生産移管の動き",
        "{c}で{item}部品の調達先多様化が進む",
    ],
    "energy": [
        "{c}、再生可能エネルギーの導入目標を引き上げ",
        "{c}で水素関連プロジェクトが始動",
        "{c}の炭素国境調整、{item}業界への影響",
    ],
    "digital": [
        "{c}の電子商取引市場が急成長",
        "{c}、データ越境移転の新ルールを導入",
        "{c}でキャッシュレス決済の利用が拡大",
    ],
    "labor": [
        "{c}の最低賃金、{p}%引き上げへ",
        "{c}で就労ビザの要件が変更",
        "{c}の人材不足、{item}分野で深刻化",
    ],
}
ITEMS = ["半導体", "電気自動車", "鉄鋼", "医療機器", "食品", "化粧品", "蓄電池", "工作機械", "繊維", "家電"]

EVENTS = [
    ("アジア通商政策セミナー（{y}年度 第{n}回）", "asia", "trade-policy", "本部会議室（東京都千代田区）"),
    ("米国市場の最新動向 オンライン説明会", "us", "market-trends", "オンライン（Zoom）"),
    ("欧州の規制対応ワークショップ", "europe", "regulation", "大阪会場（大阪市北区）"),
    ("ベトナム投資環境視察ツアー説明会", "vietnam", "investment", "オンライン（Teams）"),
    ("経済安全保障と企業実務 勉強会", "china", "economic-security", "本部会議室（東京都千代田区）"),
    ("インド進出企業 交流会", "india", "investment", "名古屋会場（名古屋市中村区）"),
    ("脱炭素と国際取引 シンポジウム", "germany", "energy", "オンライン（Zoom）"),
]

DEMO_CONDITIONS = [
    ("アジアの通商政策", ["asia"], ["trade-policy"]),
    ("米国の市場動向", ["us"], ["market-trends"]),
    ("欧州の規制・制度", ["europe"], ["regulation"]),
]


def _body(title: str, country: str, topic: str, item: str) -> str:
    return (
        f"{country}で、{topic}に関する新しい動きがありました。\n\n"
        f"## 概要\n\n{title}。現地の報道と関係機関の発表によると、{item}分野を中心に影響が見込まれます。\n\n"
        "## 日本企業への影響\n\n"
        f"- {country}に拠点を持つ企業は、取引条件や手続きの変更を確認してください。\n"
        "- 詳細な運用は今後公表される予定です。\n"
        "- 事務局では引き続き情報を収集し、会員の皆さまにお知らせします。\n\n"
        "ご不明な点は事務局までお問い合わせください。\n"
    )


async def _ensure_terms(app: AppContext) -> dict[str, int]:
    existing = {
        (str(r["taxonomy"]), str(r["slug"])): int(r["id"]) for r in await taxonomy_queries.all_terms(app.db)
    }
    ids: dict[str, int] = {}

    async def ensure(taxonomy: str, slug: str, name: str, parent: int | None, order: int) -> int:
        found = existing.get((taxonomy, slug))
        if found is None:
            found = await taxonomy_queries.create_term(
                app.db, taxonomy=taxonomy, name=name, slug=slug, parent_id=parent, sort_order=order
            )
        ids[slug] = found
        return found

    for order, (slug, name, children) in enumerate(REGIONS):
        root = await ensure("region", slug, name, None, order * 10)
        for child_order, (child_slug, child_name) in enumerate(children):
            await ensure("region", child_slug, child_name, root, child_order)
    for order, (slug, name) in enumerate(TOPICS):
        await ensure("topic", slug, name, None, order)
    return ids


async def load_article_demo(app: AppContext) -> None:
    """Idempotent: terms by slug, articles by a stable guid, conditions only for a member without any."""
    ids = await _ensure_terms(app)
    now = app.clock.now()
    # Demo content, not security: a fixed seed keeps the demo the same on every machine.
    rng = random.Random(20261123)  # noqa: S311  # nosec B311
    countries = [(slug, name) for _, _, children in REGIONS for slug, name in children]
    planned: list[tuple[str, ArticleData, list[int]]] = []
    topics = [t for t in TOPICS if t[0] != "events"]
    for n in range(ARTICLE_COUNT):
        country_slug, country = rng.choice(countries)
        topic_slug, topic = rng.choice(topics)
        item = rng.choice(ITEMS)
        title = rng.choice(TITLES[topic_slug]).format(
            c=country, item=item, n=rng.randint(2, 9), p=rng.randint(2, 18), m=rng.randint(1, 12)
        )
        term_ids = [ids[country_slug], ids[topic_slug]]
        if rng.random() < 0.25:
            term_ids.append(ids[rng.choice(topics)[0]])
        age = timedelta(minutes=rng.randint(30, DAYS * 24 * 60))
        data = ArticleData(
            kind="article",
            status="published",
            title=title,
            summary=f"{country}の{topic}に関する最新情報です。{item}分野を中心に、日本企業への影響をまとめました。",
            body_md=(body := _body(title, country, topic, item)),
            body_html=render_markdown(body),
            external_url="",
            published_at=now - age,
            members_only=n % 15 == 7,
            event_date=None,
            event_place="",
            application_url="",
        )
        planned.append((f"{DEMO_GUID}article-{n:03d}", data, sorted(set(term_ids))))
    for n, (title, region, topic, place) in enumerate(EVENTS):
        event_date = (now + timedelta(days=7 + n * 6)).replace(hour=5, minute=0, second=0, microsecond=0)
        name = title.format(y=now.year, n=n + 1)
        body = (
            f"{name}を開催します。\n\n## プログラム\n\n1. 開会のあいさつ\n2. 講演（60分）\n3. 質疑応答\n\n"
            "参加は「有料会員」プランの方に限ります。定員に達し次第締め切ります。\n"
        )
        data = ArticleData(
            kind="event",
            status="published",
            title=name,
            summary=f"{place}で開催します。お早めにお申し込みください。",
            body_md=body,
            body_html=render_markdown(body),
            external_url="",
            published_at=now - timedelta(days=2 + n * 4, hours=3),
            members_only=False,
            event_date=event_date,
            event_place=place,
            application_url=f"https://www.example.jp/events/apply?id={n + 1}",
        )
        planned.append((f"{DEMO_GUID}event-{n:02d}", data, [ids[region], ids[topic], ids["events"]]))
    have = await article_queries.feed_guids(app.db, [guid for guid, _, _ in planned])
    for guid, data, term_ids in planned:
        if guid not in have:
            await article_queries.create_article(app.db, data, term_ids, now=now, feed_guid=guid)
    member = await member_queries.get_by_number(app.db, "001234")
    if member is not None and await condition_queries.count_for_member(app.db, int(member["id"])) == 0:
        for name, regions, topic_slugs in DEMO_CONDITIONS:
            await condition_queries.create(
                app.db,
                int(member["id"]),
                name,
                [ids[s] for s in [*regions, *topic_slugs]],
                now=now,
                limit=10,
            )
