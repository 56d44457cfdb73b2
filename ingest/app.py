"""The ingest Flask app: its routes, and JSON errors for everything that can go wrong."""

import logging

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from ingest.access import AccessPolicy
from ingest.handlers import WebhookHandler
from ingest.routes import json_error, webhook_blueprint
from ingest.sink import EventSink
from shared.http_errors import json_http_error
from shared.kladana_types import TypeTable

log = logging.getLogger("ingest")


def create_app(
    handler: WebhookHandler,
    sink: EventSink,
    *,
    access: AccessPolicy,
    types: TypeTable,
    max_body_bytes: int,
) -> Flask:
    """The WSGI app over parts built elsewhere (:func:`ingest.wiring.build_app`):
    ``handler`` accepts webhooks into ``sink``, whose status ``/readyz`` and ``/metrics``
    report."""
    app = Flask(__name__)
    # Reading a larger body raises werkzeug's 413, answered as JSON below.
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    app.register_blueprint(webhook_blueprint(handler, sink, access=access, types=types))
    app.register_error_handler(HTTPException, json_http_error)
    app.register_error_handler(Exception, _unexpected_error)
    return app


def _unexpected_error(error: Exception) -> tuple[Response, int]:
    """A bug: logged with its traceback, answered as JSON without details."""
    log.error("unexpected error", exc_info=error)
    return json_error(500, "internal_error", "an unexpected error occurred; it has been logged")
