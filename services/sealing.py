"""Sealing short secrets at rest (TOTP secrets, initial passwords awaiting their letter) with the app key."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken


class SealError(ValueError):
    """The sealed text was tampered with or sealed under another secret key."""


def _fernet(secret_key: str, purpose: str) -> Fernet:
    # One derived key per purpose, so a value sealed for one use cannot be opened as another.
    digest = hashlib.sha256(f"tsudoi-seal:{purpose}:{secret_key}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(secret_key: str, purpose: str, plain: str | bytes) -> str:
    data = plain.encode("utf-8") if isinstance(plain, str) else plain
    return _fernet(secret_key, purpose).encrypt(data).decode("ascii")


def open_bytes(secret_key: str, purpose: str, sealed: str) -> bytes:
    try:
        return _fernet(secret_key, purpose).decrypt(sealed.encode("ascii"))
    except (InvalidToken, ValueError) as error:
        raise SealError("sealed value cannot be opened") from error


def open_text(secret_key: str, purpose: str, sealed: str) -> str:
    return open_bytes(secret_key, purpose, sealed).decode("utf-8")
