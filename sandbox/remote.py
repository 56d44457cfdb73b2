"""The sandbox's control endpoints (``/__sandbox``) seen from another process, over HTTP.

Tests and benchmarks that drive a sandbox served on a real port flip its knobs, read its
counters and delete documents through this, exactly as ``docs/sandbox.md`` shows with curl.
"""

from typing import Any

import requests

from sandbox.control import CONTROL_PREFIX

TIMEOUT_S = 10.0


class SandboxControl:
    """``SandboxControl("http://127.0.0.1:8081", token)``: the root URL, not the API's."""

    def __init__(self, root_url: str, token: str, *, session: requests.Session | None = None):
        self._base = root_url.rstrip("/") + CONTROL_PREFIX
        self._headers = {"Authorization": f"Bearer {token}"}
        self._session = session or requests.Session()

    def set_faults(self, **knobs: Any) -> dict[str, Any]:
        """Change the named knobs (``latency_ms=100``, ``error_rate=0.2``...); all knobs now."""
        return self._json("PUT", "/faults", json=knobs)

    def stats(self) -> dict[str, Any]:
        return self._json("GET", "/stats")

    def reset_stats(self) -> dict[str, Any]:
        return self._json("POST", "/stats/reset")

    def remove_document(self, entity: str, document_id: str) -> None:
        """From now on the document is a 404, as if deleted in Kladana."""
        self._call("DELETE", f"/documents/{entity}/{document_id}")

    def restore_document(self, entity: str, document_id: str) -> None:
        self._call("PUT", f"/documents/{entity}/{document_id}")

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        answer: dict[str, Any] = self._call(method, path, **kwargs).json()
        return answer

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = self._session.request(
            method, self._base + path, headers=self._headers, timeout=TIMEOUT_S, **kwargs
        )
        response.raise_for_status()
        return response
