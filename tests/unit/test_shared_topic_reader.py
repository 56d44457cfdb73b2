"""The topic reader's stop rules against a fake consumer: where a read starts and ends, its
deadline, reading past a short end offset, waiting for records still to come."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from kafka.structs import TopicPartition

from shared import topic_reader
from shared.topic_reader import TopicReader, TopicReadTimeout, end_offsets, read_topic

A0, A1, B0 = TopicPartition("a", 0), TopicPartition("a", 1), TopicPartition("b", 0)


@dataclass(frozen=True)
class _Message:
    offset: int
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    timestamp: int


@dataclass
class _Broker:
    """Each partition's log; a poll hands out one record per partition, as small batches."""

    logs: dict[TopicPartition, list[bytes]]
    short_ends: set[TopicPartition] = field(default_factory=set)
    """Partitions whose end offset is reported one short of their log (Tansu's finding)."""
    on_poll: Callable[["_Broker"], None] = lambda _broker: None
    stalled: bool = False

    def append(self, partition: TopicPartition, value: bytes) -> None:
        self.logs[partition].append(value)


class _Consumer:
    def __init__(self, broker: _Broker) -> None:
        self._broker = broker
        self._positions: dict[TopicPartition, int] = {}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {p.partition for p in self._broker.logs if p.topic == topic}

    def assign(self, partitions: list[TopicPartition]) -> None:
        self._positions = dict.fromkeys(partitions, 0)

    def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        assert partitions, "no partitions means every assigned one"
        self._positions.update(dict.fromkeys(partitions, 0))

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self._positions[partition] = offset

    def position(self, partition: TopicPartition, timeout_ms: int | None = None) -> int:
        return self._positions[partition]

    def end_offsets(self, partitions: list[TopicPartition], timeout_ms: int) -> dict[Any, int]:
        logs = self._broker.logs
        return {p: len(logs[p]) - (p in self._broker.short_ends) for p in partitions}

    def beginning_offsets(self, partitions: list[TopicPartition]) -> dict[Any, int]:
        return dict.fromkeys(partitions, 0)

    def poll(self, timeout_ms: int) -> dict[Any, list[_Message]]:
        self._broker.on_poll(self._broker)
        if self._broker.stalled:
            return {}
        batches: dict[Any, list[_Message]] = {}
        for partition, position in self._positions.items():
            log = self._broker.logs[partition]
            if position < len(log):
                message = _Message(position, b"k", log[position], [("h", b"v")], 1000 + position)
                batches[partition] = [message]
                self._positions[partition] = position + 1
        return batches

    def close(self) -> None:
        pass


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> _Broker:
    broker = _Broker({A0: [b"a0-0", b"a0-1"], A1: [b"a1-0"], B0: [b"b0-0", b"b0-1", b"b0-2"]})
    monkeypatch.setattr(topic_reader, "KafkaConsumer", lambda **_config: _Consumer(broker))
    return broker


def _values(records: list[topic_reader.ReadRecord]) -> set[bytes]:
    return {read.record.value for read in records}


def test_a_topic_is_read_whole_from_its_beginning(broker: _Broker) -> None:
    records = read_topic("fake:9092", "a")
    assert _values(records) == {b"a0-0", b"a0-1", b"a1-0"}
    first = min(records, key=lambda read: (read.partition, read.offset))
    assert (first.partition, first.offset, first.timestamp_ms) == (A0, 0, 1000)
    assert (first.record.key, first.record.headers) == (b"k", (("h", b"v"),))


def test_names_and_partitions_can_be_mixed(broker: _Broker) -> None:
    assert _values(read_topic("fake:9092", ["b", A1])) == {b"b0-0", b"b0-1", b"b0-2", b"a1-0"}


def test_given_offsets_start_their_partitions_there_and_the_others_at_the_beginning(
    broker: _Broker,
) -> None:
    records = read_topic("fake:9092", "a", start={A0: 1})
    assert _values(records) == {b"a0-1", b"a1-0"}


def test_a_read_ends_at_the_end_offsets_of_its_start_on_a_topic_still_written(
    broker: _Broker,
) -> None:
    broker.on_poll = lambda b: b.append(B0, b"later")
    records = read_topic("fake:9092", "b")
    assert [read.record.value for read in records] == [b"b0-0", b"b0-1", b"b0-2"]


def test_a_read_that_cannot_reach_the_end_raises_naming_the_topic(broker: _Broker) -> None:
    broker.stalled = True
    with pytest.raises(TopicReadTimeout, match=r"reading \['b'\] timed out"):
        read_topic("fake:9092", "b", timeout_s=0)


def test_settling_reads_past_an_end_offset_reported_short(broker: _Broker) -> None:
    broker.short_ends = {B0}
    assert b"b0-2" not in _values(read_topic("fake:9092", "b"))
    assert b"b0-2" in _values(read_topic("fake:9092", "b", settle_s=0.01))


def test_a_reader_reads_on_from_where_it_stopped(broker: _Broker) -> None:
    with TopicReader("fake:9092", "a") as reader:
        assert len(reader.read_to_end()) == 3
        broker.append(A1, b"a1-1")
        assert _values(reader.read_to_end()) == {b"a1-1"}


def test_read_at_least_waits_for_records_still_to_come(broker: _Broker) -> None:
    broker.on_poll = lambda b: b.append(A1, b"new")
    with TopicReader("fake:9092", "a") as reader:
        assert len(reader.read_at_least(5, timeout_s=60)) >= 5


def test_read_at_least_returns_fewer_once_its_time_is_up(broker: _Broker) -> None:
    broker.stalled = True
    with TopicReader("fake:9092", "a") as reader:
        assert reader.read_at_least(1, timeout_s=0) == []


def test_end_offsets_are_per_partition_and_a_missing_topic_has_none(broker: _Broker) -> None:
    assert end_offsets("fake:9092", ["a", "b"]) == {A0: 2, A1: 1, B0: 3}
    assert end_offsets("fake:9092", "missing") == {}
