"""Ingest's gunicorn worker: what gunicorn refuses before the app is answered with a JSON
error that quotes nothing of the request, with gunicorn's status and its log line."""

import json
import logging
import socket
from collections.abc import Iterator

import pytest
from gunicorn.config import Config
from gunicorn.http.errors import InvalidRequestLine, LimitRequestLine

from ingest.server import JsonLogger
from ingest.worker import JsonErrorWorker, json_answer

SECRET = "w0rker-s3cret"


@pytest.fixture
def worker() -> Iterator[JsonErrorWorker]:
    config = Config()
    worker = JsonErrorWorker(0, 0, [], None, 30, config, JsonLogger(config))
    yield worker
    worker.tmp.close()


def refused(worker: JsonErrorWorker, error: Exception) -> bytes:
    """What a client gets when gunicorn refuses its request with ``error``."""
    server_side, client_side = socket.socketpair()
    with server_side, client_side:
        worker.handle_error(None, server_side, ("192.0.2.1", 5000), error)
        server_side.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := client_side.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize(
    ("error", "status_line", "code"),
    [
        (
            InvalidRequestLine(f"GET /webhook/{SECRET}?id=\xff HTTP/1.1"),
            "400 Bad Request",
            "bad_request",
        ),
        (LimitRequestLine(9000, 8190), "414 Request URI Too Long", "request_uri_too_long"),
    ],
)
def test_a_request_gunicorn_refuses_gets_a_json_error_quoting_nothing(
    worker: JsonErrorWorker,
    caplog: pytest.LogCaptureFixture,
    error: Exception,
    status_line: str,
    code: str,
) -> None:
    with caplog.at_level(logging.WARNING, logger="gunicorn.error"):
        answer = refused(worker, error)

    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == f"HTTP/1.1 {status_line}".encode()
    assert b"Content-Type: application/json" in head
    assert b"Connection: close" in head
    assert json.loads(body)["error"] == code
    assert int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0]) == len(body)
    assert SECRET.encode() not in answer
    # Gunicorn's own warning is still written (masked on its way out).
    assert [record.levelname for record in caplog.records] == ["WARNING"]


def test_a_status_werkzeug_does_not_know_is_answered_as_a_500() -> None:
    assert json_answer(599).startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
