"""The ingest Flask app: its routes, and JSON errors for everything that can go wrong."""

import json
import logging
import re

from flask import Flask, Response
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from ingest.routes import EventPublisher, json_error, webhook_blueprint
from ingest.settings import IngestSettings
from shared.kladana_types import TRANSACTION_TYPES

log = logging.getLogger("ingest")


def create_app(settings: IngestSettings, publisher: EventPublisher) -> Flask:
    """The WSGI app; ``publisher`` is the only way it reaches Kafka."""
    app = Flask(__name__)
    app.register_blueprint(
        webhook_blueprint(
            publisher,
            raw_topic=settings.raw_topic,
            token=settings.ingest_token,
            types=TRANSACTION_TYPES,
        )
    )
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    return app


def _http_error(error: HTTPException) -> ResponseReturnValue:
    """404, 405, 413 ... as JSON, keeping the headers werkzeug set (e.g. ``Allow``)."""
    response = error.get_response()
    code = re.sub(r"[^a-z0-9]+", "_", error.name.lower()).strip("_")
    response.data = json.dumps({"error": code, "message": error.description})
    response.content_type = "application/json"
    return response


def _unexpected_error(error: Exception) -> tuple[Response, int]:
    """A bug: logged with its traceback, answered as JSON without details."""
    log.error("unexpected error", exc_info=error)
    return json_error(500, "internal_error", "an unexpected error occurred; it has been logged")
