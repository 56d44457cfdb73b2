"""Claim, send, record: the delivery's decisions with a scripted sender and a SQLite ledger."""

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from notifier.channels import Channel
from notifier.delivery import Delivery, Outcome, SendPolicy
from notifier.errors import SmsProviderUnavailable, SmsRejected
from notifier.ledger import Ledger, Notification, Resolution
from notifier.ledger_schema import Status, open_engine
from notifier.outbound import SmsChannel
from notifier.releaser import HeldReleaser, StuckReporter
from notifier.sms import Sms

NOTIFICATION = Notification(
    key="k" * 64,
    document_id="doc-1",
    rule="shipped",
    state="Shipped",
    phone="+919876543210",
    text="Order 5643 is on its way.",
    sender="ACMESHOP",
)
NOW = datetime(2026, 6, 10, 21, 30, tzinfo=UTC)


class ScriptedSender:
    """Answers each send with the next scripted error, or a message id once they run out."""

    def __init__(self, *errors: Exception) -> None:
        self.calls: list[Sms] = []
        self._errors = list(errors)

    def send(self, sms: Sms) -> str | None:
        self.calls.append(sms)
        if self._errors:
            raise self._errors.pop(0)
        return f"SM{len(self.calls)}"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(tmp_path: Path, clock: Clock) -> Iterator[Ledger]:
    engine = open_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield Ledger(engine, clock)
    engine.dispose()


def _delivery(ledger: Ledger, sender: ScriptedSender, sleeps: list[float]) -> Delivery:
    return Delivery(
        ledger,
        {Channel.SMS: SmsChannel(sender)},
        SendPolicy(attempts=3, backoff_base_s=1.0, backoff_cap_s=4.0),
        sleep=sleeps.append,
        jitter=lambda: 1.0,
    )


def _row(ledger: Ledger) -> tuple[Status, int, str | None, str | None]:
    entry = ledger.entry(NOTIFICATION.key)
    assert entry is not None
    return entry.status, entry.attempts, entry.provider_message_id, entry.last_error


def test_a_message_is_sent_with_its_key_and_sender_and_recorded(ledger: Ledger) -> None:
    sender = ScriptedSender()
    assert _delivery(ledger, sender, []).deliver(NOTIFICATION) is Outcome.SENT
    assert sender.calls == [
        Sms(to="+919876543210", text=NOTIFICATION.text, idempotency_key="k" * 64, sender="ACMESHOP")
    ]
    assert _row(ledger) == (Status.SENT, 1, "SM1", None)


def test_the_same_notification_delivered_again_is_suppressed(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    sender = ScriptedSender()
    delivery = _delivery(ledger, sender, [])
    delivery.deliver(NOTIFICATION)
    with caplog.at_level("INFO", logger="notifier.delivery"):
        outcomes = [delivery.deliver(NOTIFICATION) for _ in range(4)]
    assert outcomes == [Outcome.DUPLICATE] * 4
    assert len(sender.calls) == 1
    assert [record.message for record in caplog.records] == ["duplicate suppressed"] * 4
    assert "98765" not in caplog.text


def test_a_provider_failing_twice_is_retried_with_backoff_and_sent_once(ledger: Ledger) -> None:
    sender = ScriptedSender(SmsProviderUnavailable("HTTP 500"), SmsProviderUnavailable("HTTP 503"))
    sleeps: list[float] = []
    assert _delivery(ledger, sender, sleeps).deliver(NOTIFICATION) is Outcome.SENT
    assert len(sender.calls) == 3
    assert sleeps == [1.0, 2.0]  # base * 2**(n-1), the jitter draw at its top
    assert _row(ledger) == (Status.SENT, 3, "SM3", "HTTP 503")


def test_a_refusal_is_recorded_as_failed_after_one_call(ledger: Ledger) -> None:
    sender = ScriptedSender(
        SmsRejected("Twilio refused the message: HTTP 400 (provider code 21211)")
    )
    sleeps: list[float] = []
    assert _delivery(ledger, sender, sleeps).deliver(NOTIFICATION) is Outcome.FAILED
    assert len(sender.calls) == 1
    assert sleeps == []
    assert _row(ledger) == (
        Status.FAILED,
        1,
        None,
        "Twilio refused the message: HTTP 400 (provider code 21211)",
    )


def test_an_unavailable_provider_fails_the_row_when_the_budget_is_spent(ledger: Ledger) -> None:
    sender = ScriptedSender(*(SmsProviderUnavailable(f"HTTP 50{n}") for n in range(5)))
    sleeps: list[float] = []
    assert _delivery(ledger, sender, sleeps).deliver(NOTIFICATION) is Outcome.FAILED
    assert len(sender.calls) == 3
    assert len(sleeps) == 2
    assert _row(ledger) == (Status.FAILED, 3, None, "HTTP 502")


def test_retry_after_is_honoured_up_to_the_cap(ledger: Ledger) -> None:
    sender = ScriptedSender(
        SmsProviderUnavailable("HTTP 429", retry_after=3.5),
        SmsProviderUnavailable("HTTP 429", retry_after=3600),
    )
    sleeps: list[float] = []
    _delivery(ledger, sender, sleeps).deliver(NOTIFICATION)
    assert sleeps == [3.5, 4.0]


def test_a_message_in_quiet_hours_is_held_then_released_and_sent_once(
    ledger: Ledger, clock: Clock
) -> None:
    sender = ScriptedSender()
    delivery = _delivery(ledger, sender, [])
    morning = NOW + timedelta(hours=12)
    assert delivery.deliver(NOTIFICATION, held_until=morning) is Outcome.HELD
    assert delivery.deliver(NOTIFICATION) is Outcome.DUPLICATE
    releaser = HeldReleaser(
        ledger, delivery, StuckReporter(ledger, 300), threading.Event(), interval_s=1
    )
    assert releaser.release_due() == 0
    assert sender.calls == []
    clock.now = morning
    assert releaser.release_due() == 1
    assert releaser.release_due() == 0
    assert len(sender.calls) == 1
    assert _row(ledger) == (Status.SENT, 1, "SM1", None)


def test_a_stuck_row_is_reported_and_sent_again_only_when_released(
    ledger: Ledger, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    ledger.claim(NOTIFICATION)  # a process that claimed, then died before the answer
    clock.now += timedelta(minutes=10)
    reporter = StuckReporter(ledger, older_than_s=300)
    with caplog.at_level("WARNING", logger="notifier.releaser"):
        assert reporter.report() == 1
        assert reporter.report() == 1  # still stuck, but said once
    (record,) = caplog.records
    assert record.key == NOTIFICATION.key  # type: ignore[attr-defined]
    assert record.to == "*********3210"  # type: ignore[attr-defined]
    sender = ScriptedSender()
    delivery = _delivery(ledger, sender, [])
    releaser = HeldReleaser(
        ledger, delivery, StuckReporter(ledger, 300), threading.Event(), interval_s=1
    )
    assert delivery.deliver(NOTIFICATION) is Outcome.DUPLICATE
    assert releaser.release_due() == 0
    assert sender.calls == []
    assert ledger.resolve(NOTIFICATION.key, Resolution.RESEND)
    assert releaser.release_due() == 1
    assert len(sender.calls) == 1
    assert _row(ledger)[0] is Status.SENT


def test_a_skip_is_recorded_once(ledger: Ledger) -> None:
    sender = ScriptedSender()
    delivery = _delivery(ledger, sender, [])
    assert delivery.skip(NOTIFICATION, "opted out") is Outcome.SKIPPED
    assert delivery.deliver(NOTIFICATION) is Outcome.DUPLICATE
    assert sender.calls == []
    assert _row(ledger) == (Status.SKIPPED, 0, None, "opted out")


def test_the_releaser_thread_stops_when_told(ledger: Ledger) -> None:
    stop = threading.Event()
    releaser = HeldReleaser(
        ledger,
        _delivery(ledger, ScriptedSender(), []),
        StuckReporter(ledger, 300),
        stop,
        interval_s=0.01,
    )
    thread = threading.Thread(target=releaser.run)
    thread.start()
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_a_row_that_gets_stuck_while_the_notifier_runs_is_reported_then(
    ledger: Ledger, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    reporter = StuckReporter(ledger, older_than_s=300)
    ledger.claim(NOTIFICATION)
    with caplog.at_level("WARNING", logger="notifier.releaser"):
        assert reporter.report() == 0  # in flight, for all anyone knows
        clock.now += timedelta(seconds=301)
        assert reporter.report() == 1
    assert [record.key for record in caplog.records] == [NOTIFICATION.key]  # type: ignore[attr-defined]
