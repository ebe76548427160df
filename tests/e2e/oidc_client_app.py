"""A small relying party for the browser test: another service of the organization (say, its forum) that
signs members in through Tsudoi with Authlib's OpenID Connect client, PKCE and a nonce."""

from __future__ import annotations

import asyncio
import html
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import uvicorn
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.jwk import KeySet
from litestar import Litestar, Request, get
from litestar.response import Redirect, Response


class RelyingParty:
    def __init__(
        self, issuer: str, client_id: str, client_secret: str, port: int, now: Callable[[], int]
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.client_secret = client_secret
        self.url = f"http://127.0.0.1:{port}"
        self.redirect_uri = f"{self.url}/callback"
        self.now = now  # Tsudoi's clock (frozen in tests), to check the ID token's times against
        self.pending: dict[str, tuple[str, str]] = {}  # state -> (code verifier, nonce)
        self.app = Litestar(route_handlers=[self._home(), self._login(), self._callback()])
        self.server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning")
        )
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()), daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the relying party did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def _client(self) -> AsyncOAuth2Client:
        return AsyncOAuth2Client(
            self.client_id,
            self.client_secret,
            scope="openid profile membership",
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
        )

    async def _metadata(self) -> dict[str, Any]:
        async with httpx.AsyncClient() as plain:
            return dict((await plain.get(f"{self.issuer}/.well-known/openid-configuration")).json())

    def _home(self) -> Any:
        @get("/", sync_to_thread=False)
        def home() -> Response[str]:
            page = '<!doctype html><html lang="ja"><meta name="viewport" content="width=device-width">'
            page += '<title>会員フォーラム</title><h1>会員フォーラム</h1><a href="/login">団体のアカウントでログイン</a>'
            return Response(page, media_type="text/html")

        return home

    def _login(self) -> Any:
        rp = self

        @get("/login")
        async def login() -> Redirect:
            meta = await rp._metadata()
            verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(12)
            url, state = rp._client().create_authorization_url(
                meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
            )
            rp.pending[state] = (verifier, nonce)
            return Redirect(url)

        return login

    def _callback(self) -> Any:
        rp = self

        @get("/callback")
        async def callback(request: Request[Any, Any, Any]) -> Response[str]:
            state = request.query_params.get("state", "")
            if state not in rp.pending or "code" not in request.query_params:
                return Response(
                    "ログインできませんでした: " + html.escape(str(dict(request.query_params))),
                    status_code=400,
                )
            verifier, nonce = rp.pending.pop(state)
            meta = await rp._metadata()
            token = await rp._client().fetch_token(
                meta["token_endpoint"], authorization_response=str(request.url), code_verifier=verifier
            )
            async with httpx.AsyncClient() as plain:
                keys = KeySet.import_key_set((await plain.get(meta["jwks_uri"])).json())
            decoded = jwt.decode(token["id_token"], keys, algorithms=["ES256"])
            jwt.JWTClaimsRegistry(
                now=rp.now(),
                iss={"essential": True, "value": rp.issuer},
                aud={"essential": True, "value": rp.client_id},
                nonce={"essential": True, "value": nonce},
            ).validate(decoded.claims)
            claims = decoded.claims
            page = '<!doctype html><html lang="ja"><meta name="viewport" content="width=device-width">'
            page += f"<title>会員フォーラム</title><h1>ようこそ、{html.escape(claims['name'])} 様</h1>"
            page += (
                f"<p id='tier'>{html.escape(claims['tier'])}</p><p id='sub'>{html.escape(claims['sub'])}</p>"
            )
            return Response(page, media_type="text/html")

        return callback
