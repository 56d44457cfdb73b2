"""The notifier's counters move on its delivery paths; its log lines carry the event's ids."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from notifier.channels import Channel
from notifier.delivery import Delivery, SendPolicy
from notifier.errors import SmsProviderUnavailable, SmsRejected
from notifier.handlers import NotifyHandler
from notifier.ledger import Ledger, Notification
from notifier.ledger_schema import open_engine
from notifier.metrics import NotifierMetrics
from notifier.opt_outs import OptOutList, OptOutPolicy
from notifier.outbound import SmsChannel
from notifier.releaser import StuckReporter
from notifier.rules import RuleSet
from shared.logs import EventContextFilter
from tests.helpers import enriched_event
from tests.unit.test_notifier_delivery import NOTIFICATION, ScriptedSender

NOON_IN_KOLKATA = datetime(2026, 6, 10, 6, 30, tzinfo=UTC)


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Engine]:
    engine = open_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def metrics() -> tuple[NotifierMetrics, CollectorRegistry]:
    registry = CollectorRegistry()
    return NotifierMetrics(registry), registry


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def _delivery(database: Engine, sender: ScriptedSender, metrics: NotifierMetrics) -> Delivery:
    return Delivery(
        Ledger(database),
        {Channel.SMS: SmsChannel(sender)},
        SendPolicy(attempts=2),
        sleep=lambda _s: None,
        metrics=metrics,
    )


def _notification(key: str) -> Notification:
    return Notification(**{**NOTIFICATION.__dict__, "key": key})


def test_every_delivery_outcome_is_counted_by_status_and_provider_calls_timed(
    database: Engine, metrics: tuple[NotifierMetrics, CollectorRegistry]
) -> None:
    notifier_metrics, registry = metrics
    sender = ScriptedSender(SmsProviderUnavailable("HTTP 503"), SmsRejected("HTTP 400"))
    delivery = _delivery(database, sender, notifier_metrics)
    delivery.deliver(_notification("a"))  # 503 then refused: failed
    delivery.deliver(_notification("b"))  # sent
    delivery.deliver(_notification("b"))  # duplicate
    delivery.deliver(_notification("c"), held_until=NOON_IN_KOLKATA + timedelta(hours=1))
    delivery.skip(_notification("d"), "opted out")

    statuses = ("sent", "failed", "held", "skipped", "duplicate_suppressed")
    counted = {status: _value(registry, "notifier_sms_total", status=status) for status in statuses}
    assert counted == dict.fromkeys(statuses, 1.0)
    calls = {
        result: _value(registry, "notifier_provider_seconds_count", result=result)
        for result in ("ok", "rejected", "unavailable")
    }
    assert calls == {"ok": 1, "rejected": 1, "unavailable": 1}


def test_stuck_rows_set_the_gauge_and_clear_it_once_resolved(
    database: Engine, metrics: tuple[NotifierMetrics, CollectorRegistry]
) -> None:
    notifier_metrics, registry = metrics
    ledger = Ledger(database)
    reporter = StuckReporter(ledger, older_than_s=0, metrics=notifier_metrics)
    ledger.claim(NOTIFICATION)  # left sending, as by a process that died
    reporter.report()
    assert _value(registry, "notifier_stuck_notifications") == 1
    ledger.mark_sent(NOTIFICATION.key, provider_message_id="SM1", attempts=1)
    reporter.report()
    assert _value(registry, "notifier_stuck_notifications") == 0


def _handler(database: Engine, sender: ScriptedSender, metrics: NotifierMetrics) -> NotifyHandler:
    opt_outs = OptOutPolicy(OptOutList(database), attribute_name="SMS opt-out", region="IN")
    return NotifyHandler(
        RuleSet.load(None),
        _delivery(database, sender, metrics),
        opt_outs,
        "IN",
        clock=lambda: NOON_IN_KOLKATA,
        metrics=metrics,
    )


def test_a_message_without_a_usable_phone_counts_as_skipped(
    database: Engine, metrics: tuple[NotifierMetrics, CollectorRegistry]
) -> None:
    notifier_metrics, registry = metrics
    sender = ScriptedSender()
    _handler(database, sender, notifier_metrics)(enriched_event(agent=None))
    assert sender.calls == []
    assert _value(registry, "notifier_sms_total", status="skipped") == 1


def test_the_sent_log_line_names_the_raw_event_and_masks_the_phone(
    database: Engine,
    metrics: tuple[NotifierMetrics, CollectorRegistry],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.handler.addFilter(EventContextFilter())
    with caplog.at_level("INFO", logger="notifier"):
        _handler(database, ScriptedSender(), metrics[0])(enriched_event())
    [line] = [r for r in caplog.records if r.getMessage() == "sms sent"]
    # raw_event_id comes from the event's data (tests.helpers.enriched_event: "raw-1").
    assert line.raw_event_id == "raw-1"  # type: ignore[attr-defined]
    assert line.to == "*********3210"  # type: ignore[attr-defined]
    assert "9876543210" not in caplog.text
