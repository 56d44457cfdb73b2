"""The enricher against a sandbox that answers in 100 ms and enforces Kladana's limits.

``python -m bench.enricher_load [--duration S] [--write-docs | --only RUN]``: starts an embedded
broker, the sandbox and, for each run, ``python -m enricher`` with its default limits
(45 units / 3 s, 5 parallel), then sends a burst of 100 new documents at once (as
webhooks arrive when a manager changes 100 orders) and streams raw events at a fixed
rate: distinct documents above the rate the limit allows, documents repeated five times
(coalescing), and distinct documents below the limit (latency). Loopback only; stops by
itself. ``bench.enricher_replicas`` runs three replicas on one budget.
"""

import argparse
import shlex
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.enricher_stack import (
    EnrichedLog,
    RawPublisher,
    RunResult,
    RunTopics,
    Stream,
    document_sequence,
    enricher_running,
    sandbox_serving,
    summarise,
)
from bench.report import describe_machine, load_average, write_section
from bench.stack import START_TIMEOUT_S, TopicCounter
from devstack.broker import EmbeddedBroker
from sandbox.remote import SandboxControl
from shared.settings import load_settings_or_exit
from shared.topics import TopicSettings

BUCKET_UNITS = 45
LIMIT_PER_S = BUCKET_UNITS / 3.0
"""Requests/s Kladana's default bucket sustains with an application token."""
TARGET_SHARE = 0.95
BURST = Stream("burst", rate=1000, duration_s=0.1)
"""100 new documents within 0.1 s."""
BURST_TARGET = 1.1
"""At most this many times the ideal time."""
WARM_UP_S = 10.0
"""Left out of the steady rate: the enricher spends the bucket's opening burst of 45."""
DRAIN_TIMEOUT_S = 120.0
SANDBOX_LATENCY_MS = 100
TOKEN = "bench-token"  # noqa: S105 - a throwaway secret, so the token check runs as in production
DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
HEADING = "Enricher: raw event to enriched event"


def ideal_s(documents: int) -> float:
    """The least time Kladana's limits allow for a burst of ``documents`` on a full bucket:
    the first 45 at once, then 15 a second, plus the last answer's latency."""
    return max(0, documents - BUCKET_UNITS) / LIMIT_PER_S + SANDBOX_LATENCY_MS / 1000


def streams(duration_s: float) -> list[Stream]:
    return [
        BURST,
        Stream("distinct", rate=20, duration_s=duration_s),
        Stream("duplicates", rate=100, duration_s=duration_s, repeats=5, interleave=4),
        Stream("paced", rate=10, duration_s=duration_s),
    ]


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=40, help="seconds of sending per run")
    parser.add_argument("--write-docs", action="store_true", help=f"update {DOCS.name}")
    parser.add_argument(
        "--only",
        choices=[stream.label for stream in streams(WARM_UP_S + 1)],
        help="run one stream alone and print its line of the verdict (with --write-docs: refused)",
    )
    arguments = parser.parse_args()
    if arguments.only and arguments.write_docs:
        parser.error("--write-docs needs every run")
    if arguments.duration <= WARM_UP_S:
        parser.error(f"--duration must exceed the {WARM_UP_S:.0f} s warm-up")
    return arguments


def measure_run(
    stream: Stream,
    *,
    bootstrap: str,
    control: SandboxControl,
    environment: Mapping[str, str],
    partitions: int,
    work: Path,
) -> RunResult:
    """One stream through a fresh enricher on fresh topics, drained before it stops."""
    topics = RunTopics.named(stream.label)
    topics.create(bootstrap, partitions)
    run_environment = {
        **environment,
        **topics.environment(),
        "ENRICHER_GROUP_ID": f"bench-{stream.label}",
    }
    publisher = RawPublisher(bootstrap, topics.raw)
    enriched = EnrichedLog(bootstrap, topics.enriched)
    try:
        with enricher_running(run_environment, log_dir=work / stream.label):
            # One event first, so the stream meets an enricher in its group and connected.
            warm_up = publisher.send_paced(document_sequence(Stream("warm-up", 1, 1)), 1)
            if not enriched.wait_for(set(warm_up), timeout_s=START_TIMEOUT_S):
                raise RuntimeError("the enricher did not enrich the warm-up event")
            time.sleep(1.0)  # the warm-up's unit back in both buckets
            control.reset_stats()
            received_at = publisher.send_paced(document_sequence(stream), stream.rate)
            enriched.wait_for(set(received_at), timeout_s=DRAIN_TIMEOUT_S)
        stats = control.stats()  # the enricher stopped: no request in flight
        enriched.read_new()
        with TopicCounter(bootstrap, topics.dead_letter) as letters:
            dead_letters = sum(letters.end_offsets().values())
    finally:
        publisher.close()
        enriched.close()
    return summarise(
        stream,
        received_at,
        enriched.events,
        stats,
        warm_up_s=WARM_UP_S,
        dead_letters=dead_letters,
    )


def _run(
    duration_s: float, partitions: int, work: Path, only: str | None = None
) -> list[RunResult]:
    results = []
    with (
        EmbeddedBroker(log_path=work / "broker.log") as broker,
        sandbox_serving(
            broker.bootstrap_servers, work, token=TOKEN, latency_ms=SANDBOX_LATENCY_MS
        ) as (control, environment),
    ):
        for stream in streams(duration_s):
            if only is not None and stream.label != only:
                continue
            # The sandbox's bucket refills, so no run starts with what the last one spent.
            time.sleep(3.0)
            results.append(
                measure_run(
                    stream,
                    bootstrap=broker.bootstrap_servers,
                    control=control,
                    environment=environment,
                    partitions=partitions,
                    work=work,
                )
            )
    return results


def table(results: list[RunResult]) -> str:
    rows = [
        "| run | raw events sent | enriched | steady events/s | vs 15/s | overall events/s"
        " | API calls | calls/event | 429s | max parallel | p50 ms | p99 ms | dead letters |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for result in results:
        stream = result.stream
        if stream is BURST:
            continue
        shape = f"{stream.events} at {stream.rate:.0f}/s" + (
            f", {stream.repeats} per document" if stream.repeats > 1 else ", distinct"
        )
        rows.append(
            f"| {stream.label} | {shape} | {result.enriched} | {result.steady_per_s:.1f} "
            f"| {result.steady_per_s / LIMIT_PER_S:.0%} | {result.overall_per_s:.1f} "
            f"| {result.api_calls} | {result.calls_per_event:.2f} | {result.rate_limited} "
            f"| {result.max_parallel} | {result.p50_ms:.0f} | {result.p99_ms:.0f} "
            f"| {result.dead_letters} |"
        )
    return "\n".join(rows)


@dataclass(frozen=True)
class Verdict:
    results: list[RunResult]

    @property
    def correct(self) -> bool:
        return all(r.all_enriched and r.dead_letters == 0 for r in self.results)

    def lines(self) -> list[str]:
        """A line per target, for the runs there are (``--only`` runs one)."""
        runs = {result.stream.label: result for result in self.results}
        lines = []
        if burst := runs.get(BURST.label):
            ratio = burst.elapsed_s / ideal_s(burst.published)
            lines.append(
                f"- Burst: {burst.published} new documents enriched in {burst.elapsed_s:.2f} s,"
                f" {ratio:.2f} times the ideal {ideal_s(burst.published):.2f} s (target at most"
                f" {BURST_TARGET}), {burst.rate_limited} 429s: {met(ratio <= BURST_TARGET)}."
            )
        if distinct := runs.get("distinct"):
            share = distinct.steady_per_s / LIMIT_PER_S
            lines.append(
                f"- Distinct documents: {distinct.steady_per_s:.1f} enriched events/s sustained,"
                f" {share:.0%} of the {LIMIT_PER_S:.0f} requests/s the limit allows (target"
                f" {TARGET_SHARE:.0%}): {met(share >= TARGET_SHARE)}."
            )
        if duplicates := runs.get("duplicates"):
            lines.append(
                f"- Duplicates: {duplicates.steady_per_s:.1f} events/s with"
                f" {duplicates.calls_per_event:.2f} API calls per event (target: above"
                f" {LIMIT_PER_S:.0f}/s): {met(duplicates.steady_per_s > LIMIT_PER_S)}."
            )
        rate_limited = sum(result.rate_limited for result in self.results)
        most_parallel = max(result.max_parallel for result in self.results)
        return [
            *lines,
            f"- 429s from the sandbox over all runs: {rate_limited} (target 0):"
            f" {met(rate_limited == 0)}; most requests in flight: {most_parallel} (cap 5):"
            f" {met(most_parallel <= 5)}.",
            "- Every raw event enriched, none dead-lettered: "
            + ("yes." if self.correct else "NO - events are missing or dead-lettered!"),
        ]


def met(condition: bool) -> str:
    return "met" if condition else "NOT met"


def main() -> int:
    args = _arguments()
    machine = describe_machine()
    load_before = load_average()
    partitions = load_settings_or_exit(TopicSettings).topic_partitions
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="bench-enricher-") as work:
        results = _run(args.duration, partitions, Path(work), args.only)
    verdict = Verdict(results)
    command = shlex.join([".venv/bin/python", "-m", "bench.enricher_load", *sys.argv[1:]])
    body = "\n".join(
        [
            f"Command (from the repository root): `{command}`",
            "",
            f"Run {started:%Y-%m-%d %H:%M} UTC, {args.duration:.0f} s of sending per run, on:",
            f"- CPUs: {machine.cpus} x {machine.cpu_model}",
            f"- Linux {machine.kernel}, Python {machine.python}",
            f"- load average before / after (1/5/15 min): {load_before} | {load_average()}",
            f"- sandbox (`python -m sandbox`): latency {SANDBOX_LATENCY_MS} ms, synthesized"
            " documents, Kladana's limits (45 units / 3 s, 5 parallel); enricher"
            " (`python -m enricher`): default settings; embedded broker, topics of"
            f" {partitions} partitions",
            "",
            table(results),
            "",
            *verdict.lines(),
            "",
            "Each run: a fresh enricher process on fresh topics; one warm-up event, so the"
            " stream meets an enricher in its group; the sandbox's counters zeroed; then raw"
            " events on a fixed schedule (as ingest publishes them), and the run drains"
            " until every one is enriched. `steady` counts enriched events sent from"
            f" {WARM_UP_S:.0f} s after the first raw event to the last one, leaving out the"
            " bucket's opening burst of 45; `overall` runs from the first raw event to the"
            " last enriched one. Times are the records' own: the raw event's `received_at`"
            " and the enriched record's timestamp. `duplicates`: groups of 4 documents, each"
            " sent 5 times interleaved (a b c d a b c d ...); the enricher makes one call per"
            " document per polled batch. Latency (webhook received to enriched event sent)"
            " means something only in `paced`, below the limit: in the other runs the"
            " stream outruns the limit on purpose and events queue. `burst`: 100 raw events"
            " for new documents published within 0.1 s, a second after the warm-up (both"
            " buckets full); its time runs from the first raw event to the last enriched"
            " one, against the ideal of the first 45 at once, then 15 a second, plus one"
            f" answer's {SANDBOX_LATENCY_MS} ms.",
        ]
    )
    print(body)
    if args.write_docs:
        write_section(DOCS, HEADING, body)
        print(f"\nwritten to {DOCS}")
    return 0 if verdict.correct else 1


if __name__ == "__main__":
    sys.exit(main())
