"""Create the pipeline's topics if they do not exist yet: ``python -m shared.topics``.

Used by ``make run``, the compose stack's one-shot init job and the tests.
"""

from collections.abc import Iterable
from contextlib import suppress

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from shared.settings import KafkaSettings


def ensure_topics(bootstrap_servers: str, names: Iterable[str], *, partitions: int) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers)
    try:
        missing = sorted(set(names) - set(admin.list_topics()))
        for name in missing:
            # Another process may create it between our list and create.
            with suppress(TopicAlreadyExistsError):
                admin.create_topics([NewTopic(name, partitions, replication_factor=1)])
    finally:
        admin.close()


DEFAULT_RETRY_TOPIC = "kladana.webhooks.retry"
"""Where the enricher parks raw events that failed for a while (``ENRICHER_RETRY_TOPIC``)."""


class TopicSettings(KafkaSettings):
    topic_partitions: int = 6
    enricher_retry_topic: str = DEFAULT_RETRY_TOPIC


def pipeline_topics(settings: TopicSettings) -> list[str]:
    return [
        settings.raw_topic,
        settings.enriched_topic,
        settings.dead_letter_topic,
        settings.enricher_retry_topic,
    ]


def main() -> None:
    from shared.settings import load_settings_or_exit

    settings = load_settings_or_exit(TopicSettings)
    ensure_topics(
        settings.kafka_bootstrap_servers,
        pipeline_topics(settings),
        partitions=settings.topic_partitions,
    )
    print(f"topics ready on {settings.kafka_bootstrap_servers}")


if __name__ == "__main__":
    main()
