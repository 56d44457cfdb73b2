"""The ingest app over HTTP (Flask's test client) with a sink that records calls."""

import logging
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from ingest.errors import SinkUnavailable
from ingest.settings import IngestSettings
from ingest.sink import SinkStatus
from ingest.wiring import build_app
from shared.contracts import validate_envelope
from shared.events import RAW_WEBHOOK
from shared.kladana_types import TRANSACTION_TYPES
from tests.unit.ingest_fakes import RecordingSink

DOCUMENT_ID = "34efe2ee-015e-11e6-9464-e4de0000006b"
SECRET = "s3cret-token"
RAW_TOPIC = "raw-under-test"


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


def client_for(sink: RecordingSink, token: str | None = None) -> FlaskClient:
    settings = IngestSettings(raw_topic=RAW_TOPIC, ingest_token=token)
    return build_app(settings, sink).test_client()


@pytest.fixture
def client(sink: RecordingSink) -> FlaskClient:
    return client_for(sink)


def assert_json(response: TestResponse, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == "application/json"
    body = response.get_json()
    assert isinstance(body, dict)
    return body


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_webhook_is_published_and_answered_with_its_event_id(
    client: FlaskClient, sink: RecordingSink, method: str
) -> None:
    response = client.open(
        "/webhook",
        method=method,
        query_string={"id": DOCUMENT_ID, "type": "CustomerOrder", "from": "workflow"},
    )

    body = assert_json(response, 202)
    [record] = sink.accepted
    assert record.key == DOCUMENT_ID.encode()
    assert dict(record.headers) == {"content-type": b"application/cloudevents+json"}
    [envelope] = sink.envelopes()
    validate_envelope(envelope)
    assert body == {"event_id": envelope["id"]}
    assert envelope["type"] == RAW_WEBHOOK.type
    assert envelope["data"]["method"] == method
    assert envelope["data"]["query"] == {
        "id": DOCUMENT_ID,
        "type": "CustomerOrder",
        "from": "workflow",
    }


def test_a_post_body_is_ignored(client: FlaskClient, sink: RecordingSink) -> None:
    response = client.post(
        f"/webhook?id={DOCUMENT_ID}&type=Demand",
        data={"id": "other", "type": "Move"},
    )
    assert_json(response, 202)
    [envelope] = sink.envelopes()
    assert envelope["data"]["document_id"] == DOCUMENT_ID
    assert envelope["data"]["query"] == {"id": DOCUMENT_ID, "type": "Demand"}


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("type=CustomerOrder", "missing_parameter"),
        (f"id={DOCUMENT_ID}", "missing_parameter"),
        ("", "missing_parameter"),
        (f"id={DOCUMENT_ID}&type=Invoice", "invalid_type"),
        ("id=&type=Move", "invalid_id"),
        ("id=..%2F..%2Fetc%2Fpasswd&type=Move", "invalid_id"),
        (f"id={'a' * 65}&type=Move", "invalid_id"),
        (f"id={DOCUMENT_ID}&id=other&type=Move", "repeated_parameter"),
    ],
)
def test_bad_webhooks_get_400_naming_the_problem_and_publish_nothing(
    client: FlaskClient, sink: RecordingSink, query: str, error: str
) -> None:
    body = assert_json(client.post("/webhook", query_string=query), 400)
    assert body["error"] == error
    assert body["message"]
    assert sink.accepted == []


def test_a_bad_type_lists_the_valid_ones(client: FlaskClient) -> None:
    body = assert_json(client.get(f"/webhook?id={DOCUMENT_ID}&type=Nope"), 400)
    assert body["valid_types"] == list(TRANSACTION_TYPES.names)


@pytest.mark.parametrize(
    "token_query",
    [
        "",
        "token=",
        "token=wrong",
        f"token={SECRET}x",
        f"token={SECRET}&token={SECRET}",
        "token=%C3%BC",
    ],
)
def test_a_missing_or_wrong_token_gets_401(sink: RecordingSink, token_query: str) -> None:
    client = client_for(sink, token=SECRET)
    response = client.post(f"/webhook?id={DOCUMENT_ID}&type=Move&{token_query}")
    body = assert_json(response, 401)
    assert body["error"] == "unauthorized"
    assert SECRET not in response.get_data(as_text=True)
    assert sink.accepted == []


def test_the_right_token_is_accepted_and_never_recorded(
    sink: RecordingSink, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_for(sink, token=SECRET)
    with caplog.at_level(logging.DEBUG):
        response = client.get(f"/webhook?id={DOCUMENT_ID}&type=Move&token={SECRET}")

    assert_json(response, 202)
    [record] = sink.accepted
    assert SECRET.encode() not in record.value
    assert sink.envelopes()[0]["data"]["query"] == {"id": DOCUMENT_ID, "type": "Move"}
    assert caplog.records
    assert all(SECRET not in repr(r.__dict__) for r in caplog.records)


def test_the_token_is_checked_before_anything_else(sink: RecordingSink) -> None:
    client = client_for(sink, token=SECRET)
    assert_json(client.get("/webhook?type=Nope"), 401)


def test_an_accepted_webhook_is_logged_with_its_event_and_document(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="ingest"):
        body = assert_json(client.get(f"/webhook?id={DOCUMENT_ID}&type=Move"), 202)
    [accepted] = [r for r in caplog.records if r.getMessage() == "webhook accepted"]
    assert accepted.__dict__["event_id"] == body["event_id"]
    assert accepted.__dict__["document_id"] == DOCUMENT_ID


def test_a_refused_webhook_is_logged_without_its_query(
    sink: RecordingSink, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_for(sink, token=SECRET)
    with caplog.at_level(logging.INFO, logger="ingest"):
        assert_json(client.get(f"/webhook?id=bad_id&type=Move&token={SECRET}"), 400)
        assert_json(client.get(f"/webhook?id={DOCUMENT_ID}&type=Move&token={SECRET}1"), 401)
    refusals = [r for r in caplog.records if r.getMessage() == "webhook refused"]
    assert [r.__dict__["error"] for r in refusals] == ["invalid_id", "unauthorized"]
    assert all(SECRET not in repr(r.__dict__) for r in refusals)


def test_a_webhook_neither_broker_nor_spool_took_gets_503(
    client: FlaskClient, sink: RecordingSink
) -> None:
    sink.failure = SinkUnavailable("the spool failed: OperationalError: disk is full")
    response = client.post(f"/webhook?id={DOCUMENT_ID}&type=CustomerOrder")
    body = assert_json(response, 503)
    assert body["error"] == "unavailable"
    assert response.headers["Retry-After"] == "1"


def test_a_bug_gets_a_json_500_and_is_logged(
    client: FlaskClient, sink: RecordingSink, caplog: pytest.LogCaptureFixture
) -> None:
    sink.failure = RuntimeError("a bug in an adapter")
    with caplog.at_level(logging.ERROR, logger="ingest"):
        response = client.post(f"/webhook?id={DOCUMENT_ID}&type=CustomerOrder")
    body = assert_json(response, 500)
    assert body["error"] == "internal_error"
    assert "a bug in an adapter" not in response.get_data(as_text=True)
    [logged] = caplog.records
    assert logged.exc_info is not None
    assert logged.exc_info[1] is sink.failure


def test_an_unknown_path_gets_a_json_404(client: FlaskClient) -> None:
    body = assert_json(client.get("/webhooks"), 404)
    assert body["error"] == "not_found"


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "HEAD"])
def test_other_methods_get_a_json_405_and_publish_nothing(
    client: FlaskClient, sink: RecordingSink, method: str
) -> None:
    response = client.open(f"/webhook?id={DOCUMENT_ID}&type=Move", method=method)
    assert response.status_code == 405
    assert response.content_type == "application/json"
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    if method != "HEAD":
        assert assert_json(response, 405)["error"] == "method_not_allowed"
    assert sink.accepted == []


def test_healthz_is_always_ok(client: FlaskClient, sink: RecordingSink) -> None:
    sink.sink_status = SinkStatus(
        broker_connected=False, spool_depth=0, oldest_spooled_age_s=None, spool_writable=False
    )
    assert assert_json(client.get("/healthz"), 200) == {"status": "ok"}


@pytest.mark.parametrize(
    ("broker_connected", "spool_writable", "status", "state"),
    [
        (True, True, 200, "ready"),
        (True, False, 200, "ready"),
        (False, True, 200, "spooling"),
        (False, False, 503, "unavailable"),
    ],
)
def test_readyz_is_200_while_the_broker_or_the_spool_can_take_events(
    client: FlaskClient,
    sink: RecordingSink,
    broker_connected: bool,
    spool_writable: bool,
    status: int,
    state: str,
) -> None:
    sink.sink_status = SinkStatus(
        broker_connected=broker_connected,
        spool_depth=3,
        oldest_spooled_age_s=12.5,
        spool_writable=spool_writable,
    )
    assert assert_json(client.get("/readyz"), status) == {
        "status": state,
        "broker_connected": broker_connected,
        "spool_depth": 3,
        "oldest_spooled_age_s": 12.5,
        "spool_writable": spool_writable,
    }


def test_readyz_of_an_empty_spool_has_no_oldest_age(client: FlaskClient) -> None:
    body = assert_json(client.get("/readyz"), 200)
    assert (body["spool_depth"], body["oldest_spooled_age_s"]) == (0, None)


def test_metrics_report_the_sink_status_to_prometheus(
    client: FlaskClient, sink: RecordingSink
) -> None:
    sink.sink_status = SinkStatus(
        broker_connected=False, spool_depth=7, oldest_spooled_age_s=42.0, spool_writable=True
    )
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    samples = scraped(client)
    counted = ("ingest_webhook", "ingest_native")
    assert {name: value for name, value in samples.items() if not name.startswith(counted)} == {
        "ingest_spool_depth": 7.0,
        "ingest_spool_oldest_age_seconds": 42.0,
        "ingest_spool_writable": 1.0,
        "ingest_broker_connected": 0.0,
    }


def scraped(client: FlaskClient) -> dict[str, float]:
    text = client.get("/metrics").get_data(as_text=True)
    return {
        name: float(value)
        for name, value in (line.rsplit(" ", 1) for line in text.splitlines())
        if not name.startswith("#")
    }


def test_metrics_count_webhooks_by_result_and_reason(client: FlaskClient) -> None:
    accepted = 'ingest_webhooks_total{reason="",result="accepted"}'
    refused = 'ingest_webhooks_total{reason="invalid_type",result="refused"}'
    answered = "ingest_webhook_seconds_count"
    before = scraped(client)

    assert_json(client.get(f"/webhook?id={DOCUMENT_ID}&type=Move"), 202)
    assert_json(client.get(f"/webhook?id={DOCUMENT_ID}&type=Move"), 202)
    assert_json(client.get(f"/webhook?id={DOCUMENT_ID}&type=Nope"), 400)
    client.get("/healthz")

    after = scraped(client)
    assert after[accepted] - before.get(accepted, 0.0) == 2
    assert after[refused] - before.get(refused, 0.0) == 1
    assert after[answered] - before.get(answered, 0.0) == 3


WEIRD_QUERIES = [
    "",
    "&&&",
    "=",
    "==&==",
    "id",
    "id&type",
    "id=&type=",
    "%",
    "%zz=%zz",
    "id=%ff%fe&type=Move",
    "id=%ED%A0%80&type=Move",
    "id=abc%00&type=Move",
    "id=abc%0A&type=Move",
    "id=abc&type=Move%00",
    "id=%D0%B0%D0%B1&type=Move",
    "id=abc&type=Move&%F0%9F%98%80=%F0%9F%98%80",
    "id=abc&type=Move&%00=%00",
    "id=abc&type=Move&token=%ff",
    "id=abc&type=Move;x=1",
    "id[]=abc&type[]=Move",
    "id=abc&type=Move&type=Move",
    "id=abc&type=Move&id=abc",
    "id=abc&type=Move&" + "x=" + "y" * 100_000,
    "id=" + "a" * 100_000 + "&type=Move",
    "&".join(f"p{i}=v" for i in range(5000)),
    "id=abc&type=Move&" + "&".join(f"p{i}=v" for i in range(300)),
    "id=abc+def&type=Move",
    "id=abc%20&type=Move",
    "id=ABC-123&type=PurchaseReturn&x=%E2%82%B9%20500",
]


@pytest.mark.parametrize("query", WEIRD_QUERIES)
@pytest.mark.parametrize("token", [None, SECRET])
def test_odd_queries_never_get_a_500(sink: RecordingSink, query: str, token: str | None) -> None:
    client = client_for(sink, token=token)
    # A second token makes the right one ambiguous: refused as unauthorized.
    allowed = {202, 400, 401} if token and "token=" in query else {202, 400}
    if token is not None:
        query = f"{query}&token={token}"
    response = client.post("/webhook", query_string=query)
    body = assert_json(response, response.status_code)
    assert response.status_code in allowed, body
    if response.status_code == 202:
        [envelope] = sink.envelopes()
        validate_envelope(envelope)
        assert body == {"event_id": envelope["id"]}
        assert "token" not in envelope["data"]["query"]
    else:
        assert sink.accepted == []
