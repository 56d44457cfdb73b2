"""Exotel (exotel.com), an Indian SMS gateway: its send API and its status callbacks.

Send: ``POST <EXOTEL_API_URL>/v1/Accounts/<sid>/Sms/send.json`` with HTTP basic auth (API
key, API token) and the form ``From`` (the DLT header), ``To``, ``Body``, ``DltEntityId``,
``DltTemplateId``, ``EncodingType`` and ``StatusCallback``; the answer's
``SMSMessage.Sid`` names the message. Exotel posts a form with ``SmsSid`` and ``Status`` to
``StatusCallback``. docs/channels.md, "Exotel", for the documents this follows.
"""

import requests
from flask import Request
from pydantic import SecretStr

from notifier.delivery_reports import DeliveryReport
from notifier.ledger_schema import DeliveryStatus
from notifier.segments import sms_length
from notifier.sms import Sms, json_field, post

EXOTEL_STATUSES = {
    "queued": DeliveryStatus.QUEUED,
    "sending": DeliveryStatus.SENDING,
    "submitted": DeliveryStatus.SENT,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "failed": DeliveryStatus.UNDELIVERED,
    "failed_dnd": DeliveryStatus.UNDELIVERED,
    "expired": DeliveryStatus.UNDELIVERED,
    "undelivered": DeliveryStatus.UNDELIVERED,
}
"""``Status`` values of Exotel's "SMS Status Codes" page (``failed_dnd`` from its support
article on them); others are logged and ignored."""
HANDSET_DELIVERY = "DELIVERED_TO_HANDSET"
"""The ``DetailedStatus`` of a message the handset confirmed. Exotel's older pages make
``sent`` its final success (with this detail) and have no ``delivered``; its newer page adds
``delivered``: this detail makes either count as delivered."""


class ExotelSender:
    def __init__(
        self,
        session: requests.Session,
        *,
        api_url: str,
        account_sid: str,
        api_key: str,
        api_token: SecretStr,
        entity_id: str,
        sender: str,
        timeout_s: float,
        status_callback_url: str | None = None,
    ) -> None:
        self._session = session
        self._url = f"{api_url.rstrip('/')}/v1/Accounts/{account_sid}/Sms/send.json"
        self._api_key = api_key
        self._api_token = api_token
        self._entity_id = entity_id
        self._sender = sender
        self._timeout_s = timeout_s
        self._status_callback_url = status_callback_url

    def send(self, sms: Sms) -> str | None:
        form = {
            "From": sms.sender or self._sender,
            "To": sms.to,
            "Body": sms.text,
            "DltEntityId": self._entity_id,
            "EncodingType": "unicode" if sms_length(sms.text).encoding == "UCS-2" else "plain",
        }
        if sms.dlt_template_id is not None:
            form["DltTemplateId"] = sms.dlt_template_id
        if self._status_callback_url:
            form["StatusCallback"] = self._status_callback_url
        response = post(
            self._session,
            "Exotel",
            self._url,
            timeout_s=self._timeout_s,
            data=form,
            auth=(self._api_key, self._api_token.get_secret_value()),
        )
        message = json_field(response, "SMSMessage")
        sid = message.get("Sid") if isinstance(message, dict) else None
        return sid if isinstance(sid, str) else None


def exotel_reports(call: Request) -> list[DeliveryReport] | None:
    """The report of one status callback (a form); None when it lacks ``SmsSid`` or
    ``Status``."""
    form = call.form
    sid, status = form.get("SmsSid"), form.get("Status")
    if not sid or not status:
        return None
    code, detailed = form.get("DetailedStatusCode"), form.get("DetailedStatus")
    detail = " ".join(part for part in (code, detailed) if part) or None
    stage = EXOTEL_STATUSES.get(status.strip().lower())
    if stage is DeliveryStatus.SENT and (detailed or "").strip().upper() == HANDSET_DELIVERY:
        stage = DeliveryStatus.DELIVERED
    report = DeliveryReport(
        provider="Exotel", message_id=sid, provider_status=status, status=stage, detail=detail
    )
    return [report]
