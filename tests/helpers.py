"""Helpers the test modules share: waiting, publishing, running a loop, fakes, samples."""

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudevents.core.v1.event import CloudEvent
from flask import Flask, Response, request

from devstack.broker import EmbeddedBroker
from notifier.ledger import Ledger, Notification
from notifier.sms import idempotency_key
from shared.consumer_service import Runnable, RuntimeConfig
from shared.events import ENRICHED_DOCUMENT, Record, new_event
from shared.kafka import Publisher, create_producer
from shared.kladana_types import TRANSACTION_TYPES
from shared.retry_topic import RetryPolicy

ROOT = Path(__file__).resolve().parents[1]
SEED_DOCUMENT_ID = "34efe2ee-015e-11e6-9464-e4de0000006b"
SEED_SMS = (
    "Sales Order 5643 dated 10.06.2024 for an amount of 50,000 rupees "
    "has been handed over to the delivery service."
)


def native_webhook_body(document_id: str, entity: str = "move") -> dict[str, Any]:
    """A native webhook's JSON body with one UPDATE event of ``entity`` ``document_id``."""
    return {
        "events": [
            {
                "meta": {
                    "type": entity,
                    "href": f"https://api.kladana.com/api/remap/1.2/entity/{entity}/{document_id}",
                },
                "action": "UPDATE",
                "accountId": "84e60e93-f7b2-11e5-7a69-971500188b19",
            }
        ]
    }


def expand_of(type_name: str) -> str:
    """The ``expand`` the enricher asks Kladana for on documents of ``type_name``."""
    transaction_type = TRANSACTION_TYPES.by_name(type_name)
    assert transaction_type is not None, type_name
    return ",".join(transaction_type.expand)


def wait_until(condition: Callable[[], bool], *, timeout_s: float = 60) -> bool:
    """Poll ``condition`` until it holds; False if it still does not after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def stop_at_once(broker: EmbeddedBroker) -> None:
    """Stop an embedded broker with SIGKILL, and reap it.

    On SIGTERM Tansu waits 5 s for its clients to hang up: a test that takes the broker
    away under a running client, or a session ending with one connected, would sit out
    those 5 s. It keeps everything in memory, so SIGTERM saves nothing that SIGKILL
    loses, and to its clients the broker is gone either way.
    """
    broker.signal(signal.SIGKILL)
    broker.stop()  # reaps it (a SIGTERM to a process already dying is harmless)


def publish_records(bootstrap: str, topic: str, records: list[Record]) -> None:
    publisher = Publisher(create_producer(bootstrap), ack_timeout_s=10)
    try:
        publisher.publish_all(topic, records)
    finally:
        publisher.close()


@contextmanager
def running_loop(loop: Runnable, stop: threading.Event) -> Iterator[None]:
    """``loop.run()`` in a thread; on exit, ``stop`` is set and the thread joined."""
    thread = threading.Thread(target=loop.run, name="consumer-loop")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive(), "the loop did not stop"


def quick_runtime_config(
    bootstrap: str,
    *,
    group_id: str,
    topic: str,
    dead_letter_topic: str,
    retry_topic: str | None = None,
    keys_in_flight: int = 4,
) -> RuntimeConfig:
    """A consumer runtime's configuration for tests: retries and backoffs in milliseconds,
    two rounds before a dead letter when ``retry_topic`` is given."""
    return RuntimeConfig(
        bootstrap_servers=bootstrap,
        group_id=group_id,
        topics=(topic,),
        dead_letter_topic=dead_letter_topic,
        policy=RetryPolicy(
            quick_retries=1,
            max_attempts=2,
            quick_base_s=0.01,
            quick_cap_s=0.05,
            park_base_s=0.05,
            park_cap_s=0.2,
            retry_topic=retry_topic,
        ),
        keys_in_flight=keys_in_flight,
    )


def seed_document(**changes: Any) -> dict[str, Any]:
    """The enriched ``document`` of the seed Sales Order 5643, with ``changes``."""
    document: dict[str, Any] = {
        "id": SEED_DOCUMENT_ID,
        "type": "CustomerOrder",
        "entity": "customerorder",
        "href": None,
        "number": "5643",
        "moment": "2024-06-10T12:57:00+03:00",
        "sum": {"minor": 5000000, "amount": "50000.00", "currency": "INR"},
        "state": "Shipped",
        "agent": {"id": "a1", "name": "Ravi Kumar", "phone": "+91 98765 43210", "email": None},
        "organization": {"name": "Acme Traders"},
    }
    document.update(changes)
    return document


def enriched_event(**changes: Any) -> CloudEvent:
    """An enriched event about the seed Sales Order, with ``changes`` to its document."""
    document = seed_document(**changes)
    return new_event(
        ENRICHED_DOCUMENT,
        source="/test",
        document_id=document["id"],
        data={"raw_event_id": "raw-1", "document": document, "kladana": {"id": document["id"]}},
    )


@dataclass
class FakeProvider:
    """An SMS provider on a real local port that records requests and answers from a script."""

    answers: list[tuple[int, dict[str, str], Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    delay_s: float = 0.0

    def app(self) -> Flask:
        app = Flask("fake-sms-provider")

        @app.post("/<path:path>")
        def receive(path: str) -> Response:
            self.requests.append(
                {
                    "path": "/" + path,
                    "json": request.get_json(silent=True),
                    "form": request.form.to_dict(),
                    "authorization": request.headers.get("Authorization"),
                }
            )
            time.sleep(self.delay_s)
            status, headers, body = self.answers.pop(0) if self.answers else (200, {}, {})
            return Response(
                body if isinstance(body, str) else app.json.dumps(body),
                status=status,
                headers=headers,
                content_type="application/json",
            )

        return app


def refused_start_up(module: str, environment: dict[str, str]) -> str:
    """Run ``python -m module`` expecting it to refuse to start; its stderr.

    The environment is only ``environment`` (plus PATH), so nothing leaks in from the
    developer's shell.
    """
    finished = subprocess.run(
        [sys.executable, "-m", module],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode != 0, finished.stderr
    assert "Traceback" not in finished.stderr
    return finished.stderr


SHIPPED_NOTIFICATION = Notification(
    key=idempotency_key("doc-1", "shipped", "Shipped"),
    document_id="doc-1",
    rule="shipped",
    state="Shipped",
    phone="+919876543210",
    text="Order is on its way.",
)
"""A notification whose provider reports the delivery-report tests post."""


def record_sent(ledger: Ledger, provider_message_id: str) -> Ledger:
    """``ledger`` with :data:`SHIPPED_NOTIFICATION` sent, the provider's id recorded."""
    ledger.claim(SHIPPED_NOTIFICATION)
    ledger.mark_sent(SHIPPED_NOTIFICATION.key, provider_message_id=provider_message_id, attempts=1)
    return ledger
