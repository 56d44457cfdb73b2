"""Three enricher replicas, each given the whole budget, drawing on one bucket in Redis.

``python -m bench.enricher_replicas [--write-docs]``: starts an embedded broker, the
sandbox (100 ms answers, Kladana's limits), a ``redis-server`` of its own and three
``python -m enricher`` processes in one group with ``KLADANA_LIMITER_URL``, then sends a
burst of 150 new documents twice: spread over every partition, then all on the
partitions of one replica. Each is timed against the ideal (the first 45 at once, then
15 a second) and the sandbox counts the 429s. Loopback only; about a minute.
"""

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kafka.partitioner.default import murmur2

from bench.enricher_load import BURST_TARGET, DOCS, SANDBOX_LATENCY_MS, TOKEN, ideal_s, met
from bench.enricher_stack import (
    EnrichedLog,
    RawPublisher,
    RunResult,
    RunTopics,
    Stream,
    enricher_running,
    sandbox_serving,
    summarise,
)
from bench.report import describe_machine, load_average, write_section
from bench.stack import START_TIMEOUT_S
from devstack.broker import EmbeddedBroker, free_port
from sandbox.remote import SandboxControl

REPLICAS = 3
DOCUMENTS = 150
PARTITIONS = 6
DRAIN_TIMEOUT_S = 120.0
HEADING = "Enricher: three replicas on one budget"


def partition_of(document_id: str) -> int:
    """The raw topic's partition of a document (the producer's murmur2 of its key)."""
    return int(murmur2(document_id.encode()) & 0x7FFFFFFF) % PARTITIONS


def documents_on(partitions: set[int], count: int) -> list[str]:
    ids: list[str] = []
    while len(ids) < count:
        candidate = str(uuid.uuid4())
        if partition_of(candidate) in partitions:
            ids.append(candidate)
    return ids


def assignment(log_path: Path, topic: str) -> set[int]:
    """The raw topic's partitions in a replica's last "partitions assigned" log line."""
    partitions: set[int] = set()
    for line in log_path.read_text().splitlines():
        if '"partitions assigned"' in line:
            named = json.loads(line).get("partitions", [])
            partitions = {int(p.rsplit("/", 1)[1]) for p in named if p.startswith(f"{topic}/")}
    return partitions


def wait_for_stable_group(logs: list[Path], topic: str) -> list[set[int]]:
    """Until every replica owns its own share of the raw topic's partitions."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        owned = [assignment(log, topic) for log in logs]
        if all(owned) and sum(map(len, owned)) == PARTITIONS == len(set().union(*owned)):
            return owned
        time.sleep(0.5)
    raise TimeoutError("the replicas did not settle on an assignment")


@contextmanager
def redis_server(work: Path) -> Iterator[str]:
    port = free_port()
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("needs redis-server (Debian: apt-get install redis-server)")
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    with (work / "redis.log").open("ab") as log:
        server = subprocess.Popen([*command, "--appendonly", "no"], stdout=log)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(30)


@dataclass(frozen=True)
class Shape:
    label: str
    one_replica: bool


SHAPES = (Shape("spread", one_replica=False), Shape("one replica", one_replica=True))


def measure(
    shape: Shape,
    environment: Mapping[str, str],
    bootstrap: str,
    control: SandboxControl,
    work: Path,
) -> RunResult:
    topics = RunTopics.named(shape.label.replace(" ", "-"))
    topics.create(bootstrap, PARTITIONS)
    run_environment = {**environment, **topics.environment(), "ENRICHER_GROUP_ID": topics.raw}
    publisher = RawPublisher(bootstrap, topics.raw)
    enriched = EnrichedLog(bootstrap, topics.enriched)
    stream = Stream(shape.label, rate=1500, duration_s=DOCUMENTS / 1500)
    try:
        with ExitStack() as replicas:
            logs = []
            for number in range(REPLICAS):
                log_dir = work / topics.raw / f"replica-{number}"
                replicas.enter_context(enricher_running(run_environment, log_dir=log_dir))
                logs.append(log_dir / "enricher.log")
            owned = wait_for_stable_group(logs, topics.raw)
            # One event on each partition: every replica connected and fetching.
            warm_up = publisher.send_paced([documents_on({p}, 1)[0] for p in range(6)], 100)
            if not enriched.wait_for(set(warm_up), timeout_s=START_TIMEOUT_S):
                raise RuntimeError("the replicas did not enrich the warm-up events")
            time.sleep(3.0)  # the shared bucket and the sandbox's full again
            control.reset_stats()
            targets = owned[0] if shape.one_replica else set(range(PARTITIONS))
            received_at = publisher.send_paced(documents_on(targets, DOCUMENTS), stream.rate)
            enriched.wait_for(set(received_at), timeout_s=DRAIN_TIMEOUT_S)
        stats = control.stats()
        enriched.read_new()
    finally:
        publisher.close()
        enriched.close()
    return summarise(stream, received_at, enriched.events, stats, warm_up_s=0, dead_letters=0)


def run(work: Path) -> list[RunResult]:
    with (
        EmbeddedBroker(log_path=work / "broker.log") as broker,
        redis_server(work) as redis,
        sandbox_serving(
            broker.bootstrap_servers, work, token=TOKEN, latency_ms=SANDBOX_LATENCY_MS
        ) as (control, environment),
    ):
        shared = {
            **environment,
            # Each replica the whole budget: the bucket in Redis is what they share.
            "KLADANA_RATE_UNITS": "45",
            "KLADANA_MAX_PARALLEL": "5",
            "KLADANA_LIMITER_URL": redis,
        }
        return [measure(shape, shared, broker.bootstrap_servers, control, work) for shape in SHAPES]


def report(results: list[RunResult]) -> list[str]:
    ideal = ideal_s(DOCUMENTS)
    rows = [
        "| run | documents | enriched | seconds | vs ideal | 429s | max parallel | API calls |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    lines = []
    for result in results:
        ratio = result.elapsed_s / ideal
        rows.append(
            f"| {result.stream.label} | {result.published} | {result.enriched}"
            f" | {result.elapsed_s:.2f} | {ratio:.2f} | {result.rate_limited}"
            f" | {result.max_parallel} | {result.api_calls} |"
        )
        within = ratio <= BURST_TARGET and result.rate_limited == 0 and result.all_enriched
        lines.append(
            f"- {result.stream.label}: {ratio:.2f} times the ideal {ideal:.2f} s, "
            f"{result.rate_limited} 429s (target at most {BURST_TARGET}, none): {met(within)}."
        )
    return [*rows, "", *lines]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write-docs", action="store_true", help=f"update {DOCS.name}")
    args = parser.parse_args()
    machine, load_before, started = describe_machine(), load_average(), datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="bench-replicas-") as work:
        results = run(Path(work))
    command = shlex.join([".venv/bin/python", "-m", "bench.enricher_replicas", *sys.argv[1:]])
    body = "\n".join(
        [
            f"Command (from the repository root): `{command}`",
            "",
            f"Run {started:%Y-%m-%d %H:%M} UTC on:",
            f"- CPUs: {machine.cpus} x {machine.cpu_model}",
            f"- Linux {machine.kernel}, Python {machine.python}",
            f"- load average before / after (1/5/15 min): {load_before} | {load_average()}",
            f"- sandbox: latency {SANDBOX_LATENCY_MS} ms, Kladana's limits (45 units / 3 s"
            f" refilled evenly, 5 parallel); {REPLICAS} enricher processes in one group, each"
            " with KLADANA_RATE_UNITS=45, KLADANA_MAX_PARALLEL=5 and one KLADANA_LIMITER_URL"
            f" (a redis-server of the run's own); topics of {PARTITIONS} partitions",
            "",
            *report(results),
            "",
            f"Each run: fresh topics and group; the {REPLICAS} replicas settled on their"
            " partitions, one warm-up event on each partition, 3 s for the buckets to fill,"
            f" then {DOCUMENTS} raw events for new documents within 0.1 s: `spread` over"
            " every partition, `one replica` only on the partitions one replica owns (the"
            " others idle). Seconds run from the first raw event to the last enriched one;"
            f" the ideal is the first 45 at once, then 15 a second, plus one answer's"
            f" {SANDBOX_LATENCY_MS} ms.",
        ]
    )
    print(body)
    if args.write_docs:
        write_section(DOCS, HEADING, body)
        print(f"\nwritten to {DOCS}")
    return 0 if all(result.all_enriched for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
