"""The scenario's ledger: what was accepted, published, enriched, dead-lettered and sent,
reconciled event by event (pure: the inputs were read before).

A run passes only when nothing accepted is missing downstream and no business event got
a second SMS. "Stuck" is the one outcome that is neither: a notifier killed between its
ledger claim and the provider's answer leaves the row ``sending`` and, by the documented
at-most-once choice, never re-sends it; an operator settles it. A stuck row counts as
stuck only when the provider never received the message and the ledger row really is
``sending``; a row ``failed``, ``sent`` or absent without an SMS is a loss.
"""

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.scenario.driver import Outcome
from bench.scenario.expectations import Expectations
from bench.scenario.mix import Expect
from bench.scenario.provider import ProviderRequest
from shared.events import DOCUMENT_UNAVAILABLE, ENRICHED_DOCUMENT, RAW_WEBHOOK

ENRICHED_TYPE = ENRICHED_DOCUMENT.type
UNAVAILABLE_TYPE = DOCUMENT_UNAVAILABLE.type
RAW_TYPE = RAW_WEBHOOK.type


@dataclass(frozen=True)
class DeadLetter:
    value: Mapping[str, Any]
    headers: Mapping[str, str]


@dataclass
class Ledger:
    requests: int = 0
    accepted_requests: int = 0
    accepted_events: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    """Malformed requests refused as expected, by status and error code."""
    unanswered: dict[str, int] = field(default_factory=dict)
    """Requests without an answer or with a 5xx (ingest killed or unable): not accepted."""
    wrongly_rejected: int = 0
    wrongly_accepted: int = 0
    raw_events: int = 0
    raw_records: int = 0
    raw_missing: list[str] = field(default_factory=list)
    raw_unclaimed: int = 0
    """Raw events no answer named: published for a request whose answer was lost."""
    enriched: int = 0
    unavailable: int = 0
    dead_lettered: dict[str, int] = field(default_factory=dict)
    """Raw events the enricher dead-lettered, by ``dlq.reason``."""
    notifier_dead_lettered: dict[str, int] = field(default_factory=dict)
    enrich_missing: list[str] = field(default_factory=list)
    enriched_orphans: int = 0
    """Raw event ids answered on the enriched topic but absent from the raw topic: the
    broker no longer holds a raw record a consumer read (diagnostic, not a verdict)."""
    sms_expected: int = 0
    sms_sent: int = 0
    sms_duplicates: int = 0
    duplicate_keys: list[str] = field(default_factory=list)
    sms_unexpected: list[str] = field(default_factory=list)
    sms_missing: dict[str, str] = field(default_factory=dict)
    """Expected SMS never sent, with their ledger status (``none``: no row)."""
    sms_stuck: list[str] = field(default_factory=list)
    stuck_delivered: int = 0
    """SMS the provider got whose row still says ``sending`` (killed before recording)."""
    provider_refused: int = 0

    @property
    def ok(self) -> bool:
        return not (
            self.raw_missing
            or self.enrich_missing
            or self.sms_missing
            or self.sms_duplicates
            or self.sms_unexpected
            or self.wrongly_rejected
            or self.wrongly_accepted
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def short_reason(headers: Mapping[str, str]) -> str:
    """A dead letter's reason without the ids in it, so that letters group by cause:
    the error class and, when the reason quotes one, Kladana's HTTP status."""
    status = re.search(r"answered (\d{3})", headers.get("dlq.reason", ""))
    error = headers.get("dlq.error", "?")
    return f"{error} (HTTP {status.group(1)})" if status else error


def _requests(ledger: Ledger, outcomes: Iterable[Outcome]) -> set[str]:
    """Counts the answers; the event ids ingest accepted."""
    accepted_ids: set[str] = set()
    rejected: Counter[str] = Counter()
    unanswered: Counter[str] = Counter()
    for outcome in outcomes:
        ledger.requests += 1
        if outcome.accepted:
            ledger.accepted_requests += 1
            accepted_ids.update(outcome.event_ids)
            if outcome.request.expect is Expect.REJECT:
                ledger.wrongly_accepted += 1
        elif outcome.status is None or outcome.status >= 500:
            unanswered[f"{outcome.status or 'no answer'} {outcome.reason}"] += 1
        elif outcome.request.expect is Expect.REJECT:
            rejected[f"{outcome.status} {outcome.reason}"] += 1
        else:
            ledger.wrongly_rejected += 1
    ledger.accepted_events = len(accepted_ids)
    ledger.rejected = dict(sorted(rejected.items()))
    ledger.unanswered = dict(sorted(unanswered.items()))
    return accepted_ids


def reconcile(
    outcomes: Iterable[Outcome],
    raw: Iterable[Mapping[str, Any]],
    enriched: Iterable[Mapping[str, Any]],
    dead_letters: Iterable[DeadLetter],
    provider: Iterable[ProviderRequest],
    ledger_rows: Mapping[str, str],
    expectations: Expectations,
) -> Ledger:
    """``raw`` and ``enriched``: the topics' CloudEvents envelopes, repeats included."""
    ledger = Ledger()
    accepted_ids = _requests(ledger, outcomes)

    raw_list = list(raw)
    raw_ids = {event["id"] for event in raw_list}
    ledger.raw_records = len(raw_list)
    ledger.raw_events = len(raw_ids)
    ledger.raw_missing = sorted(accepted_ids - raw_ids)
    ledger.raw_unclaimed = len(raw_ids - accepted_ids)

    enriched_ids: set[str] = set()
    unavailable_ids: set[str] = set()
    for event in enriched:
        raw_event_id = event.get("data", {}).get("raw_event_id")
        if event.get("type") == ENRICHED_TYPE:
            enriched_ids.add(raw_event_id)
        elif event.get("type") == UNAVAILABLE_TYPE:
            unavailable_ids.add(raw_event_id)
    ledger.enriched = len(enriched_ids & raw_ids)
    ledger.enriched_orphans = len((enriched_ids | unavailable_ids) - raw_ids)
    ledger.unavailable = len(unavailable_ids & raw_ids)

    dead_raw: dict[str, str] = {}
    notifier_dead: dict[str, str] = {}
    for letter in dead_letters:
        reason = short_reason(letter.headers)
        if letter.value.get("type") == RAW_TYPE:
            dead_raw.setdefault(str(letter.value.get("id")), reason)
        else:
            notifier_dead.setdefault(str(letter.value.get("id")), reason)
    ledger.dead_lettered = dict(sorted(Counter(dead_raw.values()).items()))
    ledger.notifier_dead_lettered = dict(sorted(Counter(notifier_dead.values()).items()))
    # A "document unavailable" event answers its raw event as well (Kladana said 404).
    answered = enriched_ids | unavailable_ids | dead_raw.keys()
    ledger.enrich_missing = sorted(raw_ids - answered)

    _sms(ledger, list(provider), ledger_rows, expectations)
    return ledger


def _sms(
    ledger: Ledger,
    provider: list[ProviderRequest],
    ledger_rows: Mapping[str, str],
    expectations: Expectations,
) -> None:
    expected = expectations.sms
    received = Counter(r.idempotency_key for r in provider if r.status == 200)
    ledger.provider_refused = sum(1 for r in provider if r.status != 200)
    ledger.sms_expected = len(expected)
    ledger.sms_sent = sum(1 for key in expected if received[key] >= 1)
    ledger.duplicate_keys = sorted(str(key) for key, n in received.items() if n > 1)
    ledger.sms_duplicates = sum(n - 1 for n in received.values() if n > 1)
    ledger.sms_unexpected = sorted(str(key) for key in received if key not in expected)
    ledger.stuck_delivered = sum(
        1 for key in expected if received[key] and ledger_rows.get(key) == "sending"
    )
    for key in expected:
        if received[key]:
            continue
        status = ledger_rows.get(key, "none")
        if status == "sending":
            ledger.sms_stuck.append(key)
        else:
            ledger.sms_missing[key] = status
    ledger.sms_stuck.sort()
