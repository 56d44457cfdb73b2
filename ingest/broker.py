"""Ingest's way to Kafka: one producer per gunicorn worker, bounded by the publish timeout."""

from ingest.settings import IngestSettings
from shared.kafka import Publisher, create_producer


def connect_publisher(settings: IngestSettings) -> Publisher:
    """A producer that waits at most the publish timeout, for one process.

    Blocks until the broker answered once; raises KafkaError if it never does.
    """
    producer = create_producer(
        settings.kafka_bootstrap_servers, max_block_ms=settings.ingest_publish_timeout_ms
    )
    return Publisher(producer, ack_timeout_s=settings.publish_timeout_s)
