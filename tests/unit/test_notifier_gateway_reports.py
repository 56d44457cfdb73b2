"""MSG91's and Exotel's delivery reports through the notifier's WSGI app, guarded by the
secret token in their URL, into a real SQLite ledger."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pydantic import SecretStr
from werkzeug.test import Client

from notifier.errors import LedgerUnavailable
from notifier.exotel import exotel_reports
from notifier.http_app import token_report_app
from notifier.ledger import DeliveryUpdate, Ledger, LedgerEntry
from notifier.ledger_schema import DeliveryStatus, open_engine
from notifier.msg91 import msg91_reports
from shared.health import Readiness, health_app
from tests.helpers import record_sent

TOKEN = "report-token-0123456789abcdef"
REQUEST_ID = "3662706a4a52313938343739"
EXOTEL_SID = "b6cf3f1b2e6d4a1c9d0e7f1a2b3c4d5e"


@pytest.fixture(params=["msg91", "exotel"])
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextmanager
def _ledger_with(tmp_path: Path, message_id: str) -> Iterator[Ledger]:
    """A ledger with one message the provider accepted as ``message_id``."""
    engine = open_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        yield record_sent(Ledger(engine), message_id)
    finally:
        engine.dispose()


@pytest.fixture
def ledger(tmp_path: Path, provider: str) -> Iterator[Ledger]:
    with _ledger_with(tmp_path, REQUEST_ID if provider == "msg91" else EXOTEL_SID) as ledger:
        yield ledger


def _client(provider: str, ledger: Ledger) -> Client:
    if provider == "msg91":
        app = token_report_app("MSG91", msg91_reports, ledger, SecretStr(TOKEN))
    else:
        app = token_report_app("Exotel", exotel_reports, ledger, SecretStr(TOKEN))
    return Client(health_app(Readiness(), mounts={f"/{provider}": app}))


@pytest.fixture
def client(provider: str, ledger: Ledger) -> Client:
    return _client(provider, ledger)


def _msg91(desc: str, status: str = "", reason: str = "") -> dict[str, str]:
    """MSG91's webhook version 3 body (its help page's sample, trimmed)."""
    return {
        "date": "2026-12-04 10:06:20",
        "number": "919876543210",
        "senderId": "KLDANA",
        "requestId": REQUEST_ID,
        "status": status,
        "desc": desc,
        "failedReason": reason,
        "credit": "1",
    }


def _exotel(status: str, code: str = "", detailed: str = "") -> dict[str, str]:
    return {
        "SmsSid": EXOTEL_SID,
        "To": "+919876543210",
        "Status": status,
        "DetailedStatusCode": code,
        "DetailedStatus": detailed,
        "DateSent": "2026-12-04 10:06:20",
    }


def _post(client: Client, provider: str, status: str, *, token: str = TOKEN) -> object:
    path = f"/{provider}/report/{token}" if token else f"/{provider}/report"
    if provider == "msg91":
        return client.post(path, json=_msg91(status.upper())).json
    return client.post(path, data=_exotel(status)).json


def _entry(ledger: Ledger) -> LedgerEntry:
    (entry,) = ledger.entries()
    return entry


def test_a_report_with_the_token_marks_the_message_delivered(
    client: Client, ledger: Ledger, provider: str
) -> None:
    assert _post(client, provider, "delivered") == {"outcomes": ["recorded"]}
    assert _entry(ledger).delivery_status is DeliveryStatus.DELIVERED


@pytest.mark.parametrize("token", ["", "report-token-0123456789abcdeX", "x"])
def test_a_report_without_the_token_is_refused_and_changes_nothing(
    client: Client, ledger: Ledger, provider: str, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = f"/{provider}/report/{token}" if token else f"/{provider}/report"
    with caplog.at_level(logging.WARNING, logger="notifier.http_app"):
        if provider == "msg91":
            response = client.post(path, json=_msg91("DELIVERED"))
        else:
            response = client.post(path, data=_exotel("delivered"))
    assert response.status_code == 403
    assert response.json == {
        "error": "invalid_token",
        "message": "the report URL's token is missing or invalid",
    }
    assert _entry(ledger).delivery_status is None
    assert TOKEN not in caplog.text


def test_repeated_and_late_reports_never_downgrade_a_final_status(
    client: Client, ledger: Ledger, provider: str
) -> None:
    outcomes = [
        _post(client, provider, status) for status in ("sent", "delivered", "delivered", "sent")
    ]
    assert outcomes == [
        {"outcomes": ["recorded"]},
        {"outcomes": ["recorded"]},
        {"outcomes": ["stale"]},
        {"outcomes": ["stale"]},
    ]
    assert _entry(ledger).delivery_status is DeliveryStatus.DELIVERED


@pytest.mark.parametrize(
    ("detailed", "expected"),
    [
        ("DELIVERED_TO_HANDSET", DeliveryStatus.DELIVERED),
        ("DELIVERED_TO_OPERATOR", DeliveryStatus.SENT),
        ("", DeliveryStatus.SENT),
    ],
)
def test_exotel_sent_counts_as_delivered_once_the_handset_confirmed(
    tmp_path: Path, detailed: str, expected: DeliveryStatus
) -> None:
    form = _exotel("sent", "20005" if detailed else "", detailed)
    with _ledger_with(tmp_path, EXOTEL_SID) as ledger:
        response = _client("exotel", ledger).post(f"/exotel/report/{TOKEN}", data=form)
        assert response.json == {"outcomes": ["recorded"]}
        assert _entry(ledger).delivery_status is expected


def test_a_failed_report_keeps_the_providers_reason(
    client: Client, ledger: Ledger, provider: str
) -> None:
    if provider == "msg91":
        body = [_msg91("FAILED", "2", "Absent subscriber")]
        response = client.post(f"/msg91/report/{TOKEN}", json=body)
    else:
        form = _exotel("failed", "23082", "FAILED_DLT_TEMPLATE")
        response = client.post(f"/exotel/report/{TOKEN}", data=form)
    assert response.json == {"outcomes": ["recorded"]}
    expected = {
        "msg91": "MSG91 reported FAILED (Absent subscriber)",
        "exotel": "Exotel reported failed (23082 FAILED_DLT_TEMPLATE)",
    }
    entry = _entry(ledger)
    assert (entry.delivery_status, entry.last_error) == (
        DeliveryStatus.UNDELIVERED,
        expected[provider],
    )


@pytest.mark.parametrize(
    ("code", "expected"),
    [("1", DeliveryStatus.DELIVERED), ("17", DeliveryStatus.UNDELIVERED), ("99", None)],
)
def test_msg91_falls_back_on_its_numeric_status_for_an_unknown_desc(
    tmp_path: Path, code: str, expected: DeliveryStatus | None
) -> None:
    body = _msg91("Some new word", code)
    with _ledger_with(tmp_path, REQUEST_ID) as ledger:
        response = _client("msg91", ledger).post(f"/msg91/report/{TOKEN}", json=body)
        assert response.json == {"outcomes": ["recorded" if expected else "ignored"]}
        assert _entry(ledger).delivery_status is expected


def test_an_unknown_status_is_ignored(client: Client, ledger: Ledger, provider: str) -> None:
    assert _post(client, provider, "read") == {"outcomes": ["ignored"]}
    assert _entry(ledger).delivery_status is None


def test_a_body_that_is_no_report_is_a_400(client: Client, provider: str) -> None:
    response = client.post(f"/{provider}/report/{TOKEN}", json={"hello": "world"})
    assert response.status_code == 400
    assert response.json is not None
    assert response.json["error"] == "invalid_report"


def test_a_ledger_that_does_not_answer_gives_503(provider: str) -> None:
    class DownLedger:
        def record_delivery(self, *_args: object, **_kwargs: object) -> DeliveryUpdate:
            raise LedgerUnavailable("ledger database: OperationalError")

    client = _client(provider, DownLedger())  # type: ignore[arg-type]
    if provider == "msg91":
        response = client.post(f"/msg91/report/{TOKEN}", json=_msg91("DELIVERED"))
    else:
        response = client.post(f"/exotel/report/{TOKEN}", data=_exotel("delivered"))
    assert response.status_code == 503
    assert response.json is not None
    assert response.json["error"] == "ledger_unavailable"
