"""The ingest Flask app: its routes, the body limit, and JSON errors for everything that can
go wrong, none of which echoes a configured token."""

import logging
from collections.abc import Callable

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ingest.access import AccessPolicy
from ingest.handlers import WebhookHandler
from ingest.redaction import SecretMask
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
    # Werkzeug's 413 (answered as JSON below) for a Content-Length over the limit, and
    # its limit on how much of a chunked body is read.
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    app.register_blueprint(webhook_blueprint(handler, sink, access=access, types=types))
    # After the blueprint's clock, so that a refused body is timed and counted too.
    app.before_request(_body_limit(max_body_bytes))
    app.after_request(_masked_answers(SecretMask(access.tokens)))
    app.register_error_handler(HTTPException, json_http_error)
    app.register_error_handler(Exception, _unexpected_error)
    return app


def _body_limit(max_body_bytes: int) -> Callable[[], None]:
    def refuse_a_body_over_the_limit() -> None:
        """Every request, whatever its route does with a body: a larger one gets 413 before
        it is read whole. A chunked body has no length to check first, so it is read up to
        the limit (the routes find it cached) and then one byte further, which must not
        exist; the server sets the chunked stream's end (``wsgi.input_terminated``)."""
        body = request.get_data()
        if (
            request.content_length is None
            and len(body) >= max_body_bytes
            and request.environ["wsgi.input"].read(1)
        ):
            raise RequestEntityTooLarge()

    return refuse_a_body_over_the_limit


def _masked_answers(mask: SecretMask) -> Callable[[Response], Response]:
    def mask_the_answer(response: Response) -> Response:
        """An answer may quote what the request sent (a parameter's name, a requestId):
        never a configured token, wherever it was sent."""
        text = response.get_data(as_text=True)
        masked = mask(text)
        if masked != text:
            response.set_data(masked)
        return response

    return mask_the_answer


def _unexpected_error(error: Exception) -> tuple[Response, int]:
    """A bug: logged with its traceback, answered as JSON without details."""
    log.error("unexpected error", exc_info=error)
    return json_error(500, "internal_error", "an unexpected error occurred; it has been logged")
