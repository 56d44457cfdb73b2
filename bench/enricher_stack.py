"""What an enricher benchmark run is built of: a paced stream of raw events, the enricher
as a process, the enriched topic read back with its send times, and the sandbox's counters.

Times come from the records themselves: a raw event's ``received_at`` (set when the
bench sends it, as ingest sets it when a webhook arrives) and an enriched record's
timestamp (set by the enricher's producer when it sends it), so reading the topic
late does not skew a rate or a latency.
"""

import json
import math
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.stack import START_TIMEOUT_S, wait_until_ready
from devstack.broker import free_port
from devstack.processes import ServiceProcess
from ingest.webhooks import raw_event
from sandbox.remote import SandboxControl
from shared.events import ENRICHED_DOCUMENT, to_record
from shared.kafka import Publisher, create_producer
from shared.kladana_types import TRANSACTION_TYPES
from shared.topic_reader import TopicReader
from shared.topics import ensure_topics

ACK_TIMEOUT_S = 30.0
TYPE_NAME = "CustomerOrder"


@dataclass(frozen=True)
class Stream:
    """``rate`` raw events/s for ``duration_s``; each document ``repeats`` times, its
    events interleaved with those of ``interleave - 1`` other documents (a b c a b c ...)."""

    label: str
    rate: float
    duration_s: float
    repeats: int = 1
    interleave: int = 1

    @property
    def events(self) -> int:
        return math.ceil(self.rate * self.duration_s)


def document_sequence(stream: Stream) -> list[str]:
    """The document id of each event of ``stream``, in sending order; ids are new UUIDs
    (the sandbox synthesizes a document for each), so no run reuses another's."""
    ids: list[str] = []
    while len(ids) < stream.events:
        group = [str(uuid.uuid4()) for _ in range(stream.interleave)]
        ids.extend(group * stream.repeats)
    return ids[: stream.events]


@dataclass(frozen=True)
class RunTopics:
    raw: str
    enriched: str
    dead_letter: str
    retry: str

    @classmethod
    def named(cls, label: str) -> "RunTopics":
        return cls(*(f"bench-{label}-{kind}" for kind in ("raw", "enriched", "dlq", "retry")))

    def create(self, bootstrap: str, partitions: int) -> None:
        names = [self.raw, self.enriched, self.dead_letter, self.retry]
        ensure_topics(bootstrap, names, partitions=partitions)

    def environment(self) -> dict[str, str]:
        return {
            "RAW_TOPIC": self.raw,
            "ENRICHED_TOPIC": self.enriched,
            "DEAD_LETTER_TOPIC": self.dead_letter,
            "ENRICHER_RETRY_TOPIC": self.retry,
        }


class RawPublisher:
    """Sends raw events as ingest publishes them."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._publisher = Publisher(create_producer(bootstrap), ack_timeout_s=ACK_TIMEOUT_S)
        self._topic = topic

    def send_paced(self, documents: list[str], rate: float) -> dict[str, float]:
        """One event per document id, ``rate`` per second on a fixed schedule, once the
        broker acknowledged them all: each event's id -> when it was received (epoch s)."""
        started = time.monotonic()
        received_at: dict[str, float] = {}
        deliveries = []
        for number, document_id in enumerate(documents):
            delay = started + number / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            received = datetime.now(UTC)
            event = raw_event(
                "GET", {"id": [document_id], "type": [TYPE_NAME]}, received, TRANSACTION_TYPES
            )
            received_at[event.get_id()] = received.timestamp()
            deliveries.append(self._publisher.send(self._topic, to_record(event)))
        for delivery in deliveries:
            delivery.confirm()
        return received_at

    def close(self) -> None:
        self._publisher.close()


@dataclass(frozen=True)
class Enriched:
    raw_event_id: str
    sent_at: float
    """The enriched record's timestamp (epoch seconds)."""


class EnrichedLog:
    """The enriched topic read from its start, a little more at each :meth:`read_new`."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._reader = TopicReader(bootstrap, topic)
        self.events: dict[str, Enriched] = {}
        """The first enriched event of each raw event id (repeats after a retry dropped)."""
        self.other_events = 0
        """Records that are not enriched documents (``document unavailable``)."""

    def read_new(self) -> None:
        """Everything up to the end offsets of this moment."""
        for read in self._reader.read_to_end():
            self._add(json.loads(read.record.value), read.timestamp_ms / 1000)

    def _add(self, envelope: Mapping[str, Any], sent_at: float) -> None:
        if envelope["type"] != ENRICHED_DOCUMENT.type:
            self.other_events += 1
            return
        raw_id = envelope["data"]["raw_event_id"]
        self.events.setdefault(raw_id, Enriched(raw_id, sent_at))

    def wait_for(self, raw_ids: set[str], *, timeout_s: float) -> bool:
        """True once every one of ``raw_ids`` is enriched; False after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.read_new()
            if raw_ids <= self.events.keys():
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)

    def close(self) -> None:
        self._reader.close()


@contextmanager
def enricher_running(environment: Mapping[str, str], *, log_dir: Path) -> Iterator[None]:
    """``python -m enricher`` until the block ends (SIGTERM: it finishes what it holds)."""
    port = free_port()
    service = ServiceProcess(
        "enricher", {**environment, "METRICS_PORT": str(port)}, log_dir=log_dir
    ).start()
    try:
        wait_until_ready(service, f"http://127.0.0.1:{port}/readyz")
        yield
    finally:
        exit_code = service.stop(timeout_s=30)
        if exit_code != 0:
            log_tail = service.log_path.read_text()[-2000:]
            raise RuntimeError(f"the enricher exited {exit_code}; its log ends:\n{log_tail}")


@dataclass(frozen=True)
class RunResult:
    stream: Stream
    published: int
    enriched: int
    """Raw events of the run with an enriched event once the run drained."""
    all_enriched: bool
    steady_per_s: float
    """Enriched events/s from ``warm_up_s`` after the first event to the last one sent."""
    overall_per_s: float
    """Enriched events/s from the first event sent to the last enriched."""
    elapsed_s: float
    """From the first event sent to the last enriched."""
    api_calls: int
    rate_limited: int
    """429 answers the sandbox gave during the run."""
    max_parallel: int
    dead_letters: int
    p50_ms: float
    p99_ms: float

    @property
    def calls_per_event(self) -> float:
        return self.api_calls / self.enriched if self.enriched else math.nan


def summarise(
    stream: Stream,
    received_at: Mapping[str, float],
    enriched: Mapping[str, Enriched],
    stats: Mapping[str, Any],
    *,
    warm_up_s: float,
    dead_letters: int,
) -> RunResult:
    """One run's numbers from what was sent, what came out and the sandbox's counters."""
    ours = [event for raw_id, event in enriched.items() if raw_id in received_at]
    first_sent, last_sent = min(received_at.values()), max(received_at.values())
    steady_from = first_sent + warm_up_s
    steady = sum(1 for event in ours if steady_from <= event.sent_at < last_sent)
    last_enriched = max((event.sent_at for event in ours), default=first_sent)
    latencies = sorted((event.sent_at - received_at[event.raw_event_id]) * 1000 for event in ours)
    return RunResult(
        stream=stream,
        published=len(received_at),
        enriched=len(ours),
        all_enriched=len(ours) == len(received_at),
        steady_per_s=steady / (last_sent - steady_from) if last_sent > steady_from else math.nan,
        overall_per_s=len(ours) / (last_enriched - first_sent) if ours else 0.0,
        elapsed_s=last_enriched - first_sent,
        api_calls=stats["requests"],
        rate_limited=stats["responses"].get("429", 0),
        max_parallel=stats["max_parallel"],
        dead_letters=dead_letters,
        p50_ms=_quantile(latencies, 0.50),
        p99_ms=_quantile(latencies, 0.99),
    )


def _quantile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def wait_for_sandbox(control: SandboxControl) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            control.stats()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@contextmanager
def sandbox_serving(
    bootstrap: str, work: Path, *, token: str, latency_ms: int
) -> Iterator[tuple[SandboxControl, dict[str, str]]]:
    """``python -m sandbox`` answering in ``latency_ms`` with Kladana's limits, its control,
    and the environment that points an enricher at it and at the broker."""
    port = free_port()
    sandbox = ServiceProcess(
        "sandbox",
        {
            "SANDBOX_PORT": str(port),
            "SANDBOX_TOKEN": token,
            "SANDBOX_LATENCY_MS": str(latency_ms),
            "SANDBOX_SYNTHESIZE": "true",
            # Not the subject: a log line per request would take CPU from the enricher.
            "LOG_LEVEL": "WARNING",
        },
        log_dir=work,
    ).start()
    try:
        control = SandboxControl(f"http://127.0.0.1:{port}", token)
        wait_for_sandbox(control)
        yield (
            control,
            {
                "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "KLADANA_API_URL": f"http://127.0.0.1:{port}/api/remap/1.2",
                "KLADANA_TOKEN": token,
            },
        )
    finally:
        sandbox.stop()
