"""The sandbox's control endpoints under ``/__sandbox``: flip knobs mid-run, read counters.

They take the same bearer token as the API (no gzip needed) and answer plain JSON.
They are not rate limited and not counted in the stats.
"""

import logging

from flask import Blueprint, Response, jsonify, request
from pydantic import ValidationError

from sandbox.catalog import DocumentCatalog
from sandbox.faults import Knobs
from sandbox.handlers import AUTHENTICATION_ERROR, DocumentApi, kladana_error
from sandbox.stats import SandboxStats

CONTROL_PREFIX = "/__sandbox"

log = logging.getLogger("sandbox")


def control_blueprint(
    api: DocumentApi, knobs: Knobs, stats: SandboxStats, catalog: DocumentCatalog
) -> Blueprint:
    control = Blueprint("sandbox_control", __name__, url_prefix=CONTROL_PREFIX)

    @control.before_request
    def require_token() -> tuple[Response, int] | None:
        if api.token_of(request.headers.get("Authorization", "")) is None:
            refusal = kladana_error(401, AUTHENTICATION_ERROR, "Authentication error")
            return jsonify(refusal.payload), refusal.status
        return None

    @control.get("/faults")
    def show_faults() -> Response:
        return jsonify(knobs.current().model_dump())

    @control.put("/faults")
    def change_faults() -> tuple[Response, int]:
        changes = request.get_json(silent=True)
        if not isinstance(changes, dict):
            return _invalid(["the body must be a JSON object of knobs to change"])
        try:
            faults = knobs.update(changes)
        except ValidationError as error:
            problems = error.errors(include_input=False, include_url=False)
            return _invalid([f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in problems])
        log.info("sandbox knobs changed", extra={"faults": faults.model_dump()})
        return jsonify(faults.model_dump()), 200

    @control.get("/stats")
    def show_stats() -> Response:
        return jsonify(stats.snapshot())

    @control.post("/stats/reset")
    def reset_stats() -> Response:
        stats.reset()
        return jsonify(stats.snapshot())

    @control.delete("/documents/<entity>/<document_id>")
    def remove_document(entity: str, document_id: str) -> tuple[str, int]:
        catalog.remove(entity, document_id)
        log.info("sandbox document removed", extra={"entity": entity, "document_id": document_id})
        return "", 204

    @control.put("/documents/<entity>/<document_id>")
    def restore_document(entity: str, document_id: str) -> tuple[str, int]:
        catalog.restore(entity, document_id)
        return "", 204

    return control


def _invalid(problems: list[str]) -> tuple[Response, int]:
    return jsonify({"errors": [{"error": problem} for problem in problems]}), 400
