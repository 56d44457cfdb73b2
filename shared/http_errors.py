"""Error answers as JSON, for every Flask app here: werkzeug's HTTP errors (404, 405,
413 ...) and the apps' own refusals, in one shape."""

import json
import re

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response


def json_http_error(error: HTTPException) -> Response:
    """``{"error": "method_not_allowed", "message": ...}``, keeping the headers werkzeug set
    (e.g. ``Allow``). Register with ``app.register_error_handler(HTTPException, ...)``."""
    response = error.get_response()
    code = re.sub(r"[^a-z0-9]+", "_", error.name.lower()).strip("_")
    response.data = json.dumps({"error": code, "message": error.description})
    response.content_type = "application/json"
    return response


def json_error(status: int, code: str, message: str) -> tuple[dict[str, str], int]:
    """An app's own refusal, as a Flask view returns it: ``{"error": code, "message": ...}``."""
    return {"error": code, "message": message}, status
