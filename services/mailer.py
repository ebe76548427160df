"""Outgoing mail: UTF-8 multipart text+HTML, written to the outbox folder or sent over SMTP."""

from __future__ import annotations

import logging
import mimetypes
import ssl
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
import anyio.to_thread
from jinja2 import Environment

from services.private_files import write_private

log = logging.getLogger("tsudoi.mail")


@dataclass
class Attachment:
    filename: str
    content: bytes
    content_type: str = ""


@dataclass
class OutgoingMail:
    to: str
    subject: str
    text: str
    html: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    attachments: Sequence[Attachment] = ()
    reply_to: str | None = None


class MailError(Exception):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Transport(Protocol):
    async def deliver(self, message: EmailMessage) -> str | None:
        """Hand the message on; returns what the other side answered (SMTP reply, outbox file), if anything."""
        ...


def build_message(
    mail: OutgoingMail,
    *,
    sender: str,
    now: datetime,
    tz: tzinfo | None = None,
    reply_to: str | None = None,
) -> EmailMessage:
    """Date in the organization's time zone (what members see), Message-ID on the sender's own domain
    (receiving servers score a foreign or 'localhost' Message-ID as spam)."""
    message = EmailMessage()
    name, address = parseaddr(sender)
    message["From"] = formataddr((name, address), charset="utf-8") if name else address
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(now.astimezone(tz) if tz is not None and now.tzinfo else now)
    domain = address.rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(idstring=uuid.uuid4().hex[:12], domain=domain)
    answer_to = mail.reply_to or reply_to
    if answer_to and answer_to.lower() != mail.to.lower():
        message["Reply-To"] = answer_to
    for key, value in mail.headers.items():
        message[key] = value
    message.set_content(mail.text, charset="utf-8")
    if mail.html:
        message.add_alternative(mail.html, subtype="html", charset="utf-8")
    for attachment in mail.attachments:
        content_type = attachment.content_type or mimetypes.guess_type(attachment.filename)[0]
        maintype, _, subtype = (content_type or "application/octet-stream").partition("/")
        message.add_attachment(
            attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    return message


class OutboxTransport:
    """Writes each message as an .eml file: the default when no SMTP server is configured."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _write(self, message: EmailMessage) -> Path:
        # Outbox mails hold reset links: 0600 in a 0700 folder like the rest of the data folder.
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = self.folder / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        write_private(path, message.as_bytes())
        return path

    async def deliver(self, message: EmailMessage) -> str:
        path = await anyio.to_thread.run_sync(self._write, message)
        return f"送信サーバーが未設定のため、メールをファイルに保存しました: {path}"


class SmtpTransport:
    """smtp://user:pass@host:587 (STARTTLS when offered), smtps://… (TLS), ?starttls=require|off."""

    def __init__(self, url: str, timeout: float = 20.0) -> None:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        self.use_tls = parts.scheme == "smtps"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (465 if self.use_tls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        starttls = (query.get("starttls") or [""])[0]
        self.start_tls: bool | None = {"require": True, "off": False}.get(starttls)
        self.timeout = timeout

    async def deliver(self, message: EmailMessage) -> str:
        options: dict[str, Any] = {
            "hostname": self.host,
            "port": self.port,
            "use_tls": self.use_tls,
            "start_tls": self.start_tls,
            "timeout": self.timeout,
        }
        if self.use_tls or self.start_tls:
            options["tls_context"] = ssl.create_default_context()
        if self.username:
            options["username"] = self.username
            options["password"] = self.password or ""
        try:
            _refused, answer = await aiosmtplib.send(message, **options)
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = [refusal.code for refusal in error.recipients]
            permanent = bool(codes) and all(500 <= code < 600 for code in codes)
            raise MailError(f"SMTP recipients refused: {codes}", permanent=permanent) from error
        except aiosmtplib.SMTPResponseException as error:
            raise MailError(
                f"SMTP {error.code}: {error.message}", permanent=500 <= error.code < 600
            ) from error
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise MailError(f"SMTP unavailable: {type(error).__name__}") from error
        return f"送信サーバー {self.host}:{self.port} の応答: {answer}"

    async def probe(self) -> str:
        """Connect and say EHLO (the go-live check): the server's greeting, or MailError."""
        client = aiosmtplib.SMTP(
            hostname=self.host, port=self.port, use_tls=self.use_tls, start_tls=False, timeout=self.timeout
        )
        try:
            await client.connect()
            response = await client.ehlo()
            await client.quit()
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise MailError(f"{self.host}:{self.port} に接続できません（{type(error).__name__}）") from error
        first = response.message.splitlines()[0] if response.message else ""
        return f"{self.host}:{self.port} が応答しました（{response.code} {first}）"


def make_transport(smtp_url: str | None, outbox: Path) -> Transport:
    return SmtpTransport(smtp_url) if smtp_url else OutboxTransport(outbox)


class Mailer:
    def __init__(
        self,
        transport: Transport,
        sender: str,
        templates: Environment,
        *,
        tz: tzinfo | None = None,
        reply_to: str | None = None,
    ) -> None:
        self.transport = transport
        self.sender = sender
        self.templates = templates
        self.tz = tz
        # The organization's contact address: what a member's "reply" reaches (the sender may not read mail).
        self.reply_to = reply_to

    def render(self, template: str, context: dict[str, Any]) -> tuple[str, str | None]:
        """views/mail/<template>.txt and, when present, .html."""
        text = self.templates.get_template(f"mail/{template}.txt").render(context)
        try:
            html: str | None = self.templates.get_template(f"mail/{template}.html").render(context)
        except Exception as error:  # jinja2 raises TemplateNotFound for a text-only mail
            if type(error).__name__ != "TemplateNotFound":
                raise
            html = None
        return text, html

    def compose(
        self, template: str, *, to: str, subject: str, context: dict[str, Any], **extra: Any
    ) -> OutgoingMail:
        text, html = self.render(template, {**context, "subject": subject})
        return OutgoingMail(to=to, subject=subject, text=text, html=html, **extra)

    def build(self, mail: OutgoingMail, *, now: datetime) -> EmailMessage:
        Address(addr_spec=mail.to)  # refuse header injection and malformed recipients early
        return build_message(mail, sender=self.sender, now=now, tz=self.tz, reply_to=self.reply_to)

    async def deliver(self, message: EmailMessage) -> str:
        await self.deliver_with_answer(message)
        return str(message["Message-ID"])

    async def deliver_with_answer(self, message: EmailMessage) -> str:
        """Deliver and return the transport's answer (the SMTP server's reply, or the outbox file)."""
        answer = await self.transport.deliver(message)
        log.info("mail sent: kind=%s", message.get("X-Tsudoi-Kind", ""))
        return answer or ""

    async def send(self, mail: OutgoingMail, *, now: datetime) -> str:
        """Deliver one message; returns its Message-ID. Raises MailError when the transport refuses."""
        return await self.deliver(self.build(mail, now=now))
