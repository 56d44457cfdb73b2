"""What a benchmark run is built of: an app served as a process, the raw topic's record
count, and one measured load with its check that no accepted event went missing."""

import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import requests
from kafka import KafkaConsumer, TopicPartition

from bench.load import WRK_THREADS, Load, LoadResult, run_load
from devstack.processes import ServiceProcess
from shared.topic_reader import TopicReader

START_TIMEOUT_S = 90.0


@contextmanager
def served(
    module: str, environment: Mapping[str, str], *, port: int, log_dir: Path
) -> Iterator[ServiceProcess]:
    """``python -m module`` on ``port``, ready (``/readyz`` answers 200) until the block ends."""
    service = ServiceProcess(module, {**environment, "INGEST_PORT": str(port)}, log_dir=log_dir)
    service.start()
    try:
        wait_until_ready(service, f"http://127.0.0.1:{port}/readyz")
        yield service
    finally:
        service.stop(timeout_s=30)


def wait_until_ready(service: ServiceProcess, url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if service.exit_code() is not None:
            log_tail = service.log_path.read_text()[-2000:]
            raise RuntimeError(f"{service.module} exited while starting; its log ends:\n{log_tail}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{service.module} not ready after {START_TIMEOUT_S}s: {service.log_path}")


def _wait_until_spool_is_empty(port: int) -> None:
    """Events spooled before the run (a worker still connecting during the warm-up) would
    be drained into the run's count."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).json()["spool_depth"] == 0:
            return
        time.sleep(0.2)
    raise TimeoutError(f"ingest's spool did not drain within {START_TIMEOUT_S}s")


class TopicCounter:
    """What a topic holds: its size (the sum of its partitions' end offsets) and the
    CloudEvents ids of the records between two sizes."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers)
        partitions = self._consumer.partitions_for_topic(topic) or set()
        self._partitions = [TopicPartition(topic, number) for number in sorted(partitions)]
        if not self._partitions:
            raise RuntimeError(f"topic {topic} does not exist")
        self._consumer.assign(self._partitions)

    def end_offsets(self) -> dict[TopicPartition, int]:
        return dict(self._consumer.end_offsets(self._partitions))

    def settled_end_offsets(
        self, *, quiet_s: float = 1.0, timeout_s: float = 30.0
    ) -> dict[TopicPartition, int]:
        """The end offsets once they stopped moving for ``quiet_s``: requests that were
        still in flight when a load generator stopped have been published (or failed)."""
        deadline = time.monotonic() + timeout_s
        offsets = self.end_offsets()
        while time.monotonic() < deadline:
            time.sleep(quiet_s)
            latest = self.end_offsets()
            if latest == offsets:
                return offsets
            offsets = latest
        raise TimeoutError(f"the topic still grows after {timeout_s}s")

    def event_ids(
        self, start: Mapping[TopicPartition, int], end: Mapping[TopicPartition, int]
    ) -> list[str]:
        """The CloudEvents id of every record from ``start`` up to ``end``."""
        with TopicReader(self._bootstrap_servers, self._partitions, start=start) as reader:
            return [
                json.loads(read.record.value)["id"]
                for read in reader.read_to_end()
                if read.offset < end[read.partition]
            ]

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> "TopicCounter":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@dataclass(frozen=True)
class Measurement:
    label: str
    load: Load
    result: LoadResult
    published: int | None
    """Distinct events the run added to the raw topic; None for the baseline (no topic)."""
    duplicates: int | None = None
    """Records the run added whose CloudEvents id another of them already had."""

    @property
    def consistent(self) -> bool:
        """Every 202 is an event on the topic. wrk stops with requests in flight (at most
        one per connection) that the server may still publish but that wrk never counts,
        and leaves one more request per wrk thread uncounted (measured: a one-connection
        run publishes two events more than wrk's count, and never more); bench.pygen
        waits for every answer, so its counts must be equal."""
        if self.published is None:
            return True
        cut_off = self.load.connections + WRK_THREADS if self.result.generator == "wrk" else 0
        return self.result.accepted <= self.published <= self.result.accepted + cut_off


def measure(
    label: str, load: Load, *, port: int, generator: str, counter: TopicCounter | None = None
) -> Measurement:
    if counter is not None:
        _wait_until_spool_is_empty(port)
    before = counter.settled_end_offsets() if counter else {}
    result = run_load(load, port=port, generator=generator)
    if counter is None:
        return Measurement(label, load, result, None)
    ids = counter.event_ids(before, counter.settled_end_offsets())
    return Measurement(label, load, result, len(set(ids)), len(ids) - len(set(ids)))
