"""The bulk path's mails are the mails the old composition made: template skeletons give the templates'
text byte for byte, and the wire writer's MIME parses to the same headers and parts as build_message's."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment

from db import digests as digests_db
from services.context import AppContext
from services.digests.compose import DigestTemplates, compose_digest
from services.digests.recipients import Section, load_index
from services.mail_skeleton import ContextBuilder, Plain, SkeletonTemplate, Slots
from services.mailer import OutgoingMail, WireWriter, build_message
from tests.digest_helpers import add_article, add_term, digest_member

JST = ZoneInfo("Asia/Tokyo")
START = datetime(2026, 11, 18, tzinfo=JST).astimezone(UTC)
END = datetime(2026, 11, 25, tzinfo=JST).astimezone(UTC)
NOW = datetime(2026, 11, 25, 7, 1, tzinfo=JST).astimezone(UTC)
SENDER = "つどい学会 <office@tsudoi.example.jp>"


class EveryMailTemplate(SkeletonTemplate):
    """The composition before skeletons: the template rendered for every mail."""

    def render_slots(
        self, constants: Any, slots: Slots, marked: dict[str, Any], build: ContextBuilder
    ) -> str:
        return self.template.render(build(Plain()))


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


async def digest_world(app: AppContext) -> tuple[list[Any], list[list[Section]], Any]:
    """Three members with different shapes of mail: a section with more than it lists, a section
    without, names and condition names that need escaping, an empty given name."""
    region = await add_term(app, "region", "アジア")
    ids = [
        await add_article(
            app,
            f"<速報> 貿易 & 関税 {n}",
            datetime(2026, 11, 20, 10, n, tzinfo=JST),
            [region],
            kind="event" if n % 4 == 0 else "article",
            members_only=n % 5 == 0,
            summary="海外の市場動向について、会員向けに要点をまとめました。",
            event_date="2026-12-15" if n % 4 == 0 else None,
        )
        for n in range(14)
    ]
    members = [
        await digest_member(app, "200001", family_name="山田", given_name="花子"),
        await digest_member(app, "200002", family_name="<b>O'Brien</b>", given_name="A&B"),
        await digest_member(app, "200003", family_name="佐藤", given_name=""),
    ]
    rows = await digests_db.members_for_send(app.db, members)
    plans = [
        [Section(1, "アジアの話題", tuple(ids[:10]), 4)],
        [Section(2, '条件 <"1"> & 2', tuple(ids[:3]), 0), Section(3, "二つ目", tuple(ids[3:5]), 2)],
        [Section(4, "ひとつだけ", (ids[7],), 0)],
    ]
    return [rows[m] for m in members], plans, await load_index(app, START, END)


async def test_skeletons_give_the_templates_text_byte_for_byte(app_ctx: AppContext) -> None:
    members, plans, index = await digest_world(app_ctx)
    skeletons = DigestTemplates(app_ctx)
    per_mail = DigestTemplates(app_ctx)
    per_mail.text = EveryMailTemplate(per_mail.text.template)
    per_mail.html = EveryMailTemplate(per_mail.html.template)
    for _ in range(2):  # the first mail of a shape checks its skeleton; the second uses it
        for member, sections in zip(members, plans, strict=True):
            common: dict[str, Any] = {
                "member": member,
                "kind": "weekly",
                "start": START,
                "end": END,
                "sections": sections,
                "index": index,
            }
            new = compose_digest(app_ctx, templates=skeletons, **common)
            old = compose_digest(app_ctx, templates=per_mail, **common)
            assert (new.to, new.subject, new.headers) == (old.to, old.subject, old.headers)
            assert new.text == old.text
            assert new.html == old.html
    assert len(skeletons.text._skeletons) == 3 and all(skeletons.text._skeletons.values())
    assert all(skeletons.html._skeletons.values())
    # Escaped where the template escapes: the name in the HTML part, as it is in the text part.
    second = compose_digest(app_ctx, templates=skeletons, member=members[1], kind="weekly", start=START,
                            end=END, sections=plans[1], index=index)  # fmt: skip
    assert "&lt;b&gt;O&#39;Brien&lt;/b&gt; A&amp;B 様" in (second.html or "")
    assert "<b>O'Brien</b> A&B 様" in second.text
    assert "条件 &lt;&#34;1&#34;&gt; &amp; 2" in (second.html or "")


async def test_a_template_that_computes_with_a_value_is_rendered_per_mail() -> None:
    env = Environment(autoescape=True)
    template = SkeletonTemplate(env.from_string("<p>{{ name|upper }} {{ count + 1 }} {{ url }}</p>"))

    def build(name: str, count: int) -> ContextBuilder:
        def context(slot: Slots) -> dict[str, Any]:
            return {"name": slot(name), "count": slot(count), "url": "https://example.jp/?a=1&b=2"}

        return context

    assert template.render("run", build("ab<c", 2)) == "<p>AB&lt;C 3 https://example.jp/?a=1&amp;b=2</p>"
    assert template.render("run", build("xy", 5)) == "<p>XY 6 https://example.jp/?a=1&amp;b=2</p>"
    assert list(template._skeletons.values()) == [None]  # no skeleton for it: the template renders each


async def test_wire_message_parses_like_the_generic_one(app_ctx: AppContext) -> None:
    members, plans, index = await digest_world(app_ctx)
    mail = compose_digest(
        app_ctx, member=members[0], kind="weekly", start=START, end=END, sections=plans[0], index=index
    )
    reply_to = "jimukyoku@tsudoi.example.jp"
    wire = WireWriter(SENDER, tz=JST, reply_to=reply_to).write(mail, now=NOW)
    new = parse(wire.data)
    old = parse(
        build_message(mail, sender=SENDER, now=NOW, tz=JST, reply_to=reply_to).as_bytes(
            policy=email.policy.SMTP
        )
    )

    for name in ("From", "To", "Subject", "Date", "Reply-To", "List-Unsubscribe", "List-Unsubscribe-Post",
                 "List-Id", "MIME-Version"):  # fmt: skip
        # The email package wrote the long List-Unsubscribe line as RFC 2047 words, which read back with
        # a stray leading space (and mean nothing to a mail client there); the wire form is the raw <URL>.
        assert str(new[name]) == str(old[name]).strip(), name
    assert new["Subject"] == "【集い会員ポータル】新着お知らせメール 11月18日(水)〜11月24日(火)"
    assert str(new["From"]) == SENDER
    assert new["Message-ID"] == wire.message_id and wire.message_id.endswith("@tsudoi.example.jp>")
    assert new.get_content_type() == old.get_content_type() == "multipart/alternative"
    for kind in ("plain", "html"):
        new_part, old_part = new.get_body((kind,)), old.get_body((kind,))
        assert new_part is not None and old_part is not None
        assert new_part.get_content_type() == old_part.get_content_type() == f"text/{kind}"
        assert new_part.get_content_charset() == old_part.get_content_charset() == "utf-8"
        assert new_part["Content-Transfer-Encoding"] == "base64"
        assert new_part.get_content() == old_part.get_content()
    assert "山田 花子 様" in new.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    # On the wire: 7-bit, CRLF, no line over 998; the unsubscribe link is the raw <URL> RFC 2369 and
    # RFC 8058 ask for (the email package had turned this long line into RFC 2047 words).
    assert wire.data.isascii() and b"\n" not in wire.data.replace(b"\r\n", b"")
    assert max(len(line) for line in wire.data.split(b"\r\n")) <= 998
    unsubscribe = mail.headers["List-Unsubscribe"]
    assert re.fullmatch(r"<https?://[^>]+/unsubscribe/[^>]+>", unsubscribe)
    assert f"\r\nList-Unsubscribe: {unsubscribe}\r\n".encode() in wire.data
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in wire.data
    assert b"\r\nSubject: =?utf-8?" in wire.data  # the Japanese subject as RFC 2047 words


async def test_text_only_mail_and_line_ends() -> None:
    mail = OutgoingMail(
        to="a@example.jp", subject="件名", text="一行目\r\n二行目\r最後", headers={"X-Tsudoi-Kind": "t"}
    )
    wire = WireWriter("office@tsudoi.example.jp").write(mail, now=NOW)
    new = parse(wire.data)
    old = parse(build_message(mail, sender="office@tsudoi.example.jp", now=NOW).as_bytes())
    assert new.get_content_type() == "text/plain" and not new.is_multipart()
    assert new.get_content() == old.get_content() == "一行目\n二行目\n最後\n"
    assert new["X-Tsudoi-Kind"] == "t" and new["From"] == "office@tsudoi.example.jp"
