"""A polled batch: its records grouped by key, and which offsets may be committed.

Pure bookkeeping, no I/O: the consumer runtime asks it what to commit and where to rewind.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from kafka.structs import TopicPartition

from shared.events import Record


@dataclass(frozen=True)
class Polled:
    """One record as the consumer delivered it, with where it came from."""

    partition: TopicPartition
    offset: int
    record: Record

    @property
    def origin(self) -> str:
        return f"{self.partition.topic}/{self.partition.partition}/{self.offset}"


def group_by_key(batch: Iterable[Polled]) -> list[list[Polled]]:
    """The batch's records per key, each group in the order polled.

    Records are keyed by document id, so a group holds every event of one document
    in this batch, raw and retried alike. A record without a key stands alone.
    """
    groups: dict[bytes | str, list[Polled]] = {}
    for polled in batch:
        key = polled.record.key if polled.record.key is not None else polled.origin
        groups.setdefault(key, []).append(polled)
    return list(groups.values())


class OffsetTracker:
    """Which records of a batch are done (their output acknowledged), per partition.

    Offsets are committed only up to the first record that is not done, so a record
    whose output was lost is read again (along with any done records after it).
    """

    def __init__(self, batch: Iterable[Polled]) -> None:
        self._offsets: dict[TopicPartition, list[int]] = {}
        for polled in batch:
            self._offsets.setdefault(polled.partition, []).append(polled.offset)
        for offsets in self._offsets.values():
            offsets.sort()
        self._done: set[tuple[TopicPartition, int]] = set()

    def mark_done(self, polled: Polled) -> None:
        self._done.add((polled.partition, polled.offset))

    def _first_pending(self, partition: TopicPartition) -> int | None:
        for offset in self._offsets[partition]:
            if (partition, offset) not in self._done:
                return offset
        return None

    def committable(self) -> dict[TopicPartition, int]:
        """Per partition whose first records are done: the offset to commit (next to read)."""
        positions: dict[TopicPartition, int] = {}
        for partition, offsets in self._offsets.items():
            pending = self._first_pending(partition)
            if pending is None:
                positions[partition] = offsets[-1] + 1
            elif pending != offsets[0]:
                positions[partition] = pending
        return positions

    def rewind(self) -> dict[TopicPartition, int]:
        """Per partition with a record that is not done: the offset to read again from."""
        positions: dict[TopicPartition, int] = {}
        for partition in self._offsets:
            pending = self._first_pending(partition)
            if pending is not None:
                positions[partition] = pending
        return positions
