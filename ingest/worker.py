"""Gunicorn's threaded worker, answering what gunicorn refuses itself with JSON.

A request gunicorn cannot parse (a malformed request line, header or chunk; a request line
or header block over its limits) is answered before the app sees it, with an HTML page
that quotes the offending line, token and all. This worker keeps gunicorn's decision (the
status) and its logging, and replaces only the page: a JSON error like the app's, which
echoes nothing of the request.
"""

from typing import Any

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker
from werkzeug.exceptions import InternalServerError, default_exceptions

from shared.http_errors import json_http_error


class JsonErrorWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn ships no type hints
    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        page = _ErrorPage()
        super().handle_error(req, page, addr, exc)
        try:
            util.write_nonblock(client, json_answer(page.status))
        except Exception:  # the client may be gone; gunicorn does the same
            self.log.debug("Failed to send error message.")


def json_answer(status: int) -> bytes:
    """The whole HTTP answer: werkzeug's JSON error of ``status`` (500 for a status it
    does not know), and the connection closes, as after any of gunicorn's errors."""
    error = default_exceptions.get(status, InternalServerError)()
    body = json_http_error(error).get_data()
    head = (
        f"HTTP/1.1 {error.code} {error.name}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class _ErrorPage:
    """Stands in for the client's socket while gunicorn writes its error page; keeps only
    the page's status."""

    status = 500

    def gettimeout(self) -> float:
        # Non-blocking, so util.write_nonblock writes at once without changing the mode.
        return 0.0

    def sendall(self, data: bytes) -> None:
        # "HTTP/1.1 400 Bad Request\r\n...": gunicorn's own words, never the request's.
        self.status = int(data.split(b" ", 2)[1])
