"""DiscourseConnect: the forum sends a member here; signed in, they go back signed in to the forum."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.response import Redirect
from litestar.status_codes import HTTP_400_BAD_REQUEST

from routes.common import client_ip
from routes.errors import error_page
from routes.guards import MEMBER_GUARDS, MFA_FLAG, MfaRequired
from services import discourse_connect
from services.context import AppContext
from services.sessions import LoggedIn


class DiscourseController(Controller):
    path = "/discourse"
    guards = MEMBER_GUARDS

    @get("/sso")
    async def sso(
        self,
        request: Request[Any, Any, Any],
        app_ctx: AppContext,
        auth: LoggedIn,
        sso: str = "",
        sig: str = "",
    ) -> Response[Any]:
        if discourse_connect.forum(app_ctx) is None:
            raise NotFoundException()
        # An admin's session counts only after the second factor, as for the console.
        if auth.is_admin and not auth.flags.get(MFA_FLAG):
            raise MfaRequired()
        try:
            url = await discourse_connect.sign_in_url(app_ctx, auth.member, sso, sig, ip=client_ip(request))
        except discourse_connect.DiscourseConnectError as error:
            return error_page(request, HTTP_400_BAD_REQUEST, str(error))
        return Redirect(url, status_code=303)
