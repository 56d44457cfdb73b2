"""The sandbox's HTTP face: ``GET /api/remap/1.2/entity/<entity>/<id>``.

It checks what the real API checks before answering (gzip accepted, bearer token) and
answers the way it does: gzip-compressed JSON, errors as ``{"errors": [...]}``.
"""

import gzip
import hmac
import json
from typing import Any

from flask import Flask, Response, request

from sandbox.documents import SandboxDocuments, expand_paths, render
from shared.kladana_types import TRANSACTION_TYPES

API_PREFIX = "/api/remap/1.2"
DEFAULT_TOKEN = "sandbox-token"  # noqa: S105 - the sandbox's public demo token

# 1056 is the code Kladana answers a bad token with; 1021 stands for "not found" here.
_AUTHENTICATION_ERROR = 1056
_NOT_FOUND = 1021

# Kladana's docs also name Production Order ``processingorder``: both are entities.
_TRANSACTION_ENTITIES = frozenset(
    transaction_type.entity
    for name in TRANSACTION_TYPES.names
    if (transaction_type := TRANSACTION_TYPES.by_name(name))
) | {"processingorder"}


def create_app(documents: SandboxDocuments | None = None, token: str = DEFAULT_TOKEN) -> Flask:
    store = documents if documents is not None else SandboxDocuments.bundled()
    known_entities = store.entities | _TRANSACTION_ENTITIES
    app = Flask(__name__)

    @app.get(f"{API_PREFIX}/entity/<entity>/<document_id>")
    def get_document(entity: str, document_id: str) -> Response:
        if request.accept_encodings.quality("gzip") <= 0:
            return Response(status=415)  # as the real API: no body at all
        if not hmac.compare_digest(request.headers.get("Authorization", ""), f"Bearer {token}"):
            return _error(401, _AUTHENTICATION_ERROR, "Authentication error")
        if entity not in known_entities:
            return _error(404, _NOT_FOUND, f"Unknown entity type '{entity}'")
        document = store.find(entity, document_id)
        if document is None:
            return _error(404, _NOT_FOUND, f"Object with UUID '{document_id}' was not found")
        api_url = request.host_url.rstrip("/") + API_PREFIX
        expand = expand_paths(request.args.get("expand", ""))
        return _gzip_json(200, render(document, api_url=api_url, expand=expand))

    return app


def _error(status: int, code: int, message: str) -> Response:
    # The real API links its error table here; the sandbox's link has the same form.
    more_info = f"https://dev.kladana.com/api/remap/1.2/#error_{code}"
    return _gzip_json(status, {"errors": [{"error": message, "code": code, "moreInfo": more_info}]})


def _gzip_json(status: int, payload: Any) -> Response:
    body = gzip.compress(json.dumps(payload, ensure_ascii=False).encode("utf-8"))
    return Response(
        body,
        status=status,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json;charset=utf-8"},
    )
