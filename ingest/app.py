"""The ingest Flask app: its routes, and JSON errors for everything that can go wrong."""

import logging

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from ingest.access import AccessPolicy
from ingest.request_ids import RequestIds
from ingest.routes import json_error, webhook_blueprint
from ingest.settings import IngestSettings
from ingest.sink import EventSink
from shared.http_errors import json_http_error
from shared.kladana_types import TRANSACTION_TYPES

log = logging.getLogger("ingest")


def create_app(settings: IngestSettings, sink: EventSink) -> Flask:
    """The WSGI app; ``sink`` is where accepted events go (see :mod:`ingest.durable`)."""
    app = Flask(__name__)
    # Reading a larger body raises werkzeug's 413, answered as JSON below.
    app.config["MAX_CONTENT_LENGTH"] = settings.ingest_max_body_bytes
    app.register_blueprint(
        webhook_blueprint(
            sink,
            access=AccessPolicy(
                tokens=settings.tokens,
                allowed_networks=settings.ingest_allowed_networks,
                trusted_proxies=settings.ingest_trusted_proxies,
            ),
            request_ids=RequestIds(
                settings.ingest_spool_dir, ttl_s=settings.ingest_request_id_ttl_s
            ),
            types=TRANSACTION_TYPES,
            request_id_wait_s=settings.ingest_request_id_wait_ms / 1000,
        )
    )
    app.register_error_handler(HTTPException, json_http_error)
    app.register_error_handler(Exception, _unexpected_error)
    return app


def _unexpected_error(error: Exception) -> tuple[Response, int]:
    """A bug: logged with its traceback, answered as JSON without details."""
    log.error("unexpected error", exc_info=error)
    return json_error(500, "internal_error", "an unexpected error occurred; it has been logged")
