"""The sandbox's HTTP face and wiring: ``GET /api/remap/1.2/entity/<entity>/<id>``.

It checks what the real API checks before answering (gzip accepted, bearer token, rate
limits) and answers the way it does: gzip-compressed JSON, errors as
``{"errors": [...]}``. The knobs and counters live under ``/__sandbox``
(:mod:`sandbox.control`); ``docs/sandbox.md`` describes them all. Beside it, fakes of the
SMS gateways MSG91 and Exotel (:mod:`sandbox.sms_gateways`, :mod:`sandbox.sms_control`), and of
Meta's WhatsApp Cloud API (:mod:`sandbox.whatsapp`).
"""

import gzip
import json
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request

from sandbox.catalog import DocumentCatalog
from sandbox.control import control_blueprint
from sandbox.documents import SandboxDocuments, expand_paths
from sandbox.faults import Faults, Knobs
from sandbox.handlers import DocumentApi, DocumentRequest, Reply
from sandbox.limits import Clock, RateLimiter, RateLimits
from sandbox.sms_control import sms_control_blueprint
from sandbox.sms_gateways import SmsInbox, exotel_blueprint, msg91_blueprint
from sandbox.stats import SandboxStats
from sandbox.whatsapp import (
    WhatsAppFake,
    WhatsAppInbox,
    whatsapp_blueprint,
    whatsapp_control_blueprint,
)

API_PREFIX = "/api/remap/1.2"
DEFAULT_TOKEN = "sandbox-token"  # noqa: S105 - the sandbox's public demo token


def create_app(
    documents: SandboxDocuments | None = None,
    token: str = DEFAULT_TOKEN,
    *,
    user_token: str | None = None,
    limits: RateLimits | None = None,
    faults: Faults | None = None,
    clock: Clock = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    sms_inbox: SmsInbox | None = None,
    msg91_webhook_url: str | None = None,
    whatsapp: WhatsAppFake | None = None,
    whatsapp_inbox: WhatsAppInbox | None = None,
) -> Flask:
    """The sandbox; ``token`` is an application token, ``user_token`` a user's (dearer).
    ``msg91_webhook_url``: where the fake MSG91 posts reports (MSG91 takes it in its panel).
    ``whatsapp``: the fake WhatsApp Cloud API's token, app secret and webhook URL;
    ``whatsapp_inbox``: what it received and the numbers it treats as not on WhatsApp."""
    limits = limits or RateLimits()
    token_costs = {token: limits.application_cost}
    if user_token is not None:
        token_costs[user_token] = limits.user_cost
    catalog = DocumentCatalog(documents if documents is not None else SandboxDocuments.bundled())
    knobs = Knobs(faults or Faults())
    stats = SandboxStats()
    api = DocumentApi(
        catalog=catalog,
        token_costs=token_costs,
        limiter=RateLimiter(limits, clock),
        knobs=knobs,
        stats=stats,
        sleep=sleep,
    )
    app = Flask(__name__)
    app.register_blueprint(control_blueprint(api, knobs, stats, catalog))
    inbox = sms_inbox if sms_inbox is not None else SmsInbox()
    app.register_blueprint(msg91_blueprint(inbox))
    app.register_blueprint(exotel_blueprint(inbox))
    app.register_blueprint(
        sms_control_blueprint(
            inbox,
            lambda authorization: api.token_of(authorization) is not None,
            msg91_webhook_url=msg91_webhook_url,
        )
    )
    whatsapp_inbox = whatsapp_inbox or WhatsAppInbox()
    app.register_blueprint(whatsapp_blueprint(whatsapp_inbox, whatsapp or WhatsAppFake()))
    app.register_blueprint(
        whatsapp_control_blueprint(
            whatsapp_inbox, lambda authorization: api.token_of(authorization) is not None
        )
    )

    @app.get(f"{API_PREFIX}/entity/<entity>/<document_id>")
    def get_document(entity: str, document_id: str) -> Response:
        call = DocumentRequest(
            entity=entity,
            document_id=document_id,
            authorization=request.headers.get("Authorization", ""),
            accepts_gzip=request.accept_encodings.quality("gzip") > 0,
            expand=expand_paths(request.args.get("expand", "")),
            api_url=request.host_url.rstrip("/") + API_PREFIX,
        )
        return _response(api.get_document(call))

    return app


def _response(reply: Reply) -> Response:
    headers = dict(reply.headers)
    if reply.html is not None:
        headers["Content-Type"] = "text/html"
        return Response(reply.html, status=reply.status, headers=headers)
    if reply.payload is None:
        return Response(status=reply.status, headers=headers)
    return Response(_gzip_json(reply.payload), status=reply.status, headers=headers | _GZIP_JSON)


_GZIP_JSON = {"Content-Encoding": "gzip", "Content-Type": "application/json;charset=utf-8"}


def _gzip_json(payload: Any) -> bytes:
    return gzip.compress(json.dumps(payload, ensure_ascii=False).encode("utf-8"))
