"""``INGEST_MAX_BODY_BYTES`` on every request: a larger body gets a JSON 413 whatever the
route, chunked or not, and is read no further than the limit (plus one byte)."""

import io
import json
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from ingest.settings import IngestSettings
from ingest.wiring import build_app
from tests.helpers import native_webhook_body
from tests.unit.ingest_fakes import RecordingSink

LIMIT = 1000
DOCUMENT_ID = "34efe2ee-015e-11e6-9464-e4de0000006b"
WORKFLOW = f"/webhook?id={DOCUMENT_ID}&type=Move"
NATIVE = "/webhook?requestId=r-1"
NATIVE_BODY = native_webhook_body(DOCUMENT_ID)
# What gunicorn puts in every environ: it ends a chunked body itself, so the app may read
# a body that has no Content-Length (without it werkzeug hands the app an empty body).
GUNICORN = {"wsgi.input_terminated": True}


class CountingStream(io.RawIOBase):
    """A chunked body of ``size`` bytes as a server hands it over, counting what was read."""

    def __init__(self, size: int, byte: bytes = b" ") -> None:
        self._left = size
        self._byte = byte
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self._left)
        buffer[:count] = self._byte * count
        self._left -= count
        self.read_bytes += count
        return count


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def client(tmp_path: Path, sink: RecordingSink) -> FlaskClient:
    settings = IngestSettings(ingest_spool_dir=tmp_path / "spool", ingest_max_body_bytes=LIMIT)
    return build_app(settings, sink).test_client()


def chunked(
    client: FlaskClient, path: str, body: io.RawIOBase | io.BytesIO, method: str = "POST"
) -> TestResponse:
    """As gunicorn hands a chunked request to the app: no length, the body as a stream."""
    return client.open(
        path,
        method=method,
        headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
        environ_overrides={**GUNICORN, "wsgi.input": body},
    )


def assert_413(response: TestResponse) -> None:
    assert response.status_code == 413, response.get_data(as_text=True)
    assert response.content_type == "application/json"
    assert response.get_json()["error"] == "request_entity_too_large"


def test_a_workflow_post_with_a_body_over_the_limit_gets_413(
    client: FlaskClient, sink: RecordingSink
) -> None:
    assert_413(client.post(WORKFLOW, data=b"x" * (LIMIT + 1), environ_overrides=GUNICORN))
    assert sink.accepted == []


def test_a_chunked_native_body_over_the_limit_gets_413_not_400(
    client: FlaskClient, sink: RecordingSink
) -> None:
    assert_413(chunked(client, NATIVE, CountingStream(LIMIT + 1)))
    assert sink.accepted == []


@pytest.mark.parametrize(
    ("method", "path"), [("POST", WORKFLOW), ("GET", WORKFLOW), ("GET", "/healthz")]
)
def test_a_chunked_body_over_the_limit_gets_413_on_any_route(
    client: FlaskClient, sink: RecordingSink, method: str, path: str
) -> None:
    assert_413(chunked(client, path, CountingStream(LIMIT + 1), method=method))
    assert sink.accepted == []


def test_a_huge_chunked_body_is_read_no_further_than_the_limit(client: FlaskClient) -> None:
    body = CountingStream(10 * 1024 * 1024)
    assert_413(chunked(client, WORKFLOW, body))
    assert body.read_bytes <= LIMIT + 1


def test_a_chunked_native_body_of_exactly_the_limit_is_accepted(
    client: FlaskClient, sink: RecordingSink
) -> None:
    padded = json.dumps(NATIVE_BODY).encode().ljust(LIMIT)
    assert len(padded) == LIMIT
    response = chunked(client, NATIVE, io.BytesIO(padded))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert len(sink.accepted) == 1


def test_a_body_with_a_content_length_over_the_limit_gets_413_on_any_route(
    client: FlaskClient,
) -> None:
    assert_413(client.get("/healthz", data=b"x" * (LIMIT + 1)))
