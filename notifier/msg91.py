"""MSG91 (msg91.com), an Indian SMS gateway: its send API and its delivery reports.

Send: ``POST <MSG91_API_URL>/api/v2/sendsms`` with the ``authkey`` header and JSON
``{"sender", "route", "unicode", "DLT_TE_ID", "sms": [{"message", "to": [...]}]}``; the
answer ``{"type": "success", "message": "<request id>"}`` names the request, and a
request carries one message here, so that id is the message's. The principal entity
(PE ID) has no field in this API: MSG91 takes it from the sender ID and template mapped in
its panel. docs/channels.md, "MSG91", for the documents this follows.
"""

from typing import Any

import requests
from flask import Request
from pydantic import SecretStr

from notifier.delivery_reports import DeliveryReport
from notifier.errors import SmsRejected
from notifier.ledger_schema import DeliveryStatus
from notifier.segments import sms_length
from notifier.sms import Sms, json_field, post

SEND_PATH = "/api/v2/sendsms"

MSG91_STATUSES = {
    "SUBMITTED": DeliveryStatus.SENT,
    "SENT": DeliveryStatus.SENT,
    "PENDING": DeliveryStatus.SENT,
    "DELIVERED": DeliveryStatus.DELIVERED,
    "FAILED": DeliveryStatus.UNDELIVERED,
    "REJECTED": DeliveryStatus.UNDELIVERED,
    "REJECTED BY PROVIDER": DeliveryStatus.UNDELIVERED,
    "NDNC": DeliveryStatus.UNDELIVERED,
    "BLOCKED NUMBER": DeliveryStatus.UNDELIVERED,
    "AUTO FAILED": DeliveryStatus.UNDELIVERED,
    "OPT-OUT": DeliveryStatus.UNDELIVERED,
}
"""The ``desc`` of a report (MSG91's help page "Delivery Report" names these statuses)."""
MSG91_CODES = {
    "1": DeliveryStatus.DELIVERED,
    "2": DeliveryStatus.UNDELIVERED,
    "9": DeliveryStatus.UNDELIVERED,
    "16": DeliveryStatus.UNDELIVERED,
    "17": DeliveryStatus.UNDELIVERED,
    "25": DeliveryStatus.UNDELIVERED,
}
"""The numeric ``status`` its webhook page lists (delivered, failed, NDNC, rejected, blocked
number), for a ``desc`` not in :data:`MSG91_STATUSES`; a report known by neither is logged
and ignored."""


class Msg91Sender:
    def __init__(
        self,
        session: requests.Session,
        *,
        api_url: str,
        auth_key: SecretStr,
        sender: str,
        route: str,
        timeout_s: float,
    ) -> None:
        self._session = session
        self._url = api_url.rstrip("/") + SEND_PATH
        self._auth_key = auth_key
        self._sender = sender
        self._route = route
        self._timeout_s = timeout_s

    def send(self, sms: Sms) -> str | None:
        body: dict[str, Any] = {
            "sender": sms.sender or self._sender,
            "route": self._route,
            # MSG91 wants to be told a text is Unicode (Hindi): it is then sent as UCS-2.
            "unicode": 1 if sms_length(sms.text).encoding == "UCS-2" else 0,
            # The country code is in the number, which MSG91 takes without the "+".
            "sms": [{"message": sms.text, "to": [sms.to.removeprefix("+")]}],
        }
        if sms.dlt_template_id is not None:
            body["DLT_TE_ID"] = sms.dlt_template_id
        response = post(
            self._session,
            "MSG91",
            self._url,
            timeout_s=self._timeout_s,
            json=body,
            headers={"authkey": self._auth_key.get_secret_value()},
        )
        # MSG91 may refuse with HTTP 200 and "type": "error"; its message may quote the
        # number, so it is left out.
        if json_field(response, "type") != "success":
            raise SmsRejected("MSG91 refused the message: its answer was not a success")
        request_id = json_field(response, "message")
        return request_id if isinstance(request_id, str) else None


def msg91_reports(call: Request) -> list[DeliveryReport] | None:
    """The reports of one webhook call (MSG91's webhook version 3: one JSON object, or a
    list of them); None when the body is not that."""
    payload = call.get_json(silent=True)
    items = payload if isinstance(payload, list) else [payload]
    reports = []
    for item in items:
        if not isinstance(item, dict):
            return None
        request_id, desc = item.get("requestId"), item.get("desc")
        if not isinstance(request_id, str) or not isinstance(desc, str) or not request_id:
            return None
        reason, code = item.get("failedReason"), item.get("status")
        stage = MSG91_STATUSES.get(desc.strip().upper()) or MSG91_CODES.get(str(code))
        reports.append(
            DeliveryReport(
                provider="MSG91",
                message_id=request_id,
                provider_status=desc,
                status=stage,
                detail=reason if isinstance(reason, str) and reason else None,
            )
        )
    return reports
