"""The on-disk spool: order, removal after acknowledgement, failures, the drain lock.
Across real processes: tests/integration/test_ingest_local_state.py."""

from pathlib import Path

import pytest

from ingest.errors import SinkUnavailable
from ingest.spool import DATABASE_NAME, Spool
from shared.events import Record
from tests.unit.ingest_fakes import record

WRITE_TIMEOUT_S = 5.0


def open_spool(directory: Path, clock: float = 1000.0) -> Spool:
    return Spool(directory, write_timeout_s=WRITE_TIMEOUT_S, clock=lambda: clock)


def test_records_come_back_oldest_first_exactly_as_written(tmp_path: Path) -> None:
    spool = open_spool(tmp_path / "spool")
    first = Record(key=b"doc-1", value=b'{"n": 1}', headers=(("content-type", b"\x00\xffx"),))
    keyless = Record(key=None, value=b"{}", headers=())
    spool.append("raw", [first, keyless])
    spool.append("other", [record("doc-2", 3)])

    spooled = spool.oldest(10)

    assert [(s.topic, s.record) for s in spooled] == [
        ("raw", first),
        ("raw", keyless),
        ("other", record("doc-2", 3)),
    ]
    assert [s.seq for s in spooled] == sorted(s.seq for s in spooled)
    assert [s.record for s in spool.oldest(2)] == [first, keyless]


def test_depth_counts_records_and_dates_the_oldest(tmp_path: Path) -> None:
    empty = open_spool(tmp_path)
    assert empty.is_empty()
    assert (empty.depth().count, empty.depth().oldest_spooled_at) == (0, None)

    open_spool(tmp_path, clock=100.0).append("raw", [record("a", 1)])
    open_spool(tmp_path, clock=250.0).append("raw", [record("a", 2), record("b", 1)])

    depth = empty.depth()
    assert (depth.count, depth.oldest_spooled_at) == (3, 100.0)
    assert not empty.is_empty()


def test_it_tells_whether_records_of_given_documents_wait(tmp_path: Path) -> None:
    spool = Spool(tmp_path, write_timeout_s=5)
    spool.append("raw", [Record(key=b"doc-a", value=b"1", headers=())])
    assert spool.holds_any_of({b"doc-b", b"doc-a"})
    assert not spool.holds_any_of({b"doc-b"})
    assert spool.holds_any_of({None}), "a record of no document waits behind anything"
    assert not Spool(tmp_path / "other", write_timeout_s=5).holds_any_of({None})


def test_only_removed_records_are_forgotten(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    spool.append("raw", [record("a", n) for n in range(4)])
    [one, two, three, four] = spool.oldest(10)

    spool.remove([one.seq, three.seq])
    spool.remove([])

    assert [s.record for s in spool.oldest(10)] == [two.record, four.record]


def test_records_outlive_the_spool_object(tmp_path: Path) -> None:
    spool = open_spool(tmp_path)
    spool.append("raw", [record("a", 1)])
    spool.close()
    assert [s.record for s in open_spool(tmp_path).oldest(10)] == [record("a", 1)]


def test_a_spool_that_cannot_be_written_raises_sink_unavailable(tmp_path: Path) -> None:
    (tmp_path / DATABASE_NAME).mkdir()  # the database path is taken by a directory
    spool = open_spool(tmp_path)

    with pytest.raises(SinkUnavailable, match="spool"):
        spool.append("raw", [record("a", 1)])
    with pytest.raises(SinkUnavailable):
        spool.is_empty()
    assert not spool.writable()


def test_a_spool_directory_that_cannot_be_created_is_not_writable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    spool = open_spool(tmp_path / "file" / "spool")
    assert not spool.writable()
    with pytest.raises(SinkUnavailable):
        spool.append("raw", [record("a", 1)])


def test_a_healthy_spool_is_writable(tmp_path: Path) -> None:
    assert open_spool(tmp_path / "new" / "spool").writable()


def test_the_drain_lock_is_held_by_one_caller_at_a_time(tmp_path: Path) -> None:
    spool = open_spool(tmp_path / "not-yet-created")
    tmp_path = spool.directory
    with spool.drain_lock() as first, open_spool(tmp_path).drain_lock() as second:
        assert (first, second) == (True, False)
    with open_spool(tmp_path).drain_lock() as again:
        assert again
