"""ID token signing keys: ES256 (P-256), generated on first use, sealed with the secret key in the
database, rotated from the console. A retired key stays in the JWKS for a day, longer than any token
it signed lives, so clients holding those tokens can still check them."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from joserfc.jwk import ECKey, KeySet

from db import oidc as queries
from services.context import AppContext
from services.sealing import SealError, open_text, seal

SEAL_PURPOSE = "oidc-signing-key"
ALGORITHM = "ES256"
RETIRED_KEY_KEPT = timedelta(days=1)


async def _generate(app: AppContext) -> None:
    key = ECKey.generate_key("P-256", parameters={"use": "sig", "alg": ALGORITHM}, auto_kid=True)
    sealed = seal(app.settings.secret_key, SEAL_PURPOSE, json.dumps(key.as_dict(private=True)))
    await queries.add_key(app.db, str(key.kid), sealed, now=app.clock.now())


async def _load(app: AppContext) -> list[ECKey]:
    keys: list[ECKey] = []
    for row in await queries.keys(app.db):
        try:
            data = json.loads(open_text(app.settings.secret_key, SEAL_PURPOSE, row["private_jwk_sealed"]))
        except (SealError, ValueError):
            continue  # sealed under an earlier secret key: unusable, replaced below
        keys.append(ECKey.import_key(data))
    return keys


async def signing_key(app: AppContext) -> ECKey:
    """The current key (made on first use, or when the secret key changed)."""
    rows = await queries.keys(app.db)
    current = [row for row in rows if row["retired_at"] is None]
    if current:
        try:
            data = json.loads(
                open_text(app.settings.secret_key, SEAL_PURPOSE, current[0]["private_jwk_sealed"])
            )
            return ECKey.import_key(data)
        except (SealError, ValueError):
            pass
    await _generate(app)
    return (await _load(app))[0]


async def rotate(app: AppContext) -> str:
    await queries.drop_retired_keys(app.db, retired_before=app.clock.now() - RETIRED_KEY_KEPT)
    await _generate(app)
    return str((await _load(app))[0].kid)


async def public_jwks(app: AppContext) -> dict[str, object]:
    await signing_key(app)
    await queries.drop_retired_keys(app.db, retired_before=app.clock.now() - RETIRED_KEY_KEPT)
    published: list[Any] = list(await _load(app))
    return dict(KeySet(published).as_dict(private=False))
