"""Mail: Japanese multipart messages to the outbox and to a real SMTP server on loopback."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.mailer import Mailer, MailError, OutboxTransport, OutgoingMail, SmtpTransport
from services.org import OrgSettings
from services.settings import Settings
from services.templates import make_environment
from tests.helpers import free_port

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def mailer_for(transport) -> Mailer:
    return Mailer(transport, "つどい学会 <office@tsudoi.example.jp>", make_environment(Settings().tz))


async def test_smtp_delivers_japanese_text_and_html(smtp_sink):
    mailer = mailer_for(SmtpTransport(smtp_sink.url))
    mail = OutgoingMail(
        to="hanako@example.jp",
        subject="【つどい学会】お知らせ",
        text="山田 花子 様\n本文です。",
        html="<p>本文です。</p>",
    )
    message_id = await mailer.send(mail, now=NOW)
    assert len(smtp_sink.messages) == 1
    received = smtp_sink.messages[0]
    assert received["Subject"] == "【つどい学会】お知らせ"
    assert str(received["Message-ID"]).strip() == message_id
    assert received["Date"]
    assert "つどい学会" in str(received["From"])
    plain = received.get_body(preferencelist=("plain",)).get_content()
    html = received.get_body(preferencelist=("html",)).get_content()
    assert "山田 花子 様" in plain
    assert "<p>本文です。</p>" in html
    assert received.get_body(preferencelist=("plain",)).get_content_charset() == "utf-8"


async def test_smtp_server_down_raises_a_transient_mail_error():
    mailer = mailer_for(SmtpTransport(f"smtp://127.0.0.1:{free_port()}?starttls=off", timeout=2))
    with pytest.raises(MailError) as error:
        await mailer.send(OutgoingMail(to="a@example.jp", subject="件名", text="本文"), now=NOW)
    assert not error.value.permanent


async def test_permanent_smtp_refusal_is_marked_permanent(smtp_sink):
    smtp_sink.fail_next.append("550 No such user")
    mailer = mailer_for(SmtpTransport(smtp_sink.url))
    with pytest.raises(MailError) as error:
        await mailer.send(OutgoingMail(to="a@example.jp", subject="件名", text="本文"), now=NOW)
    assert error.value.permanent


async def test_outbox_writes_an_eml_file(tmp_path):
    mailer = mailer_for(OutboxTransport(tmp_path / "outbox"))
    await mailer.send(OutgoingMail(to="a@example.jp", subject="件名", text="本文"), now=NOW)
    files = list((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 1
    assert b"Subject: =?utf-8?" in files[0].read_bytes()


async def test_header_injection_in_recipient_is_refused(tmp_path):
    mailer = mailer_for(OutboxTransport(tmp_path / "outbox"))
    with pytest.raises(ValueError):
        await mailer.send(
            OutgoingMail(to="a@example.jp\r\nBcc: x@evil.example", subject="s", text="t"), now=NOW
        )


class RefusingSink:
    """An SMTP server that refuses every recipient as unknown (550)."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        return "550 5.1.1 No such user"


async def test_unknown_recipient_is_a_permanent_failure():
    from aiosmtpd.controller import Controller

    port = free_port()
    controller = Controller(RefusingSink(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mailer = mailer_for(SmtpTransport(f"smtp://127.0.0.1:{port}?starttls=off"))
        with pytest.raises(MailError) as error:
            await mailer.send(OutgoingMail(to="nobody@example.jp", subject="件名", text="本文"), now=NOW)
        assert error.value.permanent
    finally:
        controller.stop()


async def test_headers_real_servers_accept_sender_domain_message_id_reply_to_and_local_date(smtp_sink):
    mailer = Mailer(
        SmtpTransport(smtp_sink.url),
        "日本つどい学会 事務局 <no-reply@tsudoi.example.jp>",
        make_environment(Settings().tz),
        tz=Settings().tz,
        reply_to="office@tsudoi.example.jp",
    )
    await mailer.send(OutgoingMail(to="hanako@example.jp", subject="件名", text="本文"), now=NOW)
    received = smtp_sink.messages[0]
    assert received["From"].addresses[0].addr_spec == "no-reply@tsudoi.example.jp"
    assert received["From"].addresses[0].display_name == "日本つどい学会 事務局"
    assert str(received["Message-ID"]).strip().endswith("@tsudoi.example.jp>")
    assert str(received["Reply-To"]) == "office@tsudoi.example.jp"
    # 03:00 UTC is 12:00 in Tokyo: the Date header reads as the members' local time.
    assert str(received["Date"]).endswith("12:00:00 +0900")
    assert received["Date"].datetime == NOW


async def test_a_mail_with_its_own_reply_to_keeps_it_and_none_points_back_at_the_recipient(tmp_path):
    mailer = Mailer(
        OutboxTransport(tmp_path / "outbox"),
        "つどい学会 <office@tsudoi.example.jp>",
        make_environment(Settings().tz),
        reply_to="office@tsudoi.example.jp",
    )
    own = mailer.build(
        OutgoingMail(to="office@tsudoi.example.jp", subject="s", text="t", reply_to="hanako@example.jp"),
        now=NOW,
    )
    assert str(own["Reply-To"]) == "hanako@example.jp"
    to_office = mailer.build(OutgoingMail(to="office@tsudoi.example.jp", subject="s", text="t"), now=NOW)
    assert to_office["Reply-To"] is None


async def test_transport_answers_are_reported_smtp_reply_and_outbox_path(smtp_sink, tmp_path):
    mailer = mailer_for(SmtpTransport(smtp_sink.url))
    answer = await mailer.deliver_with_answer(
        mailer.build(OutgoingMail(to="a@example.jp", subject="件名", text="本文"), now=NOW)
    )
    assert f"127.0.0.1:{smtp_sink.port}" in answer and "Message accepted for delivery" in answer
    outbox_mailer = mailer_for(OutboxTransport(tmp_path / "outbox"))
    answer = await outbox_mailer.deliver_with_answer(
        outbox_mailer.build(OutgoingMail(to="a@example.jp", subject="件名", text="本文"), now=NOW)
    )
    (written,) = (tmp_path / "outbox").glob("*.eml")
    assert str(written) in answer


async def test_smtp_probe_says_ehlo_and_reports_a_closed_port(smtp_sink):
    assert "250" in await SmtpTransport(smtp_sink.url, timeout=2).probe()
    with pytest.raises(MailError):
        await SmtpTransport(f"smtp://127.0.0.1:{free_port()}", timeout=2).probe()


async def test_a_composed_mail_says_its_kind_and_the_log_names_it(tmp_path, caplog):
    mailer = mailer_for(OutboxTransport(tmp_path / "outbox"))
    org = OrgSettings(org_name="日本テスト協会", contact_email="office@example.jp")
    mail = mailer.compose(
        "test_mail", to="a@example.jp", subject="件名", context={"org": org, "at": NOW, "sender": "x"}
    )
    assert mail.headers["X-Tsudoi-Kind"] == "test_mail"
    with caplog.at_level("INFO", logger="tsudoi.mail"):
        await mailer.send(mail, now=NOW)
    assert "mail sent: kind=test_mail" in caplog.text
    assert "a@example.jp" not in caplog.text  # no address in the log
