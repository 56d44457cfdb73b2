"""Quiet hours hold a message in the ledger and release it; an opted-out number gets
nothing. Real broker, fake provider on a real port, both databases."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, update

from devstack.http_server import BackgroundServer
from notifier.ledger import Ledger
from notifier.ledger_schema import Status, notifications, open_engine
from notifier.opt_outs import OptOutList
from notifier.quiet_hours import DEFAULT_ZONE
from notifier.rules import RuleSet
from shared.contracts import validate_event
from shared.events import to_record
from tests.conftest import PipelineTopics
from tests.helpers import SEED_SMS, FakeProvider, enriched_event, publish_records, wait_until
from tests.notifier_running import notifier_settings, running_notifier

pytestmark = pytest.mark.broker


@pytest.fixture
def provider() -> Iterator[tuple[FakeProvider, str]]:
    fake = FakeProvider()
    with BackgroundServer(fake.app()) as server:
        yield fake, server.url + "/sms"


@pytest.fixture
def database(database_url: str) -> Iterator[Engine]:
    engine = open_engine(database_url)
    yield engine
    engine.dispose()


def _publish_seed(bootstrap: str, topics: PipelineTopics, copies: int) -> None:
    event = enriched_event()
    validate_event(event)
    publish_records(bootstrap, topics.enriched, [to_record(event)] * copies)


def _rules_quiet_now(tmp_path: Path) -> RuleSet:
    """The bundled seed rule with quiet hours from two hours ago to two hours ahead."""
    now = datetime.now(DEFAULT_ZONE)
    window = f"{now - timedelta(hours=2):%H:%M}-{now + timedelta(hours=2):%H:%M}"
    rules = tmp_path / "rules.toml"
    rules.write_text(
        "[[rule]]\n"
        'name = "sales-order-shipped"\n'
        'type = "CustomerOrder"\n'
        'state = "Shipped"\n'
        'template = "{title} {number} dated {moment} for an amount of {sum} rupees '
        'has been handed over to the delivery service."\n'
        f'quiet_hours = "{window}"\n'
    )
    return RuleSet.load(rules)


def test_a_message_due_in_quiet_hours_is_held_then_sent_once_when_they_end(
    kafka_bootstrap: str,
    topics: PipelineTopics,
    database_url: str,
    database: Engine,
    provider: tuple[FakeProvider, str],
    committed_total: Callable[[str], int],
    tmp_path: Path,
) -> None:
    fake, url = provider
    ledger = Ledger(database)
    settings = notifier_settings(kafka_bootstrap, topics, database_url, url)
    _publish_seed(kafka_bootstrap, topics, copies=2)
    with running_notifier(settings, _rules_quiet_now(tmp_path)):
        assert wait_until(lambda: committed_total(settings.notifier_group_id) == 2)
        (held,) = ledger.entries()
        assert held.status is Status.HELD
        assert held.due_at is not None
        assert held.due_at > datetime.now(UTC) + timedelta(hours=1)
        assert fake.requests == []
        # The night passes: the window's end moves to a moment already gone.
        with database.begin() as connection:
            connection.execute(
                update(notifications).values(due_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        assert wait_until(lambda: ledger.entries()[0].status is Status.SENT)
    (sent,) = fake.requests
    assert sent["json"]["text"] == SEED_SMS


def test_an_opted_out_number_gets_nothing_and_the_ledger_records_the_skip(
    kafka_bootstrap: str,
    topics: PipelineTopics,
    database_url: str,
    database: Engine,
    provider: tuple[FakeProvider, str],
    committed_total: Callable[[str], int],
) -> None:
    fake, url = provider
    OptOutList(database).add("+919876543210", "replied STOP")
    settings = notifier_settings(kafka_bootstrap, topics, database_url, url)
    _publish_seed(kafka_bootstrap, topics, copies=2)
    with running_notifier(settings):
        assert wait_until(lambda: committed_total(settings.notifier_group_id) == 2)
    assert fake.requests == []
    (entry,) = Ledger(database).entries()
    assert entry.status is Status.SKIPPED
    assert entry.last_error == "opted out: the number is on the opt-out list"
