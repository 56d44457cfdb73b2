"""``python -m notifier`` killed with SIGKILL between claim and answer: after a restart
the SMS is not sent again, and the row left ``sending`` is reported as stuck."""

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devstack.http_server import BackgroundServer
from notifier.ledger import Ledger
from notifier.ledger_schema import Status, open_engine
from notifier.settings import NotifierSettings
from shared.contracts import validate_event
from shared.events import to_record
from shared.settings import environment_variables
from tests.conftest import PipelineTopics
from tests.helpers import ROOT, FakeProvider, enriched_event, publish_records, wait_until

pytestmark = pytest.mark.broker


@pytest.fixture
def provider() -> Iterator[tuple[FakeProvider, str]]:
    fake = FakeProvider()
    with BackgroundServer(fake.app()) as server:
        yield fake, server.url + "/sms"


def _environment(
    topics: PipelineTopics, bootstrap: str, sms_url: str, database_url: str, **variables: str
) -> dict[str, str]:
    """A notifier process's environment: the HTTP provider at ``sms_url``, the test's
    topics and group, and ``variables``."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if name not in environment_variables(NotifierSettings)
    }
    return {
        **inherited,
        **topics.environment(bootstrap),
        "NOTIFIER_GROUP_ID": _group(topics),
        "SMS_PROVIDER": "http",
        "SMS_HTTP_URL": sms_url,
        "NOTIFIER_DATABASE_URL": database_url,
        **variables,
    }


def _group(topics: PipelineTopics) -> str:
    return f"{topics.group_prefix}-notifier"


def _start(environment: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "notifier"],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _stuck_rows(environment: dict[str, str]) -> list[dict[str, object]]:
    listed = subprocess.run(
        [sys.executable, "-m", "notifier", "ledger", "--stuck", "--json"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    rows = json.loads(listed.stdout)
    assert isinstance(rows, list)
    return rows


def test_a_notifier_killed_mid_send_does_not_send_twice_and_reports_the_stuck_row(
    kafka_bootstrap: str,
    topics: PipelineTopics,
    database_url: str,
    provider: tuple[FakeProvider, str],
    committed_total: Callable[[str], int],
    tmp_path: Path,
) -> None:
    fake, url = provider
    group = _group(topics)
    environment = _environment(
        topics,
        kafka_bootstrap,
        url,
        database_url,
        SMS_TIMEOUT_S="60",
        NOTIFIER_STUCK_AFTER_S="0",
    )
    event = enriched_event()
    validate_event(event)
    publish_records(kafka_bootstrap, topics.enriched, [to_record(event)])
    fake.delay_s = 30  # the provider holds the request: the claim is made, no answer yet

    first = _start(environment, tmp_path / "first.log")
    try:
        assert wait_until(lambda: len(fake.requests) == 1), (tmp_path / "first.log").read_text()
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    fake.delay_s = 0
    engine = open_engine(database_url)
    try:
        ledger = Ledger(engine)
        (claimed,) = ledger.entries()
        assert claimed.status is Status.SENDING

        second = _start(environment, tmp_path / "second.log")
        try:
            # The uncommitted event comes back to the restarted notifier, which commits
            # it without sending: the ledger already holds its key.
            assert wait_until(lambda: committed_total(group) == 1, timeout_s=90), (
                tmp_path / "second.log"
            ).read_text()
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=30) == 0
        finally:
            if second.poll() is None:
                second.kill()
                second.wait()
        log = (tmp_path / "second.log").read_text()
        assert len(fake.requests) == 1
        (entry,) = ledger.entries()
        assert entry.status is Status.SENDING  # left for an operator, never re-sent by itself
        assert "stuck notification" in log
        assert claimed.notification.key in log
        assert "duplicate suppressed" in log
        assert "98765" not in log
    finally:
        engine.dispose()

    (stuck,) = _stuck_rows(environment)
    assert stuck["key"] == claimed.notification.key
    assert stuck["phone"] == "*********3210"


def test_two_notifiers_with_documents_in_flight_and_a_sigkill_send_each_sms_at_most_once(
    kafka_bootstrap: str,
    topics: PipelineTopics,
    database_url: str,
    provider: tuple[FakeProvider, str],
    committed_total: Callable[[str], int],
    tmp_path: Path,
) -> None:
    """The at-most-once claim under per-document concurrency: two instances, four documents
    in flight each, every event delivered twice, one instance SIGKILLed mid-stream and
    started again. No key reaches the provider twice; every document ends with one ledger
    row, sent, or left ``sending`` (stuck, reported) by the killed instance."""
    fake, url = provider
    group = _group(topics)
    environment = _environment(
        topics, kafka_bootstrap, url, database_url, NOTIFIER_DOCUMENTS_IN_FLIGHT="4"
    )
    documents = [f"doc-{number}" for number in range(40)]
    records = [
        to_record(event)
        for document_id in documents
        for event in [enriched_event(id=document_id, number=document_id)] * 2
    ]
    publish_records(kafka_bootstrap, topics.enriched, records)
    fake.delay_s = 0.3  # long enough for several sends to be in flight at the kill

    survivor = _start(environment, tmp_path / "survivor.log")
    victim = _start(environment, tmp_path / "victim.log")
    restarted: subprocess.Popen[bytes] | None = None
    try:
        assert wait_until(lambda: len(fake.requests) >= 6), (tmp_path / "victim.log").read_text()
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        assert len(fake.requests) < len(documents), "killed too late to prove anything"
        restarted = _start(environment, tmp_path / "restarted.log")
        assert wait_until(lambda: committed_total(group) == len(records), timeout_s=180), (
            tmp_path / "restarted.log"
        ).read_text()
    finally:
        for process in (survivor, victim, restarted):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)

    requested = [request["json"]["idempotency_key"] for request in fake.requests]
    assert len(requested) == len(set(requested)), "a notification reached the provider twice"
    engine = open_engine(database_url)
    try:
        entries = Ledger(engine).entries()
    finally:
        engine.dispose()
    assert sorted(entry.notification.document_id for entry in entries) == sorted(documents)
    sent = {entry.notification.key for entry in entries if entry.status is Status.SENT}
    stuck = {entry.notification.key for entry in entries if entry.status is Status.SENDING}
    assert sent | stuck == {entry.notification.key for entry in entries}
    assert sent <= set(requested)
    # Only the killed instance's sends in flight can be left unanswered.
    assert len(stuck) <= 4
