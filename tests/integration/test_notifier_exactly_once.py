"""One SMS per business event: the notifier against a real broker, a fake SMS provider on
a real port, and its ledger on both databases (a SQLite file and PostgreSQL)."""

import dataclasses
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from cloudevents.core.v1.event import CloudEvent

from devstack.http_server import BackgroundServer
from notifier.ledger import Ledger, LedgerQuery
from notifier.ledger_schema import Status, open_engine
from shared.contracts import validate_event
from shared.events import Record, to_record
from tests.conftest import PipelineTopics, ReadTopic
from tests.helpers import (
    SEED_SMS,
    FakeProvider,
    enriched_event,
    publish_records,
    wait_until,
)
from tests.notifier_running import notifier_settings, running_notifier

pytestmark = pytest.mark.broker


def _record(event: CloudEvent) -> Record:
    validate_event(event)
    return to_record(event)


@pytest.fixture
def provider() -> Iterator[tuple[FakeProvider, str]]:
    fake = FakeProvider()
    with BackgroundServer(fake.app()) as server:
        yield fake, server.url


@pytest.fixture
def ledger(database_url: str) -> Iterator[Ledger]:
    """The test's view of the notifier's ledger."""
    engine = open_engine(database_url)
    yield Ledger(engine)
    engine.dispose()


def _seed_copies(count: int) -> list[Record]:
    """``count`` records of the very same enriched event (one event id)."""
    return [_record(enriched_event())] * count


def test_the_same_event_five_times_and_two_updates_in_one_state_send_one_sms(
    kafka_bootstrap: str,
    topics: PipelineTopics,
    database_url: str,
    ledger: Ledger,
    provider: tuple[FakeProvider, str],
    read_topic: ReadTopic,
    committed_total: Callable[[str], int],
) -> None:
    fake, url = provider
    settings = notifier_settings(kafka_bootstrap, topics, database_url, url + "/sms")
    updates = [
        _record(enriched_event(sum={"minor": 6000000, "amount": "60000.00", "currency": "INR"})),
        _record(enriched_event(moment="2024-06-10T13:05:00+03:00")),
    ]
    records = [*_seed_copies(5), *updates]
    publish_records(kafka_bootstrap, topics.enriched, records)
    with running_notifier(settings):
        assert wait_until(lambda: committed_total(settings.notifier_group_id) == len(records))
    (sent,) = fake.requests
    assert sent["json"]["text"] == SEED_SMS
    (entry,) = ledger.entries()
    assert (entry.status, entry.attempts) == (Status.SENT, 1)
    assert entry.notification.key == sent["json"]["idempotency_key"]
    assert read_topic(topics.dead_letter) == []


def test_a_restarted_notifier_does_not_send_again(
    kafka_bootstrap: str,
    topics: PipelineTopics,
    database_url: str,
    provider: tuple[FakeProvider, str],
    committed_total: Callable[[str], int],
) -> None:
    fake, url = provider
    settings = notifier_settings(kafka_bootstrap, topics, database_url, url + "/sms")
    publish_records(kafka_bootstrap, topics.enriched, _seed_copies(1))
    with running_notifier(settings):
        assert wait_until(lambda: committed_total(settings.notifier_group_id) == 1)
    # A new consumer group reads the topic from the start, as after lost offsets.
    replay = settings.model_copy(update={"notifier_group_id": settings.notifier_group_id + "-2"})
    with running_notifier(replay):
        assert wait_until(lambda: committed_total(replay.notifier_group_id) == 1)
    assert len(fake.requests) == 1


def _document_events(count: int) -> list[CloudEvent]:
    return [enriched_event(id=str(uuid.uuid4()), number=str(6000 + n)) for n in range(count)]


def _twice_on_different_partitions(event: CloudEvent) -> list[Record]:
    """The event, and a copy under another key: a repeat another instance may consume."""
    record = _record(event)
    return [record, dataclasses.replace(record, key=record.key + b"/repeat")]  # type: ignore[operator]


def test_two_instances_split_the_partitions_and_send_one_sms_per_event(
    kafka_bootstrap: str,
    topics: PipelineTopics,
    database_url: str,
    ledger: Ledger,
    provider: tuple[FakeProvider, str],
) -> None:
    fake, url = provider
    published: list[CloudEvent] = []

    def instances_used() -> set[str]:
        return {request["path"] for request in fake.requests}

    with ExitStack() as instances:
        for name in ("a", "b"):
            instances.enter_context(
                running_notifier(
                    notifier_settings(kafka_bootstrap, topics, database_url, f"{url}/sms/{name}")
                )
            )

        def publish_wave() -> bool:
            # Until the group has settled, one instance may own every partition: keep
            # publishing new documents until both have sent some.
            if instances_used() == {"/sms/a", "/sms/b"}:
                return True
            wave = _document_events(6)
            published.extend(wave)
            records = [record for event in wave for record in _twice_on_different_partitions(event)]
            publish_records(kafka_bootstrap, topics.enriched, records)
            return wait_until(lambda: instances_used() == {"/sms/a", "/sms/b"}, timeout_s=2)

        assert wait_until(publish_wave, timeout_s=120), instances_used()
        assert wait_until(
            lambda: len(ledger.entries(LedgerQuery(status=Status.SENT))) == len(published),
            timeout_s=60,
        )
    per_key = Counter(request["json"]["idempotency_key"] for request in fake.requests)
    assert len(per_key) == len(published)
    assert set(per_key.values()) == {1}, per_key
    assert set(per_key) == {entry.notification.key for entry in ledger.entries()}


def test_a_provider_failing_twice_then_answering_sends_once_with_three_attempts(
    kafka_bootstrap: str,
    topics: PipelineTopics,
    database_url: str,
    ledger: Ledger,
    provider: tuple[FakeProvider, str],
    committed_total: Callable[[str], int],
) -> None:
    fake, url = provider
    fake.answers.extend([(500, {}, {"error": "down"}), (500, {}, {"error": "down"})])
    settings = notifier_settings(kafka_bootstrap, topics, database_url, url + "/sms")
    publish_records(kafka_bootstrap, topics.enriched, _seed_copies(1))
    with running_notifier(settings):
        assert wait_until(lambda: committed_total(settings.notifier_group_id) == 1)
    assert len(fake.requests) == 3
    assert fake.answers == []  # the third request got the 200
    assert len({request["json"]["idempotency_key"] for request in fake.requests}) == 1
    (entry,) = ledger.entries()
    assert (entry.status, entry.attempts) == (Status.SENT, 3)
    assert entry.last_error == "SMS gateway answered HTTP 500"


def test_a_provider_refusing_the_number_gives_a_failed_row_after_one_call(
    kafka_bootstrap: str,
    topics: PipelineTopics,
    database_url: str,
    ledger: Ledger,
    provider: tuple[FakeProvider, str],
    read_topic: ReadTopic,
    committed_total: Callable[[str], int],
) -> None:
    fake, url = provider
    fake.answers.append((400, {}, {"code": 21211, "message": "invalid 'To' +919876543210"}))
    settings = notifier_settings(kafka_bootstrap, topics, database_url, url + "/sms")
    publish_records(kafka_bootstrap, topics.enriched, _seed_copies(3))
    with running_notifier(settings):
        assert wait_until(lambda: committed_total(settings.notifier_group_id) == 3)
    assert len(fake.requests) == 1
    (entry,) = ledger.entries()
    assert (entry.status, entry.attempts) == (Status.FAILED, 1)
    assert entry.last_error == "SMS gateway refused the message: HTTP 400 (provider code 21211)"
    assert read_topic(topics.dead_letter) == []  # a refused number is the ledger's, not a DLQ's


def test_an_event_that_cannot_be_handled_is_dead_lettered_with_the_reason(
    kafka_bootstrap: str,
    topics: PipelineTopics,
    database_url: str,
    ledger: Ledger,
    provider: tuple[FakeProvider, str],
    read_topic: ReadTopic,
) -> None:
    fake, url = provider
    settings = notifier_settings(kafka_bootstrap, topics, database_url, url + "/sms")
    incomplete = _record(enriched_event(number=None))
    publish_records(kafka_bootstrap, topics.enriched, [incomplete])
    with running_notifier(settings):
        (letter,) = read_topic(topics.dead_letter, count=1)
    assert letter.value == incomplete.value
    assert letter.headers["dlq.error"] == b"DocumentIncomplete"
    assert b"number" in letter.headers["dlq.reason"]
    assert fake.requests == []
    assert ledger.entries() == []
