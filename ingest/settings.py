"""Ingest's settings, read once from the environment at start-up."""

from pydantic import Field, PositiveInt, SecretStr

from shared.settings import KafkaSettings


class IngestSettings(KafkaSettings):
    ingest_port: int = Field(default=8000, ge=1, le=65535)
    ingest_token: SecretStr | None = Field(default=None, min_length=1)
    """When set, every webhook must carry ``token=<secret>`` in its query string."""
    ingest_publish_timeout_ms: PositiveInt = 1000
    """How long a request waits for the broker's acknowledgement before answering 503."""
    ingest_workers: PositiveInt = 2
    ingest_threads: PositiveInt = 4

    @property
    def publish_timeout_s(self) -> float:
        return self.ingest_publish_timeout_ms / 1000
