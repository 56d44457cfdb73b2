"""``python -m ops.status`` against the real broker and a SQLite ledger."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaConsumer
from kafka.structs import OffsetAndMetadata, TopicPartition

from notifier.ledger import Ledger, Notification
from notifier.ledger_schema import open_engine
from ops.pipeline_status import StatusSettings, pipeline_status
from ops.status import main
from shared.dead_letters import dead_letter_record
from shared.errors import MalformedEvent
from shared.events import RAW_WEBHOOK, Record, new_event, to_record
from tests.conftest import PipelineTopics
from tests.helpers import publish_records

pytestmark = pytest.mark.broker

NOW = datetime.now(UTC)


def _raw(document_id: str) -> Record:
    return to_record(new_event(RAW_WEBHOOK, source="/test", document_id=document_id, data={}))


def _letter(error: Exception, group: str, reason: str) -> Record:
    return dead_letter_record(
        _raw("doc-x"), reason=reason, error=error, origin="raw/0/0", group_id=group
    )


def _commit(bootstrap: str, group: str, partition: TopicPartition, offset: int) -> None:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        consumer.assign([partition])
        consumer.commit({partition: OffsetAndMetadata(offset, "", -1)})
    finally:
        consumer.close()


def _notification(key: str) -> Notification:
    return Notification(key, "doc-1", "shipped", "Shipped", "+919876543210", "On its way.")


@pytest.fixture
def ledger_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    engine = open_engine(url)
    ledger = Ledger(engine)
    ledger.claim(_notification("a"))
    ledger.mark_sent("a", provider_message_id="SM1", attempts=1)
    ledger.claim(_notification("b"))
    ledger.mark_sent("b", provider_message_id="SM2", attempts=1)
    ledger.skip(_notification("c"), "opted out")
    Ledger(engine, clock=lambda: NOW - timedelta(hours=2)).claim(_notification("old"))
    engine.dispose()
    return url


@pytest.fixture
def settings(kafka_bootstrap: str, topics: PipelineTopics, ledger_url: str) -> StatusSettings:
    # Three raw events of one document (one partition), two of them committed by the enricher.
    # One record per send: the embedded broker reports a partition's end offset as its last
    # batch's first offset + 1, which is right only for batches of one record.
    for record in [_raw("doc-1")] * 3:
        publish_records(kafka_bootstrap, topics.raw, [record])
    for letter in [
        _letter(MalformedEvent("raw event has no document_id"), "enricher", "first"),
        _letter(MalformedEvent("raw event has no document_id"), "enricher", "second"),
        _letter(ValueError("odd"), "notifier", "unexpected ValueError: odd"),
    ]:
        publish_records(kafka_bootstrap, topics.dead_letter, [letter])
    status = StatusSettings(
        **topics.settings(kafka_bootstrap),
        enricher_group_id=f"{topics.group_prefix}-enricher",
        notifier_group_id=f"{topics.group_prefix}-notifier",
        notifier_database_url=ledger_url,
    )
    raw_ends = pipeline_status(status, NOW).end_offsets[topics.raw]
    [(partition, _)] = [(p, end) for p, end in raw_ends.items() if end]
    _commit(kafka_bootstrap, status.enricher_group_id, TopicPartition(topics.raw, partition), 2)
    return status


def test_status_shows_offsets_lag_dead_letters_and_the_last_hours_notifications(
    settings: StatusSettings, topics: PipelineTopics
) -> None:
    status = pipeline_status(settings, datetime.now(UTC))

    assert len(status.end_offsets[topics.raw]) == 3  # the test topics' partitions
    assert sum(status.end_offsets[topics.raw].values()) == 3
    lags = {(group.group, group.topic): group.lag for group in status.groups}
    assert lags == {
        (settings.enricher_group_id, topics.raw): 1,
        (settings.enricher_group_id, topics.retry): 0,
        (settings.notifier_group_id, topics.enriched): 0,
    }
    letters = [(d.error, d.group, d.count) for d in status.dead_letters]
    assert letters == [("MalformedEvent", "enricher", 2), ("ValueError", "notifier", 1)]
    assert status.dead_letters[0].last_reason == "second"
    assert status.notifications.by_status == {"sent": 2, "skipped": 1}


def test_the_command_prints_text_and_json(
    settings: StatusSettings,
    topics: PipelineTopics,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in settings.model_dump().items():
        monkeypatch.setenv(name.upper(), str(value))
    assert main([]) == 0
    text = capsys.readouterr().out
    assert f"{settings.enricher_group_id} on {topics.raw}: lag 1" in text
    assert "MalformedEvent, enricher: 2; latest" in text
    assert "sent: 2  skipped: 1" in text
    assert "9876543210" not in text

    assert main(["--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["notifications"]["by_status"] == {"sent": 2, "skipped": 1}
    assert document["dead_letters"][0]["count"] == 2
    assert {group["lag"] for group in document["groups"]} == {0, 1}


def test_without_a_ledger_the_notifications_part_says_why(
    settings: StatusSettings, tmp_path: Path
) -> None:
    unset = settings.model_copy(update={"notifier_database_url": None})
    assert "NOTIFIER_DATABASE_URL not set" in (pipeline_status(unset, NOW).notifications.note or "")
    missing = settings.model_copy(
        update={"notifier_database_url": f"sqlite:///{tmp_path / 'nothing.db'}"}
    )
    assert "no ledger file" in (pipeline_status(missing, NOW).notifications.note or "")
    assert not (tmp_path / "nothing.db").exists()
