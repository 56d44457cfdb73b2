"""``python -m enricher`` as a real process: enrich against the sandbox, stop on SIGTERM."""

import json
from pathlib import Path

import pytest

from devstack.http_server import BackgroundServer
from devstack.processes import ServiceProcess
from sandbox.app import create_app as create_sandbox
from sandbox.documents import SEED_ORDER_ID
from tests.conftest import PipelineTopics, ReadTopic
from tests.helpers import refused_start_up
from tests.integration.test_enricher_loop import TOKEN, publish_raw, raw_event


@pytest.mark.broker
def test_the_service_enriches_an_event_and_exits_0_on_sigterm(
    kafka_bootstrap: str, topics: PipelineTopics, read_topic: ReadTopic, tmp_path: Path
) -> None:
    raw = raw_event(SEED_ORDER_ID, "CustomerOrder")
    publish_raw(kafka_bootstrap, topics.raw, [raw])
    with BackgroundServer(create_sandbox(token=TOKEN)) as server:
        service = ServiceProcess(
            "enricher",
            {
                **topics.environment(kafka_bootstrap),
                "KLADANA_API_URL": f"{server.url}/api/remap/1.2",
                "KLADANA_TOKEN": TOKEN,
                "KLADANA_ENTITY_OVERRIDES": "",
                "ENRICHER_GROUP_ID": f"{topics.group_prefix}-enricher",
            },
            log_dir=tmp_path,
        ).start()
        try:
            enriched = read_topic(topics.enriched, count=1, timeout_s=60)
            assert service.exit_code() is None, service.log_path.read_text()
        finally:
            exit_code = service.stop(timeout_s=30)

    logs = service.log_path.read_text()
    assert exit_code == 0, logs
    assert [json.loads(r.value)["data"]["raw_event_id"] for r in enriched] == [raw.get_id()]
    assert TOKEN not in logs
    assert "+91 98765 43210" not in logs


def test_a_missing_token_stops_start_up_naming_it() -> None:
    stderr = refused_start_up("enricher", {"PATH": "/usr/bin:/bin", "KLADANA_TOKEN": ""})
    assert "KLADANA_TOKEN" in stderr
