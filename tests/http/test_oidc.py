"""Tsudoi as an OpenID Connect provider, driven by a real OIDC client library (Authlib's httpx client)
against the app on a real port: discovery, authorize with PKCE, consent, token, ID token signature and
claims, userinfo, refresh, RP-initiated logout; and the bad cases (issue 23)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from db import audit
from services import membership
from services.oidc import clients
from tests.helpers import DEFAULT_PASSWORD, free_port, make_member, test_settings
from tests.live_server import LiveServer

REDIRECT = "https://forum.example.jp/auth/callback"
LOGOUT_RETURN = "https://forum.example.jp/"


@pytest.fixture
def live(tmp_path: Any, clock: Any) -> Iterator[LiveServer]:
    port = free_port()
    server = LiveServer(test_settings(tmp_path, base_url=f"http://127.0.0.1:{port}"), port, clock)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def register(
    live: LiveServer, *, public: bool = False, refresh: bool = True, scopes: list[str] | None = None
) -> Any:
    clean, errors = clients.validate(
        {
            "name": "会員フォーラム",
            "redirect_uris": REDIRECT,
            "post_logout_redirect_uris": LOGOUT_RETURN,
            "is_public": public,
            "refresh_tokens": refresh,
            "scopes": scopes if scopes is not None else ["profile", "email", "membership"],
        }
    )
    assert not errors
    return live.run(lambda ctx: clients.register(ctx, clean, actor_id=None))


async def member_browser(live: LiveServer, number: str) -> httpx.AsyncClient:
    browser = httpx.AsyncClient(base_url=live.url, timeout=30)
    await browser.get("/login")
    response = await browser.post(
        "/login",
        data={
            "_csrf_token": browser.cookies["tsudoi_csrf"],
            "member_id": number,
            "password": DEFAULT_PASSWORD,
        },
    )
    assert response.status_code in (200, 303)
    return browser


def hidden_fields(html: str) -> dict[str, str]:
    import re

    return {
        name: value.replace("&amp;", "&")
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html)
    }


async def authorize(
    browser: httpx.AsyncClient, url: str, *, decision: str | None = "allow"
) -> httpx.Response:
    """The member's browser at the authorization URL: through the consent page when it shows."""
    response = await browser.get(url)
    if response.status_code == 200 and "許可してログインする" in response.text and decision:
        fields = hidden_fields(response.text)
        fields["decision"] = decision
        response = await browser.post("/oauth/authorize", data=fields)
    return response


def code_of(response: httpx.Response) -> str:
    assert response.status_code == 302, response.text[:500]
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return location


async def metadata(live: LiveServer) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=live.url) as plain:
        response = await plain.get("/.well-known/openid-configuration")
        assert response.status_code == 200
        return dict(response.json())


async def jwks(live: LiveServer, meta: dict[str, Any]) -> KeySet:
    async with httpx.AsyncClient() as plain:
        return KeySet.import_key_set((await plain.get(meta["jwks_uri"])).json())


def verify_id_token(
    id_token: str, keys: KeySet, *, live: LiveServer, client_id: str, nonce: str
) -> dict[str, Any]:
    token = jwt.decode(id_token, keys, algorithms=["ES256"])
    registry = jwt.JWTClaimsRegistry(
        now=int(live.clock.now().timestamp()),  # the server's clock, frozen for the test
        iss={"essential": True, "value": live.url},
        aud={"essential": True, "value": client_id},
        nonce={"essential": True, "value": nonce},
        sub={"essential": True},
        exp={"essential": True},
    )
    registry.validate(token.claims)
    return dict(token.claims)


async def test_full_flow_with_pkce_consent_claims_userinfo_refresh_and_logout(live: LiveServer) -> None:
    member_id = live.run(lambda ctx: make_member(ctx, "001001", email="hanako@example.jp", given_name="花子"))
    live.run(
        lambda ctx: membership.grant_tier(ctx, member_id, "members", ends_on=date(2027, 3, 31), source="test")
    )
    new_client = register(live)
    meta = await metadata(live)
    assert meta["issuer"] == live.url
    assert meta["code_challenge_methods_supported"] == ["S256"]
    keys = await jwks(live, meta)

    oauth = AsyncOAuth2Client(
        new_client.client_id,
        new_client.secret,
        scope="openid profile email membership",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
    )
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(12)
    url, state = oauth.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    browser = await member_browser(live, "001001")

    consent = await browser.get(url)
    assert (
        consent.status_code == 200 and "会員フォーラム" in consent.text and "メールアドレス" in consent.text
    )
    location = code_of(await authorize(browser, url))
    assert parse_qs(urlsplit(location).query)["state"] == [state]

    token = await oauth.fetch_token(
        meta["token_endpoint"], authorization_response=location, code_verifier=verifier
    )
    assert token["token_type"].lower() == "bearer" and token["refresh_token"]
    claims = verify_id_token(token["id_token"], keys, live=live, client_id=new_client.client_id, nonce=nonce)
    member = live.run(lambda ctx: ctx.db.fetchone("SELECT public_id FROM members WHERE id = ?", (member_id,)))
    assert claims["sub"] == member["public_id"] and claims["sub"] != "001001"
    assert (
        claims["name"] == "鈴木 花子" and claims["email"] == "hanako@example.jp" and claims["email_verified"]
    )
    assert claims["member_number"] == "001001" and claims["tier"] == "有料会員"
    assert claims["tier_until"] == "2027-03-31" and claims["membership_type"] == "正会員"
    assert claims["fee_paid_this_year"] is False

    userinfo = await oauth.get(meta["userinfo_endpoint"])
    assert userinfo.status_code == 200
    assert userinfo.json()["sub"] == claims["sub"] and userinfo.json()["tier"] == "有料会員"

    # The second sign-in is remembered: a code at once, no consent page.
    again_url, _ = oauth.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce=secrets.token_urlsafe(12)
    )
    assert (await browser.get(again_url)).status_code == 302

    refreshed = await oauth.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
    assert refreshed["access_token"] != token["access_token"]
    assert refreshed["refresh_token"] != token["refresh_token"]
    # The old refresh token was used up (rotation).
    async with httpx.AsyncClient() as plain:
        reused = await plain.post(
            meta["token_endpoint"],
            data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
            auth=(new_client.client_id, new_client.secret),
        )
        assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"

    # RP-initiated logout: the forum's tokens end, the portal session stays (never logged out by surprise).
    logout = await browser.get(
        meta["end_session_endpoint"],
        params={"id_token_hint": token["id_token"], "post_logout_redirect_uri": LOGOUT_RETURN, "state": "s1"},
    )
    assert logout.status_code == 200
    assert "会員フォーラムからログアウトしました" in logout.text and "ログインしたままです" in logout.text
    assert f'href="{LOGOUT_RETURN}?state=s1"' in logout.text
    assert (await browser.get("/mypage")).status_code == 200
    oauth.token = refreshed
    assert (await oauth.get(meta["userinfo_endpoint"])).status_code == 401
    await browser.aclose()


async def test_public_client_must_use_pkce_s256(live: LiveServer) -> None:
    live.run(lambda ctx: make_member(ctx, "001002"))
    new_client = register(live, public=True)
    assert new_client.secret is None
    meta = await metadata(live)
    browser = await member_browser(live, "001002")
    oauth = AsyncOAuth2Client(new_client.client_id, scope="openid", redirect_uri=REDIRECT)
    url, _ = oauth.create_authorization_url(meta["authorization_endpoint"])
    response = await browser.get(url)
    assert response.status_code == 302
    assert parse_qs(urlsplit(response.headers["location"]).query)["error"] == ["invalid_request"]
    plain_url, _ = oauth.create_authorization_url(
        meta["authorization_endpoint"], code_challenge="a" * 43, code_challenge_method="plain"
    )
    assert "error=invalid_request" in (await browser.get(plain_url)).headers["location"]

    pkce = AsyncOAuth2Client(
        new_client.client_id, scope="openid", redirect_uri=REDIRECT, code_challenge_method="S256"
    )
    verifier = secrets.token_urlsafe(48)
    url, _ = pkce.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
    location = code_of(await authorize(browser, url))
    # The wrong verifier is refused, and the code cannot be tried again after that.
    async with httpx.AsyncClient() as plain:
        code = parse_qs(urlsplit(location).query)["code"][0]
        wrong = await plain.post(
            meta["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "client_id": new_client.client_id,
                "code_verifier": secrets.token_urlsafe(48),
            },
        )
        assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    with pytest.raises(OAuthError, match="invalid_grant"):
        await pkce.fetch_token(
            meta["token_endpoint"], authorization_response=location, code_verifier=verifier
        )
    # A fresh code with the right verifier, and no secret: a public client's tokens.
    url, _ = pkce.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
    location = code_of(await browser.get(url))  # consent remembered
    token = await pkce.fetch_token(
        meta["token_endpoint"], authorization_response=location, code_verifier=verifier
    )
    assert token["access_token"] and token["id_token"]
    await browser.aclose()


async def test_bad_redirect_reused_and_expired_codes_are_refused(live: LiveServer) -> None:
    live.run(lambda ctx: make_member(ctx, "001003"))
    new_client = register(live)
    meta = await metadata(live)
    browser = await member_browser(live, "001003")
    oauth = AsyncOAuth2Client(
        new_client.client_id,
        new_client.secret,
        scope="openid",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
    )
    verifier = secrets.token_urlsafe(48)

    # A redirect URI that is not registered exactly: an error page here, never a redirect there.
    for wrong in ("https://evil.example.com/cb", REDIRECT + "/x", REDIRECT.replace("https", "http")):
        url, _ = oauth.create_authorization_url(
            meta["authorization_endpoint"], redirect_uri=wrong, code_verifier=verifier
        )
        response = await browser.get(url)
        assert response.status_code == 400 and "location" not in response.headers
        assert "サービスの設定が正しくありません" in response.text

    url, _ = oauth.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
    location = code_of(await authorize(browser, url))
    token = await oauth.fetch_token(
        meta["token_endpoint"], authorization_response=location, code_verifier=verifier
    )
    assert token["access_token"]
    async with httpx.AsyncClient() as plain:
        code = parse_qs(urlsplit(location).query)["code"][0]
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        }
        reused = await plain.post(
            meta["token_endpoint"], data=form, auth=(new_client.client_id, new_client.secret)
        )
        assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"

        # A code older than a minute.
        url, _ = oauth.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
        location = code_of(await authorize(browser, url))
        live.clock.advance(timedelta(seconds=61))
        form["code"] = parse_qs(urlsplit(location).query)["code"][0]
        expired = await plain.post(
            meta["token_endpoint"], data=form, auth=(new_client.client_id, new_client.secret)
        )
        assert expired.status_code == 400 and expired.json()["error"] == "invalid_grant"

        # A wrong client secret.
        bad = await plain.post(meta["token_endpoint"], data=form, auth=(new_client.client_id, "wrong"))
        assert bad.status_code in (400, 401) and bad.json()["error"] == "invalid_client"
        # Odd shapes never give a 500.
        for data in ({}, {"grant_type": "ｘ\x00"}, {"grant_type": "authorization_code", "code": "9" * 3000}):
            odd = await plain.post(meta["token_endpoint"], data=data)
            assert 400 <= odd.status_code < 500
    await browser.aclose()


async def test_locked_member_and_withdrawn_consent_get_no_tokens(live: LiveServer) -> None:
    member_id = live.run(lambda ctx: make_member(ctx, "001004"))
    new_client = register(live)
    meta = await metadata(live)
    browser = await member_browser(live, "001004")
    oauth = AsyncOAuth2Client(
        new_client.client_id,
        new_client.secret,
        scope="openid profile",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
    )
    verifier = secrets.token_urlsafe(48)
    url, _ = oauth.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
    location = code_of(await authorize(browser, url))
    token = await oauth.fetch_token(
        meta["token_endpoint"], authorization_response=location, code_verifier=verifier
    )

    # Withdrawn from the member's page: the tokens stop and the consent page shows again.
    page = await browser.get("/settings/connections")
    assert "会員フォーラム" in page.text
    response = await browser.post(
        f"/settings/connections/{new_client.client_id}/withdraw",
        data={"_csrf_token": browser.cookies["tsudoi_csrf"]},
    )
    assert response.status_code in (200, 303)
    assert (await oauth.get(meta["userinfo_endpoint"])).status_code == 401
    assert "許可してログインする" in (await browser.get(url)).text

    # Locked: no code, and tokens issued before stop working.
    location = code_of(await authorize(browser, url))
    token = await oauth.fetch_token(
        meta["token_endpoint"], authorization_response=location, code_verifier=verifier
    )
    assert (await oauth.get(meta["userinfo_endpoint"])).status_code == 200
    until = (live.clock.now() + timedelta(hours=2)).isoformat()
    live.run(
        lambda ctx: ctx.db.execute("UPDATE members SET locked_until = ? WHERE id = ?", (until, member_id))
    )
    assert (await oauth.get(meta["userinfo_endpoint"])).status_code == 401
    refused = await browser.get(url)
    assert refused.status_code == 403 and "location" not in refused.headers
    assert token
    await browser.aclose()


async def test_tampered_id_token_and_rotated_keys(live: LiveServer) -> None:
    live.run(lambda ctx: make_member(ctx, "001005"))
    new_client = register(live)
    meta = await metadata(live)
    browser = await member_browser(live, "001005")
    oauth = AsyncOAuth2Client(
        new_client.client_id,
        new_client.secret,
        scope="openid",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
    )
    verifier, nonce = secrets.token_urlsafe(48), "n-1"
    url, _ = oauth.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    location = code_of(await authorize(browser, url))
    token = await oauth.fetch_token(
        meta["token_endpoint"], authorization_response=location, code_verifier=verifier
    )
    keys = await jwks(live, meta)
    header, payload, signature = token["id_token"].split(".")
    import base64
    import json

    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(BadSignatureError):
        jwt.decode(f"{header}.{forged}.{signature}", keys, algorithms=["ES256"])

    # After a rotation the old key stays published, so the token above still verifies; new ones use the new key.
    from services.oidc import keys as oidc_keys

    new_kid = live.run(oidc_keys.rotate)
    rotated = await jwks(live, meta)
    assert {key.kid for key in rotated.keys} >= {new_kid, *(key.kid for key in keys.keys)}
    verify_id_token(token["id_token"], rotated, live=live, client_id=new_client.client_id, nonce=nonce)
    assert live.run(lambda ctx: audit.events(ctx.db, "oidc.client_added"))
    await browser.aclose()


async def test_not_signed_in_goes_through_login_and_comes_back(live: LiveServer) -> None:
    live.run(lambda ctx: make_member(ctx, "001006"))
    new_client = register(live)
    meta = await metadata(live)
    oauth = AsyncOAuth2Client(
        new_client.client_id,
        new_client.secret,
        scope="openid",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
    )
    verifier = secrets.token_urlsafe(48)
    url, _ = oauth.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier)
    async with httpx.AsyncClient(base_url=live.url) as browser:
        first = await browser.get(url)
        assert first.status_code in (302, 303) and first.headers["location"].startswith("/login?next=")
        next_path = parse_qs(urlsplit(first.headers["location"]).query)["next"][0]
        await browser.get("/login")
        logged = await browser.post(
            "/login",
            data={
                "_csrf_token": browser.cookies["tsudoi_csrf"],
                "member_id": "001006",
                "password": DEFAULT_PASSWORD,
                "next": next_path,
            },
        )
        assert logged.status_code == 303 and logged.headers["location"] == next_path
        assert "許可してログインする" in (await browser.get(next_path)).text
    assert create_s256_code_challenge(verifier)
