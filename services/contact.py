"""Contact inquiries: validation, the screenshot check, the spam guard, storing first and mailing after."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import sqlite3
import time
import unicodedata
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import anyio
import anyio.to_thread
from PIL import Image, ImageOps, UnidentifiedImageError

from db import audit
from db import inquiries as inquiry_queries
from db.inquiries import NewAttachment
from services.context import AppContext
from services.japanese import normalize_email, normalize_member_number
from services.mailer import Attachment
from services.notify import send_mail
from services.private_files import open_private, private_dir
from services.rate_limit import RATE_LIMITED_MESSAGE, Limit, allow
from services.tokens import TokenInvalid, make_token, read_token

log = logging.getLogger("tsudoi.contact")

CATEGORIES: dict[str, str] = {
    "service": "マイページのサービス内容",
    "signup": "登録方法",
    "login": "ログイン",
    "fee": "会費",
    "leaving": "退会のご希望",
    "other": "その他",
}
STATUS_LABELS: dict[str, str] = {"new": "未対応", "in_progress": "対応中", "done": "対応済み"}
# The same states as the member reads them on /inquiries.
MEMBER_STATUS_LABELS: dict[str, str] = {"new": "受付済", "in_progress": "対応中", "done": "回答済"}

FIELDS = ("category", "name", "email", "member_number", "subject", "message")
MAX_LENGTHS = {"name": 60, "email": 254, "member_number": 20, "subject": 100, "message": 4000}
# Read a little more than allowed so an over-long value is reported, not silently cut.
RAW_LIMITS = {
    "category": 40,
    "name": 400,
    "email": 400,
    "member_number": 100,
    "subject": 600,
    "message": 20_000,
}

MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
# A phone screenshot is about 4 million pixels, a 5K display 15 million; more is not a screenshot, and a
# small file that decodes to a huge image (a decompression bomb) must not exhaust the server's memory.
MAX_PIXELS = 40_000_000
MAX_SIDE = 12_000
CHUNK_SIZE = 64 * 1024
_STORED_NAME = re.compile(r"^[0-9a-f]{32}\.(png|jpg)$")
_FORM_ID = re.compile(r"^[0-9a-f]{32}$")
_PENDING_MAX_AGE = timedelta(days=1)

HONEYPOT_FIELD = "website_url"
FORM_TOKEN_FIELD = "form_started"
ATTACHMENT_REMOVE_FIELD = "attachment_remove"
# Nobody reads the guidance and types a useful inquiry in under three seconds; scripts do.
MIN_FILL_SECONDS = 3
_FORM_MAX_AGE_SECONDS = 30 * 86400
IP_LIMIT = Limit("contact-ip", 10, timedelta(hours=1))
EMAIL_LIMIT = Limit("contact-email", 5, timedelta(hours=1))

KEPT_NOTE = "入力内容はそのまま残っています。内容をご確認のうえ、もう一度「送信する」を押してください。"
HONEYPOT_MESSAGE = "自動送信の可能性があるため、送信を受け付けられませんでした。" + KEPT_NOTE
TOO_FAST_MESSAGE = "入力から送信までの時間が短すぎたため、送信を受け付けられませんでした。" + KEPT_NOTE
STALE_FORM_MESSAGE = "ページの読み込みが完了していないか、有効期限が切れていました。" + KEPT_NOTE

ATTACHMENT_TOO_BIG = "画像のファイルサイズが5MBを超えています。5MB以下の画像を選んでください（スクリーンショットの範囲を小さくすると軽くなります）。"
ATTACHMENT_WRONG_TYPE = (
    "添付できるのはPNGまたはJPEG形式の画像だけです。画面のスクリーンショットを選んでください。"
)
ATTACHMENT_EMPTY = "選ばれたファイルが空でした。もう一度画像を選んでください。"
ATTACHMENT_DIMENSIONS = "画像の縦横の大きさが大きすぎます。画面のスクリーンショットを選んでください。"
STORAGE_FULL_MESSAGE = "サーバーの保存領域が不足しているため、お問い合わせを保存できませんでした。入力内容はそのまま残っています。お手数ですが、しばらくしてからもう一度お試しいただくか、メールでご連絡ください。"


class AttachmentRefused(Exception):
    """The uploaded file is not a PNG/JPEG screenshot we accept; the message says why, in Japanese."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StorageFull(Exception):
    """The disk (or the database) is full: nothing was stored."""


class Upload(Protocol):
    """What the route hands over: Litestar's UploadFile fits."""

    filename: str

    async def read(self, size: int = -1) -> bytes: ...


@dataclass(frozen=True)
class PreparedAttachment:
    """A checked, re-encoded image waiting in attachments/.incoming until the inquiry is stored."""

    temp_name: str
    original_name: str
    content_type: str
    size: int
    width: int
    height: int
    sha256: str


# ---------------------------------------------------------------- validation


def _clean_text(value: str, *, multiline: bool) -> str:
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    allowed = {"\n", "\t"} if multiline else set()
    value = "".join(ch for ch in value if ch in allowed or unicodedata.category(ch) not in {"Cc", "Cs"})
    return value.strip() if not multiline else value.strip("\n ").rstrip()


def clean_inquiry(raw: dict[str, str], *, member: Any = None) -> tuple[dict[str, str], dict[str, str]]:
    """The values to store (or to show again) and a Japanese error per field."""
    values = {key: raw.get(key, "") for key in FIELDS}
    errors: dict[str, str] = {}

    if values["category"] not in CATEGORIES:
        values["category"] = ""
        errors["category"] = "お問い合わせの種類を選んでください。"

    values["name"] = _clean_text(values["name"], multiline=False)
    if not values["name"]:
        errors["name"] = "お名前を入力してください。"
    elif len(values["name"]) > MAX_LENGTHS["name"]:
        errors["name"] = f"お名前は{MAX_LENGTHS['name']}文字以内で入力してください。"

    email = normalize_email(values["email"], required=True)
    if email.error:
        values["email"] = values["email"].strip()
        errors["email"] = email.error
    else:
        values["email"] = email.value

    if member is not None:
        # A logged-in member's number is known; the form shows it fixed and a changed value is ignored.
        values["member_number"] = str(member["member_number"])
    else:
        typed = values["member_number"].strip()
        if typed:
            number = normalize_member_number(typed)
            if number is None:
                values["member_number"] = typed
                errors["member_number"] = (
                    "会員番号は数字だけで入力してください（わからない場合は空欄のままで構いません）。"
                )
            else:
                values["member_number"] = number
        else:
            values["member_number"] = ""

    values["subject"] = _clean_text(values["subject"], multiline=False)
    if not values["subject"]:
        errors["subject"] = "件名を入力してください。"
    elif len(values["subject"]) > MAX_LENGTHS["subject"]:
        errors["subject"] = (
            f"件名は{MAX_LENGTHS['subject']}文字以内で入力してください（現在{len(values['subject'])}文字）。"
        )

    values["message"] = _clean_text(values["message"], multiline=True)
    if not values["message"].strip():
        errors["message"] = "お問い合わせ内容を入力してください。"
    elif len(values["message"]) > MAX_LENGTHS["message"]:
        errors["message"] = (
            f"お問い合わせ内容は{MAX_LENGTHS['message']}文字以内で入力してください"
            f"（現在{len(values['message'])}文字）。長くなる場合は要点をまとめてください。"
        )
    return values, errors


# ---------------------------------------------------------------- spam guard


@dataclass(frozen=True)
class FormState:
    """The signed form token of one contact form: when it was first shown and the id its pending screenshot
    is kept under. Every re-display carries the same token, so the fill time counts from the first display."""

    token: str
    form_id: str
    started_at: datetime
    problem: str | None = None  # STALE_FORM_MESSAGE when the posted token was missing, forged or too old


def _new_form_id() -> str:
    return secrets.token_hex(16)


def form_token(secret_key: str, *, now: datetime, form_id: str | None = None) -> str:
    """A signed timestamp for the hidden field: when the form was first shown, and the form's id."""
    return make_token(secret_key, "contact-form", {"f": form_id or _new_form_id()}, now=now)


def new_form(secret_key: str, *, now: datetime) -> FormState:
    form_id = _new_form_id()
    return FormState(form_token(secret_key, now=now, form_id=form_id), form_id, now)


def read_form(secret_key: str, token: str, *, now: datetime) -> FormState:
    """The posted form's state; a missing or invalid token starts a new form (and says why)."""
    try:
        payload = read_token(
            secret_key, "contact-form", token, max_age_seconds=_FORM_MAX_AGE_SECONDS, now=now
        )
    except TokenInvalid:
        return replace(new_form(secret_key, now=now), problem=STALE_FORM_MESSAGE)
    started_at = datetime.fromtimestamp(int(payload["iat"]), tz=UTC)
    form_id = payload.get("f")
    if isinstance(form_id, str) and _FORM_ID.match(form_id):
        return FormState(token, form_id, started_at)
    # A token from before forms had ids: keep its start time, give it an id.
    form_id = _new_form_id()
    return FormState(form_token(secret_key, now=started_at, form_id=form_id), form_id, started_at)


def spam_check(
    raw: dict[str, str], *, secret_key: str, now: datetime, form: FormState | None = None
) -> str | None:
    """A message when the post looks automated (honeypot filled, filled too fast, no valid form time)."""
    if raw.get(HONEYPOT_FIELD, "").strip():
        return HONEYPOT_MESSAGE
    form = form or read_form(secret_key, raw.get(FORM_TOKEN_FIELD, ""), now=now)
    if form.problem:
        return form.problem
    if (now - form.started_at).total_seconds() < MIN_FILL_SECONDS:
        return TOO_FAST_MESSAGE
    return None


# The guide's bad example and its look-alikes: they say something is wrong, not what or where.
_VAGUE_MESSAGES = frozenset(
    {
        "ログインできない",
        "ログインできません",
        "ログイン出来ない",
        "ログイン出来ません",
        "ログインができない",
        "ログインができません",
        "ログインしたい",
        "エラー",
        "エラーが出る",
        "エラーが出ます",
        "エラーになる",
        "エラーになります",
        "使えない",
        "使えません",
        "動かない",
        "動きません",
        "見られない",
        "見られません",
        "見れない",
        "見れません",
        "表示されない",
        "表示されません",
        "できない",
        "できません",
        "わからない",
        "わかりません",
        "分からない",
        "分かりません",
        "不具合",
        "困っています",
    }
)
_VAGUE_SUBJECTS = frozenset(
    {"質問", "ご質問", "至急", "お願い", "エラー", "不具合", "お問い合わせ", "困っています"}
)
_NUDGE_TRIM = re.compile(r"[。、．，,.!！?？…〜~]+$")

NUDGE_MESSAGE = (
    "「{text}」だけですと、担当者が状況を確かめるのに時間がかかってしまいます。"
    "何が起きたか（表示されたメッセージなど）と、どの画面で何をしたときかを書き足していただけますか。"
    "このままでよろしければ、もう一度「送信する」を押してください。"
)
NUDGE_SUBJECT = (
    "件名は、内容がひと目でわかるように書いていただけると助かります（例：ログイン画面で「パスワードが間違っています」と表示される）。"
    "このままでよろしければ、もう一度「送信する」を押してください。"
)
NUDGE_FIELD = "nudged"


def _plain(text: str) -> str:
    flat = _NUDGE_TRIM.sub("", "".join(unicodedata.normalize("NFKC", text).split()))
    return flat.removesuffix("です") if flat.endswith(("ないです", "ませんです")) else flat


def nudges(values: dict[str, str]) -> dict[str, str]:
    """Gentle notes (not errors) when the subject or the message is one of the guide's bad examples."""
    notes: dict[str, str] = {}
    message = _plain(values.get("message", ""))
    subject = _plain(values.get("subject", ""))
    if message and (message in _VAGUE_MESSAGES or message == subject):
        notes["message"] = NUDGE_MESSAGE.format(text=values["message"].strip()[:40])
    if subject and subject in _VAGUE_SUBJECTS:
        notes["subject"] = NUDGE_SUBJECT
    return notes


async def rate_limited(ctx: AppContext, *, ip: str, email: str, now: datetime) -> str | None:
    """Per IP and per sender address; the limits are far above what a person sends in an hour."""
    ip_ok = await allow(ctx.db, IP_LIMIT, ip or "unknown", now=now)
    email_ok = await allow(ctx.db, EMAIL_LIMIT, email.lower(), now=now)
    if ip_ok and email_ok:
        return None
    return f"{RATE_LIMITED_MESSAGE} お急ぎの場合は {ctx.org.contact_email} へメールでご連絡ください。"


# ---------------------------------------------------------------- attachments


def attachments_dir(ctx: AppContext) -> Path:
    return ctx.settings.data_dir / "attachments"


def _incoming_dir(ctx: AppContext) -> Path:
    return attachments_dir(ctx) / ".incoming"


def safe_filename(name: str, content_type: str) -> str:
    """The sender's file name without folders or control characters, with the extension of its real type."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C" and ch not in '<>:"|?*')
    stem = base.rsplit(".", 1)[0].strip(" .") if "." in base else base.strip(" .")
    stem = stem[:80] or "screenshot"
    return f"{stem}.{'png' if content_type == 'image/png' else 'jpg'}"


def _is_disk_full(error: BaseException) -> bool:
    if isinstance(error, OSError):
        return True
    return isinstance(error, sqlite3.OperationalError) and "full" in str(error).lower()


async def receive_upload(ctx: AppContext, upload: Upload) -> Path:
    """Copy the upload to a temporary file in chunks, refusing it as soon as it passes 5 MB."""
    folder = _incoming_dir(ctx)
    temp = folder / f"{secrets.token_hex(16)}.part"
    total = 0
    try:
        await anyio.to_thread.run_sync(private_dir, folder)
        fd = await anyio.to_thread.run_sync(lambda: open_private(temp, exclusive=True))
        async with await anyio.open_file(fd, "wb") as out:
            while True:
                chunk = await upload.read(CHUNK_SIZE)
                if not chunk:
                    break
                total += len(chunk)
                if total > MAX_ATTACHMENT_BYTES:
                    raise AttachmentRefused(ATTACHMENT_TOO_BIG)
                await out.write(chunk)
    except AttachmentRefused:
        await anyio.Path(temp).unlink(missing_ok=True)
        raise
    except OSError as error:
        await anyio.Path(temp).unlink(missing_ok=True)
        log.error("could not receive an attachment: %s", type(error).__name__)
        raise StorageFull() from error
    if total == 0:
        await anyio.Path(temp).unlink(missing_ok=True)
        raise AttachmentRefused(ATTACHMENT_EMPTY)
    return temp


def reencode_image(source: Path, original_name: str) -> PreparedAttachment:
    """Check the file by its content and write a fresh copy without metadata (EXIF, GPS, comments, ICC).
    The source file is removed either way. Blocking (Pillow): call it through anyio.to_thread.run_sync.
    """
    try:
        return _reencode(source, original_name)
    finally:
        source.unlink(missing_ok=True)


def _reencode(source: Path, original_name: str) -> PreparedAttachment:
    try:
        # formats= keeps Pillow from even trying the parsers of other formats.
        with Image.open(source, formats=["PNG", "JPEG"]) as probe:
            kind = probe.format
            width, height = probe.size
            if width * height > MAX_PIXELS or max(width, height) > MAX_SIDE:
                raise AttachmentRefused(ATTACHMENT_DIMENSIONS)
            probe.verify()
        with Image.open(source, formats=["PNG", "JPEG"]) as opened:
            opened.load()
            image = ImageOps.exif_transpose(opened)
    except AttachmentRefused:
        raise
    except Image.DecompressionBombError as error:
        raise AttachmentRefused(ATTACHMENT_DIMENSIONS) from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise AttachmentRefused(ATTACHMENT_WRONG_TYPE) from error

    if kind == "PNG":
        if image.mode == "P":
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        elif image.mode not in {"1", "L", "LA", "RGB", "RGBA"}:
            image = image.convert("RGBA")
        content_type, extension = "image/png", "png"
        options: dict[str, Any] = {"format": "PNG"}
    else:
        if image.mode not in {"L", "RGB"}:
            image = image.convert("RGB")
        content_type, extension = "image/jpeg", "jpg"
        options = {"format": "JPEG", "quality": 92}
    # Everything Pillow carried over from the original (ICC profile, comments, text chunks) goes.
    image.info = {}

    temp_name = f"{secrets.token_hex(16)}.{extension}"
    target = source.parent / temp_name
    digest = hashlib.sha256()
    try:
        with os.fdopen(open_private(target, exclusive=True), "wb") as out:
            image.save(out, **options)
            out.flush()
            os.fsync(out.fileno())
        with open(target, "rb") as saved:
            for block in iter(lambda: saved.read(CHUNK_SIZE), b""):
                digest.update(block)
        size = target.stat().st_size
    except OSError as error:
        target.unlink(missing_ok=True)
        raise StorageFull() from error
    return PreparedAttachment(
        temp_name=temp_name,
        original_name=safe_filename(original_name, content_type),
        content_type=content_type,
        size=size,
        width=image.width,
        height=image.height,
        sha256=digest.hexdigest(),
    )


async def prepare_attachment(ctx: AppContext, upload: Upload) -> PreparedAttachment:
    """Stream, check and re-encode an upload (off the event loop). Raises AttachmentRefused or StorageFull."""
    temp = await receive_upload(ctx, upload)
    try:
        return await anyio.to_thread.run_sync(reencode_image, temp, upload.filename or "")
    finally:
        await anyio.Path(temp).unlink(missing_ok=True)


async def keep_pending(ctx: AppContext, form_id: str, prepared: PreparedAttachment) -> None:
    """Keep a checked screenshot for this form until it is sent (a newer one replaces it)."""
    replaced = await inquiry_queries.put_pending_upload(
        ctx.db,
        form_id,
        NewAttachment(
            stored_name=prepared.temp_name,
            original_name=prepared.original_name,
            content_type=prepared.content_type,
            size=prepared.size,
            width=prepared.width,
            height=prepared.height,
            sha256=prepared.sha256,
        ),
        now=ctx.clock.now(),
    )
    if replaced and replaced != prepared.temp_name:
        await _unlink_incoming(ctx, replaced)


async def pending_for(ctx: AppContext, form_id: str) -> PreparedAttachment | None:
    """The screenshot this form already carries, when its file is still there."""
    row = await inquiry_queries.pending_upload(ctx.db, form_id)
    if row is None or not _STORED_NAME.match(str(row["stored_name"])):
        return None
    if not await anyio.Path(_incoming_dir(ctx) / str(row["stored_name"])).is_file():
        return None
    return PreparedAttachment(
        temp_name=str(row["stored_name"]),
        original_name=str(row["original_name"]),
        content_type=str(row["content_type"]),
        size=int(row["size"]),
        width=int(row["width"]),
        height=int(row["height"]),
        sha256=str(row["sha256"]),
    )


async def drop_pending(ctx: AppContext, form_id: str) -> None:
    """The sender ticked 「この画像を添付しない」."""
    stored_name = await inquiry_queries.delete_pending_upload(ctx.db, form_id)
    if stored_name:
        await _unlink_incoming(ctx, stored_name)


async def _unlink_incoming(ctx: AppContext, stored_name: str) -> None:
    if _STORED_NAME.match(stored_name):
        await anyio.Path(_incoming_dir(ctx) / stored_name).unlink(missing_ok=True)


async def remove_stale_pending_uploads(ctx: AppContext) -> int:
    """Scheduler job: screenshots of forms never sent within a day go, files and rows."""
    names = await inquiry_queries.delete_pending_uploads_before(ctx.db, ctx.clock.now() - _PENDING_MAX_AGE)
    for name in names:
        await _unlink_incoming(ctx, name)
    await anyio.to_thread.run_sync(
        _remove_stale_incoming, _incoming_dir(ctx), _PENDING_MAX_AGE.total_seconds()
    )
    return len(names)


def _remove_stale_incoming(folder: Path, older_than_seconds: float) -> None:
    if not folder.is_dir():
        return
    limit = time.time() - older_than_seconds
    for path in folder.iterdir():
        try:
            if path.is_file() and path.stat().st_mtime < limit:
                path.unlink()
        except OSError:
            continue


# ---------------------------------------------------------------- storing and mailing


async def store_inquiry(
    ctx: AppContext,
    values: dict[str, str],
    *,
    member_id: int | None,
    ip: str,
    user_agent: str,
    prepared: PreparedAttachment | None,
    form_id: str | None = None,
) -> int:
    """Store the inquiry before anything is mailed: the file is renamed into place (atomic), then the row
    and its attachment row are written in one transaction; if either fails, neither remains."""
    final: Path | None = None
    attachment: NewAttachment | None = None
    if prepared is not None:
        final = attachments_dir(ctx) / prepared.temp_name
        attachment = NewAttachment(
            stored_name=prepared.temp_name,
            original_name=prepared.original_name,
            content_type=prepared.content_type,
            size=prepared.size,
            width=prepared.width,
            height=prepared.height,
            sha256=prepared.sha256,
        )
        try:
            await anyio.to_thread.run_sync(os.replace, _incoming_dir(ctx) / prepared.temp_name, final)
        except OSError as error:
            raise StorageFull() from error
    try:
        inquiry_id = await inquiry_queries.create(
            ctx.db,
            now=ctx.clock.now(),
            values=values,
            member_id=member_id,
            ip=ip,
            user_agent=user_agent,
            attachment=attachment,
            pending_form_id=form_id,
        )
    except BaseException as error:
        if final is not None:
            await anyio.Path(final).unlink(missing_ok=True)
        if _is_disk_full(error):
            raise StorageFull() from error
        raise
    await anyio.to_thread.run_sync(
        _remove_stale_incoming, _incoming_dir(ctx), _PENDING_MAX_AGE.total_seconds()
    )
    return inquiry_id


def mail_subject(ctx: AppContext, inquiry: Any) -> str:
    return f"[{ctx.org.org_name}] {CATEGORIES.get(inquiry['category'], 'その他')}: {inquiry['subject']}（受付番号 {inquiry['id']}）"


async def _mail_attachments(ctx: AppContext, rows: list[Any]) -> list[Attachment]:
    files = []
    for row in rows:
        path = attachments_dir(ctx) / str(row["stored_name"])
        try:
            content = await anyio.Path(path).read_bytes()
        except OSError:
            log.error("attachment file missing for inquiry attachment %s", row["id"])
            continue
        files.append(
            Attachment(
                filename=str(row["original_name"]), content=content, content_type=str(row["content_type"])
            )
        )
    return files


@dataclass(frozen=True)
class MailOutcome:
    admin_sent: bool
    auto_reply_sent: bool


async def send_inquiry_mails(ctx: AppContext, inquiry_id: int) -> MailOutcome:
    """Mail the stored inquiry to the organization (with the screenshot) and a copy to the sender.
    A failure is recorded on the inquiry and in the mail log; the inquiry stays in the inbox either way."""
    inquiry = await inquiry_queries.get(ctx.db, inquiry_id)
    assert inquiry is not None
    rows = await inquiry_queries.attachments_for(ctx.db, inquiry_id)
    context = {
        "inquiry": inquiry,
        "category_label": CATEGORIES.get(inquiry["category"], "その他"),
        "attachments": rows,
        "org": ctx.org,
        "admin_url": f"{ctx.settings.base_url}/admin/inbox/{inquiry_id}",
        "contact_url": f"{ctx.settings.base_url}/contact",
        "help_url": f"{ctx.settings.base_url}/help",
    }
    now = ctx.clock.now()
    admin_sent = await send_mail(
        ctx.db,
        ctx.mailer,
        kind="contact_admin",
        to=ctx.org.contact_email,
        subject=mail_subject(ctx, inquiry),
        context=context,
        now=now,
        attachments=await _mail_attachments(ctx, rows),
        reply_to=str(inquiry["email"]),
    )
    auto_reply_sent = await send_mail(
        ctx.db,
        ctx.mailer,
        kind="contact_auto_reply",
        to=str(inquiry["email"]),
        subject=f"【{ctx.org.short_name}】お問い合わせを受け付けました（受付番号 {inquiry_id}）",
        context=context,
        now=now,
        reply_to=ctx.org.contact_email,
    )
    await inquiry_queries.set_mail_status(
        ctx.db,
        inquiry_id,
        admin="sent" if admin_sent else "failed",
        auto_reply="sent" if auto_reply_sent else "failed",
    )
    return MailOutcome(admin_sent=admin_sent, auto_reply_sent=auto_reply_sent)


def sent_token(secret_key: str, inquiry_id: int, outcome: MailOutcome, *, now: datetime) -> str:
    return make_token(
        secret_key, "contact-sent", {"i": inquiry_id, "m": int(outcome.auto_reply_sent)}, now=now
    )


def read_sent_token(secret_key: str, token: str, *, now: datetime) -> tuple[int, bool] | None:
    try:
        payload = read_token(secret_key, "contact-sent", token, max_age_seconds=86400, now=now)
        return int(payload["i"]), bool(payload["m"])
    except (TokenInvalid, KeyError, TypeError, ValueError):
        return None


# ---------------------------------------------------------------- the admin's side


REPLY_MAX_LENGTH = 10_000


def check_reply(body: str) -> tuple[str, str | None]:
    cleaned = _clean_text(body, multiline=True)
    if not cleaned.strip():
        return cleaned, "返信の本文を入力してください。"
    if len(cleaned) > REPLY_MAX_LENGTH:
        return (
            cleaned,
            f"返信の本文は{REPLY_MAX_LENGTH}文字以内で入力してください（現在{len(cleaned)}文字）。",
        )
    return cleaned, None


async def send_reply_mail(ctx: AppContext, inquiry: Any, reply: Any) -> bool:
    """Mail one reply of the thread to the sender and record whether the transport took it."""
    now = ctx.clock.now()
    sent = await send_mail(
        ctx.db,
        ctx.mailer,
        kind="contact_reply",
        to=str(inquiry["email"]),
        subject=f"Re: 【{ctx.org.short_name}】{inquiry['subject']}（受付番号 {inquiry['id']}）",
        context={
            "inquiry": inquiry,
            "reply": reply,
            "org": ctx.org,
            "contact_url": f"{ctx.settings.base_url}/contact",
            # Sent while logged in: the thread can be read and answered on the portal too.
            "thread_url": f"{ctx.settings.base_url}/inquiries/{inquiry['id']}"
            if inquiry["member_id"]
            else "",
        },
        now=now,
        reply_to=ctx.org.contact_email,
    )
    await inquiry_queries.set_reply_mail_status(ctx.db, int(reply["id"]), sent=sent, now=now)
    return sent


async def reply_to_inquiry(
    ctx: AppContext, inquiry: Any, *, admin_id: int, body: str, status: str, ip: str
) -> bool:
    """Keep the reply in the thread first, then mail it; True when the mail went out."""
    now = ctx.clock.now()
    reply_id = await inquiry_queries.add_reply(
        ctx.db, int(inquiry["id"]), author_member_id=admin_id, body=body, status=status, now=now
    )
    reply = await inquiry_queries.reply(ctx.db, int(inquiry["id"]), reply_id)
    assert reply is not None
    sent = await send_reply_mail(ctx, inquiry, reply)
    await audit.record(
        ctx.db,
        "inquiry_reply",
        now=now,
        actor_member_id=admin_id,
        subject_member_id=inquiry["linked_member_id"],
        ip=ip,
        detail={"inquiry_id": int(inquiry["id"]), "mail_sent": sent},
    )
    return sent


async def change_status(ctx: AppContext, inquiry: Any, status: str, *, admin_id: int, ip: str) -> None:
    now = ctx.clock.now()
    await inquiry_queries.set_status(ctx.db, int(inquiry["id"]), status, now=now)
    await audit.record(
        ctx.db,
        "inquiry_status",
        now=now,
        actor_member_id=admin_id,
        subject_member_id=inquiry["linked_member_id"],
        ip=ip,
        detail={"inquiry_id": int(inquiry["id"]), "from": inquiry["status"], "to": status},
    )


# ---------------------------------------------------------------- the member's side


ANSWER_MAX_LENGTH = MAX_LENGTHS["message"]


def check_answer(body: str) -> tuple[str, str | None]:
    """The member's answer in the thread: the same cleaning as the form's message."""
    cleaned = _clean_text(body, multiline=True)
    if not cleaned.strip():
        return cleaned, "お返事の内容を入力してください。"
    if len(cleaned) > ANSWER_MAX_LENGTH:
        return (
            cleaned,
            f"お返事は{ANSWER_MAX_LENGTH}文字以内で入力してください（現在{len(cleaned)}文字）。",
        )
    return cleaned, None


async def answer_inquiry(ctx: AppContext, member_id: int, inquiry_id: int, body: str, *, ip: str) -> bool:
    """Keep the member's answer in the thread (the office reads it in the inbox); False when the inquiry
    is not the member's."""
    now = ctx.clock.now()
    reply_id = await inquiry_queries.add_member_answer(ctx.db, member_id, inquiry_id, body=body, now=now)
    if not reply_id:
        return False
    await audit.record(
        ctx.db,
        "inquiry.member_answer",
        now=now,
        actor_member_id=member_id,
        subject_member_id=member_id,
        ip=ip,
        detail={"inquiry_id": inquiry_id},
    )
    return True
