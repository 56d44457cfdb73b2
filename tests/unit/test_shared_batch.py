from kafka.structs import TopicPartition

from shared.batch import OffsetTracker, Polled, group_by_key
from shared.events import Record

RAW0, RAW1, RETRY0 = TopicPartition("raw", 0), TopicPartition("raw", 1), TopicPartition("retry", 0)


def _polled(partition: TopicPartition, offset: int, key: bytes | None) -> Polled:
    return Polled(partition, offset, Record(key=key, value=b"{}"))


def test_records_are_grouped_by_document_in_polled_order_across_topics() -> None:
    batch = [
        _polled(RAW0, 10, b"a"),
        _polled(RAW0, 11, b"b"),
        _polled(RAW0, 12, b"a"),
        _polled(RAW1, 5, b"c"),
        _polled(RETRY0, 3, b"a"),
    ]
    groups = group_by_key(batch)
    assert [[(p.partition.topic, p.offset) for p in group] for group in groups] == [
        [("raw", 10), ("raw", 12), ("retry", 3)],
        [("raw", 11)],
        [("raw", 5)],
    ]


def test_records_without_a_key_stand_alone() -> None:
    groups = group_by_key([_polled(RAW0, 1, None), _polled(RAW0, 2, None)])
    assert [[p.offset for p in group] for group in groups] == [[1], [2]]


def test_the_origin_names_topic_partition_and_offset() -> None:
    assert _polled(RAW1, 42, b"a").origin == "raw/1/42"


def test_commits_stop_at_the_first_record_not_done_per_partition() -> None:
    batch = [_polled(RAW0, offset, b"k") for offset in (10, 11, 12, 13)] + [
        _polled(RAW1, offset, b"k") for offset in (5, 6)
    ]
    tracker = OffsetTracker(batch)
    for polled in (batch[0], batch[1], batch[3], batch[4], batch[5]):
        tracker.mark_done(polled)
    assert tracker.committable() == {RAW0: 12, RAW1: 7}
    assert tracker.rewind() == {RAW0: 12}


def test_a_partition_whose_first_record_is_not_done_commits_nothing_and_rewinds() -> None:
    batch = [_polled(RAW0, 10, b"k"), _polled(RAW0, 11, b"k")]
    tracker = OffsetTracker(batch)
    tracker.mark_done(batch[1])
    assert tracker.committable() == {}
    assert tracker.rewind() == {RAW0: 10}


def test_done_order_does_not_matter_only_the_prefix() -> None:
    batch = [_polled(RAW0, offset, b"k") for offset in (3, 1, 2)]
    tracker = OffsetTracker(batch)
    for polled in reversed(batch):
        tracker.mark_done(polled)
    assert tracker.committable() == {RAW0: 4}
    assert tracker.rewind() == {}
