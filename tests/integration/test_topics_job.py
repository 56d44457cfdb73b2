"""The compose stack's one-shot job, ``python -m shared.topics``, against the real broker."""

import os
import subprocess
import sys
import uuid
from typing import Any

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from shared.topics import TopicSettings, ensure_pipeline_topics, pipeline_topic_configs

pytestmark = pytest.mark.broker


def _fresh_topic_environment(bootstrap: str) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:10]
    return {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "RAW_TOPIC": f"raw-{suffix}",
        "ENRICHED_TOPIC": f"enriched-{suffix}",
        "DEAD_LETTER_TOPIC": f"dlq-{suffix}",
        "ENRICHER_RETRY_TOPIC": f"retry-{suffix}",
    }


def _run_job(environment: dict[str, str]) -> str:
    finished = subprocess.run(
        [sys.executable, "-m", "shared.topics"],
        env={"PATH": os.environ["PATH"], **environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return finished.stdout


def _partition_counts(bootstrap: str, names: list[str]) -> dict[str, int]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        described: list[dict[str, Any]] = admin.describe_topics(names)
    finally:
        admin.close()
    return {topic["name"]: len(topic["partitions"]) for topic in described}


def test_the_job_creates_every_topic_once_with_the_partitions_asked(kafka_bootstrap: str) -> None:
    environment = _fresh_topic_environment(kafka_bootstrap) | {
        "TOPIC_PARTITIONS": "4",
        "RETRY_RETENTION_HOURS": "2",
    }
    names = [value for variable, value in environment.items() if variable.endswith("_TOPIC")]

    first = _run_job(environment)
    again = _run_job(environment)

    assert _partition_counts(kafka_bootstrap, names) == dict.fromkeys(names, 4)
    assert all(name in first for name in names)
    assert "created with 4 partitions: none" in again


def test_the_topics_get_their_retention_where_the_broker_describes_configs(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable, value in _fresh_topic_environment(kafka_bootstrap).items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("TOPIC_PARTITIONS", "1")
    settings = TopicSettings()
    wanted = pipeline_topic_configs(settings)

    assert sorted(ensure_pipeline_topics(settings)) == sorted(wanted)

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in wanted]
        described = admin.describe_configs(resources)["topic"]
    finally:
        admin.close()
    if not any(described.values()):
        pytest.skip("this broker (the embedded Tansu) takes topic configs but describes none")
    applied = {
        name: {key: described[name][key]["value"] for key in configs}
        for name, configs in wanted.items()
    }
    assert applied == wanted
