"""Logging in as an admin in the browser: password, then the second factor.

The demo admin 900001/Kanri2026 is enrolled in TOTP on first use (on the server's loop, as the
enrolment page would), and the code is computed with pyotp from the secret stored, sealed, in the
database (services.admin_mfa.secret_of). When the current 30-second code was used already (several
tests in the same half minute), a fresh recovery code is used instead, so tests never wait.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from db import members as member_queries
from tests.e2e.conftest import LiveServer
from tests.helpers import enrol_admin, fresh_admin_code


def admin_id(live_server: LiveServer, number: str) -> int:
    member = live_server.run(lambda ctx: member_queries.get_by_number(ctx.db, number))
    assert member is not None, f"no admin {number} on the test server"
    return int(member["id"])


def forget_earlier_sign_ins(live_server: LiveServer, member_id: int) -> None:
    """Every browser test signs the demo admin in anew, on a server whose clock is frozen: the second factor's
    throttle (10 tries per 15 minutes, tested in tests/http/test_admin_mfa.py) would count every earlier
    test's sign-in against this one, its window never passing. Start each sign-in with a clean count."""
    live_server.run(
        lambda ctx: ctx.db.execute(
            "DELETE FROM rate_limit_events WHERE bucket = ?", (f"admin-mfa:{member_id}",)
        )
    )


def login_admin(
    page: Any, live_server: LiveServer, number: str = "900001", password: str = "Kanri2026"
) -> None:
    """Log the page in as the admin and land on /admin."""
    member_id = admin_id(live_server, number)
    live_server.run(lambda ctx: enrol_admin(ctx, member_id, number))
    page.goto("/login?next=/admin")
    page.get_by_label("ログインID（会員番号）").fill(number)
    page.get_by_label("パスワード").fill(password)
    page.get_by_role("button", name="ログイン", exact=True).click()
    expect(page).to_have_url("/mfa?next=/admin")
    forget_earlier_sign_ins(live_server, member_id)
    code = live_server.run(lambda ctx: fresh_admin_code(ctx, member_id))
    page.locator("#field-code").fill(code)
    page.get_by_role("button", name="確認する").click()
    expect(page).to_have_url("/admin")


def complete_second_factor(page: Any, live_server: LiveServer, number: str = "900001") -> None:
    """After the password step (the page is on /mfa or /mfa/enrol), pass the second factor."""
    member_id = admin_id(live_server, number)
    live_server.run(lambda ctx: enrol_admin(ctx, member_id, number))
    page.goto("/mfa?next=/admin")
    forget_earlier_sign_ins(live_server, member_id)
    code = live_server.run(lambda ctx: fresh_admin_code(ctx, member_id))
    page.locator("#field-code").fill(code)
    page.get_by_role("button", name="確認する").click()
    expect(page).to_have_url("/admin")
