"""Read what topics hold, outside any consumer group: the one reader of the tools that look
at a whole topic (redrive, the status command, the benchmarks, the tests).

A read goes from the beginning (or given offsets) to the end offsets measured when it
starts, so it ends on a topic still being written; a deadline bounds it on a broker that
stops answering. Nothing is committed and no group is joined.
"""

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType

from kafka import KafkaConsumer
from kafka.errors import KafkaTimeoutError
from kafka.structs import TopicPartition

from shared.batch import Polled
from shared.events import Record

DEFAULT_TIMEOUT_S = 30.0
_POLL_MS = 200

Where = str | Iterable[str | TopicPartition]
"""A topic, or several, each a name (all its partitions) or one TopicPartition."""


class TopicReadTimeout(TimeoutError):
    """A read did not reach the end offsets before its deadline."""


@dataclass(frozen=True)
class ReadRecord(Polled):
    """A record read back, with where it was stored and its timestamp."""

    timestamp_ms: int
    """The record's timestamp: when its producer sent it, unless the topic says otherwise."""


class TopicReader:
    """A consumer outside any group over the partitions of ``where``, each placed at its
    ``start`` offset or else at its beginning; :meth:`read_to_end` may be called again to
    read what arrived since. ``with TopicReader(...) as reader: ...`` closes it."""

    def __init__(
        self,
        bootstrap_servers: str,
        where: Where,
        *,
        start: Mapping[TopicPartition, int] | None = None,
    ) -> None:
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap_servers, enable_auto_commit=False
        )
        self.partitions: list[TopicPartition] = self._partitions_of(where)
        self._consumer.assign(self.partitions)
        start = start or {}
        from_beginning = [p for p in self.partitions if p not in start]
        if from_beginning:  # none given would mean every assigned partition
            self._consumer.seek_to_beginning(*from_beginning)
        for partition in self.partitions:
            if partition in start:
                self._consumer.seek(partition, start[partition])

    def _partitions_of(self, where: Where) -> list[TopicPartition]:
        found: set[TopicPartition] = set()
        for item in [where] if isinstance(where, str) else where:
            if isinstance(item, str):
                numbers = self._consumer.partitions_for_topic(item)
                found.update(TopicPartition(item, number) for number in numbers)
            else:
                found.add(item)
        return sorted(found)

    def end_offsets(self, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> dict[TopicPartition, int]:
        """The offset the next record of each partition will get."""
        try:
            ends = self._consumer.end_offsets(self.partitions, timeout_ms=int(timeout_s * 1000))
        except KafkaTimeoutError as error:
            raise TopicReadTimeout(f"no end offsets within {timeout_s} s: {error}") from error
        return dict(ends)

    def beginning_offsets(self) -> dict[TopicPartition, int]:
        """The oldest offset each partition still holds."""
        return dict(self._consumer.beginning_offsets(self.partitions))

    def read_to_end(
        self, *, timeout_s: float = DEFAULT_TIMEOUT_S, settle_s: float = 0.0
    ) -> list[ReadRecord]:
        """Every record from where the reader stands to the end offsets of now, or
        TopicReadTimeout after ``timeout_s``.

        ``settle_s`` > 0 reads on past those ends until a poll that long brings nothing:
        for a broker that reports an end offset short of its log (the embedded Tansu
        broker after a pause, docs/scenarios.md), and to see records that arrive late (a
        duplicate). Records past the ends are returned in any case, since a poll brings
        whole batches.
        """
        deadline = time.monotonic() + timeout_s
        ends = self.end_offsets(timeout_s=timeout_s)
        found: list[ReadRecord] = []
        while not self._reached(ends, deadline):
            self._check(deadline, ends)
            found.extend(self._poll(_POLL_MS))
        while settle_s > 0 and (more := self._poll(int(settle_s * 1000))):
            found.extend(more)
            self._check(deadline, ends)
        return found

    def read_at_least(self, count: int, *, timeout_s: float) -> list[ReadRecord]:
        """Records from where the reader stands until ``count`` came, or fewer once
        ``timeout_s`` passed (the caller judges): for a test waiting on records still to
        be written."""
        deadline = time.monotonic() + timeout_s
        found: list[ReadRecord] = []
        while len(found) < count and time.monotonic() < deadline:
            found.extend(self._poll(_POLL_MS))
        return found

    def _reached(self, ends: Mapping[TopicPartition, int], deadline: float) -> bool:
        for partition in self.partitions:
            left_ms = max(0, int((deadline - time.monotonic()) * 1000))
            position = self._consumer.position(partition, timeout_ms=left_ms)
            if position is None or position < ends[partition]:
                return False
        return True

    def _check(self, deadline: float, ends: Mapping[TopicPartition, int]) -> None:
        if time.monotonic() > deadline:
            reached = {
                f"{p.topic}/{p.partition}": self._consumer.position(p, timeout_ms=0) for p in ends
            }
            wanted = {f"{p.topic}/{p.partition}": end for p, end in ends.items()}
            raise TopicReadTimeout(
                f"reading {sorted({p.topic for p in ends})} timed out at offsets {reached};"
                f" the end offsets were {wanted}"
            )

    def _poll(self, timeout_ms: int) -> list[ReadRecord]:
        return [
            ReadRecord(
                partition,
                message.offset,
                Record(message.key, message.value, tuple(message.headers or ())),
                message.timestamp,
            )
            for partition, messages in self._consumer.poll(timeout_ms=timeout_ms).items()
            for message in messages
        ]

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> "TopicReader":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_topic(
    bootstrap_servers: str,
    where: Where,
    *,
    start: Mapping[TopicPartition, int] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    settle_s: float = 0.0,
) -> list[ReadRecord]:
    """:meth:`TopicReader.read_to_end` once, from ``start`` or the beginning."""
    with TopicReader(bootstrap_servers, where, start=start) as reader:
        return reader.read_to_end(timeout_s=timeout_s, settle_s=settle_s)


def end_offsets(bootstrap_servers: str, where: Where) -> dict[TopicPartition, int]:
    """Each partition's end offset now; a topic that does not exist has no partitions."""
    with TopicReader(bootstrap_servers, where) as reader:
        return reader.end_offsets()
