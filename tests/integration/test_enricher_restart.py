"""Stopping or killing the enricher mid-batch loses nothing: after a restart every raw
event has its enriched event (duplicates allowed)."""

import json
import signal
import threading
import uuid
from pathlib import Path

import pytest

from devstack.http_server import BackgroundServer
from devstack.processes import ServiceProcess
from enricher.wiring import open_enricher_runtime
from sandbox.app import create_app as create_sandbox
from sandbox.faults import Faults
from shared.events import ENRICHED_DOCUMENT
from shared.health import Readiness
from tests.conftest import KafkaRecordView, PipelineTopics, ReadTopic
from tests.enricher_fakes import RecordingSource, raw_event
from tests.helpers import running_loop, wait_until
from tests.integration.test_enricher_batch import publish, settings_for

pytestmark = pytest.mark.broker

TOKEN = "restart-token"


def enriched_raw_ids(records: list[KafkaRecordView]) -> set[str]:
    envelopes = [json.loads(record.value) for record in records]
    return {e["data"]["raw_event_id"] for e in envelopes if e["type"] == ENRICHED_DOCUMENT.type}


def test_a_loop_stopped_mid_batch_then_restarted_enriches_every_event(
    kafka_bootstrap: str, topics: PipelineTopics, read_topic: ReadTopic
) -> None:
    raws = [raw_event(f"doc-{n}") for n in range(30)]
    publish(kafka_bootstrap, topics.raw, raws)
    settings = settings_for(kafka_bootstrap, topics, kladana_max_parallel=2)

    stop = threading.Event()
    first = RecordingSource(delay_s=0.1)
    with (
        open_enricher_runtime(settings, first, stop, Readiness()) as loop,
        running_loop(loop, stop),
    ):
        assert wait_until(lambda: len(first.calls) >= 4)
    assert len(first.calls) < len(raws), "stopped too late to prove anything"

    stop = threading.Event()
    with (
        open_enricher_runtime(settings, RecordingSource(), stop, Readiness()) as loop,
        running_loop(loop, stop),
    ):
        assert wait_until(
            lambda: enriched_raw_ids(read_topic(topics.enriched)) >= {r.get_id() for r in raws}
        )
    assert read_topic(topics.dead_letter) == []


def test_a_process_killed_mid_batch_then_restarted_enriches_every_event(
    kafka_bootstrap: str, topics: PipelineTopics, read_topic: ReadTopic, tmp_path: Path
) -> None:
    raws = [raw_event(str(uuid.uuid4())) for _ in range(40)]
    publish(kafka_bootstrap, topics.raw, raws)
    sandbox = create_sandbox(token=TOKEN, faults=Faults(latency_ms=200, synthesize=True))
    with BackgroundServer(sandbox) as server:
        environment = {
            **topics.environment(kafka_bootstrap),
            "KLADANA_API_URL": f"{server.url}/api/remap/1.2",
            "KLADANA_TOKEN": TOKEN,
            "ENRICHER_GROUP_ID": f"{topics.group_prefix}-enricher",
        }
        first = ServiceProcess("enricher", environment, log_dir=tmp_path / "first").start()
        try:
            assert wait_until(lambda: len(read_topic(topics.enriched)) >= 3)
        finally:
            first.signal(signal.SIGKILL)
            first.stop()
        assert len(read_topic(topics.enriched)) < len(raws), "killed too late to prove anything"

        second = ServiceProcess("enricher", environment, log_dir=tmp_path / "second").start()
        try:
            assert wait_until(
                lambda: enriched_raw_ids(read_topic(topics.enriched)) >= {r.get_id() for r in raws},
                timeout_s=120,
            ), second.log_path.read_text()[-3000:]
        finally:
            assert second.stop() == 0, second.log_path.read_text()[-3000:]
