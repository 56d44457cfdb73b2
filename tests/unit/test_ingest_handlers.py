"""The webhook handler as plain calls: the sink and the requestId store are fakes that
record calls; the wait for a delivery in progress sleeps on a clock that only sleeping moves."""

import json
import logging
from datetime import UTC, datetime

import pytest

from ingest.errors import DeliveryInProgress, SinkUnavailable
from ingest.handlers import CLAIM_POLL_S, NativeAccepted, WebhookHandler
from ingest.native import NativeWebhook, native_webhook
from ingest.request_ids import Claim
from ingest.webhooks import raw_event
from shared.kladana_types import TRANSACTION_TYPES
from tests.unit.ingest_fakes import RecordingSink, ScriptedRequestIds

REQUEST_ID = "cbb9a2e0-3e6f-4d1c-9f4e-2b1f8f2c7a10"
DOCUMENT_IDS = ["34efe2ee-015e-11e6-9464-e4de0000006b", "5427bc76-b95f-11eb-0a80-04bb000cd583"]
RECEIVED_AT = datetime(2024, 6, 10, 12, 0, tzinfo=UTC)


def delivery(entity: str = "customerorder") -> NativeWebhook:
    api = "https://api.kladana.com/api/remap/1.2/entity"
    body = {
        "events": [
            {
                "meta": {"type": entity, "href": f"{api}/{entity}/{document_id}"},
                "action": "UPDATE",
                "accountId": "84e60e93-f7b2-11e5-7a69-971500188b19",
            }
            for document_id in DOCUMENT_IDS
        ]
    }
    query = {"requestId": [REQUEST_ID]}
    return native_webhook(json.dumps(body).encode(), query, RECEIVED_AT, TRANSACTION_TYPES)


def handler(
    sink: RecordingSink,
    request_ids: ScriptedRequestIds,
    *,
    wait_s: float = 0.0,
    sleeps: list[float] | None = None,
) -> WebhookHandler:
    """Its clock stands still but for the sleeps, which are recorded in ``sleeps``."""
    sleeps = [] if sleeps is None else sleeps
    return WebhookHandler(
        sink,
        request_ids,
        request_id_wait_s=wait_s,
        clock=lambda: sum(sleeps),
        sleep=sleeps.append,
    )


def test_a_new_delivery_is_claimed_accepted_in_order_then_confirmed() -> None:
    sink, request_ids = RecordingSink(), ScriptedRequestIds([Claim.CLAIMED])

    accepted = handler(sink, request_ids).accept_native(delivery())

    assert [envelope["subject"] for envelope in sink.envelopes()] == DOCUMENT_IDS
    assert accepted == NativeAccepted(
        REQUEST_ID,
        [envelope["id"] for envelope in sink.envelopes()],
        duplicate=False,
        ignored_events=0,
    )
    assert request_ids.calls == [("claim", REQUEST_ID), ("confirm", REQUEST_ID)]


def test_a_delivery_accepted_before_is_a_duplicate_with_the_same_event_ids() -> None:
    sink, request_ids = RecordingSink(), ScriptedRequestIds([Claim.DUPLICATE])
    first = handler(RecordingSink(), ScriptedRequestIds()).accept_native(delivery())

    again = handler(sink, request_ids).accept_native(delivery())

    assert again == NativeAccepted(REQUEST_ID, first.event_ids, duplicate=True, ignored_events=0)
    assert sink.accepted == []
    assert request_ids.calls == [("claim", REQUEST_ID)]


def test_a_delivery_of_other_entities_only_is_accepted_without_the_sink() -> None:
    # The sink could take nothing: a delivery with nothing to publish does not ask it.
    sink, request_ids = RecordingSink(failure=SinkUnavailable("spool full")), ScriptedRequestIds()

    accepted = handler(sink, request_ids).accept_native(delivery("counterparty"))

    assert accepted == NativeAccepted(REQUEST_ID, [], duplicate=False, ignored_events=2)
    assert request_ids.calls == [("claim", REQUEST_ID), ("confirm", REQUEST_ID)]


def test_a_repeat_waits_while_the_first_delivery_holds_the_claim() -> None:
    sink, sleeps = RecordingSink(), list[float]()
    request_ids = ScriptedRequestIds([Claim.IN_FLIGHT, Claim.IN_FLIGHT, Claim.DUPLICATE])

    accepted = handler(sink, request_ids, wait_s=1.0, sleeps=sleeps).accept_native(delivery())

    assert accepted.duplicate
    assert request_ids.calls == [("claim", REQUEST_ID)] * 3
    assert sleeps == [CLAIM_POLL_S] * 2
    assert sink.accepted == []


def test_a_repeat_takes_over_a_claim_the_first_delivery_released() -> None:
    sink = RecordingSink()
    request_ids = ScriptedRequestIds([Claim.IN_FLIGHT, Claim.CLAIMED])

    accepted = handler(sink, request_ids, wait_s=1.0).accept_native(delivery())

    assert not accepted.duplicate
    assert len(sink.accepted) == len(DOCUMENT_IDS)
    assert request_ids.calls == [
        ("claim", REQUEST_ID),
        ("claim", REQUEST_ID),
        ("confirm", REQUEST_ID),
    ]


@pytest.mark.parametrize("wait_s", [0.0, 0.1])
def test_a_repeat_still_in_flight_after_its_wait_is_refused_and_releases_nothing(
    wait_s: float, caplog: pytest.LogCaptureFixture
) -> None:
    sink, sleeps = RecordingSink(), list[float]()
    request_ids = ScriptedRequestIds([Claim.IN_FLIGHT])

    with caplog.at_level(logging.INFO, logger="ingest"), pytest.raises(DeliveryInProgress):
        handler(sink, request_ids, wait_s=wait_s, sleeps=sleeps).accept_native(delivery())

    # Not its claim: releasing it would let a third delivery in beside the first.
    assert request_ids.calls == [("claim", REQUEST_ID)] * (len(sleeps) + 1)
    assert sum(sleeps) >= wait_s
    assert sink.accepted == []
    assert [r.getMessage() for r in caplog.records] == ["webhook repeated while in progress"]


def test_when_the_sink_is_unavailable_the_claim_is_released_and_each_event_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = RecordingSink(failure=SinkUnavailable("spool full"))
    request_ids = ScriptedRequestIds()

    with caplog.at_level(logging.INFO, logger="ingest"), pytest.raises(SinkUnavailable):
        handler(sink, request_ids).accept_native(delivery())

    assert request_ids.calls == [("claim", REQUEST_ID), ("release", REQUEST_ID)]
    logged = [
        (r.getMessage(), r.__dict__["document_id"], r.__dict__["reason"]) for r in caplog.records
    ]
    assert logged == [
        ("webhook not accepted: sink unavailable", document_id, "spool full")
        for document_id in DOCUMENT_IDS
    ]


def test_after_a_bug_in_the_sink_the_claim_is_released_too() -> None:
    request_ids = ScriptedRequestIds()
    bug = RuntimeError("a bug")

    with pytest.raises(RuntimeError) as raised:
        handler(RecordingSink(failure=bug), request_ids).accept_native(delivery())

    assert raised.value is bug
    assert request_ids.calls == [("claim", REQUEST_ID), ("release", REQUEST_ID)]


def test_each_accepted_native_event_is_logged_with_its_request_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="ingest"):
        accepted = handler(RecordingSink(), ScriptedRequestIds()).accept_native(delivery())

    logged = [
        (
            r.getMessage(),
            r.__dict__["event_id"],
            r.__dict__["document_id"],
            r.__dict__["request_id"],
        )
        for r in caplog.records
    ]
    assert logged == [
        ("webhook accepted", event_id, document_id, REQUEST_ID)
        for event_id, document_id in zip(accepted.event_ids, DOCUMENT_IDS, strict=True)
    ]


def test_a_workflow_event_goes_to_the_sink_without_the_request_id_store(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink, request_ids = RecordingSink(), ScriptedRequestIds()
    event = raw_event(
        "GET", {"id": [DOCUMENT_IDS[0]], "type": ["Move"]}, RECEIVED_AT, TRANSACTION_TYPES
    )

    with caplog.at_level(logging.INFO, logger="ingest"):
        handler(sink, request_ids).accept_workflow(event)

    assert [envelope["id"] for envelope in sink.envelopes()] == [event.get_id()]
    assert request_ids.calls == []
    [logged] = caplog.records
    assert (logged.getMessage(), logged.__dict__["event_id"]) == (
        "webhook accepted",
        event.get_id(),
    )


def test_a_workflow_event_the_sink_did_not_take_raises_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink = RecordingSink(failure=SinkUnavailable("spool full"))
    event = raw_event(
        "GET", {"id": [DOCUMENT_IDS[0]], "type": ["Move"]}, RECEIVED_AT, TRANSACTION_TYPES
    )

    with caplog.at_level(logging.INFO, logger="ingest"), pytest.raises(SinkUnavailable):
        handler(sink, ScriptedRequestIds()).accept_workflow(event)

    [logged] = caplog.records
    assert logged.getMessage() == "webhook not accepted: sink unavailable"
    assert logged.__dict__["event_id"] == event.get_id()
