"""The enricher's consumer loop against the real broker and the sandbox on a real port."""

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from cloudevents.core.v1.event import CloudEvent
from pydantic import SecretStr

from devstack.http_server import BackgroundServer
from enricher.settings import EnricherSettings
from enricher.wiring import enricher_loop
from sandbox.app import create_app as create_sandbox
from sandbox.documents import SEED_ORDER_ID
from shared.contracts import validate_envelope, validate_event
from shared.events import (
    DOCUMENT_UNAVAILABLE,
    ENRICHED_DOCUMENT,
    RAW_WEBHOOK,
    new_event,
    to_record,
)
from shared.health import Readiness
from shared.kladana_types import TRANSACTION_TYPES
from tests.conftest import PipelineTopics, ReadTopic
from tests.helpers import publish_records, running_loop, wait_until

pytestmark = pytest.mark.broker

TOKEN = "integration-token"
NEW_ORDER_ID = "a5f2022a-eb25-11f1-a1e8-02fc00000001"
PAYMENT_ID = "a5f937f2-eb25-11f1-8354-02fc00000001"
CommittedTotal = Callable[[str], int]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class CountingGateway:
    """A WSGI wrapper in front of the sandbox: counts requests, fails the first few with 503."""

    def __init__(self, app: WSGIApp, *, fail_first: int = 0) -> None:
        self._app = app
        self._fail_first = fail_first
        self._lock = threading.Lock()
        self.requests = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        with self._lock:
            self.requests += 1
            failing = self.requests <= self._fail_first
        if failing:
            start_response("503 Service Unavailable", [("Content-Type", "text/html")])
            return [b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"]
        return self._app(environ, start_response)


def raw_event(document_id: str, type_name: str) -> CloudEvent:
    """A raw webhook event as ingest publishes it."""
    transaction_type = TRANSACTION_TYPES.by_name(type_name)
    assert transaction_type is not None
    event = new_event(
        RAW_WEBHOOK,
        source="/kladana-pipeline/ingest",
        document_id=document_id,
        data={
            "document_id": document_id,
            "type": type_name,
            "entity": transaction_type.entity,
            "received_at": datetime.now(UTC).isoformat(),
            "method": "GET",
            "query": {"id": document_id, "type": type_name},
        },
    )
    validate_event(event)
    return event


def publish_raw(bootstrap: str, topic: str, events: list[CloudEvent]) -> None:
    publish_records(bootstrap, topic, [to_record(event) for event in events])


def settings_for(
    bootstrap: str, topics: PipelineTopics, api_url: str, token: str = TOKEN
) -> EnricherSettings:
    return EnricherSettings(
        **topics.settings(bootstrap),
        kladana_api_url=api_url,
        kladana_token=SecretStr(token),
        enricher_group_id=group_of(topics),
    )


def group_of(topics: PipelineTopics) -> str:
    return f"{topics.group_prefix}-enricher"


@contextmanager
def running(settings: EnricherSettings, readiness: Readiness | None = None) -> Iterator[None]:
    """The enricher's loop in a thread, stopped through its stop event and joined."""
    stop = threading.Event()
    with enricher_loop(settings, stop, readiness) as loop, running_loop(loop, stop):
        yield


@contextmanager
def sandbox(*, fail_first: int = 0) -> Iterator[tuple[CountingGateway, str]]:
    gateway = CountingGateway(create_sandbox(token=TOKEN), fail_first=fail_first)
    with BackgroundServer(gateway) as server:
        yield gateway, f"{server.url}/api/remap/1.2"


def test_each_raw_event_becomes_one_valid_enriched_event_then_is_committed(
    kafka_bootstrap: str,
    topics: PipelineTopics,
    read_topic: ReadTopic,
    committed_total: CommittedTotal,
) -> None:
    raws = [
        raw_event(SEED_ORDER_ID, "CustomerOrder"),
        raw_event(NEW_ORDER_ID, "CustomerOrder"),
        raw_event(PAYMENT_ID, "PaymentIn"),
    ]
    publish_raw(kafka_bootstrap, topics.raw, raws)
    with sandbox() as (_, api_url), running(settings_for(kafka_bootstrap, topics, api_url)):
        enriched = read_topic(topics.enriched, count=3, timeout_s=60)
        assert wait_until(lambda: committed_total(group_of(topics)) == 3)

    assert len(enriched) == 3
    by_raw_id = {}
    for record in enriched:
        envelope = json.loads(record.value)
        validate_envelope(envelope)
        assert record.key == envelope["subject"].encode()
        assert record.key == envelope["data"]["document"]["id"].encode()
        by_raw_id[envelope["data"]["raw_event_id"]] = envelope["data"]["document"]
    assert set(by_raw_id) == {raw.get_id() for raw in raws}
    seed = by_raw_id[raws[0].get_id()]
    assert seed["number"] == "5643"
    assert seed["moment"] == "2024-06-10T12:57:00+03:00"
    assert seed["sum"] == {"minor": 5000000, "amount": "50000.00", "currency": "INR"}
    assert seed["state"] == "Shipped"
    assert seed["agent"]["phone"] == "+91 98765 43210"
    assert by_raw_id[raws[1].get_id()]["state"] == "New"
    assert by_raw_id[raws[2].get_id()]["type"] == "PaymentIn"
    assert read_topic(topics.dead_letter) == []


def test_a_missing_document_is_dead_lettered_and_the_next_event_still_flows(
    kafka_bootstrap: str,
    topics: PipelineTopics,
    read_topic: ReadTopic,
    committed_total: CommittedTotal,
) -> None:
    # Same document id, so same key and partition: the 404 stands right before the order.
    missing = raw_event(SEED_ORDER_ID, "InvoiceOut")
    order = raw_event(SEED_ORDER_ID, "CustomerOrder")
    publish_raw(kafka_bootstrap, topics.raw, [missing, order])
    with sandbox() as (_, api_url), running(settings_for(kafka_bootstrap, topics, api_url)):
        enriched = read_topic(topics.enriched, count=2, timeout_s=60)
        letters = read_topic(topics.dead_letter, count=1, timeout_s=60)
        assert wait_until(lambda: committed_total(group_of(topics)) == 2)

    # The 404 also tells subscribers that the document is unavailable, in order.
    envelopes = [json.loads(r.value) for r in enriched]
    for envelope in envelopes:
        validate_envelope(envelope)
    assert [(e["type"], e["data"]["raw_event_id"]) for e in envelopes] == [
        (DOCUMENT_UNAVAILABLE.type, missing.get_id()),
        (ENRICHED_DOCUMENT.type, order.get_id()),
    ]
    [letter] = letters
    assert letter.value == to_record(missing).value
    assert letter.key == SEED_ORDER_ID.encode()
    reason = letter.headers["dlq.reason"].decode()
    assert f"Kladana answered 404 for invoiceout/{SEED_ORDER_ID}" in reason
    assert "not found (code 1021)" in reason
    assert letter.headers["dlq.error"] == b"DocumentNotFound"
    assert letter.headers["dlq.group"] == group_of(topics).encode()


def test_a_kladana_that_fails_for_a_while_still_ends_in_an_enriched_event(
    kafka_bootstrap: str,
    topics: PipelineTopics,
    read_topic: ReadTopic,
    committed_total: CommittedTotal,
) -> None:
    raw = raw_event(SEED_ORDER_ID, "CustomerOrder")
    publish_raw(kafka_bootstrap, topics.raw, [raw])
    with (
        sandbox(fail_first=2) as (gateway, api_url),
        running(settings_for(kafka_bootstrap, topics, api_url)),
    ):
        enriched = read_topic(topics.enriched, count=1, timeout_s=60)
        assert wait_until(lambda: committed_total(group_of(topics)) == 1)

    assert gateway.requests == 3
    assert [json.loads(r.value)["data"]["raw_event_id"] for r in enriched] == [raw.get_id()]
    assert read_topic(topics.dead_letter) == []


def test_a_bad_token_halts_without_dead_lettering_or_committing(
    kafka_bootstrap: str,
    topics: PipelineTopics,
    read_topic: ReadTopic,
    committed_total: CommittedTotal,
) -> None:
    publish_raw(kafka_bootstrap, topics.raw, [raw_event(SEED_ORDER_ID, "CustomerOrder")])
    readiness = Readiness()
    with sandbox() as (gateway, api_url):
        settings = settings_for(kafka_bootstrap, topics, api_url, token="revoked-token")
        with running(settings, readiness):
            assert wait_until(lambda: readiness.reason is not None and "401" in readiness.reason)
            # Halted: the refused record is not tried again within the recheck interval.
            assert gateway.requests == 1

    assert read_topic(topics.dead_letter) == []
    assert read_topic(topics.retry) == []
    assert read_topic(topics.enriched) == []
    assert committed_total(group_of(topics)) == 0
