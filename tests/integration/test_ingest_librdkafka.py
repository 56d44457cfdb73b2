"""The request path's librdkafka channel against a real broker."""

import json
from pathlib import Path

import pytest

from devstack.broker import EmbeddedBroker
from ingest.librdkafka import connect_librdkafka_channel
from ingest.settings import IngestSettings
from shared.events import RAW_WEBHOOK, new_event, to_record
from shared.topics import ensure_topics
from tests.conftest import PipelineTopics, ReadTopic
from tests.helpers import stop_at_once

pytestmark = pytest.mark.broker


def test_records_are_acknowledged_in_order_and_land_keyed(
    kafka_bootstrap: str, topics: PipelineTopics, read_topic: ReadTopic, tmp_path: Path
) -> None:
    settings = IngestSettings(
        kafka_bootstrap_servers=kafka_bootstrap, raw_topic=topics.raw, ingest_spool_dir=tmp_path
    )
    channel = connect_librdkafka_channel(settings)
    events = [
        new_event(RAW_WEBHOOK, source="/test", document_id="doc-7", data={"n": n}) for n in range(5)
    ]
    try:
        acknowledged = channel.send_within(topics.raw, [to_record(e) for e in events], 10.0)
        assert channel.is_connected()
    finally:
        channel.close()
    assert acknowledged == [True] * 5
    landed = read_topic(topics.raw, count=5)
    assert [json.loads(r.value)["id"] for r in landed] == [e.get_id() for e in events]
    assert {r.key for r in landed} == {b"doc-7"}


def test_a_broker_that_went_away_gets_no_acknowledgement(
    topics: PipelineTopics, tmp_path: Path
) -> None:
    broker = EmbeddedBroker()
    bootstrap = broker.start()
    try:
        ensure_topics(bootstrap, [topics.raw], partitions=1)
        settings = IngestSettings(
            kafka_bootstrap_servers=bootstrap,
            raw_topic=topics.raw,
            ingest_spool_dir=tmp_path,
            ingest_publish_budget_ms=300,
        )
        channel = connect_librdkafka_channel(settings)
    finally:
        stop_at_once(broker)
    try:
        record = to_record(new_event(RAW_WEBHOOK, source="/t", document_id="d", data={}))
        assert channel.send_within(topics.raw, [record], 0.3) == [False]
    finally:
        channel.close(timeout_s=1)
