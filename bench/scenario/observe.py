"""What the pipeline holds once the drive is over: the topics read back from the broker,
the consumer groups' committed offsets, ingest's spool and the notifier's ledger.

The runner decides the pipeline is quiet from these, never from sleeping: every group
committed up to the end of the topics it consumes, ingest's spool is empty, and the end
offsets did not move between two looks.
"""

import json
import logging
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from kafka import KafkaAdminClient

from bench.scenario.stack import ENRICHED_TOPIC, RAW_TOPIC, RETRY_TOPIC
from notifier.ledger import Ledger, LedgerQuery
from notifier.ledger_schema import Status, open_engine
from shared.topic_reader import TopicReader, end_offsets

# Which group consumes which topics (the services' defaults).
GROUP_TOPICS: dict[str, tuple[str, ...]] = {
    "enricher": (RAW_TOPIC, RETRY_TOPIC),
    "notifier": (ENRICHED_TOPIC,),
}


log = logging.getLogger(__name__)

READ_TIMEOUT_S = 120.0
"""Reading a topic of a long run back (tens of thousands of records) takes seconds."""

LEDGER_ALIVE_S = 15.0
"""Longer than the gap between two updates of a live ``sending`` row: the SMS timeout
(5 s) plus the longest backoff (2 s), with room to spare (bench/scenario/stack.py)."""


@dataclass(frozen=True)
class TopicRecord:
    value: dict[str, Any]
    headers: dict[str, str]
    timestamp: float
    """The record's timestamp, epoch seconds."""


def committed_offsets(bootstrap: str, group: str) -> dict[tuple[str, int], int]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
    finally:
        admin.close()
    return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}


def overcommitted(bootstrap: str) -> dict[str, int]:
    """Partitions whose committed offset lies past their end offset, by how far. A group
    cannot have consumed a record the broker does not hold, so this says the broker's end
    offset went back (records lost) or a consumer committed past what it read: reported,
    since the reconciliation only sees the records themselves."""
    found: dict[str, int] = {}
    for group, topics in GROUP_TOPICS.items():
        committed = committed_offsets(bootstrap, group)
        for (topic, partition), end in end_offsets(bootstrap, topics).items():
            ahead = committed.get((topic, partition), 0) - end
            if ahead > 0:
                found[f"{group} {topic}/{partition}"] = ahead
    return found


def lag(bootstrap: str) -> int:
    """Records not yet committed by the group that consumes them, over all groups."""
    behind = 0
    for group, topics in GROUP_TOPICS.items():
        committed = committed_offsets(bootstrap, group)
        for partition, end in end_offsets(bootstrap, topics).items():
            behind += max(0, end - max(0, committed.get(partition, 0)))
    return behind


def spool_depth(ingest_url: str) -> int | None:
    try:
        return int(requests.get(f"{ingest_url}/readyz", timeout=5).json()["spool_depth"])
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return None


def ledger_pending(database: Path, *, alive_s: float = LEDGER_ALIVE_S) -> int:
    """Ledger rows still on their way: ``held``, or ``sending`` and touched within
    ``alive_s``. A notifier can still be retrying a send (SMS outage) after the other
    instance, handed the same event in a rebalance, found the claim and committed: the
    offsets alone would call that quiet, and the row would be misread as stuck. A row of a
    killed notifier stops being touched, and counts as stuck once ``alive_s`` has passed."""
    if not database.exists():
        return 0
    with _ledger(database) as ledger:
        held = ledger.entries(LedgerQuery(status=Status.HELD))
        sending = ledger.entries(LedgerQuery(status=Status.SENDING))
        return len(held) + len(sending) - len(ledger.stuck(alive_s))


def wait_until_quiet(
    bootstrap: str, ingest_url: str, database: Path, *, timeout_s: float
) -> tuple[bool, float]:
    """(quiet, seconds waited). Quiet: spool empty, no lag, no ledger row on its way, twice
    with the same end offsets."""
    started = time.monotonic()
    watched = tuple(t for topics in GROUP_TOPICS.values() for t in topics)
    previous: dict[tuple[str, int], int] | None = None
    while time.monotonic() - started < timeout_s:
        try:
            ends = end_offsets(bootstrap, watched)
            quiet = (
                spool_depth(ingest_url) == 0
                and lag(bootstrap) == 0
                and ledger_pending(database) == 0
            )
        except Exception:  # a broker still waking up: look again
            ends, quiet = {}, False
        if quiet and ends == previous:
            return True, time.monotonic() - started
        previous = ends if quiet else None
        time.sleep(1.0)
    return False, time.monotonic() - started


def read_topic(bootstrap: str, topic: str) -> list[TopicRecord]:
    """Every record of ``topic``: up to its end offsets of this moment, then on until a
    poll of a second brings nothing more, so a record the end offsets do not count (see
    :func:`overcommitted`) is still read. Records past those ends are logged."""
    with TopicReader(bootstrap, topic) as reader:
        ends = reader.end_offsets()
        records = reader.read_to_end(timeout_s=READ_TIMEOUT_S, settle_s=1.0)
    past_end = Counter(r.partition.partition for r in records if r.offset >= ends[r.partition])
    if past_end:
        log.warning("%s: records past the end offsets, by partition: %s", topic, dict(past_end))
    return [
        TopicRecord(
            json.loads(r.record.value),
            {name: value.decode(errors="replace") for name, value in r.record.headers},
            r.timestamp_ms / 1000,
        )
        for r in records
    ]


def ledger_rows(database: Path) -> dict[tuple[str, str], str]:
    """The status of each business event's row in the notifier's ledger, by (document id,
    rule): the stuck accounting needs it for SMS the provider never got."""
    with _ledger(database) as ledger:
        return {
            (entry.notification.document_id, entry.notification.rule): entry.status.value
            for entry in ledger.entries()
        }


@contextmanager
def _ledger(database: Path) -> Iterator[Ledger]:
    engine = open_engine(f"sqlite:///{database}")
    try:
        yield Ledger(engine)
    finally:
        engine.dispose()
