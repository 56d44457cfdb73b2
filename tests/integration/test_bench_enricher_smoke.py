"""The enricher benchmark's building blocks, briefly: correctness, never speed."""

import uuid
from pathlib import Path

import pytest

from bench.enricher_load import measure_run
from bench.enricher_stack import Stream, document_sequence
from devstack.http_server import BackgroundServer
from sandbox.app import API_PREFIX
from sandbox.app import create_app as create_sandbox
from sandbox.faults import Faults
from sandbox.remote import SandboxControl

TOKEN = "smoke-token"


def test_a_stream_with_repeats_interleaves_its_documents_and_stops_at_its_size() -> None:
    ids = document_sequence(Stream("s", rate=5, duration_s=2, repeats=3, interleave=2))

    assert len(ids) == 10
    a, b, c, d = ids[0], ids[1], ids[6], ids[7]
    assert ids == [a, b, a, b, a, b, c, d, c, d]
    assert len({a, b, c, d}) == 4


@pytest.mark.broker
def test_a_measured_run_enriches_every_event_and_counts_calls_from_the_sandbox(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    stream = Stream(f"smoke-{uuid.uuid4().hex[:8]}", rate=20, duration_s=1, repeats=2, interleave=2)
    app = create_sandbox(token=TOKEN, faults=Faults(synthesize=True))
    with BackgroundServer(app) as server:
        result = measure_run(
            stream,
            bootstrap=kafka_bootstrap,
            control=SandboxControl(server.url, TOKEN),
            environment={
                "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
                "KLADANA_API_URL": server.url + API_PREFIX,
                "KLADANA_TOKEN": TOKEN,
            },
            partitions=3,
            work=tmp_path,
        )

    assert (result.published, result.enriched, result.all_enriched) == (20, 20, True)
    assert 10 <= result.api_calls <= 20  # 10 documents, each asked for at most twice
    assert result.calls_per_event == result.api_calls / 20
    assert (result.rate_limited, result.dead_letters) == (0, 0)
    assert 1 <= result.max_parallel <= 5
    assert 0 < result.p50_ms <= result.p99_ms
