"""Kladana's JSON API (remap 1.2): fetch one document, turn every failure into our errors.

Rules from Kladana's docs: ``Accept-Encoding: gzip`` is mandatory (else 415), the token
goes in ``Authorization: Bearer``, 429 and 5xx may be retried, other 4xx must not be,
and ``X-Lognex-Retry-After`` is in milliseconds.

A document is fetched with the ``expand`` its type asks for (``shared/kladana_types.py``).
Should Kladana refuse that expand anyway (400/412 naming ``expand``, code 1089), the
document is fetched once more without it: a refused expand never costs the document.

Each call makes ONE attempt inside a limiter's slot (:mod:`enricher.limiting`) and feeds
the answer's rate-limit headers back to it; retrying is the caller's job.
"""

import json
import logging
import math
import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

import requests
from pydantic import SecretStr

from enricher.bucket import ServerQuota
from enricher.errors import (
    DocumentNotFound,
    InvalidDocument,
    KladanaAuthFailed,
    KladanaRejected,
    KladanaUnavailable,
    TypeForbidden,
)
from enricher.limiting import Limiter, Permit
from enricher.metrics import KladanaMetrics, default_enricher_metrics
from shared.errors import PipelineError

log = logging.getLogger(__name__)

# Kladana's rate bucket refills over 3 s: a 429 that does not say how long to wait
# waits that long, so the client never hammers through 429s (which gets it banned).
RATE_WINDOW_S = 3.0
# "Too many parallel requests": Kladana is serving more of ours than the limiter counts.
PARALLEL_LIMIT_CODE = 1073
# "Access denied: you do not have permission to view this item": one type, not the token.
TYPE_FORBIDDEN_CODE = 1016
# "Expand field {path} is not supported".
EXPAND_UNSUPPORTED_CODE = 1089
_DETAIL_LIMIT = 200
# Error bodies travel in dead-letter headers: enough for Kladana's JSON errors, not a page.
_BODY_LIMIT = 1000
_TAG = re.compile(r"<[^>]*>")


class KladanaClient:
    """Reads documents from Kladana's JSON API with one shared HTTP session and limiter."""

    def __init__(
        self,
        session: requests.Session,
        base_url: str,
        token: SecretStr,
        timeout_s: float,
        *,
        limiter: Limiter,
        metrics: KladanaMetrics | None = None,
    ) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._timeout_s = timeout_s
        self._limiter = limiter
        self._metrics = metrics or default_enricher_metrics().kladana

    def fetch_document(
        self, entity: str, document_id: str, expand: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """The document with the references in ``expand`` inlined, or without them when
        Kladana refuses to expand them."""
        try:
            return self._fetch(entity, document_id, expand)
        except ExpandRefused as refused:
            log.warning(
                "Kladana refused the expand; fetching without it",
                extra={"entity": entity, "expand": ",".join(expand), "reason": str(refused)},
            )
            self._metrics.expand_refused.labels(entity).inc()
            return self._fetch(entity, document_id, ())

    def _fetch(self, entity: str, document_id: str, expand: tuple[str, ...]) -> dict[str, Any]:
        what = f"{entity}/{document_id}"
        url = f"{self._base_url}/entity/{quote(entity, safe='')}/{quote(document_id, safe='')}"
        if expand:
            url += f"?expand={','.join(expand)}"
        headers = {
            "Authorization": f"Bearer {self._token.get_secret_value()}",
            "Accept-Encoding": "gzip",
            "Accept": "application/json;charset=utf-8",
        }
        with self._limiter.slot() as permit:
            response = self._get(url, headers, what, permit)
            # Before the slot is released, so a 429's pause holds back the next caller too.
            permit.observe(server_quota(response))
            codes = error_codes(response.text) if response.status_code == 429 else set()
            if PARALLEL_LIMIT_CODE in codes:
                # Requests we gave up on are still running there: one slot fewer for a
                # window, or a Kladana that hangs every request earns us 429s by the minute.
                permit.count_abandoned(RATE_WINDOW_S)
        if response.status_code == 429:
            for code in sorted(str(code) for code in codes) or ["none"]:
                self._metrics.rate_limited.labels(code).inc()
        if not response.ok:
            raise self._error_for(response, what, entity=entity, expanded=bool(expand))
        try:
            document = response.json()
        except requests.JSONDecodeError as error:
            # A 200 that is not JSON comes from something in between (a proxy, a portal).
            raise KladanaUnavailable(
                f"Kladana answered {response.status_code} for {what} with a body that is not JSON",
                status=response.status_code,
                body=self._error_body(response.text),
            ) from error
        except RecursionError:
            raise InvalidDocument(
                f"Kladana's answer for {what} is JSON nested too deeply to read",
                status=response.status_code,
                body=self._error_body(response.text),
            ) from None
        if not isinstance(document, dict):
            raise InvalidDocument(
                f"Kladana's answer for {what} is not a JSON object",
                status=response.status_code,
                body=self._error_body(response.text),
            )
        return document

    def _get(
        self, url: str, headers: dict[str, str], what: str, permit: Permit
    ) -> requests.Response:
        try:
            with self._metrics.request_seconds.time():
                response = self._session.get(url, headers=headers, timeout=self._timeout_s)
        except requests.Timeout as error:
            self._metrics.requests.labels("timeout").inc()
            # Kladana may still be serving it: assume it is done within another timeout.
            permit.count_abandoned(self._timeout_s)
            raise KladanaUnavailable(
                f"Kladana did not answer within {self._timeout_s}s for {what}"
            ) from error
        except requests.RequestException as error:
            self._metrics.requests.labels("unreachable").inc()
            raise KladanaUnavailable(
                f"Kladana unreachable for {what}: {type(error).__name__}"
            ) from error
        self._metrics.requests.labels(f"{response.status_code // 100}xx").inc()
        return response

    def _error_for(
        self, response: requests.Response, what: str, *, entity: str, expanded: bool
    ) -> PipelineError:
        status = response.status_code
        # Scrubbed before anything shortens it: a cut token would no longer match.
        scrubbed = self._scrubbed(response.text)
        message = f"Kladana answered {status} for {what}: {describe_error_body(scrubbed)}"
        body = _truncated(scrubbed)
        if status == 403 and is_type_forbidden(scrubbed, entity):
            return TypeForbidden(f"forbidden: {message}", status=status, body=body)
        if status in (401, 403):
            return KladanaAuthFailed(message, status=status, body=body)
        if expanded and status in (400, 412) and is_expand_refusal(scrubbed):
            return ExpandRefused(message, status=status, body=body)
        if status == 404:
            return DocumentNotFound(message, status=status, body=body)
        if status == 429 or status >= 500:
            retry_after = rate_limit_pause_s(response) or retry_after_s(response.headers)
            return KladanaUnavailable(message, retry_after=retry_after, status=status, body=body)
        return KladanaRejected(message, status=status, body=body)

    def _error_body(self, text: str) -> str:
        return _truncated(self._scrubbed(text))

    def _scrubbed(self, text: str) -> str:
        """``text`` without our token: gateways may echo the request back."""
        return text.replace(self._token.get_secret_value(), "[token]")


class ExpandRefused(KladanaRejected):
    """Kladana refused the ``expand`` of the request: the client fetches again without it."""


def _truncated(body: str) -> str:
    return body if len(body) <= _BODY_LIMIT else body[:_BODY_LIMIT] + "..."


def rate_limit_pause_s(response: requests.Response) -> float | None:
    """How long a 429 tells every caller to wait; a full window when it does not say."""
    if response.status_code != 429:
        return None
    return retry_after_s(response.headers) or RATE_WINDOW_S


def server_quota(response: requests.Response) -> ServerQuota:
    """The rate-limit headers of an answer (Kladana gives its times in milliseconds)."""
    interval_ms = header_count(response.headers, "X-Lognex-Retry-TimeInterval")
    return ServerQuota(
        remaining=header_count(response.headers, "X-RateLimit-Remaining"),
        limit=header_count(response.headers, "X-RateLimit-Limit") or None,
        interval_s=interval_ms / 1000.0 if interval_ms else None,
        retry_after_s=rate_limit_pause_s(response),
    )


def header_count(headers: Mapping[str, str], name: str) -> int | None:
    """A non-negative whole number from header ``name``; ``None`` if missing or odd."""
    try:
        count = int(headers.get(name, "").strip())
    except ValueError:
        return None
    return count if count >= 0 else None


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``X-Lognex-Retry-After``, which Kladana gives in milliseconds."""
    try:
        milliseconds = float(headers.get("X-Lognex-Retry-After", ""))
    except ValueError:
        return None
    return milliseconds / 1000.0 if math.isfinite(milliseconds) and milliseconds > 0 else None


def error_codes(text: str) -> set[int]:
    """The ``code`` of each error in a Kladana error body; none for any other body."""
    return {e["code"] for e in _errors(text) if isinstance(e.get("code"), int)}


def is_type_forbidden(text: str, entity: str) -> bool:
    """Whether a 403's body refuses one type of document (code 1016, or an error naming
    ``entity``) rather than our token."""
    # A whole word: the entity "move" is not named by "remove".
    named = re.compile(rf"\b{re.escape(entity.lower())}\b")
    return any(
        error.get("code") == TYPE_FORBIDDEN_CODE or named.search(_error_text(error))
        for error in _errors(text)
    )


def is_expand_refusal(text: str) -> bool:
    """Whether an error body refuses the request's ``expand`` (code 1089, or an error about
    the ``expand`` parameter)."""
    return any(
        error.get("code") == EXPAND_UNSUPPORTED_CODE
        or error.get("parameter") == "expand"
        or "expand" in _error_text(error)
        for error in _errors(text)
    )


def _errors(text: str) -> Iterator[Mapping[str, Any]]:
    """The error objects of a Kladana error body; none for any other body."""
    parsed = _parsed_or_none(text)
    errors = parsed.get("errors") if isinstance(parsed, dict) else None
    if isinstance(errors, list):
        yield from (error for error in errors if isinstance(error, dict))


def _error_text(error: Mapping[str, Any]) -> str:
    return " ".join(str(error.get(key) or "") for key in ("error", "error_message")).lower()


def describe_error_body(text: str) -> str:
    """A short, one-line account of an error body: Kladana's JSON errors, HTML, or nothing."""
    parsed = _parsed_or_none(text)
    errors = parsed.get("errors") if isinstance(parsed, dict) else None
    if isinstance(errors, list) and errors:
        return "; ".join(_describe_error(error) for error in errors)
    plain = " ".join(_TAG.sub(" ", text).split())
    return _shorten(plain) if plain else "(empty body)"


def _parsed_or_none(text: str) -> Any:
    """The JSON in ``text``; ``None`` when it is not JSON or nested too deeply to parse."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _describe_error(error: Any) -> str:
    if not isinstance(error, dict):
        return _shorten(str(error)) or "unnamed error"
    named = error.get("error") or error.get("error_message") or ""
    text = _shorten(str(named)) or "unnamed error"
    notes = [
        f"{key} {_shorten(str(error[key]))}"
        for key in ("code", "parameter")
        if error.get(key) is not None
    ]
    return f"{text} ({', '.join(notes)})" if notes else text


def _shorten(text: str) -> str:
    """``text`` on one line (it ends up in a log line and a header), cut to a detail's
    length."""
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_LIMIT else text[:_DETAIL_LIMIT] + "..."
