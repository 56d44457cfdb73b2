"""make run's SMTP sink: the notifier's email sender delivers to it, and it prints."""

import io

from devstack.broker import free_port
from devstack.smtp_sink import smtp_sink
from notifier.email_channel import Email, EmailSender, parse_smtp_url


def test_the_sink_prints_each_email_it_receives() -> None:
    printed = io.StringIO()
    port = free_port()
    sink = smtp_sink(printed, port=port)
    sink.start()
    try:
        sender = EmailSender(
            parse_smtp_url(f"smtp://127.0.0.1:{port}"), "orders@acme.example", timeout_s=5
        )
        sender.send(
            Email(
                to="ravi@example.in",
                subject="Sales Order 5643 is on its way",
                text="Handed over to the delivery service.",
                html="<p>Handed over to the delivery service.</p>",
            )
        )
    finally:
        sink.stop()
    assert printed.getvalue() == (
        "Email from orders@acme.example to ravi@example.in: Sales Order 5643 is on its way\n"
        "Handed over to the delivery service.\n"
    )
