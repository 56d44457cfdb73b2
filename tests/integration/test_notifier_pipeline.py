"""The notifier against a real broker and a fake SMS provider on a real local port."""

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cloudevents.core.v1.event import CloudEvent

from devstack.http_server import BackgroundServer
from notifier.rules import RuleSet
from notifier.settings import NotifierSettings
from notifier.wiring import notifier_loop
from shared.contracts import validate_event, validate_headers
from shared.events import Record, to_record
from tests.conftest import PipelineTopics, ReadTopic
from tests.helpers import SEED_DOCUMENT_ID as DOCUMENT_ID
from tests.helpers import SEED_SMS as SEED_TEXT
from tests.helpers import (
    FakeProvider,
    enriched_event,
    publish_records,
    running_loop,
    wait_until,
)

pytestmark = pytest.mark.broker


def _record(event: CloudEvent) -> Record:
    validate_event(event)
    return to_record(event)


@pytest.fixture
def provider() -> Iterator[tuple[FakeProvider, str]]:
    fake = FakeProvider()
    with BackgroundServer(fake.app()) as server:
        yield fake, server.url + "/sms"


def _group(topics: PipelineTopics) -> str:
    return f"{topics.group_prefix}-notifier"


@contextmanager
def _running_notifier(
    bootstrap: str, topics: PipelineTopics, sms_url: str, ledger_dir: Path
) -> Iterator[None]:
    """The notifier's loop in a thread, wired as ``python -m notifier`` wires it."""
    settings = NotifierSettings(
        **topics.settings(bootstrap),
        notifier_group_id=_group(topics),
        sms_provider="http",
        sms_http_url=sms_url,
        notifier_database_url=f"sqlite:///{ledger_dir / 'ledger.db'}",
    )
    stop = threading.Event()
    with (
        notifier_loop(settings, RuleSet.load(None), stop, sys.stdout) as loop,
        running_loop(loop, stop),
    ):
        yield


def _expected_post() -> dict[str, object]:
    return {"to": "+919876543210", "text": SEED_TEXT}


def test_the_seed_event_sends_one_sms_and_an_unmatched_state_none(
    kafka_bootstrap: str,
    topics: PipelineTopics,
    read_topic: ReadTopic,
    provider: tuple[FakeProvider, str],
    tmp_path: Path,
) -> None:
    fake, url = provider
    # One document, one partition: the unmatched event is handled before the seed.
    publish_records(
        kafka_bootstrap,
        topics.enriched,
        [_record(enriched_event(state="New")), _record(enriched_event())],
    )
    with _running_notifier(kafka_bootstrap, topics, url, tmp_path):
        assert wait_until(lambda: len(fake.requests) >= 1)
    (sent,) = fake.requests
    body = sent["json"]
    assert {"to": body["to"], "text": body["text"]} == _expected_post()
    assert len(body["idempotency_key"]) == 64
    assert read_topic(topics.dead_letter) == []


def test_a_malformed_record_is_dead_lettered_and_later_events_still_sent(
    kafka_bootstrap: str,
    topics: PipelineTopics,
    read_topic: ReadTopic,
    provider: tuple[FakeProvider, str],
    tmp_path: Path,
) -> None:
    fake, url = provider
    malformed = Record(key=DOCUMENT_ID.encode(), value=b"this is not a CloudEvent")
    publish_records(kafka_bootstrap, topics.enriched, [malformed, _record(enriched_event())])
    with _running_notifier(kafka_bootstrap, topics, url, tmp_path):
        assert wait_until(lambda: len(fake.requests) >= 1)
        (letter,) = read_topic(topics.dead_letter, count=1)
    assert letter.value == malformed.value
    assert "CloudEvent" in letter.headers["dlq.reason"].decode()
    assert letter.headers["dlq.group"].decode() == _group(topics)
    validate_headers("dead-letter-headers.v1", list(letter.headers.items()))
    (sent,) = fake.requests
    assert sent["json"]["text"] == SEED_TEXT
