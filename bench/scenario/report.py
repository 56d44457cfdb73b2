"""The run's numbers: end-to-end latency, throughput, and the reconciliation as a table, JSON or
a markdown section for docs/benchmarks.md."""

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from bench.scenario.driver import Outcome
from bench.scenario.expectations import ExpectedSms
from bench.scenario.faults import FaultRecord
from bench.scenario.provider import ProviderRequest
from bench.scenario.reconcile import Reconciliation, by_message


@dataclass(frozen=True)
class Latency:
    """Webhook -> SMS, in seconds: from the runner sending the first accepted webhook of
    the SMS's document to the provider receiving the SMS (both clocks of this machine)."""

    count: int
    p50_s: float
    p99_s: float
    max_s: float


def _quantile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def latency(
    outcomes: Iterable[Outcome],
    provider: Iterable[ProviderRequest],
    expected: Iterable[ExpectedSms],
) -> Latency:
    """Over every expected SMS the provider received (its first receipt)."""
    documents = {message: sms.document_id for message, sms in by_message(expected).items()}
    first_sent: dict[str, float] = {}
    for outcome in outcomes:
        if outcome.accepted:
            for document_id in outcome.request.documents:
                first_sent[document_id] = min(
                    first_sent.get(document_id, math.inf), outcome.sent_at
                )
    first_received: dict[tuple[str, str], float] = {}
    for request in provider:
        if request.status == 200 and request.to is not None and request.text is not None:
            message = (request.to, request.text)
            if message in documents:
                first_received.setdefault(message, request.received_at)
    values = sorted(
        received - first_sent[documents[message]]
        for message, received in first_received.items()
        if documents[message] in first_sent
    )
    return Latency(
        len(values), _quantile(values, 0.5), _quantile(values, 0.99), max(values, default=math.nan)
    )


@dataclass(frozen=True)
class RunSummary:
    command: str
    seed: int
    rate: float
    duration_s: float
    drain_s: float
    quiet: bool
    webhooks_per_s: float
    """Accepted webhooks per second of the drive."""
    sms_per_s: float
    """SMS received per second, from the first webhook to the last SMS."""
    latency: Latency
    faults: dict[str, int]
    """Faults carried out, by kind (kills by target too)."""
    fault_errors: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def count_faults(records: Iterable[FaultRecord]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in records:
        names = [record.fault.kind]
        if record.fault.target:
            names.append(f"{record.fault.kind}:{record.fault.target}")
        for name in names:
            counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


def _rows(result: Reconciliation) -> list[tuple[str, str]]:
    def reasons(counts: Mapping[str, int]) -> str:
        return ", ".join(f"{reason}: {n}" for reason, n in counts.items()) or "-"

    return [
        ("webhooks sent", str(result.requests)),
        (
            "accepted (202/200)",
            f"{result.accepted_requests} requests, {result.accepted_events} events",
        ),
        (
            "rejected (4xx, by reason)",
            f"{sum(result.rejected.values())} ({reasons(result.rejected)})",
        ),
        (
            "unanswered (ingest down/5xx)",
            f"{sum(result.unanswered.values())} ({reasons(result.unanswered)})",
        ),
        ("wrongly rejected / accepted", f"{result.wrongly_rejected} / {result.wrongly_accepted}"),
        ("raw events (records)", f"{result.raw_events} ({result.raw_records})"),
        ("raw events missing", str(len(result.raw_missing))),
        ("raw events of lost answers", str(result.raw_unclaimed)),
        ("enriched", str(result.enriched)),
        ("document unavailable", str(result.unavailable)),
        ("dead-lettered by enricher", reasons(result.dead_lettered)),
        ("dead-lettered by notifier", reasons(result.notifier_dead_lettered)),
        ("raw events neither enriched nor dead-lettered", str(len(result.enrich_missing))),
        ("enriched events without a raw record", str(result.enriched_orphans)),
        ("SMS expected", str(result.sms_expected)),
        ("SMS sent", str(result.sms_sent)),
        ("SMS duplicates", str(result.sms_duplicates)),
        ("SMS unexpected", str(len(result.sms_unexpected))),
        ("SMS missing", f"{len(result.sms_missing)} ({reasons(_statuses(result))})"),
        ("SMS stuck (reported to operator)", str(len(result.sms_stuck))),
        ("SMS delivered, row left 'sending'", str(result.stuck_delivered)),
        ("provider 503s (outage)", str(result.provider_refused)),
    ]


def _statuses(result: Reconciliation) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in result.sms_missing.values():
        counts[f"ledger {status}"] = counts.get(f"ledger {status}", 0) + 1
    return counts


def _summary_rows(summary: RunSummary) -> list[tuple[str, str]]:
    lat = summary.latency
    faults = ", ".join(f"{k}: {v}" for k, v in summary.faults.items()) or "none"
    return [
        ("faults", faults),
        ("drain (to quiet)", f"{summary.drain_s:.1f} s{'' if summary.quiet else ' (NOT quiet)'}"),
        (
            "throughput",
            f"{summary.webhooks_per_s:.1f} webhooks/s accepted, {summary.sms_per_s:.1f} SMS/s",
        ),
        (
            "webhook -> SMS latency",
            f"p50 {lat.p50_s:.2f} s, p99 {lat.p99_s:.2f} s, max {lat.max_s:.2f} s"
            f" ({lat.count} SMS)",
        ),
    ]


def text_table(result: Reconciliation, summary: RunSummary) -> str:
    rows = _rows(result) + _summary_rows(summary)
    width = max(len(name) for name, _ in rows)
    lines = [f"{name.ljust(width)}  {value}" for name, value in rows]
    verdict = (
        "PASS: nothing lost, nothing duplicated"
        if result.ok
        else "FAIL: see missing/duplicates above"
    )
    lines.append(verdict)
    if result.sms_stuck:
        lines.append(
            f"{len(result.sms_stuck)} stuck notification(s): a notifier was killed between its"
            " ledger claim and the provider's answer; at most once, they are never re-sent by"
            " themselves (python -m notifier ledger --stuck)"
        )
    return "\n".join(lines)


def markdown(result: Reconciliation, summary: RunSummary) -> str:
    lines = [
        f"```sh\n{summary.command}\n```",
        "",
        "| | |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in _rows(result) + _summary_rows(summary)),
        f"| verdict | {'pass' if result.ok else 'FAIL'} |",
    ]
    return "\n".join(lines)
