"""A local SMTP server for ``make run`` that prints each email instead of delivering it.

The notifier's email channel sends to it as to any server (``SMTP_URL=smtp://127.0.0.1:<port>``,
no TLS offered, no credentials), and the console shows who sent what to whom.
``python -m devstack.smtp_sink`` serves on ``SMTP_SINK_PORT`` (default 8025) until SIGTERM.
"""

import os
import sys
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import TextIO

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from shared.lifecycle import stop_on_signals

DEFAULT_PORT = 8025


class PrintingHandler:
    """aiosmtpd's DATA hook: the email on ``stream``, then accepted."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's name
        content = envelope.original_content or b""
        email = message_from_bytes(content, policy=policy.default)
        assert isinstance(email, EmailMessage)  # policy.default builds EmailMessage
        text = email.get_body(preferencelist=("plain", "html"))
        body = text.get_content() if text is not None else ""
        with self._lock:
            self._stream.write(
                f"Email from {envelope.mail_from} to {', '.join(envelope.rcpt_tos)}: "
                f"{email['Subject']}\n{body.rstrip()}\n"
            )
            self._stream.flush()
        return "250 Message accepted for delivery"


def smtp_sink(stream: TextIO, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> Controller:
    """The sink, not yet started: ``sink.start()`` ... ``sink.stop()``."""
    return Controller(PrintingHandler(stream), hostname=host, port=port)


def main() -> None:
    port = int(os.environ.get("SMTP_SINK_PORT") or DEFAULT_PORT)
    stop = stop_on_signals()
    sink = smtp_sink(sys.stdout, port=port)
    sink.start()
    print(f"smtp sink: listening on 127.0.0.1:{port}", file=sys.stderr, flush=True)
    try:
        stop.wait()
    finally:
        sink.stop()


if __name__ == "__main__":
    main()
