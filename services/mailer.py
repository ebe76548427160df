"""Outgoing mail: UTF-8 multipart text+HTML, written to the outbox folder or sent over SMTP."""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import email.policy
import functools
import logging
import mimetypes
import re
import secrets
import ssl
import uuid
from collections.abc import AsyncIterator, Sequence
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


@dataclass(frozen=True, slots=True)
class WireMessage:
    """A message already in its wire form (7-bit, CRLF line ends): what the bulk path hands a transport
    instead of an EmailMessage, so no generic MIME work is done per mail (see `WireWriter`)."""

    envelope_from: str
    to: str
    message_id: str
    data: bytes


Message = EmailMessage | WireMessage


class Transport(Protocol):
    async def deliver(self, message: Message) -> str | None:
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


# ------------------------------------------------------------------------------- the bulk path

SMTP_POLICY = email.policy.SMTP
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
# A plain ASCII dot-atom address: the bulk path writes it as it is; anything else takes build_message.
PLAIN_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BASE64_LINES = re.compile(rb".{1,76}")  # 76 characters (57 bytes) a line, as the email package writes base64


@functools.lru_cache(maxsize=512)
def folded_header(name: str, value: str) -> bytes:
    """One header line exactly as the email package writes it (folded at 78, RFC 2047 words for
    non-ASCII text). Cached: a run's From, Subject and List-Id are the same in every mail."""
    if "\r" in value or "\n" in value:
        raise ValueError(f"header {name} may not contain a line break")
    folded: str = SMTP_POLICY.header_factory(name, value).fold(policy=SMTP_POLICY)
    return folded.encode("ascii")


def header_line(name: str, value: str) -> bytes:
    """A per-mail ASCII value (address, Message-ID, URL, date) goes out as it is, on one line (RFC 5322
    allows 998 characters): never as RFC 2047 words, which RFC 2369 forbids in List-Unsubscribe (the email
    package encodes a token-long unsubscribe URL that way once the line passes 78 characters)."""
    if "\r" in value or "\n" in value:
        raise ValueError(f"header {name} may not contain a line break")
    if value.isascii() and len(name) + len(value) < 990 and not _CONTROL.search(value):
        return f"{name}: {value}\r\n".encode("ascii")
    return folded_header(name, value)


def text_body(text: str) -> bytes:
    """UTF-8 with the line ends `set_content` gives (LF, and one at the end)."""
    data = text.encode("utf-8")
    if b"\r" in data:
        return b"\n".join(data.splitlines()) + b"\n"
    return data if data.endswith(b"\n") else data + b"\n"


def base64_lines(data: bytes) -> bytes:
    return b"\r\n".join(_BASE64_LINES.findall(binascii.b2a_base64(data, newline=False))) + b"\r\n"


_TEXT_PART = b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
_HTML_PART = b'Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n'


class WireWriter:
    """Writes a text (+HTML) mail straight to its wire form: the same MIME as build_message (multipart/
    alternative, UTF-8 parts, the same headers), without the email package's generic per-mail work.
    The constant headers are folded by the email package itself, once (`folded_header`); the per-mail
    ones are plain ASCII lines; both parts are base64. A mail it cannot write this way (attachments, an
    address that is not plain ASCII) goes through build_message, so nothing is ever refused here that
    the generic path would send."""

    def __init__(self, sender: str, *, tz: tzinfo | None = None, reply_to: str | None = None) -> None:
        name, address = parseaddr(sender)
        self.envelope_from = address
        self.from_line = folded_header(
            "From", formataddr((name, address), charset="utf-8") if name else address
        )
        self.domain = address.rpartition("@")[2] or "localhost"
        self.tz = tz
        self.reply_to = reply_to
        # Unique per writer; a base64 line never starts with "--", so it cannot meet a part's content.
        self._boundary = f"=_tsudoi_{secrets.token_hex(8)}"
        self._count = 0
        self._date: tuple[datetime, bytes] | None = None

    def can_write(self, mail: OutgoingMail) -> bool:
        return not mail.attachments and PLAIN_ADDRESS.fullmatch(mail.to) is not None

    def _date_line(self, now: datetime) -> bytes:
        second = now.replace(microsecond=0)  # the Date header has whole seconds
        if self._date is None or self._date[0] != second:
            moment = second.astimezone(self.tz) if self.tz is not None and second.tzinfo else second
            self._date = (second, header_line("Date", format_datetime(moment)))
        return self._date[1]

    def write(self, mail: OutgoingMail, *, now: datetime) -> WireMessage:
        message_id = make_msgid(idstring=uuid.uuid4().hex[:12], domain=self.domain)
        lines = [
            self.from_line,
            header_line("To", mail.to),
            folded_header("Subject", mail.subject),
            self._date_line(now),
            header_line("Message-ID", message_id),
        ]
        answer_to = mail.reply_to or self.reply_to
        if answer_to and answer_to.lower() != mail.to.lower():
            lines.append(folded_header("Reply-To", answer_to))
        for key, value in mail.headers.items():
            lines.append(header_line(key, value))
        lines.append(b"MIME-Version: 1.0\r\n")
        text = base64_lines(text_body(mail.text))
        if mail.html:
            self._count += 1
            boundary = f"{self._boundary}_{self._count}".encode("ascii")
            lines += [
                b'Content-Type: multipart/alternative; boundary="' + boundary + b'"\r\n\r\n',
                b"--" + boundary + b"\r\n" + _TEXT_PART,
                text,
                b"--" + boundary + b"\r\n" + _HTML_PART,
                base64_lines(text_body(mail.html)),
                b"--" + boundary + b"--\r\n",
            ]
        else:
            lines += [_TEXT_PART, text]
        return WireMessage(self.envelope_from, mail.to, message_id, b"".join(lines))


class OutboxTransport:
    """Writes each message as an .eml file: the default when no SMTP server is configured."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _write(self, message: Message) -> Path:
        # Outbox mails hold reset links: 0600 in a 0700 folder like the rest of the data folder.
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = self.folder / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        write_private(path, message.data if isinstance(message, WireMessage) else message.as_bytes())
        return path

    async def deliver(self, message: Message) -> str:
        path = await anyio.to_thread.run_sync(self._write, message)
        return f"送信サーバーが未設定のため、メールをファイルに保存しました: {path}"


class StaleConnection(Exception):
    """A kept connection the server had closed before this message's first command: nothing was sent."""


class SmtpTransport:
    """smtp://user:pass@host:587 (STARTTLS when offered), smtps://… (TLS), ?starttls=require|off.

    `deliver` opens a connection for one message (a mail now and then); `pool()` keeps several open
    for a bulk send (services/delivery.py)."""

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

    def _options(self) -> dict[str, Any]:
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
        return options

    async def connect(self) -> aiosmtplib.SMTP:
        """An open connection (STARTTLS and login done when configured; EHLO comes with the first mail)."""
        client = aiosmtplib.SMTP(**self._options())
        await client.connect()
        return client

    async def transaction(self, client: aiosmtplib.SMTP, message: Message, *, reused: bool = False) -> str:
        """One mail on an open connection; the server's answer. A 4xx/5xx answer resets the envelope
        (RSET), so the connection stays usable. On a `reused` connection, a server that hung up (or
        answered 421) at the first command raises StaleConnection: nothing of the message was sent, so
        another connection may send it."""
        if not isinstance(message, WireMessage):
            _refused, answer = await client.send_message(message)
            return answer
        try:
            await client.mail(message.envelope_from)
        except aiosmtplib.SMTPServerDisconnected as error:
            if reused:
                raise StaleConnection() from error
            raise
        except aiosmtplib.SMTPResponseException as error:
            if reused and error.code == 421:  # "closing the connection" (an idle timeout, a restart)
                raise StaleConnection() from error
            raise
        try:
            await client.rcpt(message.to)
            response = await client.data(message.data)
        except aiosmtplib.SMTPResponseException:
            with contextlib.suppress(aiosmtplib.SMTPException, ConnectionError):
                await client.rset()
            raise
        return response.message

    async def deliver(self, message: Message) -> str:
        async with _smtp_errors():
            client = await self.connect()
            try:
                answer = await self.transaction(client, message)
            finally:
                await _quit(client)
        return f"送信サーバー {self.host}:{self.port} の応答: {answer}"

    @contextlib.asynccontextmanager
    async def pool(self, connections: int) -> AsyncIterator[SmtpPool]:
        """Up to `connections` connections, each reused across messages, all closed (QUIT) at the end."""
        pool = SmtpPool(self, connections)
        try:
            yield pool
        finally:
            await pool.close()

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


@contextlib.asynccontextmanager
async def _smtp_errors() -> AsyncIterator[None]:
    """aiosmtplib's errors as MailError: a 5xx answer is permanent, the rest (4xx, network) temporary."""
    try:
        yield
    except aiosmtplib.SMTPRecipientsRefused as error:
        codes = [refusal.code for refusal in error.recipients]
        permanent = bool(codes) and all(500 <= code < 600 for code in codes)
        raise MailError(f"SMTP recipients refused: {codes}", permanent=permanent) from error
    except aiosmtplib.SMTPResponseException as error:
        raise MailError(f"SMTP {error.code}: {error.message}", permanent=500 <= error.code < 600) from error
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
        raise MailError(f"SMTP unavailable: {type(error).__name__}") from error


async def _quit(client: aiosmtplib.SMTP) -> None:
    if not client.is_connected:
        return
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        client.close()


class SmtpPool:
    """Several connections to one relay for a bulk send: a message takes a free connection (or opens
    one while fewer than `size` are open), and gives it back when the server has answered — so a run
    pays for connect, EHLO, STARTTLS and login once per connection, not once per mail. A connection the
    server closed is dropped and another opened; a message refused on a kept connection because the
    server hung up before its first command is sent once more on a new one (nothing had been sent)."""

    def __init__(self, transport: SmtpTransport, size: int) -> None:
        self.transport = transport
        self.size = max(1, size)
        self._free: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(self.size)
        self.opened = 0

    async def _open(self) -> aiosmtplib.SMTP:
        client = await self.transport.connect()
        self.opened += 1
        return client

    def _take(self) -> aiosmtplib.SMTP | None:
        while self._free:
            client = self._free.pop()
            if client.is_connected:
                return client
        return None

    def _keep(self, client: aiosmtplib.SMTP) -> None:
        if client.is_connected:
            self._free.append(client)

    async def deliver(self, message: Message) -> str:
        async with self._slots, _smtp_errors():
            client = self._take()
            reused = client is not None
            if client is None:
                client = await self._open()
            try:
                try:
                    answer = await self.transport.transaction(client, message, reused=reused)
                except StaleConnection:
                    client.close()
                    client = await self._open()
                    answer = await self.transport.transaction(client, message)
            except aiosmtplib.SMTPResponseException:
                self._keep(client)  # an answered refusal (the envelope was reset): the connection is fine
                raise
            except BaseException:
                client.close()  # anything else leaves the session in an unknown state
                raise
            self._keep(client)
        return f"送信サーバー {self.transport.host}:{self.transport.port} の応答: {answer}"

    async def close(self) -> None:
        free, self._free = self._free, []
        for client in free:
            await _quit(client)


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
        # The kind (the template's name) is logged when the mail is sent; no personal data in it.
        extra["headers"] = {"X-Tsudoi-Kind": template, **extra.get("headers", {})}
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

    @contextlib.asynccontextmanager
    async def bulk(self, connections: int = 1) -> AsyncIterator[BulkSender]:
        """For a run of many mails (services/delivery.py): each written straight to its wire form
        (WireWriter) and sent over up to `connections` kept SMTP connections (SmtpPool)."""
        writer = WireWriter(self.sender, tz=self.tz, reply_to=self.reply_to)
        if isinstance(self.transport, SmtpTransport):
            async with self.transport.pool(connections) as pool:
                yield BulkSender(self, writer, pool)
        else:
            yield BulkSender(self, writer, self.transport)


class BulkSender:
    """What a bulk run sends through: `Mailer.bulk()` makes one per run."""

    def __init__(self, mailer: Mailer, writer: WireWriter, transport: Transport) -> None:
        self.mailer = mailer
        self.writer = writer
        self.transport = transport

    def write(self, mail: OutgoingMail, *, now: datetime) -> Message:
        """The wire form; build_message for what the writer does not take (attachments, odd addresses)."""
        if self.writer.can_write(mail):
            return self.writer.write(mail, now=now)
        return self.mailer.build(mail, now=now)

    async def send(self, mail: OutgoingMail, *, now: datetime) -> str:
        """Deliver one message; returns its Message-ID. Raises MailError when the transport refuses."""
        message = self.write(mail, now=now)
        await self.transport.deliver(message)
        return message.message_id if isinstance(message, WireMessage) else str(message["Message-ID"])
