"""Guards applied at controller level: login, admin role, a current password.

The console has two roles: admins open every screen; 事務局スタッフ (staff) only the screens whose controller
or handler is marked `opt = STAFF_ALLOWED` (one line; everything else answers 403 to staff). Opting a new
screen in is that line on its controller, e.g. `class AdminEventsController(Controller): ... opt = STAFF_ALLOWED`.

The guards are `async def` on purpose: Litestar runs a plain `def` guard in a worker thread, two thread
hops on every member page for what are dictionary lookups.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, NotFoundException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from services.sessions import LoggedIn


class PasswordChangeRequired(Exception):
    """Raised while a member still has an initial password: only the change form is reachable."""


class MfaRequired(Exception):
    """Raised while an admin has not passed the second factor in this session: /mfa comes first."""


# Session flag set by the /mfa step (services.sessions.set_flag); a new login starts without it.
MFA_FLAG = "mfa_ok"


def _auth(connection: ASGIConnection[Any, Any, Any, Any]) -> LoggedIn | None:
    auth: LoggedIn | None = connection.scope.get("user")  # set by routes.middleware.session_middleware
    return auth


async def requires_login(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if _auth(connection) is None:
        raise NotAuthorizedException("ログインしてください。")


async def requires_password_current(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    auth = _auth(connection)
    if auth is None:
        raise NotAuthorizedException("ログインしてください。")
    if auth.member["must_change_password"]:
        raise PasswordChangeRequired()


# The opt key (on a Controller as `opt = STAFF_ALLOWED`, or on one handler as `opt=STAFF_ALLOWED`) that lets
# staff open a console screen.
STAFF_OPT = "staff_allowed"
STAFF_ALLOWED: dict[str, Any] = {STAFF_OPT: True}
STAFF_REFUSED_MESSAGE = "このページは管理者のみが利用できます。事務局スタッフのアカウントでは開けません。"


def staff_allowed(handler: BaseRouteHandler) -> bool:
    return bool(handler.opt.get(STAFF_OPT))


async def requires_admin(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    auth = _auth(connection)
    if auth is None:
        raise NotAuthorizedException("ログインしてください。")
    if auth.member["must_change_password"]:
        raise PasswordChangeRequired()
    if not auth.is_admin:
        raise PermissionDeniedException("管理者のみが利用できるページです。")
    if not auth.flags.get(MFA_FLAG):
        raise MfaRequired()
    if auth.is_staff and not staff_allowed(handler):
        raise PermissionDeniedException(STAFF_REFUSED_MESSAGE)


MEMBER_GUARDS = [requires_login, requires_password_current]
ADMIN_GUARDS = [requires_admin]


# SQLite integers are 64-bit: a larger id in a URL can name no row, and binding it raises OverflowError.
_SQLITE_INT_MAX = 2**63 - 1


async def out_of_range_ids_are_not_found(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """App-wide: an integer path parameter no database row can have (`/articles/99999999999999999999`) is
    a 404 for every route at once, before any handler or query sees it."""
    for value in connection.path_params.values():
        if isinstance(value, int) and not -_SQLITE_INT_MAX <= value <= _SQLITE_INT_MAX:
            raise NotFoundException()
