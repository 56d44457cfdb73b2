"""``python -m ingest`` as a real process: whatever a request looks like, and wherever in it
a configured token was sent, no answer and no log line holds the token, and what gunicorn
refuses before the app is answered as JSON."""

import json
from pathlib import Path
from urllib.parse import quote

from tests.integration.ingest_service import body_of, raw_exchange, running_ingest, status_of

SECRET = "pr0cess-s3cret"
UNICODE_SECRET = "Tökén-s3cret"
DOCUMENT_ID = "34efe2ee-015e-11e6-9464-e4de0000006b"
WORKFLOW = f"/webhook?id={DOCUMENT_ID}&type=Move&token={SECRET}"


def get(target: str, *headers: str) -> bytes:
    lines = [f"GET {target} HTTP/1.1", "Host: x", *headers, "Connection: close", "", ""]
    return "\r\n".join(lines).encode("utf-8", "surrogateescape")


# Each request, and the status it must get.
REQUESTS: dict[str, tuple[bytes, int]] = {
    # Gunicorn refuses these before the app: it used to answer with an HTML page quoting
    # the request line.
    "malformed query": (get(f"/webhook/{SECRET}?id=\udcff"), 400),
    "not HTTP": (get(f"/webhook?token={SECRET} junk"), 400),
    "token as the method": (f"{SECRET} /webhook HTTP/1.1\r\nHost: x\r\n\r\n".encode(), 400),
    "token in a bad header name": (get("/webhook", f"{SECRET}\x01: x"), 400),
    "raw UTF-8 in the path": (get(f"/hooks/{UNICODE_SECRET}"), 400),
    # The app answers these; the access log used to show the token in clear.
    "wrong path": (get(f"/hooks/{SECRET}"), 404),
    "wrong path, percent-encoded": (get(f"/hooks/{quote(UNICODE_SECRET)}"), 404),
    "another parameter's value": (get(f"{WORKFLOW}&x={SECRET}"), 202),
    "a parameter's name": (get(f"{WORKFLOW}&{SECRET}=1"), 202),
    "a repeated parameter's name": (get(f"{WORKFLOW}&{SECRET}=1&{SECRET}=2"), 400),
    "a header": (get(WORKFLOW, f"User-Agent: {SECRET}"), 202),
}


def spellings(secret: str) -> list[bytes]:
    """How a line or an answer could hold ``secret``: as text, percent-encoded, and as JSON
    writes it and the Latin-1 characters WSGI makes of its UTF-8 bytes."""
    as_wsgi = secret.encode().decode("latin-1")
    forms = [secret, quote(secret), json.dumps(secret)[1:-1], json.dumps(as_wsgi)[1:-1]]
    return [form.encode() for form in forms]


def test_no_token_reaches_any_answer_or_log_line_whatever_the_request(tmp_path: Path) -> None:
    environment = {"INGEST_TOKEN": f"{SECRET},{UNICODE_SECRET}", "LOG_LEVEL": "DEBUG"}
    with running_ingest(tmp_path, environment) as ingest:
        answers = {name: raw_exchange(ingest.port, sent) for name, (sent, _) in REQUESTS.items()}
    logs = ingest.logs().encode()

    assert {name: status_of(answer) for name, answer in answers.items()} == {
        name: status for name, (_, status) in REQUESTS.items()
    }
    for name, answer in answers.items():
        assert b"Content-Type: application/json" in answer, (name, answer)
        json.loads(body_of(answer))
        for secret in (SECRET, UNICODE_SECRET):
            for spelled in spellings(secret):
                assert spelled not in answer, (name, answer)
    for secret in (SECRET, UNICODE_SECRET):
        for spelled in spellings(secret):
            assert spelled not in logs, spelled
    # librdkafka writes its own lines, not JSON, about the broker that is not there.
    lines = [json.loads(line) for line in logs.splitlines() if line.startswith(b"{")]
    access = [line for line in lines if line["logger"] == "gunicorn.access"]
    # The requests the app answered are logged, masked.
    assert "/hooks/****" in {line["path"] for line in access}
    assert any(line["query"].endswith("x=****") for line in access)
