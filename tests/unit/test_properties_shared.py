"""Property tests: any record on a topic is one of our events or a MalformedEvent.

Consumers read records anyone with access to the topic could have written; the
enricher's and the notifier's first step (``from_record``, then ``event_data`` or
``read_request``) must refuse garbage with the one error that dead-letters it.
"""

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from enricher.handlers import read_request
from shared.errors import MalformedEvent
from shared.events import EVENT_SPECS, RAW_WEBHOOK, Record, event_data, from_record
from shared.kladana_types import TRANSACTION_TYPES
from tests.unit.property_strategies import FAST, deeply_nested, json_values, result_or_error

CONTENT_TYPES = [
    b"application/cloudevents+json",
    b"application/cloudevents+json; charset=utf-8",
    b"application/json",
    b"",
    b"\xff\xfe",
]
header_names = st.sampled_from(["content-type", "ce_id", "ce_type", "ce_specversion", "x"])
headers = st.builds(
    lambda structured, others: [("content-type", CONTENT_TYPES[0])] * structured + others,
    st.booleans(),
    st.lists(
        st.tuples(header_names, st.one_of(st.sampled_from(CONTENT_TYPES), st.binary(max_size=20))),
        max_size=3,
    ),
)

envelope_values: dict[str, st.SearchStrategy[Any]] = {
    "specversion": st.sampled_from(["1.0", "0.3", "2.0", ""]),
    "id": st.sampled_from(["event-1", ""]),
    "source": st.sampled_from(["/kladana-pipeline/ingest", ""]),
    "type": st.sampled_from([*EVENT_SPECS, "x"]),
    "subject": st.just("doc-1"),
    "time": st.sampled_from(["2024-06-10T09:57:01Z", "yesterday", "2024-13-45T99:00:00Z"]),
    "datacontenttype": st.sampled_from(["application/json", "text/plain"]),
    "data": st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "type": st.sampled_from([*TRANSACTION_TYPES.names, "Nope"]),
                "document_id": st.sampled_from(["doc-1", ""]),
            },
        ),
        json_values,
    ),
    "data_base64": st.sampled_from(["aGk=", "not base64!"]),
    "partitionkey": st.just("doc-1"),
}
VALID = {
    "specversion": "1.0",
    "id": "event-1",
    "source": "/kladana-pipeline/ingest",
    "type": RAW_WEBHOOK.type,
    "subject": "doc-1",
    "time": "2024-06-10T09:57:01Z",
    "datacontenttype": "application/json",
    "partitionkey": "doc-1",
    "data": {"type": "CustomerOrder", "document_id": "doc-1"},
}
# A valid raw event with a few attributes changed, added or left out.
changes = st.sampled_from(sorted(envelope_values)).flatmap(
    lambda name: st.tuples(st.just(name), st.one_of(envelope_values[name], json_values, st.none()))
)
envelopes = st.lists(changes, max_size=3).map(
    lambda changed: {
        name: value
        for name, value in {**VALID, **dict(changed)}.items()
        if value is not None or name not in dict(changed)
    }
)
values = st.one_of(
    envelopes.map(lambda envelope: json.dumps(envelope).encode()),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=100),
    st.sampled_from([deeply_nested(5_000).encode(), b"", b'{"specversion": "1.0"', b"\xff"]),
)


@FAST
@given(st.one_of(st.none(), st.binary(max_size=10)), values, headers)
def test_any_record_is_an_event_or_malformed(
    key: bytes | None, value: bytes, record_headers: list[tuple[str, bytes]]
) -> None:
    record = Record(key=key, value=value, headers=tuple(record_headers))
    event = result_or_error(lambda: from_record(record), MalformedEvent)
    if isinstance(event, MalformedEvent):
        assert str(event)
        return
    data = result_or_error(lambda: event_data(event, RAW_WEBHOOK), MalformedEvent)
    assert isinstance(data, dict) or str(data)
    request = result_or_error(lambda: read_request(record, TRANSACTION_TYPES), MalformedEvent)
    assert str(request)
