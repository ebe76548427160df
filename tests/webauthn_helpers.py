"""A small software authenticator (EC P-256, 'none' attestation) that answers WebAuthn options the way a
browser and a phone would, so HTTP tests send real attestations and assertions; and request helpers."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from litestar.testing import AsyncTestClient

from tests.helpers import csrf_token

FLAG_UP, FLAG_UV, FLAG_AT = 0x01, 0x04, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def from_b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class StoredKey:
    private_key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0


class SoftAuthenticator:
    """Keeps discoverable credentials like a phone's platform authenticator."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.keys: dict[bytes, StoredKey] = {}

    def create(
        self, options: dict[str, Any], *, origin: str | None = None, user_verified: bool = True
    ) -> dict[str, Any]:
        rp_id = options["rp"]["id"]
        credential_id = secrets.token_bytes(32)
        private_key = ec.generate_private_key(ec.SECP256R1())
        numbers = private_key.public_key().public_numbers()
        cose_key = cbor2.dumps(
            {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
        )
        self.keys[credential_id] = StoredKey(private_key, rp_id, from_b64url(options["user"]["id"]))
        flags = FLAG_UP | FLAG_AT | (FLAG_UV if user_verified else 0)
        auth_data = (
            hashlib.sha256(rp_id.encode()).digest()
            + bytes([flags])
            + struct.pack(">I", 0)
            + bytes(16)  # AAGUID
            + struct.pack(">H", len(credential_id))
            + credential_id
            + cose_key
        )
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64url(credential_id),
            "rawId": b64url(credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
        }

    def get(
        self,
        options: dict[str, Any],
        credential_id: bytes | None = None,
        *,
        origin: str | None = None,
        user_verified: bool = True,
        sign_count: int | None = None,
    ) -> dict[str, Any]:
        """An assertion with the given (or the newest) credential; the counter goes up by one."""
        if credential_id is None:
            credential_id = list(self.keys)[-1]
        key = self.keys[credential_id]
        key.sign_count = key.sign_count + 1 if sign_count is None else sign_count
        flags = FLAG_UP | (FLAG_UV if user_verified else 0)
        auth_data = (
            hashlib.sha256(key.rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", key.sign_count)
        )
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = key.private_key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": b64url(credential_id),
            "rawId": b64url(credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(key.user_handle),
            },
        }

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin or self.origin, "crossOrigin": False}
        ).encode()


async def post_json(client: AsyncTestClient[Any], url: str, body: Any, *, csrf: bool = True) -> Any:
    headers = {"x-csrftoken": await csrf_token(client)} if csrf else {}
    return await client.post(url, json=body, headers=headers)


async def add_passkey(
    client: AsyncTestClient[Any], authenticator: SoftAuthenticator, name: str = "iPhone"
) -> dict[str, Any]:
    """Register a passkey for the signed-in member through the routes; returns the credential sent."""
    options = await post_json(client, "/passkeys/register/options", {"name": name})
    assert options.status_code == 200, options.text
    credential = authenticator.create(options.json())
    verified = await post_json(client, "/passkeys/register/verify", {"name": name, "credential": credential})
    assert verified.status_code == 200, verified.text
    return credential


async def passkey_login(
    client: AsyncTestClient[Any], authenticator: SoftAuthenticator, purpose: str = "login", **extra: Any
) -> Any:
    options = await post_json(client, "/passkeys/login/options", {"purpose": purpose})
    assert options.status_code == 200, options.text
    assertion = authenticator.get(options.json())
    return await post_json(
        client, "/passkeys/login/verify", {"purpose": purpose, "credential": assertion, **extra}
    )
