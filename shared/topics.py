"""Create the pipeline's topics if they do not exist yet: ``python -m shared.topics``.

Used by ``make run``, the compose stack's one-shot init job and the tests. Each topic gets
the retention docs/events.md asks for ("Retention and compaction") and the ``delete``
cleanup policy; a topic that already exists is left as it is.
"""

from collections.abc import Iterable, Mapping
from contextlib import suppress

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError
from pydantic import Field, PositiveInt

from shared.settings import KafkaSettings

HOUR_MS = 3_600_000

TopicConfigs = Mapping[str, Mapping[str, str]]
"""Topic name -> Kafka topic configs (``retention.ms`` ...) to create it with."""


def ensure_topics(
    bootstrap_servers: str,
    names: Iterable[str],
    *,
    partitions: int,
    configs: TopicConfigs | None = None,
) -> list[str]:
    """Create those of ``names`` that do not exist, with ``configs[name]``; return them.

    An existing topic keeps its partitions and configs: changing them under running
    consumers is an operator's decision (``kafka-topics.sh --alter``, ``kafka-configs.sh``).
    """
    configs = configs or {}
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers)
    try:
        missing = sorted(set(names) - set(admin.list_topics()))
        created = []
        for name in missing:
            # Another process may create it between our list and create.
            with suppress(TopicAlreadyExistsError):
                topic = NewTopic(
                    name,
                    partitions,
                    replication_factor=1,
                    topic_configs=dict(configs.get(name, {})),
                )
                admin.create_topics([topic])
                created.append(name)
        return created
    finally:
        admin.close()


DEFAULT_RETRY_TOPIC = "kladana.webhooks.retry"
"""Where the enricher parks raw events that failed for a while (``ENRICHER_RETRY_TOPIC``)."""


class TopicSettings(KafkaSettings):
    topic_partitions: int = Field(default=6, ge=1)
    enricher_retry_topic: str = DEFAULT_RETRY_TOPIC
    raw_retention_hours: PositiveInt = 7 * 24
    """Long enough to replay into a new or fixed enricher after a weekend."""
    enriched_retention_hours: PositiveInt = 7 * 24
    """Long enough for a subscriber down for days to catch up."""
    retry_retention_hours: PositiveInt = 24
    """Must outlast a parked event's longest wait (ENRICHER_RETRY_DELAY_CAP_S x
    ENRICHER_MAX_ATTEMPTS, 25 min by default)."""
    dead_letter_retention_hours: PositiveInt = 30 * 24
    """Time for an operator to look, fix and redrive."""


def pipeline_topic_configs(settings: TopicSettings) -> dict[str, dict[str, str]]:
    """Every pipeline topic with its configs: deleted after its retention, never compacted
    (compaction by document id would drop the state changes subscribers react to)."""
    retention_hours = {
        settings.raw_topic: settings.raw_retention_hours,
        settings.enriched_topic: settings.enriched_retention_hours,
        settings.dead_letter_topic: settings.dead_letter_retention_hours,
        settings.enricher_retry_topic: settings.retry_retention_hours,
    }
    return {
        name: {"cleanup.policy": "delete", "retention.ms": str(hours * HOUR_MS)}
        for name, hours in retention_hours.items()
    }


def pipeline_topics(settings: TopicSettings) -> list[str]:
    return list(pipeline_topic_configs(settings))


def ensure_pipeline_topics(settings: TopicSettings) -> list[str]:
    """Create the missing pipeline topics with their partitions and retention; return them."""
    return ensure_topics(
        settings.kafka_bootstrap_servers,
        pipeline_topics(settings),
        partitions=settings.topic_partitions,
        configs=pipeline_topic_configs(settings),
    )


def main() -> None:
    from shared.settings import load_settings_or_exit

    settings = load_settings_or_exit(TopicSettings)
    created = ensure_pipeline_topics(settings)
    kept = sorted(set(pipeline_topics(settings)) - set(created))
    print(f"topics ready on {settings.kafka_bootstrap_servers}")
    print(f"created with {settings.topic_partitions} partitions: {', '.join(created) or 'none'}")
    if kept:
        print(f"already there, partitions and retention unchanged: {', '.join(kept)}")


if __name__ == "__main__":
    main()
