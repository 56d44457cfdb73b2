"""A running consumer's ``/metrics`` (on METRICS_PORT): the names and values Prometheus scrapes."""

import threading

import pytest
import requests
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from sandbox.documents import SEED_ORDER_ID
from shared.batch import Polled
from shared.consumer_service import open_runtime
from shared.errors import PermanentError
from shared.events import RAW_WEBHOOK, new_event, to_record
from shared.health import Readiness, health_server
from shared.metrics import ConsumerMetrics
from shared.settling import Handled, RecordHandler
from tests.conftest import PipelineTopics
from tests.helpers import publish_records, quick_runtime_config, running_loop, wait_until
from tests.integration.test_enricher_loop import (
    publish_raw,
    raw_event,
    running,
    sandbox,
    settings_for,
)

pytestmark = pytest.mark.broker


def _samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``/metrics`` parsed: (sample name, sorted labels) -> value."""
    text = requests.get(f"{url}/metrics", timeout=5).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


class _RefusesBad:
    def for_key(self) -> RecordHandler:
        def handle(polled: Polled) -> Handled:
            if polled.record.key == b"bad":
                raise PermanentError("refused on purpose")
            return Handled()

        return handle


def test_the_runtime_counts_events_in_out_failed_and_its_lag(
    kafka_bootstrap: str, topics: PipelineTopics
) -> None:
    registry = CollectorRegistry()
    records = [
        to_record(new_event(RAW_WEBHOOK, source="/test", document_id=d, data={}))
        for d in ("good-1", "bad", "good-2")
    ]
    publish_records(kafka_bootstrap, topics.raw, records)
    stop = threading.Event()
    config = quick_runtime_config(
        kafka_bootstrap,
        group_id=topics.group_prefix,
        topic=topics.raw,
        dead_letter_topic=topics.dead_letter,
    )
    with (
        open_runtime(
            config,
            lambda _publisher: _RefusesBad(),
            stop,
            Readiness(),
            metrics=ConsumerMetrics(registry),
        ) as runtime,
        health_server(Readiness(), 0, registry) as server,
        running_loop(runtime, stop),
    ):
        url = server.url.replace("0.0.0.0", "127.0.0.1")
        out = ("consumer_events_out_total", (("outcome", "handled"),))
        assert wait_until(lambda: _samples(url).get(out) == 2, timeout_s=60)
        # Lag is sampled every few seconds: all three partitions end at 0 left.
        assert wait_until(
            lambda: (
                sorted(
                    value for (name, _), value in _samples(url).items() if name == "consumer_lag"
                )
                == [0, 0, 0]
            ),
            timeout_s=60,
        )
        samples = _samples(url)
    assert samples[("consumer_events_in_total", (("topic", topics.raw),))] == 3
    assert samples[("consumer_events_out_total", (("outcome", "dead_lettered"),))] == 1
    assert samples[("consumer_events_failed_total", (("reason", "PermanentError"),))] == 1
    assert samples[("consumer_processing_seconds_count", ())] == 3


def _has_consumed(url: str, topic: str, count: int) -> bool:
    samples = _samples(url)
    lag_labels = [dict(labels) for name, labels in samples if name == "consumer_lag"]
    return samples.get(("consumer_events_in_total", (("topic", topic),)), 0) >= count and any(
        labels["topic"] == topic for labels in lag_labels
    )


def test_a_running_enricher_serves_its_metrics_on_the_default_registry(
    kafka_bootstrap: str, topics: PipelineTopics
) -> None:
    publish_raw(kafka_bootstrap, topics.raw, [raw_event(SEED_ORDER_ID, "CustomerOrder")] * 2)
    with sandbox() as (_, api_url), health_server(Readiness(), 0) as server:
        url = server.url.replace("0.0.0.0", "127.0.0.1")
        with running(settings_for(kafka_bootstrap, topics, api_url)):
            assert wait_until(lambda: _has_consumed(url, topics.raw, 2), timeout_s=60)
            names = {name for name, _ in _samples(url)}
    assert {
        "consumer_events_out_total",
        "consumer_processing_seconds_bucket",
        "kladana_requests_total",
        "kladana_request_seconds_bucket",
        "kladana_fetches_saved_total",
        "process_cpu_seconds_total",
    } <= names
