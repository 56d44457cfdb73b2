"""What the sandbox answers a document request, in the order Kladana checks things.

Outage (a gateway's 503) -> gzip accepted (415) -> bearer token (401) -> 429 storm ->
parallel cap (429 1073) -> rate bucket (429 1049) -> latency, hangs and injected 5xx ->
a forbidden type (403 1016) -> the document (404) -> its expand (400 1089) -> 200. Every
answer to an authenticated request carries the token's rate-limit headers.
"""

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sandbox.catalog import DocumentCatalog
from sandbox.documents import render
from sandbox.expand import unsupported_expand
from sandbox.faults import Knobs
from sandbox.limits import PARALLEL_LIMIT_EXCEEDED, RATE_LIMIT_EXCEEDED, Quota, RateLimiter
from sandbox.stats import SandboxStats

# 1056 is the code Kladana answers a bad token with; 1021 stands for "not found" here
# and 1000 for an injected internal error (the sandbox's choice: the docs list neither).
AUTHENTICATION_ERROR = 1056
NOT_FOUND = 1021
INTERNAL_ERROR = 1000
# Kladana's codes for a type this user may not view, and for an expand it does not support.
TYPE_FORBIDDEN = 1016
EXPAND_UNSUPPORTED = 1089

# What a proxy in front of the API answers when the API is down: HTML, not JSON.
GATEWAY_PAGE = "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"

_RATE_LIMIT_MESSAGES = {
    RATE_LIMIT_EXCEEDED: "Rate limit exceeded: too many requests in the time window",
    PARALLEL_LIMIT_EXCEEDED: "Too many parallel requests",
}


@dataclass(frozen=True)
class DocumentRequest:
    """``GET /entity/<entity>/<id>`` as the transport hands it over."""

    entity: str
    document_id: str
    authorization: str
    accepts_gzip: bool
    expand: frozenset[str]
    api_url: str


@dataclass(frozen=True)
class Reply:
    """An answer: a JSON payload (None: no body) or a gateway's HTML page."""

    status: int
    payload: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    error_code: int | None = None
    html: str | None = None


def kladana_error(
    status: int,
    code: int,
    message: str,
    headers: Mapping[str, str] | None = None,
    *,
    parameter: str | None = None,
) -> Reply:
    # The real API links its error table here; the sandbox's link has the same form.
    more_info = f"https://dev.kladana.com/api/remap/1.2/#error_{code}"
    error: dict[str, Any] = {"error": message, "code": code, "moreInfo": more_info}
    if parameter is not None:
        error["parameter"] = parameter
    payload = {"errors": [error]}
    return Reply(status, payload, headers or {}, error_code=code)


class DocumentApi:
    """The sandbox's API behaviour; every collaborator is handed in."""

    def __init__(
        self,
        *,
        catalog: DocumentCatalog,
        token_costs: Mapping[str, int],
        limiter: RateLimiter,
        knobs: Knobs,
        stats: SandboxStats,
        sleep: Callable[[float], None],
    ) -> None:
        self._catalog = catalog
        self._token_costs = dict(token_costs)
        self._limiter = limiter
        self._knobs = knobs
        self._stats = stats
        self._sleep = sleep

    def token_of(self, authorization: str) -> str | None:
        """The accepted token an ``Authorization`` header carries, if any."""
        for token in self._token_costs:
            if hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode()):
                return token
        return None

    def get_document(self, call: DocumentRequest) -> Reply:
        self._stats.started(call.document_id)
        reply = Reply(500)  # what Flask answers should _answer raise
        try:
            reply = self._answer(call)
        finally:
            self._stats.finished(reply.status, reply.error_code)
        return reply

    def _answer(self, call: DocumentRequest) -> Reply:
        faults = self._knobs.current()
        if faults.outage:
            return Reply(503, html=GATEWAY_PAGE)
        if not call.accepts_gzip:
            return Reply(415)  # as the real API: no body at all
        token = self.token_of(call.authorization)
        if token is None:
            return kladana_error(401, AUTHENTICATION_ERROR, "Authentication error")
        if faults.rate_limit_storm:
            quota = Quota.exhausted(self._limiter.limits)
            return kladana_error(
                429, RATE_LIMIT_EXCEEDED, _RATE_LIMIT_MESSAGES[RATE_LIMIT_EXCEEDED], quota.headers()
            )
        with self._limiter.admit(token, self._token_costs[token]) as admission:
            headers = admission.quota.headers()
            if admission.refusal is not None:
                message = _RATE_LIMIT_MESSAGES[admission.refusal]
                return kladana_error(429, admission.refusal, message, headers)
            fate = self._knobs.roll()
            if fate.delay_s > 0:
                self._sleep(fate.delay_s)
            if fate.error == 503:
                return Reply(503, headers=headers, html=GATEWAY_PAGE)
            if fate.error == 500:
                return kladana_error(500, INTERNAL_ERROR, "Internal server error", headers)
            if call.entity in faults.forbidden_entities:
                message = (
                    "Access Denied: You do not have permission to view this item"
                    f" (type '{call.entity}')"
                )
                return kladana_error(403, TYPE_FORBIDDEN, message, headers)
            return self._document(call, headers, synthesize=faults.synthesize)

    def _document(
        self, call: DocumentRequest, headers: Mapping[str, str], *, synthesize: bool
    ) -> Reply:
        if call.entity not in self._catalog.entities:
            return kladana_error(404, NOT_FOUND, f"Unknown entity type '{call.entity}'", headers)
        document = self._catalog.find(call.entity, call.document_id, synthesize=synthesize)
        if document is None:
            message = f"Object with UUID '{call.document_id}' was not found"
            return kladana_error(404, NOT_FOUND, message, headers)
        refused = unsupported_expand(call.entity, call.expand)
        if refused is not None:
            message = f"Expand field {refused} is not supported"
            return kladana_error(400, EXPAND_UNSUPPORTED, message, headers, parameter="expand")
        linked = self._catalog.linked
        rendered = render(document, api_url=call.api_url, expand=call.expand, linked=linked)
        return Reply(200, rendered, headers)
