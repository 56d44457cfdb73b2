"""What a benchmark run is built of: an app served as a process, the raw topic's record
count, and one measured load with its check that no accepted event went missing."""

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import requests
from kafka import KafkaConsumer, TopicPartition

from bench.load import Load, LoadResult, run_load
from devstack.processes import ServiceProcess

START_TIMEOUT_S = 90.0


@contextmanager
def served(
    module: str, environment: Mapping[str, str], *, port: int, log_dir: Path
) -> Iterator[ServiceProcess]:
    """``python -m module`` on ``port``, ready (``/readyz`` answers 200) until the block ends."""
    service = ServiceProcess(module, {**environment, "INGEST_PORT": str(port)}, log_dir=log_dir)
    service.start()
    try:
        _wait_until_ready(service, f"http://127.0.0.1:{port}/readyz")
        yield service
    finally:
        service.stop(timeout_s=30)


def _wait_until_ready(service: ServiceProcess, url: str) -> None:
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


class TopicCounter:
    """How many records a topic holds: the sum of its partitions' end offsets."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers)
        partitions = self._consumer.partitions_for_topic(topic) or set()
        self._partitions = [TopicPartition(topic, number) for number in sorted(partitions)]
        if not self._partitions:
            raise RuntimeError(f"topic {topic} does not exist")

    def size(self) -> int:
        return sum(self._consumer.end_offsets(self._partitions).values())

    def settled_size(self, *, quiet_s: float = 1.0, timeout_s: float = 30.0) -> int:
        """The size once it stopped growing for ``quiet_s``: requests that were still in
        flight when a load generator stopped have been published (or failed) by then."""
        deadline = time.monotonic() + timeout_s
        size = self.size()
        while time.monotonic() < deadline:
            time.sleep(quiet_s)
            latest = self.size()
            if latest == size:
                return size
            size = latest
        raise TimeoutError(f"the topic still grows after {timeout_s}s")

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
    """Records the run added to the raw topic; None for the baseline, which has no topic."""

    @property
    def consistent(self) -> bool:
        """Every 202 is a record on the topic. wrk stops with requests in flight (at most
        one per connection) that the server may still publish but that wrk never counts;
        bench.pygen waits for every answer, so its counts must be equal."""
        if self.published is None:
            return True
        cut_off = self.load.connections if self.result.generator == "wrk" else 0
        return self.result.accepted <= self.published <= self.result.accepted + cut_off


def measure(
    label: str, load: Load, *, port: int, generator: str, counter: TopicCounter | None = None
) -> Measurement:
    before = counter.settled_size() if counter else 0
    result = run_load(load, port=port, generator=generator)
    published = counter.settled_size() - before if counter else None
    return Measurement(label, load, result, published)
