"""DiscourseConnect's signing, checked against the protocol's published example payloads
(meta.discourse.org/t/13045: secret, the forum's request, and the provider's answer)."""

from __future__ import annotations

import base64
from urllib.parse import unquote

import pytest

from services.discourse_connect import DiscourseConnectError, encode_response, read_request, sign

SECRET = "d836444a9e4084d5b224a60c208dce14"
REQUEST_SSO = unquote("bm9uY2U9Y2I2ODI1MWVlZmI1MjExZTU4YzAwZmYxMzk1ZjBjMGI%3D%0A")
REQUEST_SIG = "2828aa29899722b35a2f191d34ef9b3ce695e0e6eeec47deb46d588d70c7cb56"
ANSWER_SSO = (
    "bm9uY2U9Y2I2ODI1MWVlZmI1MjExZTU4YzAwZmYxMzk1ZjBjMGImbmFtZT1zYW0mdXNlcm5hbWU9c2Ftc2FtJmVtYWlsPXRlc3QlNDB0ZXN0"
    "LmNvbSZleHRlcm5hbF9pZD1oZWxsbzEyMyZyZXF1aXJlX2FjdGl2YXRpb249dHJ1ZQ=="
)
ANSWER_SIG = "3d7e5ac755a87ae3ccf90272644ed2207984db03cf020377c8b92ff51be3abc3"


def test_the_published_request_verifies_and_decodes() -> None:
    assert read_request(SECRET, REQUEST_SSO, REQUEST_SIG) == {"nonce": "cb68251eefb5211e58c00ff1395f0c0b"}


def test_the_published_answer_is_reproduced() -> None:
    payload, signature = encode_response(
        SECRET,
        {
            "nonce": "cb68251eefb5211e58c00ff1395f0c0b",
            "name": "sam",
            "username": "samsam",
            "email": "test@test.com",
            "external_id": "hello123",
            "require_activation": "true",
        },
    )
    assert (payload, signature) == (ANSWER_SSO, ANSWER_SIG)
    assert sign(SECRET, ANSWER_SSO) == ANSWER_SIG


@pytest.mark.parametrize(
    ("sso", "sig"),
    [
        (REQUEST_SSO, "0" * 64),  # wrong signature
        (REQUEST_SSO, ""),
        ("", REQUEST_SIG),
        (REQUEST_SSO + "x", REQUEST_SIG),  # payload changed after signing
        (
            base64.b64encode(b"return_sso_url=https://x").decode(),
            sign(SECRET, base64.b64encode(b"return_sso_url=https://x").decode()),
        ),  # no nonce
        ("ａｂｃ\x00", sign(SECRET, "ａｂｃ\x00")),
    ],
)
def test_bad_requests_are_refused(sso: str, sig: str) -> None:
    with pytest.raises(DiscourseConnectError):
        read_request(SECRET, sso, sig)
