"""The console sender; the HTTP senders against a served fake provider:
tests/integration/test_notifier_sms.py."""

import io

from notifier.sms import ConsoleSender, Sms

SMS = Sms(to="+919876543210", text="Sales Order 5643 is on its way.", idempotency_key="k" * 64)


def test_console_sender_prints_one_line_with_recipient_and_text() -> None:
    out = io.StringIO()
    assert ConsoleSender(out).send(SMS) is None
    assert out.getvalue() == "SMS to +919876543210: Sales Order 5643 is on its way.\n"


def test_console_sender_keeps_a_multi_line_text_on_one_line() -> None:
    out = io.StringIO()
    ConsoleSender(out).send(Sms(to="+919876543210", text="a\nb", idempotency_key="k"))
    assert out.getvalue() == "SMS to +919876543210: a\\nb\n"


def test_console_sender_shows_the_dlt_template_after_the_text() -> None:
    out = io.StringIO()
    registered = Sms(
        to="+919876543210", text="Order shipped.", idempotency_key="k", dlt_template_id="1107"
    )
    ConsoleSender(out).send(registered)
    assert out.getvalue() == "SMS to +919876543210: Order shipped. [DLT template 1107]\n"
