"""The ingest app over HTTP: native webhooks, their de-duplication, tokens in the path,
several tokens, the address allow-list behind proxies, and the body size limit."""

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from ingest.errors import SinkUnavailable
from ingest.native import native_event_id
from ingest.settings import IngestSettings
from ingest.wiring import build_app
from shared.contracts import validate_envelope
from tests.unit.ingest_fakes import RecordingSink

REQUEST_ID = "cbb9a2e0-3e6f-4d1c-9f4e-2b1f8f2c7a10"
ACCOUNT_ID = "84e60e93-f7b2-11e5-7a69-971500188b19"
DOCUMENT_IDS = [
    "34efe2ee-015e-11e6-9464-e4de0000006b",
    "5427bc76-b95f-11eb-0a80-04bb000cd583",
    "0b0a3c1e-2d3f-11ee-0a80-0f2a00000001",
]
SECRET = "s3cret-token"
NEXT_SECRET = "n3xt-secret"


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def make_client(tmp_path: Path, sink: RecordingSink) -> Callable[..., FlaskClient]:
    def make(**settings: Any) -> FlaskClient:
        configured = IngestSettings(ingest_spool_dir=tmp_path / "spool", **settings)
        return build_app(configured, sink).test_client()

    return make


@pytest.fixture
def client(make_client: Callable[..., FlaskClient]) -> FlaskClient:
    return make_client()


def native_body(*document_ids: str) -> dict[str, Any]:
    api = "https://api.kladana.com/api/remap/1.2/entity"
    return {
        "auditContext": {"moment": "2024-06-10 15:27:00", "uid": "admin@example"},
        "events": [
            {
                "meta": {"type": "customerorder", "href": f"{api}/customerorder/{document_id}"},
                "action": "UPDATE",
                "accountId": ACCOUNT_ID,
                "updatedFields": ["state"],
            }
            for document_id in document_ids
        ],
    }


def post_native(
    client: FlaskClient, body: Any = None, request_id: str = REQUEST_ID, path: str = "/webhook"
) -> TestResponse:
    if body is None:
        body = native_body(*DOCUMENT_IDS)
    return client.post(path, query_string={"requestId": request_id}, json=body)


def assert_json(response: TestResponse, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == "application/json"
    body = response.get_json()
    assert isinstance(body, dict)
    return body


def test_a_native_webhook_is_accepted_as_one_raw_event_per_event(
    client: FlaskClient, sink: RecordingSink
) -> None:
    body = assert_json(post_native(client), 200)

    envelopes = sink.envelopes()
    assert [envelope["subject"] for envelope in envelopes] == DOCUMENT_IDS
    for envelope in envelopes:
        validate_envelope(envelope)
        assert envelope["data"]["kind"] == "native"
        assert envelope["data"]["request_id"] == REQUEST_ID
    assert [record.key for record in sink.accepted] == [d.encode() for d in DOCUMENT_IDS]
    assert body == {
        "request_id": REQUEST_ID,
        "event_ids": [native_event_id(REQUEST_ID, index) for index in range(3)],
        "duplicate": False,
        "ignored_events": 0,
    }
    assert body["event_ids"] == [envelope["id"] for envelope in envelopes]


def test_a_repeated_request_id_is_answered_200_and_accepts_nothing_more(
    client: FlaskClient, sink: RecordingSink
) -> None:
    first = assert_json(post_native(client), 200)
    again = assert_json(post_native(client), 200)
    assert len(sink.accepted) == 3
    assert again == {**first, "duplicate": True}
    assert_json(post_native(client, request_id="another-request"), 200)
    assert len(sink.accepted) == 6


def other_entity_event(entity: str, document_id: str) -> dict[str, Any]:
    return {
        "meta": {
            "type": entity,
            "href": f"https://api.kladana.com/api/remap/1.2/entity/{entity}/{document_id}",
        },
        "action": "UPDATE",
        "accountId": ACCOUNT_ID,
    }


def ignored_count(client: FlaskClient, entity: str) -> float:
    sample = f'ingest_native_events_ignored_total{{entity="{entity}"}} '
    text = client.get("/metrics").get_data(as_text=True)
    return sum(float(line[len(sample) :]) for line in text.splitlines() if line.startswith(sample))


def test_a_delivery_mixing_other_entities_publishes_its_known_events_and_counts_the_rest(
    client: FlaskClient, sink: RecordingSink, caplog: pytest.LogCaptureFixture
) -> None:
    body = native_body(DOCUMENT_IDS[0], DOCUMENT_IDS[2])
    body["events"].insert(1, other_entity_event("counterparty", DOCUMENT_IDS[1]))
    body["events"].append(other_entity_event("counterparty", DOCUMENT_IDS[1]))
    before = ignored_count(client, "counterparty")

    with caplog.at_level(logging.INFO, logger="ingest"):
        answer = assert_json(post_native(client, body=body), 200)

    # Ids by the events' places in the delivery, as if the others had been accepted too.
    assert answer == {
        "request_id": REQUEST_ID,
        "event_ids": [native_event_id(REQUEST_ID, 0), native_event_id(REQUEST_ID, 2)],
        "duplicate": False,
        "ignored_events": 2,
    }
    assert [envelope["id"] for envelope in sink.envelopes()] == answer["event_ids"]
    assert [envelope["subject"] for envelope in sink.envelopes()] == [
        DOCUMENT_IDS[0],
        DOCUMENT_IDS[2],
    ]
    assert ignored_count(client, "counterparty") - before == 2
    [logged] = [r for r in caplog.records if r.getMessage().startswith("webhook events ignored")]
    assert (logged.entity, logged.count) == ("counterparty", 2)  # type: ignore[attr-defined]

    # A repeat publishes nothing more and counts nothing more.
    assert assert_json(post_native(client, body=body), 200) == {**answer, "duplicate": True}
    assert len(sink.accepted) == 2
    assert ignored_count(client, "counterparty") - before == 2


def test_a_delivery_of_other_entities_only_is_answered_200_and_publishes_nothing(
    client: FlaskClient, sink: RecordingSink
) -> None:
    body = {"events": [other_entity_event("product", document_id) for document_id in DOCUMENT_IDS]}
    before = ignored_count(client, "product")

    answer = assert_json(post_native(client, body=body), 200)

    assert answer == {
        "request_id": REQUEST_ID,
        "event_ids": [],
        "duplicate": False,
        "ignored_events": 3,
    }
    assert sink.accepted == []
    assert ignored_count(client, "product") - before == 3
    assert assert_json(post_native(client, body=body), 200)["duplicate"] is True
    assert sink.accepted == []


def test_a_repeat_seen_by_another_worker_process_is_not_accepted(
    make_client: Callable[..., FlaskClient], sink: RecordingSink
) -> None:
    # Two apps over one spool directory stand for two gunicorn workers of one host.
    assert_json(post_native(make_client()), 200)
    assert assert_json(post_native(make_client()), 200)["duplicate"] is True
    assert len(sink.accepted) == 3


def test_when_the_sink_fails_the_retry_is_accepted(
    client: FlaskClient, sink: RecordingSink
) -> None:
    sink.failure = SinkUnavailable("spool full")
    response = post_native(client)
    assert assert_json(response, 503)["error"] == "unavailable"
    assert response.headers["Retry-After"] == "1"

    sink.failure = None
    assert assert_json(post_native(client), 200)["duplicate"] is False
    assert len(sink.accepted) == 3


def test_after_a_bug_in_the_sink_the_retry_is_accepted(
    client: FlaskClient, sink: RecordingSink
) -> None:
    sink.failure = RuntimeError("a bug")
    assert assert_json(post_native(client), 500)["error"] == "internal_error"
    sink.failure = None
    assert assert_json(post_native(client), 200)["duplicate"] is False


def test_a_repeat_during_the_first_delivery_waits_for_it(
    make_client: Callable[..., FlaskClient], sink: RecordingSink
) -> None:
    patient = make_client(ingest_request_id_wait_ms=1000)
    answers: list[TestResponse] = []
    repeat = threading.Thread(target=lambda: answers.append(post_native(patient)))

    def slow_first_accept() -> None:
        sink.before_accept = lambda: None
        repeat.start()  # arrives while the first delivery holds the claim
        time.sleep(0.3)

    sink.before_accept = slow_first_accept
    assert_json(post_native(make_client()), 200)
    repeat.join(timeout=10)
    [answer] = answers
    assert assert_json(answer, 200)["duplicate"] is True
    assert len(sink.accepted) == 3


def test_a_repeat_that_outwaits_its_patience_gets_503(
    make_client: Callable[..., FlaskClient], sink: RecordingSink
) -> None:
    answers: list[TestResponse] = []
    impatient = make_client(ingest_request_id_wait_ms=0)
    sink.before_accept = lambda: answers.append(post_native(impatient))
    assert_json(post_native(make_client()), 200)
    [repeat] = answers
    assert assert_json(repeat, 503)["error"] == "in_progress"
    assert repeat.headers["Retry-After"] == "1"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("not json", "malformed_body"),
        ([], "malformed_body"),
        ({"events": []}, "malformed_body"),
        (
            {
                "events": [
                    {
                        "meta": {"type": "Product", "href": f"/entity/Product/{DOCUMENT_IDS[0]}"},
                        "action": "UPDATE",
                        "accountId": ACCOUNT_ID,
                    }
                ]
            },
            "malformed_body",
        ),
        (
            # An event of another entity is skipped only when it is well formed.
            {
                "events": [
                    {
                        "meta": {"type": "product", "href": f"/entity/move/{DOCUMENT_IDS[0]}"},
                        "action": "UPDATE",
                        "accountId": ACCOUNT_ID,
                    }
                ]
            },
            "invalid_href",
        ),
        (
            {
                "events": [
                    {
                        "meta": {"type": "move", "href": "https://x/entity/move/"},
                        "action": "UPDATE",
                        "accountId": ACCOUNT_ID,
                    }
                ]
            },
            "invalid_href",
        ),
    ],
)
def test_a_bad_native_webhook_gets_400_and_claims_nothing(
    client: FlaskClient, sink: RecordingSink, body: Any, error: str
) -> None:
    assert assert_json(post_native(client, body=body), 400)["error"] == error
    assert sink.accepted == []
    # The requestId was not used up: a correct delivery with it is accepted.
    assert assert_json(post_native(client), 200)["duplicate"] is False


def test_a_post_without_request_id_nor_id_and_type_names_what_is_missing(
    client: FlaskClient,
) -> None:
    body = assert_json(client.post("/webhook", json=native_body(DOCUMENT_IDS[0])), 400)
    assert body["error"] == "missing_parameter"
    assert body["parameters"] == ["requestId", "id", "type"]


def test_a_body_over_the_limit_gets_a_json_413(
    make_client: Callable[..., FlaskClient], sink: RecordingSink
) -> None:
    client = make_client(ingest_max_body_bytes=1000)
    response = client.post(
        "/webhook",
        query_string={"requestId": REQUEST_ID},
        data=b"{" + b" " * 2000 + b"}",
        content_type="application/json",
    )
    assert assert_json(response, 413)["error"] == "request_entity_too_large"
    assert sink.accepted == []
    assert_json(post_native(client), 200)


def test_a_workflow_webhook_still_gets_202_with_its_kind(
    client: FlaskClient, sink: RecordingSink
) -> None:
    response = client.get("/webhook", query_string={"id": DOCUMENT_IDS[0], "type": "Move"})
    assert "event_id" in assert_json(response, 202)
    [envelope] = sink.envelopes()
    assert envelope["data"]["kind"] == "workflow"


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("token", [SECRET, NEXT_SECRET])
def test_any_configured_token_is_accepted_in_the_path(
    make_client: Callable[..., FlaskClient], sink: RecordingSink, method: str, token: str
) -> None:
    client = make_client(ingest_token=f"{SECRET}, {NEXT_SECRET}")
    response = client.open(
        f"/webhook/{token}", method=method, query_string={"id": DOCUMENT_IDS[0], "type": "Move"}
    )
    assert_json(response, 202)
    assert_json(post_native(client, path=f"/webhook/{token}"), 200)
    assert all(token.encode() not in record.value for record in sink.accepted)


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/webhook/wrong", ""),
        (f"/webhook/{SECRET}x", ""),
        # A token in both places is ambiguous, even when both are right.
        (f"/webhook/{SECRET}", f"token={SECRET}"),
        ("/webhook", f"token={SECRET},{NEXT_SECRET}"),
        ("/webhook", ""),
    ],
)
def test_a_wrong_or_ambiguous_token_gets_401(
    make_client: Callable[..., FlaskClient], sink: RecordingSink, path: str, query: str
) -> None:
    client = make_client(ingest_token=f"{SECRET},{NEXT_SECRET}")
    response = client.post(f"{path}?id={DOCUMENT_IDS[0]}&type=Move&{query}")
    assert assert_json(response, 401)["error"] == "unauthorized"
    assert SECRET not in response.get_data(as_text=True)
    assert sink.accepted == []


def test_a_path_token_without_configured_tokens_is_ignored(client: FlaskClient) -> None:
    assert_json(client.get(f"/webhook/anything?id={DOCUMENT_IDS[0]}&type=Move"), 202)


def test_deeper_paths_are_json_404(client: FlaskClient) -> None:
    assert assert_json(client.get(f"/webhook/{SECRET}/x"), 404)["error"] == "not_found"


@pytest.mark.parametrize(
    ("remote_addr", "forwarded_for", "status"),
    [
        ("192.0.2.10", None, 202),
        ("203.0.113.5", None, 403),
        # An untrusted client cannot claim an allowed address.
        ("203.0.113.5", "192.0.2.10", 403),
        # Through the trusted proxy, the forwarded client counts.
        ("10.0.0.2", "192.0.2.10", 202),
        ("10.0.0.2", "203.0.113.5", 403),
        ("10.0.0.2", "192.0.2.10, 203.0.113.5", 403),
        ("10.0.0.2", "garbage", 403),
        ("10.0.0.2", None, 403),
    ],
)
def test_the_allow_list_with_a_trusted_proxy(
    make_client: Callable[..., FlaskClient],
    sink: RecordingSink,
    remote_addr: str,
    forwarded_for: str | None,
    status: int,
) -> None:
    client = make_client(
        ingest_allowed_networks="192.0.2.0/24", ingest_trusted_proxies="10.0.0.0/8"
    )
    headers = {} if forwarded_for is None else {"X-Forwarded-For": forwarded_for}
    response = client.get(
        f"/webhook?id={DOCUMENT_IDS[0]}&type=Move",
        headers=headers,
        environ_base={"REMOTE_ADDR": remote_addr},
    )
    body = assert_json(response, status)
    if status == 403:
        assert body["error"] == "forbidden"
        assert sink.accepted == []


def test_a_forbidden_address_is_refused_before_the_token_is_looked_at(
    make_client: Callable[..., FlaskClient],
) -> None:
    client = make_client(ingest_allowed_networks="192.0.2.0/24", ingest_token=SECRET)
    response = client.get(
        f"/webhook/{SECRET}?id={DOCUMENT_IDS[0]}&type=Move",
        environ_base={"REMOTE_ADDR": "203.0.113.5"},
    )
    assert assert_json(response, 403)["error"] == "forbidden"
