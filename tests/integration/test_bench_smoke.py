"""The load benchmark's building blocks, briefly and gently: correctness, never speed."""

from pathlib import Path

import pytest

from bench.load import Load
from bench.noop_app import create_noop_app
from bench.stack import TopicCounter, measure, served
from devstack.broker import free_port
from tests.conftest import PipelineTopics

TOKEN = "smoke-token"


@pytest.mark.broker
def test_every_webhook_ingest_accepts_under_load_is_on_the_raw_topic(
    kafka_bootstrap: str, topics: PipelineTopics, tmp_path: Path
) -> None:
    port = free_port()
    environment = {
        **topics.environment(kafka_bootstrap),
        "INGEST_TOKEN": TOKEN,
        "INGEST_SPOOL_DIR": str(tmp_path / "spool"),
        "INGEST_WORKERS": "1",
        "INGEST_THREADS": "2",
    }
    with (
        served("ingest", environment, port=port, log_dir=tmp_path),
        TopicCounter(kafka_bootstrap, topics.raw) as counter,
    ):
        load = Load(connections=2, duration_s=2, rate=40, token=TOKEN)
        measurement = measure("ingest", load, port=port, generator="python", counter=counter)

    result = measurement.result
    assert result.accepted > 0
    assert result.errors == 0, (tmp_path / "ingest.log").read_text()
    assert result.requests == result.accepted
    assert measurement.published == result.accepted
    assert measurement.duplicates == 0
    assert measurement.consistent


def test_the_baseline_answers_a_webhook_like_ingest_without_kafka() -> None:
    response = create_noop_app().test_client().get("/webhook?id=doc-1&type=CustomerOrder")

    assert response.status_code == 202
    assert response.get_json()["event_id"]
