"""Configured tokens masked wherever they occur: in any spelling of a log line, in every log
line whatever logged it, and in every answer of the app."""

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from flask.testing import FlaskClient
from pydantic import SecretStr
from pythonjsonlogger.json import JsonFormatter

from ingest.redaction import SecretMask, mask_log_lines
from ingest.settings import IngestSettings
from ingest.wiring import build_app
from tests.helpers import native_webhook_body
from tests.unit.ingest_fakes import RecordingSink

SECRET = "s3cret-Tökén"
ASCII_SECRET = "n3xt-secret"
MASK = SecretMask([SecretStr(SECRET), SecretStr(ASCII_SECRET)])
DOCUMENT_ID = "34efe2ee-015e-11e6-9464-e4de0000006b"
# What WSGI hands over for the UTF-8 bytes of a path: each byte as one Latin-1 character.
WSGI = SECRET.encode().decode("latin-1")


@pytest.mark.parametrize(
    "spelled",
    [
        SECRET,
        ASCII_SECRET,
        quote(SECRET),
        re.sub("%..", lambda hex_digits: hex_digits.group().lower(), quote(SECRET)),
        "%73" + SECRET[1:],  # any character percent-encoded, needed or not
        quote(SECRET).replace("%C3%B6", "%c3%B6"),
        WSGI,
        repr(WSGI)[1:-1],
        json.dumps(SECRET)[1:-1],
        json.dumps(WSGI)[1:-1],
        json.dumps(repr(WSGI)[1:-1])[1:-1],
    ],
)
def test_a_configured_token_is_masked_however_a_line_spells_it(spelled: str) -> None:
    assert MASK(f"GET /hooks/{spelled}?x=1 HTTP/1.1") == "GET /hooks/****?x=1 HTTP/1.1"


def test_text_without_a_configured_token_is_left_as_it_is() -> None:
    text = "s3cret-Toke n3xt-secre s3cret Tökén /webhook?id=1&token=other"
    assert MASK(text) == text
    assert SecretMask([])(f"token={SECRET}") == f"token={SECRET}"


def test_a_token_that_starts_another_leaves_no_tail_of_it() -> None:
    mask = SecretMask([SecretStr("abc"), SecretStr("abcdef")])
    assert mask("x=abcdef&y=abc") == "x=****&y=****"


@pytest.fixture
def log_output() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing JSON lines as the services' logging does (shared.logs), masked."""
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.setFormatter(JsonFormatter("%(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("test_ingest_redaction")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    mask_log_lines(MASK, logger)
    yield logger, output
    logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)


def test_no_log_line_holds_a_configured_token_whatever_logged_it(
    log_output: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, output = log_output
    logger.warning("Invalid request from ip=127.0.0.1: %r", f"GET /hooks/{WSGI}?id=\xff")
    logger.info("request", extra={"path": f"/hooks/{WSGI}", "query": f"x={quote(SECRET)}"})
    logger.info("request", extra={"method": ASCII_SECRET, "user_agent": SECRET})
    try:
        raise ValueError(f"cannot parse {SECRET}")
    except ValueError:
        logger.exception("unexpected error")

    written = output.getvalue()
    lines = [json.loads(line) for line in written.splitlines()]
    assert len(lines) == 4
    assert "****" in lines[0]["message"]
    assert lines[1]["path"] == "/hooks/****"
    assert lines[1]["query"] == "x=****"
    assert lines[2]["method"] == lines[2]["user_agent"] == "****"
    assert "cannot parse ****" in lines[3]["exc_info"]
    for spelled in (SECRET, ASCII_SECRET, WSGI, quote(SECRET), json.dumps(SECRET)[1:-1]):
        assert spelled not in written
        assert spelled not in json.dumps(lines, ensure_ascii=False)


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    settings = IngestSettings(
        ingest_spool_dir=tmp_path / "spool", ingest_token=f"{SECRET},{ASCII_SECRET}"
    )
    return build_app(settings, RecordingSink()).test_client()


def test_a_token_sent_as_a_repeated_parameter_name_is_not_echoed(client: FlaskClient) -> None:
    response = client.get(
        "/webhook",
        query_string=[
            ("id", DOCUMENT_ID),
            ("type", "Move"),
            ("token", ASCII_SECRET),
            (SECRET, "1"),
            (SECRET, "2"),
        ],
    )
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "repeated_parameter",
        "message": "each query parameter may appear only once",
        "parameters": ["****"],
    }


def test_a_token_sent_as_the_request_id_is_not_echoed(client: FlaskClient) -> None:
    body = native_webhook_body(DOCUMENT_ID)
    response = client.post(
        "/webhook", query_string={"requestId": ASCII_SECRET, "token": ASCII_SECRET}, json=body
    )
    assert response.status_code == 200
    assert response.get_json()["request_id"] == "****"
    assert ASCII_SECRET not in response.get_data(as_text=True)
