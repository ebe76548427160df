"""GMO Payment Gateway "リンクタイプPlus" adapter: payment URL, signed return result, result notifications."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, Final
from urllib.parse import parse_qsl

import httpx

from services.payments import states
from services.payments.base import (
    DEFAULT_TIMEOUT,
    CheckoutRequest,
    CheckoutStart,
    Clock,
    GatewayUnavailable,
    HttpGateway,
    KonbiniInfo,
    Notification,
    NotificationRejected,
    utc_now,
)

TEST_API_BASE: Final = "https://pt01.mul-pay.jp"
PRODUCTION_API_BASE: Final = "https://p01.mul-pay.jp"
LINK_PATH: Final = "/payment/GetLinkplusUrlPayment.json"
REJECT_LINK_PATH: Final = "/payment/RejectLinkplusUrlPayment.json"
SEARCH_PATH: Final = "/payment/SearchTradeMulti.idPass"
CVS_CANCEL_PATH: Final = "/payment/CvsCancel.idPass"

# The result-notification program must answer with exactly this body: "0" accepts,
# anything else makes GMO resend (every 60 minutes, up to 5 times). GMO waits 15 seconds
# for the answer; confirming a report asks SearchTradeMulti at most twice, each call
# limited to NOTIFY_TIMEOUT, so the answer is always back in time.
NOTIFY_OK: Final = "0"
NOTIFY_RETRY: Final = "1"
NOTIFY_TIMEOUT: Final = 5.0

PAY_TYPE_CARD: Final = "0"
PAY_TYPE_CVS: Final = "3"

# Errors SearchTradeMulti gives for an order the member never got as far as submitting (and, we
# assume, for a pay type that does not match the trade: scripts/gateway_check.py checks that).
NOT_FOUND_ERRORS: Final = frozenset({"M01004002", "E01110002"})
_NOT_FOUND: Final = NOT_FOUND_ERRORS

CVS_STORES: Final[dict[str, str]] = {
    "00007": "セブン-イレブン",
    "10001": "ローソン",
    "10002": "ファミリーマート",
    "10005": "ミニストップ",
    "10008": "セイコーマート",
}

# GMO writes every date as yyyyMMddHHmmss in Japan time, without an offset.
JST: Final = timezone(timedelta(hours=9), "JST")
# The payment link's 決済可能期限 (transaction.PaymentExpireDate) is yyyyMMddHHmm in Japan time
# (GMO's link type Plus notes give "202001102359"). After it the link takes no payment and no
# notification ever comes, so the app must stop handing it out.
LINK_EXPIRY_FORMAT: Final = "%Y%m%d%H%M"
DEFAULT_LINK_HOURS: Final = 24

_CARD_STATES: Final[dict[str, str]] = {
    "CAPTURE": states.PAID,
    "SALES": states.PAID,
    "PAYFAIL": states.DECLINED,
    "VOID": states.CANCELLED,
    "RETURN": states.CANCELLED,
    "RETURNX": states.CANCELLED,
    "CANCEL": states.CANCELLED,
}
_CVS_STATES: Final[dict[str, str]] = {
    "REQSUCCESS": states.AWAITING_KONBINI,
    "PAYSUCCESS": states.PAID,
    "EXPIRED": states.EXPIRED,
    "CANCEL": states.CANCELLED,
    "PAYFAIL": states.DECLINED,
}
_RETURN_RESULTS: Final[dict[str, str]] = {
    "PAYSUCCESS": states.PAID,
    "REQSUCCESS": states.AWAITING_KONBINI,
    "ERROR": states.DECLINED,
    "EXPIRED": states.EXPIRED,
}


def parse_gmo_datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=JST)
    except ValueError:
        return None


def _state_for(pay_type: str, status: str, err_code: str) -> str:
    table = _CVS_STATES if pay_type == PAY_TYPE_CVS else _CARD_STATES
    state = table.get(status, states.PENDING)
    if state == states.PENDING and err_code:
        return states.DECLINED
    return state


def _konbini_from(fields: Mapping[str, str]) -> KonbiniInfo | None:
    receipt_no = fields.get("CvsReceiptNo", "")
    if not receipt_no:
        return None
    code = fields.get("CvsCode", "")
    return KonbiniInfo(
        store=CVS_STORES.get(code, f"コンビニ（コード {code}）" if code else "コンビニ"),
        payment_number=receipt_no,
        confirmation_number=fields.get("CvsConfNo") or None,
        deadline=parse_gmo_datetime(fields.get("PaymentTerm")),
        voucher_url=fields.get("CvsReceiptUrl") or None,
    )


def _amount(fields: Mapping[str, Any]) -> int | None:
    try:
        return int(fields.get("Amount") or 0) + int(fields.get("Tax") or 0)
    except (TypeError, ValueError):
        return None


def _decode_form(raw: bytes) -> dict[str, str]:
    # GMO posts Shift_JIS; the fields we read are ASCII, and a bad byte elsewhere must not stop us.
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        text = raw.decode("cp932", errors="replace")
    return dict(parse_qsl(text, keep_blank_values=True, encoding="cp932", errors="replace"))


class GmoGateway(HttpGateway):
    """GMO-PG link type Plus (キー型): we ask for a payment URL, GMO hosts the page.

    The notify URL is not sent per request: GMO posts results to the 結果通知プログラムURL
    set in the shop admin screen, so point that at the app's notify route.
    """

    name = "gmo"

    def __init__(
        self,
        api_base: str,
        shop_id: str,
        shop_pass: str,
        *,
        config_id: str | None = None,
        konbini_days: int = 3,
        contact_name: str | None = None,
        contact_phone: str | None = None,
        contact_hours: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        notify_timeout: float = NOTIFY_TIMEOUT,
        link_hours: int = DEFAULT_LINK_HOURS,
        client: httpx.AsyncClient | None = None,
        clock: Clock = utc_now,
    ) -> None:
        super().__init__(api_base, timeout=timeout, client=client)
        if not shop_id or not shop_pass:
            raise ValueError("GMO needs a shop ID and shop password")
        if not 1 <= konbini_days <= 60:
            raise ValueError("konbini_days must be between 1 and 60")
        if not 1 <= link_hours <= 24 * 60:
            raise ValueError("link_hours must be between 1 and 1440")
        self.link_hours = link_hours
        self.shop_id = shop_id
        self.shop_pass = shop_pass
        self.config_id = config_id
        self.konbini_days = konbini_days
        self.contact = {
            "ReceiptsDisp11": contact_name,
            "ReceiptsDisp12": contact_phone,
            "ReceiptsDisp13": contact_hours,
        }
        self.clock = clock
        # Never longer than the ordinary timeout (tests and slow links set that one lower).
        self.notify_timeout = min(notify_timeout, timeout)

    def build_link_request(self, attempt: CheckoutRequest) -> dict[str, Any]:
        """The JSON body of GetLinkplusUrlPayment.json for one attempt."""
        body: dict[str, Any] = {"geturlparam": {"ShopID": self.shop_id, "ShopPass": self.shop_pass}}
        if self.config_id:
            body["configid"] = self.config_id
        body["transaction"] = {
            "OrderID": attempt.order_id,
            "Amount": attempt.amount,
            "Tax": 0,
            "Overview": attempt.description,
            "PayMethods": ["credit"] if attempt.method == "card" else ["cvs"],
            "RetUrl": attempt.return_url,
            "CompleteUrl": attempt.return_url,
            "CancelUrl": attempt.return_url,
            "PaymentExpireDate": self.link_expiry().strftime(LINK_EXPIRY_FORMAT),
        }
        body["customer"] = {"MailAddress": attempt.member_email, "CustomerName": attempt.member_name}
        if attempt.method == "card":
            # One-time payment, captured at once: the fee is due now, not on shipping.
            body["credit"] = {"JobCd": "CAPTURE", "Method": "1"}
        else:
            cvs: dict[str, Any] = {"PaymentTermDay": str(self.konbini_days)}
            cvs.update({key: value for key, value in self.contact.items() if value})
            body["cvs"] = cvs
        return body

    def link_expiry(self) -> datetime:
        """When a link made now stops taking payments: link_hours from the app's clock, to the minute, JST."""
        moment = (self.clock() + timedelta(hours=self.link_hours)).astimezone(JST)
        return moment.replace(second=0, microsecond=0)

    async def start_checkout(self, attempt: CheckoutRequest) -> CheckoutStart:
        body = self.build_link_request(attempt)
        expires_at = datetime.strptime(body["transaction"]["PaymentExpireDate"], LINK_EXPIRY_FORMAT)
        response = await self._request("POST", LINK_PATH, json=body)
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code != 200 or not isinstance(data, dict):
            raise GatewayUnavailable(
                f"gmo: link URL request failed ({response.status_code}): {_errors(data)}"
            )
        link_url = data.get("LinkUrl")
        if not isinstance(link_url, str) or not link_url.startswith("https://"):
            raise GatewayUnavailable("gmo: link URL response without LinkUrl")
        return CheckoutStart(
            redirect_url=link_url,
            reference=str(data.get("OrderID") or attempt.order_id),
            expires_at=expires_at.replace(tzinfo=JST),
        )

    def parse_return(self, result: str) -> Notification:
        """Read the signed `result` parameter GMO adds to the return URL.

        It is Base64URL(JSON) + "." + hex SHA-256 of (that Base64URL text + shop password).
        The return page only shows it; the state itself comes from the notification.
        """
        encoded, sep, digest = result.strip().rpartition(".")
        if not sep or not encoded or not digest:
            raise NotificationRejected("result is not payload.hash")
        expected = hashlib.sha256((encoded + self.shop_pass).encode("utf-8")).hexdigest()
        if not hmac.compare_digest(expected, digest.lower()):
            raise NotificationRejected("result hash does not match")
        try:
            payload = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
        except (binascii.Error, ValueError) as exc:
            raise NotificationRejected("result payload is not Base64URL JSON") from exc
        outcome = payload.get("transactionresult") if isinstance(payload, dict) else None
        if not isinstance(outcome, dict) or not outcome.get("OrderID"):
            raise NotificationRejected("result has no transactionresult")
        order_id = str(outcome["OrderID"])
        code = str(outcome.get("Result") or "")
        cvs = payload.get("cvs")
        return Notification(
            gateway=self.name,
            key=f"gmo-return:{order_id}:{code}",
            reference=order_id,
            order_id=order_id,
            state=_RETURN_RESULTS.get(code, states.PENDING),
            amount=None,
            raw=result,
            konbini=_konbini_from({k: str(v) for k, v in cvs.items() if v is not None})
            if isinstance(cvs, dict)
            else None,
            occurred_at=parse_gmo_datetime(str(outcome.get("Processdate") or "")),
        )

    def parse_notification(self, raw_body: bytes, headers: Mapping[str, str]) -> Notification:
        """Read a result notification. GMO does not sign these, so the result is only a hint:
        it is marked needs_confirmation and `receive` asks SearchTradeMulti for the truth."""
        fields = _decode_form(raw_body)
        if fields.get("ShopID") != self.shop_id:
            raise NotificationRejected("notification for another shop")
        order_id, status = fields.get("OrderID", ""), fields.get("Status", "")
        if not order_id or not status:
            raise NotificationRejected("notification without OrderID or Status")
        pay_type = fields.get("PayType", PAY_TYPE_CARD)
        key = ":".join(("gmo", order_id, status, fields.get("TranID", ""), fields.get("TranDate", "")))
        return Notification(
            gateway=self.name,
            key=key,
            reference=order_id,
            order_id=order_id,
            state=_state_for(pay_type, status, fields.get("ErrCode", "")),
            amount=_amount(fields),
            raw=raw_body.decode("cp932", errors="replace"),
            konbini=_konbini_from(fields) if pay_type == PAY_TYPE_CVS else None,
            needs_confirmation=True,
            occurred_at=parse_gmo_datetime(fields.get("TranDate")),
        )

    async def _search(
        self,
        order_id: str,
        pay_types: tuple[str, ...] = (PAY_TYPE_CARD, PAY_TYPE_CVS),
        *,
        limit: float | None = None,
    ) -> dict[str, str] | None:
        """SearchTradeMulti by OrderID, trying the pay types in the order given."""
        for pay_type in pay_types:
            form = {
                "ShopID": self.shop_id,
                "ShopPass": self.shop_pass,
                "OrderID": order_id,
                "PayType": pay_type,
            }
            response = await self._request("POST", SEARCH_PATH, data=form, limit=limit)
            if response.status_code != 200:
                raise GatewayUnavailable(f"gmo: trade search failed ({response.status_code})")
            fields = _decode_form(response.content)
            if fields.get("ErrCode"):
                infos = set(fields.get("ErrInfo", "").split("|"))
                if infos <= _NOT_FOUND:
                    continue
                raise GatewayUnavailable(f"gmo: trade search error {fields.get('ErrInfo')}")
            fields.setdefault("PayType", pay_type)
            return fields
        return None

    async def search_answer(self, order_id: str, pay_type: str) -> dict[str, str]:
        """SearchTradeMulti's answer as GMO gives it, errors included (for scripts/gateway_check.py)."""
        form = {"ShopID": self.shop_id, "ShopPass": self.shop_pass, "OrderID": order_id, "PayType": pay_type}
        response = await self._request("POST", SEARCH_PATH, data=form)
        if response.status_code != 200:
            raise GatewayUnavailable(f"gmo: trade search failed ({response.status_code})")
        fields = _decode_form(response.content)
        return {key: value for key, value in fields.items() if key not in {"ShopPass", "AccessPass"}}

    async def fetch_state(self, reference: str) -> Notification:
        return self._state_from(reference, await self._search(reference))

    async def confirm_state(self, note: Notification, *, method: str | None = None) -> Notification:
        """SearchTradeMulti while GMO waits (15 s) for the notification's answer: the attempt's own
        pay type first (so one call is the rule), and a short timeout on each call."""
        if method == "konbini":
            first = PAY_TYPE_CVS
        elif method == "card":
            first = PAY_TYPE_CARD
        else:
            # Unknown attempt: the report's own PayType only orders the calls, it is not believed.
            first = PAY_TYPE_CVS if f"PayType={PAY_TYPE_CVS}" in note.raw.split("&") else PAY_TYPE_CARD
        order = (first, PAY_TYPE_CARD if first == PAY_TYPE_CVS else PAY_TYPE_CVS)
        fields = await self._search(note.reference, order, limit=self.notify_timeout)
        return self._state_from(note.reference, fields)

    def _state_from(self, reference: str, fields: dict[str, str] | None) -> Notification:
        if fields is None:
            return Notification(
                gateway=self.name,
                key=f"gmo-search:{reference}:NOTFOUND",
                reference=reference,
                order_id=reference,
                state=states.PENDING,
                amount=None,
                raw="",
            )
        status = fields.get("Status", "")
        pay_type = fields.get("PayType", PAY_TYPE_CARD)
        return Notification(
            gateway=self.name,
            key=f"gmo-search:{reference}:{status}",
            reference=reference,
            order_id=fields.get("OrderID") or reference,
            state=_state_for(pay_type, status, ""),
            amount=_amount(fields),
            raw="&".join(f"{k}={v}" for k, v in fields.items() if k not in {"ShopPass", "AccessPass"}),
            konbini=_konbini_from(fields) if pay_type == PAY_TYPE_CVS else None,
            occurred_at=parse_gmo_datetime(fields.get("TranDate") or fields.get("ProcessDate")),
        )

    async def cancel(self, reference: str) -> None:
        """Cancel an unpaid order: a konbini number is voided; an unused link is disabled."""
        fields = await self._search(reference)
        state = (
            _state_for(fields.get("PayType", PAY_TYPE_CARD), fields.get("Status", ""), "") if fields else None
        )
        if fields is not None and state == states.AWAITING_KONBINI:
            form = {
                "ShopID": self.shop_id,
                "ShopPass": self.shop_pass,
                "AccessID": fields.get("AccessID", ""),
                "AccessPass": fields.get("AccessPass", ""),
                "OrderID": reference,
            }
            response = await self._request("POST", CVS_CANCEL_PATH, data=form)
            answer = _decode_form(response.content) if response.status_code == 200 else {"ErrCode": "HTTP"}
            if answer.get("ErrCode"):
                raise GatewayUnavailable(
                    f"gmo: konbini cancel failed {answer.get('ErrInfo', response.status_code)}"
                )
        elif state in (None, states.PENDING):
            body = {"ShopID": self.shop_id, "ShopPass": self.shop_pass, "OrderID": reference}
            response = await self._request("POST", REJECT_LINK_PATH, json=body)
            if response.status_code != 200:
                raise GatewayUnavailable(f"gmo: link cancel failed ({response.status_code})")


def _errors(data: object) -> str:
    if isinstance(data, list):
        return ",".join(str(item.get("errInfo", item)) for item in data if isinstance(item, dict))
    return "no JSON body"
