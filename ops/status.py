"""``python -m ops.status [--json]``: the pipeline at a glance, from the broker and the ledger.

Topics and partitions with their end offsets, each consumer group's lag, dead letters by
error class and group, and the notifications of the last hour by status. Reads the same
variables as the services (KAFKA_BOOTSTRAP_SERVERS, the topic and group names,
NOTIFIER_DATABASE_URL). docs/observability.md, "The status command".
"""

import argparse
import dataclasses
import json
import sys
from datetime import UTC, datetime
from typing import Any

from kafka.errors import KafkaError

from ops.pipeline_status import PipelineStatus, StatusSettings, pipeline_status
from shared.settings import load_settings_or_exit
from shared.topic_reader import TopicReadTimeout

_REASON_WIDTH = 80


def as_json(status: PipelineStatus) -> dict[str, Any]:
    document = dataclasses.asdict(status)
    for group, lag in zip(document["groups"], status.groups, strict=True):
        group["lag"] = lag.lag
    document["notifications"]["since"] = status.notifications.since.isoformat()
    return document


def as_text(status: PipelineStatus) -> str:
    lines = ["Topics (partition: end offset)"]
    for topic, ends in status.end_offsets.items():
        shown = "  ".join(f"{p}:{end}" for p, end in sorted(ends.items())) or "missing"
        lines.append(f"  {topic}  [{len(ends)} partitions]  {shown}")
    lines.append("Consumer groups (lag: records after the committed offset; partition:lag if any)")
    for group in status.groups:
        busy = "  ".join(f"{p.partition}:{p.lag}" for p in group.partitions if p.lag)
        lines.append(f"  {group.group} on {group.topic}: lag {group.lag}  {busy}".rstrip())
    lines.append("Dead letters (error, group: count; latest reason)")
    if not status.dead_letters:
        lines.append("  none")
    for letters in status.dead_letters:
        reason = letters.last_reason
        if len(reason) > _REASON_WIDTH:
            reason = reason[: _REASON_WIDTH - 3] + "..."
        lines.append(
            f"  {letters.error}, {letters.group}: {letters.count}; "
            f"latest {letters.last_time or '?'}: {reason}"
        )
    notifications = status.notifications
    lines.append(f"Notifications since {notifications.since.isoformat(timespec='seconds')}")
    if notifications.note is not None:
        lines.append(f"  {notifications.note}")
    else:
        counts = "  ".join(f"{name}: {count}" for name, count in notifications.by_status.items())
        lines.append(f"  {counts or 'none'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ops.status", description="The pipeline at a glance."
    )
    parser.add_argument("--json", action="store_true", help="one JSON document instead of text")
    options = parser.parse_args(argv)
    settings = load_settings_or_exit(StatusSettings)
    try:
        status = pipeline_status(settings, datetime.now(UTC))
    except (KafkaError, TopicReadTimeout) as error:
        print(
            f"status: Kafka at {settings.kafka_bootstrap_servers} failed: {type(error).__name__}",
            file=sys.stderr,
        )
        return 1
    print(json.dumps(as_json(status), indent=2) if options.json else as_text(status))
    return 0


if __name__ == "__main__":
    sys.exit(main())
