"""The consumer runtime's bookkeeping with a fake consumer and publisher (no broker): what it
commits, where it rewinds, which partitions it pauses."""

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from kafka.structs import TopicPartition
from prometheus_client import CollectorRegistry

from shared.batch import Polled
from shared.consumer_runtime import ConsumerRuntime
from shared.errors import BrokerUnavailable, ConfigurationError, RetriableError
from shared.events import Record
from shared.metrics import ConsumerMetrics
from shared.retry_topic import RetryPolicy
from shared.settling import Destinations, Handled, Output, RecordHandler, Settler

RAW = TopicPartition("raw", 0)
POLICY = RetryPolicy(
    quick_retries=0, max_attempts=1, quick_base_s=0.01, quick_cap_s=0.01, park_base_s=60,
    park_cap_s=60,
)  # fmt: skip


@dataclass
class FakeConsumer:
    """Hands out one batch, then asks the runtime to stop; records what the runtime does."""

    batch: list[tuple[bytes, int]]
    stop: threading.Event
    commits: list[dict[TopicPartition, int]] = field(default_factory=list)
    seeks: list[tuple[TopicPartition, int]] = field(default_factory=list)
    paused: set[TopicPartition] = field(default_factory=set)

    def poll(self, timeout_ms: int) -> dict[TopicPartition, list[Any]]:
        if not self.batch:
            self.stop.set()
            return {}
        messages = [
            SimpleNamespace(offset=offset, key=key, value=b"{}", headers=[])
            for key, offset in self.batch
        ]
        self.batch = []
        return {RAW: messages}

    def assignment(self) -> set[TopicPartition]:
        return {RAW}

    def end_offsets(self, partitions: list[TopicPartition], timeout_ms: int) -> dict[Any, int]:
        return {}

    def position(self, partition: TopicPartition, timeout_ms: int) -> int:
        return 0

    def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        self.commits.append({tp: meta.offset for tp, meta in offsets.items()})

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.seeks.append((partition, offset))

    def pause(self, *partitions: TopicPartition) -> None:
        self.paused.update(partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self.paused.difference_update(partitions)

    def close(self) -> None:
        """Nothing to leave."""


class Ack:
    def __init__(self, acknowledged: bool) -> None:
        self._acknowledged = acknowledged

    def confirm(self) -> None:
        if not self._acknowledged:
            raise BrokerUnavailable("no ack")


class FakePublisher:
    """Acknowledges every record except those whose key is in ``refused``."""

    def __init__(self, refused: set[bytes]) -> None:
        self.refused = refused

    def send(self, topic: str, record: Record) -> Ack:
        return Ack(record.key not in self.refused)


class RecordingReadiness:
    def __init__(self) -> None:
        self.reasons: list[str | None] = []

    def ready(self) -> None:
        self.reasons.append(None)

    def not_ready(self, reason: str) -> None:
        self.reasons.append(reason)


class ByKey:
    """Outputs one record per record, or raises what ``errors`` names for its key."""

    def __init__(self, errors: dict[bytes, Exception]) -> None:
        self.errors = errors

    def for_key(self) -> RecordHandler:
        def handle(polled: Polled) -> Handled:
            error = self.errors.get(polled.record.key or b"")
            if error is not None:
                raise error
            return Handled((Output("out", polled.record),))

        return handle


def _run(
    batch: list[tuple[bytes, int]],
    *,
    errors: dict[bytes, Exception] | None = None,
    refused: set[bytes] | None = None,
) -> tuple[FakeConsumer, RecordingReadiness]:
    stop = threading.Event()
    consumer = FakeConsumer(batch, stop)
    readiness = RecordingReadiness()
    metrics = ConsumerMetrics(CollectorRegistry())
    wait: Callable[[float], bool] = stop.wait
    with ThreadPoolExecutor(max_workers=4) as pool:
        ConsumerRuntime(
            consumer,  # type: ignore[arg-type]
            ByKey(errors or {}),
            Settler(POLICY, Destinations("dlq", "group"), metrics, wait=wait),
            FakePublisher(refused or set()),  # type: ignore[arg-type]
            pool,
            readiness,
            stop,
            policy=POLICY,
            halt_recheck_s=0,
            metrics=metrics,
        ).run()
    return consumer, readiness


def test_a_batch_whose_outputs_are_all_acknowledged_is_committed_to_its_end() -> None:
    consumer, _ = _run([(b"a", 10), (b"b", 11), (b"a", 12)])
    assert consumer.commits == [{RAW: 13}]
    assert consumer.seeks == []


def test_commits_stop_at_the_first_record_not_acknowledged_and_reading_resumes_there() -> None:
    consumer, _ = _run([(b"a", 10), (b"b", 11), (b"a", 12)], refused={b"b"})
    assert consumer.commits == [{RAW: 11}]
    assert consumer.seeks == [(RAW, 11)]


def test_a_held_record_pauses_its_partition_without_skipping_an_earlier_unacknowledged_one() -> (
    None
):
    consumer, _ = _run(
        [(b"a", 10), (b"b", 11), (b"c", 12)],
        errors={b"c": RetriableError("ledger down")},
        refused={b"b"},
    )
    assert consumer.commits == [{RAW: 11}]
    assert consumer.seeks == [(RAW, 11)]
    assert consumer.paused == {RAW}


def test_a_configuration_error_halts_commits_nothing_and_reports_not_ready() -> None:
    consumer, readiness = _run([(b"a", 10)], errors={b"a": ConfigurationError("token refused")})
    assert consumer.commits == []
    assert consumer.seeks == [(RAW, 10)]
    assert consumer.paused == {RAW}
    assert readiness.reasons == [None, "configuration error: token refused", "stopped"]
