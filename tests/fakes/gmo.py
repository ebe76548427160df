"""A fake GMO-PG server (link type Plus, SearchTradeMulti, cancels) and messages built as GMO documents them."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import ssl
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import urlencode

from tests.fakes.http import FakeServer, RecordedRequest, Reply


@dataclass
class FakeGmoServer(FakeServer):
    shop_id: str = "tshop00012345"
    shop_pass: str = "shoppass1"
    # OrderID -> SearchTradeMulti fields (including PayType) of trades the member submitted.
    trades: dict[str, dict[str, str]] = field(default_factory=dict)
    links: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Pay at once for every link made (card paid, convenience-store number issued), as a person
    # following scripts/gateway_check.py's instructions would.
    auto_pay: bool = False

    def reset(self) -> None:
        super().reset()
        self.trades.clear()
        self.links.clear()
        self.auto_pay = False

    def _creds_ok(self, shop_id: object, shop_pass: object) -> bool:
        return shop_id == self.shop_id and shop_pass == self.shop_pass

    def handle(self, request: RecordedRequest) -> Reply:
        if request.path == "/payment/GetLinkplusUrlPayment.json":
            return self._link(request.json())
        if request.path == "/payment/SearchTradeMulti.idPass":
            return self._search(request.form())
        if request.path == "/payment/RejectLinkplusUrlPayment.json":
            body = request.json()
            if not self._creds_ok(body.get("ShopID"), body.get("ShopPass")):
                return Reply.json(400, [{"errCode": "E01", "errInfo": "E01030002"}])
            return Reply.json(200, {"OrderID": body["OrderID"], "Status": "REJECT"})
        if request.path == "/payment/CvsCancel.idPass":
            form = request.form()
            trade = self.trades.get(form.get("OrderID", ""))
            if not self._creds_ok(form.get("ShopID"), form.get("ShopPass")) or trade is None:
                return Reply.text(200, "ErrCode=E01&ErrInfo=E01110002")
            if form.get("AccessID") != trade.get("AccessID") or form.get("AccessPass") != trade.get(
                "AccessPass"
            ):
                return Reply.text(200, "ErrCode=E01&ErrInfo=E01110002")
            trade["Status"] = "CANCEL"
            return Reply.text(200, urlencode({"OrderID": form["OrderID"], "Status": "CANCEL"}))
        return Reply.json(404, {"error": "not found"})

    def _link(self, body: dict[str, Any]) -> Reply:
        params = body.get("geturlparam") or {}
        if not self._creds_ok(params.get("ShopID"), params.get("ShopPass")):
            return Reply.json(400, [{"errCode": "E01", "errInfo": "E01030002"}])
        transaction = body.get("transaction") or {}
        order_id = transaction.get("OrderID")
        if not order_id or not isinstance(transaction.get("Amount"), int):
            return Reply.json(400, [{"errCode": "E01", "errInfo": "E01040001"}])
        if order_id in self.links:
            return Reply.json(400, [{"errCode": "E01", "errInfo": "E01040010"}])
        expiry = transaction.get("PaymentExpireDate")
        if expiry is not None and not (isinstance(expiry, str) and re.fullmatch(r"[0-9]{12}", expiry)):
            # 決済可能期限 is yyyyMMddHHmm in Japan time.
            return Reply.json(400, [{"errCode": "E01", "errInfo": "E01999999"}])
        self.links[order_id] = body
        if self.auto_pay:
            self._pay(order_id, body)
        return Reply.json(
            200,
            {
                "OrderID": order_id,
                "LinkUrl": f"https://{LINK_HOST}/v1/plus/{self.shop_id}/checkout/{order_id}abc",
                "ProcessDate": "20250401120000",
            },
        )

    def _pay(self, order_id: str, body: dict[str, Any]) -> None:
        amount = body["transaction"]["Amount"]
        if body["transaction"]["PayMethods"] == ["credit"]:
            self.trades[order_id] = card_trade(order_id, amount=amount)
            return
        trade = cvs_trade(order_id, amount=amount)
        # GMO counts cvs.PaymentTermDay from the day the number is issued (0: that day), to 23:59:59.
        issued = datetime.strptime(trade["TranDate"], "%Y%m%d%H%M%S")
        days = int((body.get("cvs") or {}).get("PaymentTermDay", "0"))
        trade["PaymentTerm"] = (issued + timedelta(days=days)).strftime("%Y%m%d") + "235959"
        self.trades[order_id] = trade

    def member_returns(self, order_id: str, result: str = "PAYSUCCESS") -> tuple[str, bytes]:
        """What the member's browser does when they leave GMO's page: a cross-site form POST of
        `result` to the RetUrl given for the order (as WooCommerce and the PHP/Node samples read it).
        Returns (RetUrl, form body)."""
        transaction = self.links[order_id]["transaction"]
        payload = {
            "transactionresult": {
                "OrderID": order_id,
                "Result": result,
                "Processdate": "20250401121000",
                "Paymethod": "credit" if transaction["PayMethods"] == ["credit"] else "cvs",
            }
        }
        return transaction["RetUrl"], urlencode({"result": result_param(payload, self.shop_pass)}).encode()

    def hosted_page(self, order_id: str, result: str = "PAYSUCCESS") -> str:
        """GMO's payment page at LinkUrl, reduced to its last step: the button that sends the member's
        browser back to RetUrl with a form POST of `result` (for a browser test to serve at LinkUrl)."""
        ret_url, body = self.member_returns(order_id, result)
        value = body.decode("ascii").removeprefix("result=")
        return (
            '<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>GMO test page</title></head>'
            f'<body><form method="post" action="{ret_url}"><input type="hidden" name="result" '
            f'value="{value}"><button type="submit">加盟店サイトへ戻る</button></form></body></html>'
        )

    def link_site(self, tls: ssl.SSLContext) -> FakeGmoLinkSite:
        """GMO's payment pages (the LinkUrl host) over https, each reduced to `hosted_page`."""
        return FakeGmoLinkSite(gmo=self, tls=tls)

    def _search(self, form: dict[str, str]) -> Reply:
        if not self._creds_ok(form.get("ShopID"), form.get("ShopPass")):
            return Reply.text(200, "ErrCode=E01&ErrInfo=E01030002")
        trade = self.trades.get(form.get("OrderID", ""))
        if trade is None or trade.get("PayType", "0") != form.get("PayType"):
            return Reply.text(200, "ErrCode=M01&ErrInfo=M01004002")
        return Reply.text(200, urlencode(trade))


LINK_HOST: Final = "stg.link.mul-pay.jp"


@dataclass
class FakeGmoLinkSite(FakeServer):
    """The browser reaches it as https://stg.link.mul-pay.jp (a host resolver rule points the name here)."""

    gmo: FakeGmoServer = field(default_factory=FakeGmoServer)

    def handle(self, request: RecordedRequest) -> Reply:
        order_id = request.path.rsplit("/", 1)[1].removesuffix("abc")
        if request.method != "GET" or order_id not in self.gmo.links:
            return Reply.json(404, {"error": "not found"})
        return Reply(200, self.gmo.hosted_page(order_id).encode("utf-8"), "text/html; charset=utf-8")


def card_trade(order_id: str, status: str = "CAPTURE", amount: int = 5000) -> dict[str, str]:
    return {
        "OrderID": order_id,
        "Status": status,
        "ProcessDate": "20250401121000",
        "JobCd": status,
        "AccessID": "a" * 32,
        "AccessPass": "b" * 32,
        "Amount": str(amount),
        "Tax": "0",
        "TranID": "2504011210111111111111111111",
        "TranDate": "20250401121000",
        "PayType": "0",
    }


def cvs_trade(order_id: str, status: str = "REQSUCCESS", amount: int = 5000) -> dict[str, str]:
    return {
        "OrderID": order_id,
        "Status": status,
        "ProcessDate": "20250401121000",
        "AccessID": "c" * 32,
        "AccessPass": "d" * 32,
        "Amount": str(amount),
        "Tax": "0",
        "TranDate": "20250401121000",
        "PayType": "3",
        "CvsCode": "10002",
        "CvsConfNo": "400",
        "CvsReceiptNo": "123456789012",
        "PaymentTerm": "20250404235959",
    }


def notification_body(shop_id: str, trade: dict[str, str]) -> bytes:
    """A result notification as GMO posts it: form-encoded, no signature, shop pass masked."""
    fields = {"ShopID": shop_id, "ShopPass": "**********", "ErrCode": "", "ErrInfo": ""}
    fields.update({k: v for k, v in trade.items() if k not in {"ProcessDate"}})
    return urlencode(fields).encode("ascii")


def result_param(payload: dict[str, Any], shop_pass: str) -> str:
    """The `result` GMO adds to RetUrl: Base64URL(JSON) "." SHA-256 hex of (that text + shop pass)."""
    encoded = base64.urlsafe_b64encode(json.dumps(payload).encode("utf-8")).decode("ascii").rstrip("=")
    return encoded + "." + hashlib.sha256((encoded + shop_pass).encode("utf-8")).hexdigest()
