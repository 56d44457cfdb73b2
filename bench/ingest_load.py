"""Ingest under load next to a no-op Flask app with the same gunicorn options.

``python -m bench.ingest_load [--duration S] [--connections C] [--workers W] [--threads T]
[--write-docs]``: starts an embedded broker, serves each app in turn, finds its
saturated throughput, then measures ingest's latency at a fixed rate of 70% of the
no-op app's. Loopback only; stops by itself. docs/benchmarks.md explains the method.
"""

import argparse
import shlex
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.load import Load, default_generator, run_load
from bench.report import describe_machine, load_average, table, write_section
from bench.stack import Measurement, TopicCounter, measure, served
from devstack.broker import EmbeddedBroker, free_port
from shared.settings import load_settings_or_exit
from shared.topics import TopicSettings, ensure_topics

TARGET_RATIO = 0.70
TARGET_P99_MS = 100.0
MAX_LATE_FRACTION = 0.01
WARM_UP = 2
RAW_TOPIC = "bench-raw"
TOKEN = "bench-token"  # noqa: S105 - a throwaway secret, so the token check runs as in production
DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
HEADING = "Ingest: webhook to acknowledged raw event"


@dataclass(frozen=True)
class Verdict:
    ratio: float
    fixed_rate: float
    paced: Measurement

    @property
    def throughput_met(self) -> bool:
        return self.ratio >= TARGET_RATIO

    @property
    def kept_up(self) -> bool:
        result = self.paced.result
        return (
            result.accepted_per_s >= 0.95 * self.fixed_rate
            and result.late <= MAX_LATE_FRACTION * max(result.requests, 1)
        )

    @property
    def latency_met(self) -> bool:
        return self.kept_up and self.paced.result.p99_ms < TARGET_P99_MS

    def lines(self) -> list[str]:
        result = self.paced.result
        return [
            f"- Throughput: ingest saturates at {self.ratio:.0%} of the no-op app "
            f"(target {TARGET_RATIO:.0%}): {'met' if self.throughput_met else 'NOT met'}.",
            f"- Latency at {self.fixed_rate:.0f} requests/s (70% of the no-op app): ingest "
            f"answered {result.accepted_per_s:.0f}/s, p99 {result.p99_ms:.1f} ms "
            f"(target under {TARGET_P99_MS:.0f} ms, at the full rate): " + self._latency_outcome(),
        ]

    def _latency_outcome(self) -> str:
        if self.latency_met:
            return "met."
        return "NOT met." if self.kept_up else "NOT met: ingest could not keep up with the rate."


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--connections", type=int, default=32, help="for the saturated runs")
    parser.add_argument("--fixed-rate-connections", type=int, default=128)
    parser.add_argument("--workers", type=int, help="INGEST_WORKERS (ingest's default if unset)")
    parser.add_argument("--threads", type=int, help="INGEST_THREADS (ingest's default if unset)")
    parser.add_argument("--generator", choices=["wrk", "python"], default=default_generator())
    parser.add_argument("--write-docs", action="store_true", help=f"update {DOCS.name}")
    return parser.parse_args()


def _environment(args: argparse.Namespace, bootstrap: str, spool: Path) -> dict[str, str]:
    environment = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "RAW_TOPIC": RAW_TOPIC,
        "INGEST_TOKEN": TOKEN,
        "INGEST_SPOOL_DIR": str(spool),
    }
    if args.workers:
        environment["INGEST_WORKERS"] = str(args.workers)
    if args.threads:
        environment["INGEST_THREADS"] = str(args.threads)
    return environment


def _run(args: argparse.Namespace, work: Path) -> tuple[list[Measurement], Verdict, dict[str, str]]:
    saturate = Load(args.connections, args.duration, token=TOKEN)
    warm_up = Load(args.connections, WARM_UP, token=TOKEN)
    generator = args.generator
    with EmbeddedBroker(log_path=work / "broker.log") as broker:
        partitions = load_settings_or_exit(TopicSettings).topic_partitions
        ensure_topics(broker.bootstrap_servers, [RAW_TOPIC], partitions=partitions)
        environment = _environment(args, broker.bootstrap_servers, work / "spool")
        port = free_port()
        with served("bench.noop_app", environment, port=port, log_dir=work):
            run_load(warm_up, port=port, generator=generator)
            baseline = measure("no-op", saturate, port=port, generator=generator)
            fixed_rate = TARGET_RATIO * baseline.result.accepted_per_s
            paced = Load(args.fixed_rate_connections, args.duration, fixed_rate, TOKEN)
            baseline_paced = measure("no-op", paced, port=port, generator=generator)
        port = free_port()
        with (
            served("ingest", environment, port=port, log_dir=work),
            TopicCounter(broker.bootstrap_servers, RAW_TOPIC) as counter,
        ):
            run_load(warm_up, port=port, generator=generator)
            ingest = measure("ingest", saturate, port=port, generator=generator, counter=counter)
            ingest_paced = measure("ingest", paced, port=port, generator=generator, counter=counter)
            # Where ingest stands at a rate it can sustain: 70% of its own saturation.
            own_rate = TARGET_RATIO * ingest.result.accepted_per_s
            sustainable = Load(args.fixed_rate_connections, args.duration, own_rate, TOKEN)
            ingest_sustainable = measure(
                "ingest", sustainable, port=port, generator=generator, counter=counter
            )
    measurements = [baseline, ingest, baseline_paced, ingest_paced, ingest_sustainable]
    ratio = ingest.result.accepted_per_s / baseline.result.accepted_per_s
    settings = {**environment, "TOPIC_PARTITIONS": str(partitions)}
    return measurements, Verdict(ratio, fixed_rate, ingest_paced), settings


def main() -> int:
    args = _arguments()
    machine = describe_machine()
    load_before = load_average()
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as work:
        measurements, verdict, settings = _run(args, Path(work))
    baseline_per_s = measurements[0].result.accepted_per_s
    consistent = all(item.consistent for item in measurements)
    command = shlex.join([".venv/bin/python", "-m", "bench.ingest_load", *sys.argv[1:]])
    shown = {**settings, "KAFKA_BOOTSTRAP_SERVERS": "<embedded broker>"}
    shown["INGEST_SPOOL_DIR"] = "<temporary directory>"
    body = "\n".join(
        [
            f"Command (from the repository root): `{command}`",
            "",
            f"Run {started:%Y-%m-%d %H:%M} UTC, {args.duration} s per run, on:",
            *machine.lines(),
            f"- load average before / after (1/5/15 min): {load_before} | {load_average()}",
            f"- settings: {', '.join(f'{k}={v}' for k, v in sorted(shown.items()))}"
            " (unset INGEST_* take ingest's defaults)",
            "",
            table(measurements, baseline_per_s),
            "",
            *verdict.lines(),
            "",
            "Closed loop: each connection sends its next request when the last is answered;"
            " it finds the saturated rate, and its latencies include queueing in gunicorn."
            " Fixed rate (open loop): requests on a fixed schedule (wrk script"
            " `bench/webhook.lua`); `late` counts requests sent over 1 ms after their slot"
            " because every connection was busy, whose waiting wrk's latency leaves out, so"
            " a run with many late requests did not hold the rate and understates latency."
            " `on topic` counts the distinct CloudEvents ids the run added to the raw topic;"
            " it may exceed the 202s by at most one request per connection that wrk cut off"
            " in flight plus one (wrk leaves one more uncounted), never fall short of them."
            " `dup` counts records whose id was already there: an event the broker wrote"
            " although its acknowledgement came too late,"
            " so the request spooled it too (at-least-once; consumers de-duplicate on id).",
            "",
            "- Every 202 is on the raw topic: "
            + ("yes." if consistent else "NO - accepted events are missing or extra!"),
        ]
    )
    print(body)
    if args.write_docs:
        write_section(DOCS, HEADING, body)
        print(f"\nwritten to {DOCS}")
    return 0 if consistent else 1


if __name__ == "__main__":
    sys.exit(main())
