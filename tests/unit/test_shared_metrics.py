"""The consumer lag sampler and the per-event log context, with fakes (no broker)."""

import io
import json
import logging
from collections.abc import Iterator

import pytest
from kafka.errors import KafkaTimeoutError
from kafka.structs import TopicPartition
from prometheus_client import CollectorRegistry

from shared.logs import configure_logging, event_context
from shared.metrics import ConsumerMetrics, LagSampler

RAW_0, RAW_1 = TopicPartition("raw", 0), TopicPartition("raw", 1)


class FakeConsumer:
    """What the sampler asks a KafkaConsumer: its assignment, end offsets and positions."""

    def __init__(self, ends: dict[TopicPartition, int], positions: dict[TopicPartition, int]):
        self.ends = ends
        self.positions = positions
        self.failing = False
        self.end_offset_calls = 0

    def assignment(self) -> set[TopicPartition]:
        return set(self.positions)

    def end_offsets(
        self, partitions: list[TopicPartition], timeout_ms: int
    ) -> dict[TopicPartition, int]:
        self.end_offset_calls += 1
        if self.failing:
            raise KafkaTimeoutError("no answer")
        return {tp: self.ends[tp] for tp in partitions}

    def position(self, partition: TopicPartition, timeout_ms: int) -> int:
        return self.positions[partition]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _lag(registry: CollectorRegistry, partition: TopicPartition) -> float | None:
    return registry.get_sample_value(
        "consumer_lag", {"topic": partition.topic, "partition": str(partition.partition)}
    )


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def test_lag_is_end_offset_minus_position_per_assigned_partition(
    registry: CollectorRegistry,
) -> None:
    sampler = LagSampler(ConsumerMetrics(registry).lag)
    sampler.sample(FakeConsumer({RAW_0: 10, RAW_1: 4}, {RAW_0: 7, RAW_1: 4}))  # type: ignore[arg-type]
    assert (_lag(registry, RAW_0), _lag(registry, RAW_1)) == (3, 0)


def test_lag_is_sampled_at_most_once_per_interval(registry: CollectorRegistry) -> None:
    clock = Clock()
    sampler = LagSampler(ConsumerMetrics(registry).lag, interval_s=5, clock=clock)
    consumer = FakeConsumer({RAW_0: 10}, {RAW_0: 7})
    sampler.sample(consumer)  # type: ignore[arg-type]
    consumer.ends[RAW_0] = 20
    clock.now += 4
    sampler.sample(consumer)  # type: ignore[arg-type]
    assert (consumer.end_offset_calls, _lag(registry, RAW_0)) == (1, 3)
    clock.now += 1
    sampler.sample(consumer)  # type: ignore[arg-type]
    assert (consumer.end_offset_calls, _lag(registry, RAW_0)) == (2, 13)


def test_a_partition_taken_away_leaves_the_gauge_and_a_broker_error_keeps_it(
    registry: CollectorRegistry,
) -> None:
    clock = Clock()
    sampler = LagSampler(ConsumerMetrics(registry).lag, interval_s=5, clock=clock)
    consumer = FakeConsumer({RAW_0: 10, RAW_1: 9}, {RAW_0: 7, RAW_1: 1})
    sampler.sample(consumer)  # type: ignore[arg-type]
    del consumer.positions[RAW_1]  # a rebalance gave it to another replica
    clock.now += 5
    sampler.sample(consumer)  # type: ignore[arg-type]
    assert (_lag(registry, RAW_0), _lag(registry, RAW_1)) == (3, None)
    consumer.failing = True
    clock.now += 5
    sampler.sample(consumer)  # type: ignore[arg-type]
    assert _lag(registry, RAW_0) == 3


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """What configure_logging writes, one JSON object per line; the root logger restored."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("test")
    root.handlers[0].setStream(stream)  # type: ignore[attr-defined]
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_every_line_inside_an_event_context_carries_its_ids(json_log: io.StringIO) -> None:
    log = logging.getLogger("anywhere")
    with event_context(document_id="doc-1", raw_event_id=None) as fields:
        log.info("before parsing")
        fields["event_id"] = "ev-1"
        with event_context(raw_event_id="raw-1"):
            log.info("inner", extra={"document_id": "given"})
        log.info("after")
    log.info("outside")
    lines = {line["message"]: line for line in _lines(json_log)}
    assert lines["before parsing"]["document_id"] == "doc-1"
    assert "event_id" not in lines["before parsing"]
    assert "raw_event_id" not in lines["before parsing"]
    inner = lines["inner"]
    assert (inner["document_id"], inner["event_id"], inner["raw_event_id"]) == (
        "given",  # extra wins over the context
        "ev-1",
        "raw-1",
    )
    assert "raw_event_id" not in lines["after"]
    assert lines["after"]["event_id"] == "ev-1"
    assert not {"document_id", "event_id"} & set(lines["outside"])
