"""The topic reader against the real broker: whole topics, given offsets and partitions,
reading on, and end offsets."""

import pytest
from kafka.structs import TopicPartition

from shared.events import Record
from shared.topic_reader import TopicReader, end_offsets, read_topic
from tests.conftest import PipelineTopics
from tests.helpers import publish_records

pytestmark = pytest.mark.broker

KEYS = [b"doc-1", b"doc-2", b"doc-3", b"doc-4"]


def _publish(bootstrap: str, topic: str, values: list[bytes]) -> None:
    # One record per send: the embedded broker reports a partition's end offset right
    # only for batches of one record (docs/scenarios.md, "Open findings").
    for number, value in enumerate(values):
        record = Record(KEYS[number % len(KEYS)], value, (("n", str(number).encode()),))
        publish_records(bootstrap, topic, [record])


def test_a_topic_is_read_whole_in_order_per_partition(
    kafka_bootstrap: str, topics: PipelineTopics
) -> None:
    values = [f"value-{n}".encode() for n in range(12)]
    _publish(kafka_bootstrap, topics.raw, values)

    records = read_topic(kafka_bootstrap, topics.raw)

    assert sorted(read.record.value for read in records) == sorted(values)
    for partition in {read.partition for read in records}:
        offsets = [read.offset for read in records if read.partition == partition]
        assert offsets == list(range(len(offsets)))
    first = next(read for read in records if read.record.value == b"value-0")
    assert (first.record.key, first.record.headers) == (b"doc-1", (("n", b"0"),))
    assert first.timestamp_ms > 0


def test_end_offsets_count_each_partitions_records(
    kafka_bootstrap: str, topics: PipelineTopics
) -> None:
    _publish(kafka_bootstrap, topics.raw, [b"x"] * 8)
    records = read_topic(kafka_bootstrap, topics.raw)
    ends = end_offsets(kafka_bootstrap, [topics.raw, topics.enriched])

    assert sorted(ends) == [
        TopicPartition(t, p) for t in (topics.enriched, topics.raw) for p in range(3)
    ]
    for partition in {read.partition for read in records}:
        assert ends[partition] == sum(1 for read in records if read.partition == partition)
    assert sum(ends.values()) == 8
    assert end_offsets(kafka_bootstrap, "no-such-topic-anywhere") == {}


def test_given_offsets_and_partitions_choose_what_is_read(
    kafka_bootstrap: str, topics: PipelineTopics
) -> None:
    _publish(kafka_bootstrap, topics.raw, [f"v{n}".encode() for n in range(8)])
    ends = end_offsets(kafka_bootstrap, topics.raw)
    busy = max(ends, key=lambda partition: ends[partition])

    records = read_topic(kafka_bootstrap, [busy], start={busy: 1})

    assert {read.partition for read in records} == {busy}
    assert [read.offset for read in records] == list(range(1, ends[busy]))


def test_a_reader_reads_on_from_where_it_stopped(
    kafka_bootstrap: str, topics: PipelineTopics
) -> None:
    _publish(kafka_bootstrap, topics.raw, [b"before"] * 3)
    with TopicReader(kafka_bootstrap, topics.raw) as reader:
        assert len(reader.read_to_end()) == 3
        _publish(kafka_bootstrap, topics.raw, [b"after"] * 2)
        assert [read.record.value for read in reader.read_to_end()] == [b"after"] * 2
        assert reader.read_to_end() == []
