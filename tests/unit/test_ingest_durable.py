"""The durable sink and its drainer, with a real spool on disk and a fake broker."""

import threading
from pathlib import Path

import pytest

from ingest.drainer import Drainer, drain_once
from ingest.durable import DurableSink
from ingest.errors import SinkUnavailable
from ingest.spool import DATABASE_NAME, Spool
from shared.events import Record
from tests.helpers import wait_until
from tests.unit.ingest_fakes import FakeChannel, record

TOPIC = "raw-under-test"
BUDGET_S = 0.5
NOW = 5000.0


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path / "spool", write_timeout_s=5, clock=lambda: NOW - 30)


class Wakes:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def sink_over(spool: Spool, channel: FakeChannel | None, wakes: Wakes | None = None) -> DurableSink:
    sink = DurableSink(
        spool, topic=TOPIC, budget_s=BUDGET_S, on_spooled=wakes or Wakes(), clock=lambda: NOW
    )
    if channel is not None:
        sink.attach(channel)
    return sink


def spooled(spool: Spool) -> list[tuple[str, Record]]:
    return [(s.topic, s.record) for s in spool.oldest(1000)]


def test_an_acknowledged_event_goes_to_the_broker_within_the_budget(spool: Spool) -> None:
    channel = FakeChannel()
    sink_over(spool, channel).accept([record("a", 1), record("b", 1)])
    assert channel.sent == [(TOPIC, record("a", 1)), (TOPIC, record("b", 1))]
    assert channel.timeouts == [BUDGET_S]
    assert spool.is_empty()


def test_before_the_producer_exists_events_are_spooled(spool: Spool) -> None:
    wakes = Wakes()
    sink_over(spool, None, wakes).accept([record("a", 1)])
    assert spooled(spool) == [(TOPIC, record("a", 1))]
    assert wakes.count == 1


def test_what_the_broker_did_not_acknowledge_is_spooled_in_order(spool: Spool) -> None:
    channel = FakeChannel(acknowledges=lambda r: r != record("a", 2) and r != record("a", 3))
    sink_over(spool, channel).accept([record("a", 1), record("a", 2), record("a", 3)])
    assert channel.sent == [(TOPIC, record("a", 1))]
    assert spooled(spool) == [(TOPIC, record("a", 2)), (TOPIC, record("a", 3))]


def test_an_event_queues_behind_a_spooled_event_of_its_document_only(spool: Spool) -> None:
    down = FakeChannel(acknowledges=lambda _: False)
    sink = sink_over(spool, down)
    sink.accept([record("a", 1)])
    up = FakeChannel()
    sink.attach(up)

    sink.accept([record("a", 2)])
    sink.accept([record("b", 1)])

    assert up.sent == [(TOPIC, record("b", 1))]
    assert spooled(spool) == [(TOPIC, record("a", 1)), (TOPIC, record("a", 2))]


def test_a_broker_known_to_be_down_is_not_waited_for(spool: Spool) -> None:
    disconnected = FakeChannel(connected=False)
    sink_over(spool, disconnected).accept([record("a", 1)])
    assert disconnected.timeouts == []
    assert spooled(spool) == [(TOPIC, record("a", 1))]


def test_neither_broker_nor_spool_raises_sink_unavailable(tmp_path: Path) -> None:
    (tmp_path / DATABASE_NAME).mkdir()
    broken = Spool(tmp_path, write_timeout_s=5)
    with pytest.raises(SinkUnavailable):
        sink_over(broken, FakeChannel(acknowledges=lambda _: False)).accept([record("a", 1)])
    with pytest.raises(SinkUnavailable):
        sink_over(broken, None).accept([record("a", 1)])


def test_an_unreadable_spool_does_not_stop_the_broker_from_taking_events(tmp_path: Path) -> None:
    (tmp_path / DATABASE_NAME).mkdir()
    channel = FakeChannel()
    sink_over(Spool(tmp_path, write_timeout_s=5), channel).accept([record("a", 1)])
    assert channel.sent == [(TOPIC, record("a", 1))]


def test_status_reports_the_broker_and_the_spool(spool: Spool) -> None:
    channel = FakeChannel(connected=False, acknowledges=lambda _: False)
    sink = sink_over(spool, channel)
    empty = sink.status()
    assert (empty.spool_depth, empty.oldest_spooled_age_s, empty.broker_connected) == (
        0,
        None,
        False,
    )
    sink.accept([record("a", 1), record("b", 1)])
    channel.connected = True

    status = sink.status()

    assert status.broker_connected
    assert (status.spool_depth, status.oldest_spooled_age_s) == (2, 30.0)
    assert status.spool_writable
    assert status.can_accept


def test_status_without_a_producer_or_a_spool_cannot_accept(tmp_path: Path) -> None:
    (tmp_path / DATABASE_NAME).mkdir()
    status = sink_over(Spool(tmp_path, write_timeout_s=5), None).status()
    assert not status.broker_connected
    assert not status.spool_writable
    assert not status.can_accept


def test_draining_publishes_oldest_first_and_empties_the_spool(spool: Spool) -> None:
    spool.append(TOPIC, [record("a", n) for n in range(7)])
    spool.append("elsewhere", [record("b", 1)])
    spool.append(TOPIC, [record("a", 7)])
    channel = FakeChannel()

    assert drain_once(spool, channel, batch_size=3) == 9

    assert channel.sent == [
        *[(TOPIC, record("a", n)) for n in range(7)],
        ("elsewhere", record("b", 1)),
        (TOPIC, record("a", 7)),
    ]
    assert channel.timeouts == [None] * len(channel.timeouts)  # the channel's own wait
    assert spool.is_empty()


def test_a_drain_keeps_what_the_broker_did_not_acknowledge_and_stops(spool: Spool) -> None:
    spool.append(TOPIC, [record("a", n) for n in range(6)])
    channel = FakeChannel(acknowledges=lambda r: r != record("a", 1))

    assert drain_once(spool, channel, batch_size=3) == 2

    assert channel.sent == [(TOPIC, record("a", 0)), (TOPIC, record("a", 2))]
    remaining = [s.record for s in spool.oldest(10)]
    assert remaining == [record("a", 1), *[record("a", n) for n in range(3, 6)]]


def test_no_drain_while_another_drainer_holds_the_lock(spool: Spool) -> None:
    spool.append(TOPIC, [record("a", 1)])
    channel = FakeChannel()
    with spool.drain_lock() as held:
        assert held
        assert drain_once(spool, channel) == 0
    assert channel.sent == []


def test_the_drainer_thread_connects_attaches_and_drains(spool: Spool) -> None:
    spool.append(TOPIC, [record("a", 1)])
    request, drain = FakeChannel(), FakeChannel()
    attempts: list[str] = []

    def connect_request() -> FakeChannel:
        attempts.append("request")
        if len(attempts) < 3:
            raise OSError("broker unreachable")
        return request

    wake = threading.Event()
    sink = DurableSink(spool, topic=TOPIC, budget_s=BUDGET_S, on_spooled=wake.set)
    drainer = Drainer(
        sink,
        spool,
        connect_request=connect_request,
        connect_drain=lambda: drain,
        interval_s=0.01,
        wake=wake,
    )
    sink.accept([record("a", 2)])  # spooled: no producer yet
    drainer.start()
    try:
        assert wait_until(lambda: len(drain.sent) == 2, timeout_s=30)
        assert wait_until(spool.is_empty, timeout_s=30)
        sink.accept([record("a", 3)])
    finally:
        drainer.stop()

    assert attempts == ["request"] * 3
    assert drain.sent == [(TOPIC, record("a", 1)), (TOPIC, record("a", 2))]
    assert request.sent == [(TOPIC, record("a", 3))]
    assert request.closed
    assert drain.closed
