"""``python -m enricher redrive`` against the real broker: moves the enricher's dead letters
back to the raw topic, by filter, never the same one twice, and they are then enriched."""

import json
import subprocess
import sys
import threading

import pytest

from enricher.redrive import RedriveFilter, redrive
from enricher.settings import RedriveSettings
from enricher.wiring import open_enricher_runtime
from shared.events import ENRICHED_DOCUMENT, Record, to_record
from shared.health import Readiness
from tests.conftest import PipelineTopics, ReadTopic
from tests.enricher_fakes import RecordingSource, not_found, raw_event
from tests.helpers import ROOT, publish_records, running_loop
from tests.integration.test_enricher_batch import publish, settings_for

pytestmark = pytest.mark.broker


def test_redrive_moves_dead_letters_back_by_filter_once_and_they_get_enriched(
    kafka_bootstrap: str, topics: PipelineTopics, read_topic: ReadTopic
) -> None:
    orders = [raw_event("gone-1"), raw_event("gone-2")]
    payment = raw_event("gone-3", "PaymentIn")
    publish(kafka_bootstrap, topics.raw, [*orders, payment])
    deleted = threading.Event()
    deleted.set()
    source = RecordingSource(
        lambda _e, document_id, _n: not_found(document_id) if deleted.is_set() else None
    )
    settings = settings_for(kafka_bootstrap, topics)
    # The notifier dead-letters into the same topic: its letters are not raw events.
    notifier_letter = Record(b"doc", b"{}", (("dlq.group", b"notifier"), ("dlq.reason", b"x")))
    publish_records(kafka_bootstrap, topics.dead_letter, [notifier_letter])

    stop = threading.Event()
    with (
        open_enricher_runtime(settings, source, stop, Readiness()) as loop,
        running_loop(loop, stop),
    ):
        assert len(read_topic(topics.dead_letter, count=4)) == 4

    redrive_settings = RedriveSettings(
        **topics.settings(kafka_bootstrap), enricher_group_id=settings.enricher_group_id
    )
    dry = redrive(redrive_settings, RedriveFilter(type_name="CustomerOrder"), dry_run=True)
    assert (dry.moved, dry.dry_run) == (2, True)
    assert len(read_topic(topics.raw)) == 3

    first = redrive(
        redrive_settings, RedriveFilter(type_name="CustomerOrder", reason="404"), dry_run=False
    )
    assert (first.moved, first.already_moved) == (2, 0)
    raw_now = read_topic(topics.raw)
    moved = [record for record in raw_now if "redrive.from" in record.headers]
    assert sorted(json.loads(r.value)["id"] for r in moved) == sorted(o.get_id() for o in orders)
    assert all(not name.startswith(("dlq.", "retry.")) for r in moved for name in r.headers)
    assert {r.value for r in moved} == {to_record(order).value for order in orders}

    # The command line, all remaining dead letters: only the payment is left to move.
    environment = {
        "PATH": "/usr/bin:/bin",
        **topics.environment(kafka_bootstrap),
        "ENRICHER_GROUP_ID": settings.enricher_group_id,
    }
    finished = subprocess.run(
        [sys.executable, "-m", "enricher", "redrive"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.startswith(f"moved 1 dead-letter records to {topics.raw}"), (
        finished.stdout
    )

    again = redrive(redrive_settings, RedriveFilter(), dry_run=False)
    assert (again.moved, again.already_moved) == (0, 3)
    assert len(read_topic(topics.raw)) == 6

    # The documents are back in Kladana: the redriven events are enriched.
    deleted.clear()
    stop = threading.Event()
    with (
        open_enricher_runtime(settings, RecordingSource(), stop, Readiness()) as loop,
        running_loop(loop, stop),
    ):
        enriched = read_topic(topics.enriched, count=6)
    envelopes = [json.loads(record.value) for record in enriched]
    replayed = {e["data"]["raw_event_id"] for e in envelopes if e["type"] == ENRICHED_DOCUMENT.type}
    assert replayed == {event.get_id() for event in [*orders, payment]}
