"""``python -m notifier ledger`` and ``resolve`` on a SQLite ledger: filters, masking, verdicts."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from notifier.__main__ import main
from notifier.channels import Channel, WhatsAppTemplate
from notifier.ledger import Ledger, Notification
from notifier.ledger_schema import DeliveryStatus, Status, open_engine
from notifier.settings import NotifierSettings
from notifier.sms import idempotency_key
from shared.settings import environment_variables

START = datetime(2026, 6, 10, 9, 30, tzinfo=UTC)


def _notification(document_id: str, phone: str = "+919876543210") -> Notification:
    return Notification(
        key=idempotency_key(document_id, "shipped", "Shipped"),
        document_id=document_id,
        rule="shipped",
        state="Shipped",
        phone=phone,
        text=f"Order {document_id} is on its way.",
    )


class Clock:
    now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    """A ledger with one sent (and delivered), one failed and one stuck row, an hour apart;
    the commands are pointed at it and consider a row stuck after five minutes."""
    for name in environment_variables(NotifierSettings):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", url)
    monkeypatch.setenv("NOTIFIER_STUCK_AFTER_S", "300")
    engine = open_engine(url)
    clock = Clock()
    ledger = Ledger(engine, clock)
    ledger.claim(_notification("doc-sent"))
    ledger.mark_sent(_notification("doc-sent").key, provider_message_id="SM42", attempts=1)
    ledger.record_delivery("SM42", DeliveryStatus.DELIVERED)
    clock.now += timedelta(hours=1)
    ledger.claim(_notification("doc-failed", phone="+919800000001"))
    ledger.mark_failed(_notification("doc-failed").key, error="HTTP 400", attempts=1)
    clock.now += timedelta(hours=1)
    ledger.claim(_notification("doc-stuck"))  # an hour before now, still sending
    yield Ledger(engine)
    engine.dispose()


def _json(capsys: pytest.CaptureFixture[str], *arguments: str) -> list[dict[str, object]]:
    assert main(["ledger", "--json", *arguments]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert isinstance(rows, list)
    return rows


def _documents(capsys: pytest.CaptureFixture[str], *arguments: str) -> list[object]:
    return [row["document_id"] for row in _json(capsys, *arguments)]


@pytest.mark.usefixtures("ledger")
def test_the_json_listing_shows_every_field_with_the_phone_masked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sent = _json(capsys, "--document", "doc-sent")[0]
    assert sent == {
        "key": _notification("doc-sent").key,
        "document_id": "doc-sent",
        "rule": "shipped",
        "state": "Shipped",
        "channel": "sms",
        "channels": ["sms"],
        "phone": "*********3210",
        "email": None,
        "sender": None,
        "text": "Order doc-sent is on its way.",
        "email_subject": None,
        "whatsapp": None,
        "status": "sent",
        "delivery_status": "delivered",
        "provider_message_id": "SM42",
        "attempts": 1,
        "last_error": None,
        "fallback_from": None,
        "fallback_reason": None,
        "replaced_message_id": None,
        "due_at": None,
        "created_at": "2026-06-10T09:30:00+00:00",
        "updated_at": "2026-06-10T09:30:00+00:00",
    }


@pytest.mark.usefixtures("ledger")
def test_the_listing_filters_by_document_phone_status_time_and_stuck(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _documents(capsys) == ["doc-sent", "doc-failed", "doc-stuck"]
    assert _documents(capsys, "--phone", "+919800000001") == ["doc-failed"]
    assert _documents(capsys, "--status", "failed") == ["doc-failed"]
    assert _documents(capsys, "--since", "2026-06-10T10:00") == ["doc-failed", "doc-stuck"]
    assert _documents(capsys, "--until", "2026-06-10T15:30+05:30") == ["doc-sent"]
    assert _documents(capsys, "--stuck") == ["doc-stuck"]
    assert _documents(capsys, "--stuck", "--document", "doc-sent") == []


@pytest.mark.usefixtures("ledger")
def test_the_table_lists_one_row_per_notification_without_full_phones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["ledger"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == [
        "created", "key", "status", "channel", "document", "rule", "state", "to", "tries",
        "delivery", "detail",
    ]  # fmt: skip
    assert [row.split()[3:6] for row in rows] == [
        ["sent", "sms", "doc-sent"],
        ["failed", "sms", "doc-failed"],
        ["sending", "sms", "doc-stuck"],
    ]
    assert rows[0].split()[-2:] == ["delivered", "SM42"]
    assert rows[2].split()[-1] == "-"  # no report from the provider
    assert "98765" not in "\n".join(rows)
    assert "98000" not in "\n".join(rows)


def test_an_empty_selection_says_so(ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ledger", "--document", "nothing"]) == 0
    assert capsys.readouterr().out == "no notifications\n"


def test_a_bad_time_is_refused_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["ledger", "--since", "yesterday"])
    assert "not an ISO 8601 date or time: 'yesterday'" in capsys.readouterr().err


@pytest.mark.parametrize(("verdict", "status"), [("sent", Status.SENT), ("resend", Status.HELD)])
def test_resolve_settles_a_stuck_row_by_a_key_prefix(
    ledger: Ledger, capsys: pytest.CaptureFixture[str], verdict: str, status: Status
) -> None:
    key = _notification("doc-stuck").key
    assert main(["resolve", key[:10], "--as", verdict]) == 0
    assert capsys.readouterr().out == f"{key}: {verdict}\n"
    entry = ledger.entry(key)
    assert entry is not None
    assert entry.status is status


def test_resolve_refuses_a_sent_row_and_an_unknown_key(ledger: Ledger) -> None:
    with pytest.raises(SystemExit, match="is sent; --as failed applies to a stuck"):
        main(["resolve", _notification("doc-sent").key, "--as", "failed"])
    with pytest.raises(SystemExit, match="no notification has a key starting with 'zzz'"):
        main(["resolve", "zzz", "--as", "sent"])
    entry = ledger.entry(_notification("doc-sent").key)
    assert entry is not None
    assert entry.status is Status.SENT


def _whatsapp_fallen_back_and_email(ledger: Ledger) -> None:
    """A WhatsApp message Meta reported failed, now held for SMS, and an email to a
    customer without a phone."""
    whatsapp = Notification(
        **{
            **_notification("doc-wa").__dict__,
            "channels": (Channel.WHATSAPP, Channel.SMS),
            "channel": Channel.WHATSAPP,
            "whatsapp": WhatsAppTemplate("order_shipped", "en", ("5643", "10.06.2024")),
        }
    )
    ledger.claim(whatsapp)
    ledger.mark_sent(whatsapp.key, provider_message_id="wamid.HBgL1", attempts=1)
    ledger.fall_back(
        whatsapp.key,
        from_channel=Channel.WHATSAPP,
        provider_message_id="wamid.HBgL1",
        reason="WhatsApp reported failed (Meta error 131026)",
        due_at=datetime(2026, 6, 11, 3, 30, tzinfo=UTC),
    )
    email = Notification(
        **{
            **_notification("doc-mail").__dict__,
            "phone": None,
            "channels": (Channel.EMAIL,),
            "channel": Channel.EMAIL,
            "email": "ravi.kumar@example.in",
            "email_subject": "Order doc-mail",
        }
    )
    ledger.claim(email)
    ledger.mark_sent(email.key, provider_message_id="<1@acme.example>", attempts=1)


def test_the_table_shows_the_channel_the_fallback_and_an_email_recipient_masked(
    ledger: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    _whatsapp_fallen_back_and_email(ledger)
    assert main(["ledger", "--document", "doc-wa"]) == 0
    _header, fallen = capsys.readouterr().out.splitlines()
    assert fallen.split()[3:6] == ["held", "sms", "doc-wa"]
    assert fallen.split()[8] == "*********3210"
    assert fallen.endswith(
        "whatsapp → sms: WhatsApp reported failed (Meta error 131026); due 2026-06-11 03:30Z"
    )
    assert main(["ledger", "--document", "doc-mail"]) == 0
    _header, emailed = capsys.readouterr().out.splitlines()
    assert emailed.split()[3:9] == [
        "sent",
        "email",
        "doc-mail",
        "shipped",
        "Shipped",
        "r***@example.in",
    ]
    assert "ravi" not in emailed


def test_the_json_shows_the_fallback_and_the_phone_filter_leaves_out_an_email_row(
    ledger: Ledger, capsys: pytest.CaptureFixture[str]
) -> None:
    _whatsapp_fallen_back_and_email(ledger)
    (fallen,) = _json(capsys, "--document", "doc-wa")
    assert {
        name: fallen[name]
        for name in (
            "channel", "channels", "whatsapp", "status", "provider_message_id", "attempts",
            "fallback_from", "fallback_reason", "replaced_message_id", "due_at",
        )
    } == {
        "channel": "sms",
        "channels": ["whatsapp", "sms"],
        "whatsapp": {
            "template": "order_shipped",
            "language": "en",
            "parameters": ["5643", "10.06.2024"],
        },
        "status": "held",
        "provider_message_id": None,
        "attempts": 0,
        "fallback_from": "whatsapp",
        "fallback_reason": "WhatsApp reported failed (Meta error 131026)",
        "replaced_message_id": "wamid.HBgL1",
        "due_at": "2026-06-11T03:30:00+00:00",
    }  # fmt: skip
    (emailed,) = _json(capsys, "--document", "doc-mail")
    assert (emailed["phone"], emailed["email"], emailed["email_subject"]) == (
        None,
        "r***@example.in",
        "Order doc-mail",
    )
    assert _documents(capsys, "--phone", "+919876543210") == ["doc-sent", "doc-stuck", "doc-wa"]
