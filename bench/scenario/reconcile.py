"""The scenario's reconciliation: what was accepted, published, enriched, dead-lettered
and sent, checked event by event (pure: the inputs were read before).

A run passes only when nothing accepted is missing downstream and the provider received
exactly the SMS the plan declared for the documents the enricher handed on (``mix.Plan``:
the runner's own expectations), each (number, text) once: no other, none twice.
"Stuck" is the one outcome that is neither pass nor loss: a notifier killed between its
ledger claim and the provider's answer leaves the row ``sending`` and, by the documented
at-most-once choice, never re-sends it; an operator settles it. An SMS counts as stuck
only when the provider never received it and its business event's ledger row really is
``sending``; a row ``failed``, ``sent`` or absent without an SMS is a loss.
"""

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.scenario.driver import Outcome
from bench.scenario.expectations import ExpectedSms
from bench.scenario.mix import Expect
from bench.scenario.provider import ProviderRequest
from shared.events import DOCUMENT_UNAVAILABLE, ENRICHED_DOCUMENT, RAW_WEBHOOK
from shared.logs import mask_phone

ENRICHED_TYPE = ENRICHED_DOCUMENT.type
UNAVAILABLE_TYPE = DOCUMENT_UNAVAILABLE.type
RAW_TYPE = RAW_WEBHOOK.type


@dataclass(frozen=True)
class DeadLetter:
    value: Mapping[str, Any]
    headers: Mapping[str, str]


BusinessEvent = tuple[str, str]
"""(document id, rule): a document is in one state for the whole run."""


@dataclass
class Reconciliation:
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
    """SMS the plan declared for the documents on the enriched topic."""
    sms_sent: int = 0
    sms_duplicates: int = 0
    """Receipts of an expected SMS beyond its first."""
    duplicated: list[str] = field(default_factory=list)
    """The business events received more than once (``document-id rule``)."""
    sms_unexpected: list[str] = field(default_factory=list)
    """SMS no declaration asked for (``masked number: text``)."""
    sms_missing: dict[str, str] = field(default_factory=dict)
    """Expected SMS never received, by business event, with their ledger row's status
    (``none``: no row)."""
    sms_stuck: list[str] = field(default_factory=list)
    """Expected SMS never received whose ledger row is still ``sending``."""
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


def _requests(result: Reconciliation, outcomes: Iterable[Outcome]) -> set[str]:
    """Counts the answers; the event ids ingest accepted."""
    accepted_ids: set[str] = set()
    rejected: Counter[str] = Counter()
    unanswered: Counter[str] = Counter()
    for outcome in outcomes:
        result.requests += 1
        if outcome.accepted:
            result.accepted_requests += 1
            accepted_ids.update(outcome.event_ids)
            if outcome.request.expect is Expect.REJECT:
                result.wrongly_accepted += 1
        elif outcome.status is None or outcome.status >= 500:
            unanswered[f"{outcome.status or 'no answer'} {outcome.reason}"] += 1
        elif outcome.request.expect is Expect.REJECT:
            rejected[f"{outcome.status} {outcome.reason}"] += 1
        else:
            result.wrongly_rejected += 1
    result.accepted_events = len(accepted_ids)
    result.rejected = dict(sorted(rejected.items()))
    result.unanswered = dict(sorted(unanswered.items()))
    return accepted_ids


def reconcile(
    outcomes: Iterable[Outcome],
    raw: Iterable[Mapping[str, Any]],
    enriched: Iterable[Mapping[str, Any]],
    dead_letters: Iterable[DeadLetter],
    provider: Iterable[ProviderRequest],
    ledger_rows: Mapping[BusinessEvent, str],
    declared: Mapping[str, Iterable[ExpectedSms]],
) -> Reconciliation:
    """``raw`` and ``enriched``: the topics' CloudEvents envelopes, repeats included;
    ``ledger_rows``: the notifier ledger's status of each business event; ``declared``:
    the SMS each document of the plan must cause, by document id."""
    result = Reconciliation()
    accepted_ids = _requests(result, outcomes)

    raw_list = list(raw)
    raw_ids = {event["id"] for event in raw_list}
    result.raw_records = len(raw_list)
    result.raw_events = len(raw_ids)
    result.raw_missing = sorted(accepted_ids - raw_ids)
    result.raw_unclaimed = len(raw_ids - accepted_ids)

    enriched_ids: set[str] = set()
    unavailable_ids: set[str] = set()
    enriched_documents: set[str] = set()
    for event in enriched:
        data = event.get("data", {})
        raw_event_id = data.get("raw_event_id")
        if event.get("type") == ENRICHED_TYPE:
            enriched_ids.add(raw_event_id)
            enriched_documents.add(str(data.get("document", {}).get("id")))
        elif event.get("type") == UNAVAILABLE_TYPE:
            unavailable_ids.add(raw_event_id)
    result.enriched = len(enriched_ids & raw_ids)
    result.enriched_orphans = len((enriched_ids | unavailable_ids) - raw_ids)
    result.unavailable = len(unavailable_ids & raw_ids)

    dead_raw: dict[str, str] = {}
    notifier_dead: dict[str, str] = {}
    for letter in dead_letters:
        reason = short_reason(letter.headers)
        if letter.value.get("type") == RAW_TYPE:
            dead_raw.setdefault(str(letter.value.get("id")), reason)
        else:
            notifier_dead.setdefault(str(letter.value.get("id")), reason)
    result.dead_lettered = dict(sorted(Counter(dead_raw.values()).items()))
    result.notifier_dead_lettered = dict(sorted(Counter(notifier_dead.values()).items()))
    # A "document unavailable" event answers its raw event as well (Kladana said 404).
    answered = enriched_ids | unavailable_ids | dead_raw.keys()
    result.enrich_missing = sorted(raw_ids - answered)

    # The SMS owed: those of every document the notifier was handed. A document whose
    # events were all dead-lettered upstream is accounted for above, not here.
    owed = [sms for document_id in enriched_documents for sms in declared.get(document_id, ())]
    _sms(result, owed, list(provider), ledger_rows)
    return result


def by_message(expected: Iterable[ExpectedSms]) -> dict[tuple[str, str], ExpectedSms]:
    """Expected SMS by (number, text). The plan gives every document a number of its own,
    so two business events never declare the same message."""
    found: dict[tuple[str, str], ExpectedSms] = {}
    for sms in expected:
        if sms.message in found:
            raise ValueError(f"two business events declare one message: {sms}")
        found[sms.message] = sms
    return found


def _label(sms: ExpectedSms) -> str:
    return f"{sms.document_id} {sms.rule}"


def _sms(
    result: Reconciliation,
    owed: list[ExpectedSms],
    provider: list[ProviderRequest],
    ledger_rows: Mapping[BusinessEvent, str],
) -> None:
    expected = by_message(owed)
    received = Counter((r.to, r.text) for r in provider if r.status == 200)
    result.provider_refused = sum(1 for r in provider if r.status != 200)
    result.sms_expected = len(expected)
    result.sms_unexpected = sorted(
        f"{mask_phone(to or '?')}: {text}" + (f" ({n} times)" if n > 1 else "")
        for (to, text), n in received.items()
        if (to, text) not in expected
    )
    for message, sms in sorted(expected.items(), key=lambda item: _label(item[1])):
        status = ledger_rows.get((sms.document_id, sms.rule), "none")
        if received[message] > 1:
            result.duplicated.append(_label(sms))
            result.sms_duplicates += received[message] - 1
        if received[message]:
            result.sms_sent += 1
            result.stuck_delivered += int(status == "sending")
        elif status == "sending":
            result.sms_stuck.append(_label(sms))
        else:
            result.sms_missing[_label(sms)] = status
