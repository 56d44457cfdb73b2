"""The example subscribers other teams copy read the enriched topic of a real broker."""

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from shared.events import Record, to_record
from tests.conftest import PipelineTopics
from tests.helpers import enriched_event, publish_records

pytestmark = pytest.mark.broker

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "subscribers"


@pytest.mark.parametrize("example", ["kafka_python_subscriber.py", "librdkafka_subscriber.py"])
def test_it_prints_valid_events_and_names_invalid_records(
    example: str, kafka_bootstrap: str, topics: PipelineTopics
) -> None:
    shipped = enriched_event(state="Shipped")
    delivered = enriched_event(state="Delivered")
    without_document = to_record(enriched_event())
    broken = Record(
        key=without_document.key,
        value=without_document.value.replace(b'"document"', b'"documen"'),
        headers=without_document.headers,
    )
    not_json = Record(key=b"x", value=b"{not json")
    publish_records(
        kafka_bootstrap,
        topics.enriched,
        [to_record(shipped), broken, not_json, to_record(delivered)],
    )

    finished = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / example),
            "--bootstrap",
            kafka_bootstrap,
            "--topic",
            topics.enriched,
            "--group",
            f"example-{uuid.uuid4().hex[:8]}",
            "--max-records",
            "4",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert finished.returncode == 0, finished.stderr
    lines = sorted(finished.stdout.splitlines())
    assert [line.split(" ")[0] for line in lines] == ["event", "event", "invalid", "invalid"]
    events = [line for line in lines if line.startswith("event ")]
    assert {f"id={shipped.get_id()}", "state=Shipped"} <= set(" ".join(events).split())
    assert {f"id={delivered.get_id()}", "state=Delivered"} <= set(" ".join(events).split())
    invalid = "\n".join(line for line in lines if line.startswith("invalid "))
    assert "'document' is a required property" in invalid
    assert "not JSON" in invalid
