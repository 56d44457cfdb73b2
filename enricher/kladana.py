"""Kladana's JSON API (remap 1.2): fetch one document, turn every failure into our errors.

Rules from Kladana's docs: ``Accept-Encoding: gzip`` is mandatory (else 415), the token
goes in ``Authorization: Bearer``, 429 and 5xx may be retried, other 4xx must not be,
and ``X-Lognex-Retry-After`` is in milliseconds.
"""

import json
import math
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import requests
from pydantic import SecretStr

from enricher.errors import (
    DocumentNotFound,
    InvalidDocument,
    KladanaAuthFailed,
    KladanaRejected,
    KladanaUnavailable,
)
from shared.errors import PipelineError

EXPAND = "agent,state,organization,rate.currency"

# Kladana's rate bucket refills over 3 s: a 429 that does not say how long to wait
# waits that long, so the client never hammers through 429s (which gets it banned).
RATE_WINDOW_S = 3.0
_DETAIL_LIMIT = 200
_TAG = re.compile(r"<[^>]*>")


class KladanaClient:
    """Reads documents from Kladana's JSON API with one shared HTTP session."""

    def __init__(
        self, session: requests.Session, base_url: str, token: SecretStr, timeout_s: float
    ) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._timeout_s = timeout_s

    def fetch_document(self, entity: str, document_id: str) -> dict[str, Any]:
        """The document with its agent, state, organization and currency expanded."""
        what = f"{entity}/{document_id}"
        url = (
            f"{self._base_url}/entity/{quote(entity, safe='')}/{quote(document_id, safe='')}"
            f"?expand={EXPAND}"
        )
        headers = {
            "Authorization": f"Bearer {self._token.get_secret_value()}",
            "Accept-Encoding": "gzip",
            "Accept": "application/json;charset=utf-8",
        }
        try:
            response = self._session.get(url, headers=headers, timeout=self._timeout_s)
        except requests.Timeout as error:
            raise KladanaUnavailable(
                f"Kladana did not answer within {self._timeout_s}s for {what}"
            ) from error
        except requests.RequestException as error:
            raise KladanaUnavailable(
                f"Kladana unreachable for {what}: {type(error).__name__}"
            ) from error
        if not response.ok:
            raise self._error_for(response, what)
        try:
            document = response.json()
        except requests.JSONDecodeError as error:
            # A 200 that is not JSON comes from something in between (a proxy, a portal).
            raise KladanaUnavailable(
                f"Kladana answered {response.status_code} for {what} with a body that is not JSON"
            ) from error
        if not isinstance(document, dict):
            raise InvalidDocument(f"Kladana's answer for {what} is not a JSON object")
        return document

    def _error_for(self, response: requests.Response, what: str) -> PipelineError:
        status = response.status_code
        detail = describe_error_body(response.text).replace(
            self._token.get_secret_value(), "[token]"
        )
        message = f"Kladana answered {status} for {what}: {detail}"
        if status in (401, 403):
            return KladanaAuthFailed(message)
        if status == 404:
            return DocumentNotFound(message)
        if status == 429:
            return KladanaUnavailable(
                message, retry_after=retry_after_s(response.headers) or RATE_WINDOW_S
            )
        if status >= 500:
            return KladanaUnavailable(message, retry_after=retry_after_s(response.headers))
        return KladanaRejected(message)


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``X-Lognex-Retry-After``, which Kladana gives in milliseconds."""
    try:
        milliseconds = float(headers.get("X-Lognex-Retry-After", ""))
    except ValueError:
        return None
    return milliseconds / 1000.0 if math.isfinite(milliseconds) and milliseconds > 0 else None


def describe_error_body(text: str) -> str:
    """A short, one-line account of an error body: Kladana's JSON errors, HTML, or nothing."""
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    errors = parsed.get("errors") if isinstance(parsed, dict) else None
    if isinstance(errors, list) and errors:
        return "; ".join(_describe_error(error) for error in errors)
    plain = " ".join(_TAG.sub(" ", text).split())
    return _shorten(plain) if plain else "(empty body)"


def _describe_error(error: Any) -> str:
    if not isinstance(error, dict):
        return _shorten(str(error))
    text = _shorten(str(error.get("error") or error.get("error_message") or "unnamed error"))
    notes = [f"{key} {error[key]}" for key in ("code", "parameter") if error.get(key) is not None]
    return f"{text} ({', '.join(notes)})" if notes else text


def _shorten(text: str) -> str:
    return text if len(text) <= _DETAIL_LIMIT else text[:_DETAIL_LIMIT] + "..."
