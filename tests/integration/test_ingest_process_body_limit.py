"""``python -m ingest`` as a real process: a body over ``INGEST_MAX_BODY_BYTES`` gets a
JSON 413, chunked or not, before the client has even sent all of it."""

import json

import pytest

from tests.integration.ingest_service import body_of, raw_exchange, running_ingest, status_of

LIMIT = 1000
DOCUMENT_ID = "34efe2ee-015e-11e6-9464-e4de0000006b"
NATIVE = "/webhook?requestId=r-1"
WORKFLOW = f"/webhook?id={DOCUMENT_ID}&type=Move"


def head(target: str, *headers: str) -> bytes:
    lines = [f"POST {target} HTTP/1.1", "Host: x", *headers, "Connection: close", "", ""]
    return "\r\n".join(lines).encode()


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


# More than the limit, and more than gunicorn reads ahead (1 KiB) beyond what it is asked.
OVER = b" " * (LIMIT + 2048)
# None of these requests is complete: the body goes on (a chunked one never ends), so the
# answer can only come from a server that stopped reading near the limit.
UNFINISHED = {
    "chunked native": head(NATIVE, "Transfer-Encoding: chunked") + chunk(OVER),
    "chunked workflow": head(WORKFLOW, "Transfer-Encoding: chunked") + chunk(OVER),
    "chunked, in small chunks": head(NATIVE, "Transfer-Encoding: chunked")
    + b"".join(chunk(OVER[:100]) for _ in range(len(OVER) // 100)),
    "workflow with a length": head(WORKFLOW, f"Content-Length: {10 * 1024 * 1024}"),
}


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    environment = {"INGEST_MAX_BODY_BYTES": str(LIMIT)}
    with running_ingest(tmp_path_factory.mktemp("ingest"), environment) as ingest:
        return {name: raw_exchange(ingest.port, sent) for name, sent in UNFINISHED.items()}


@pytest.mark.parametrize("name", UNFINISHED)
def test_a_body_over_the_limit_gets_a_json_413_before_it_is_all_sent(
    answers: dict[str, bytes], name: str
) -> None:
    answer = answers[name]
    assert status_of(answer) == 413, answer
    assert b"Content-Type: application/json" in answer
    assert json.loads(body_of(answer))["error"] == "request_entity_too_large"
