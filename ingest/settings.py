"""Ingest's settings, read once from the environment at start-up."""

from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PositiveInt, SecretStr, field_validator
from pydantic_settings import NoDecode

from shared.settings import KafkaSettings

ANSWER_DEADLINE_MS = 1500
"""Kladana gives up on a native webhook delivery after this long."""
ANSWER_MARGIN_MS = 200
"""Kept back from the deadline for parsing, the answer itself and the network."""
SPOOL_WRITE_RESERVE_MS = 500
"""The least the spool write gets (its lock wait and fsync) after the broker's budget."""


def _networks(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return tuple(ip_network(part.strip()) for part in value.split(",") if part.strip())
    except ValueError:
        raise ValueError(
            "must be comma-separated networks in CIDR notation without host bits,"
            " such as 10.0.0.0/8 or 2001:db8::/32"
        ) from None


Networks = Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode, BeforeValidator(_networks)]
"""CIDR blocks, comma-separated in the environment (``10.0.0.0/8, 2001:db8::/32``)."""


class IngestSettings(KafkaSettings):
    ingest_host: str = "0.0.0.0"  # noqa: S104 - in its container, behind the proxy
    """The address ingest listens on; ``make run`` makes it 127.0.0.1 unless told otherwise."""
    ingest_port: int = Field(default=8000, ge=1, le=65535)
    ingest_token: SecretStr | None = Field(default=None, min_length=1)
    """When set, every webhook must carry one of these comma-separated secrets, as
    ``token=<secret>`` in its query string or as ``/webhook/<secret>``."""
    ingest_allowed_networks: Networks = ()
    """When set, only clients in these networks may send webhooks (others get 403)."""
    ingest_trusted_proxies: Networks = ()
    """Proxies whose ``X-Forwarded-For`` is believed when finding the client's address."""
    ingest_max_body_bytes: PositiveInt = 1_048_576
    """Larger request bodies are refused with 413."""
    ingest_spool_dir: Path = Path(".ingest-spool")
    """This host's local state: the spool and the store of seen ``requestId`` values."""
    ingest_request_id_ttl_s: PositiveInt = 86_400
    """How long a native webhook's ``requestId`` is remembered to refuse its repeats."""
    ingest_request_id_wait_ms: int = Field(default=200, ge=0, le=1000)
    """How long a repeat waits for the first delivery of its ``requestId``, still in
    progress in another request, to finish; then it is answered 503. Short: Kladana
    repeats only after waiting 1.5 s, longer than any delivery takes to be accepted."""
    ingest_publish_budget_ms: int = Field(
        default=500, ge=50, le=ANSWER_DEADLINE_MS - SPOOL_WRITE_RESERVE_MS
    )
    """How long a request waits for the broker (metadata and acknowledgement together)
    before it writes the event to the spool instead."""
    ingest_drain_interval_ms: PositiveInt = 1000
    """How often each worker looks for spooled events to publish."""
    ingest_workers: PositiveInt = 2
    ingest_threads: PositiveInt = 32
    """A request mostly waits for the broker's acknowledgement (librdkafka works outside
    the GIL), so many threads per worker keep the CPU busy; see docs/benchmarks.md."""

    @field_validator("ingest_token")
    @classmethod
    def _every_token_is_non_empty(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not all(_split(value)):
            raise ValueError("must be one or more non-empty secrets separated by commas")
        return value

    @property
    def tokens(self) -> tuple[SecretStr, ...]:
        """Every accepted secret; several let one be rotated without downtime."""
        return () if self.ingest_token is None else tuple(map(SecretStr, _split(self.ingest_token)))

    @property
    def publish_budget_s(self) -> float:
        return self.ingest_publish_budget_ms / 1000

    @property
    def request_id_wait_s(self) -> float:
        return self.ingest_request_id_wait_ms / 1000

    @property
    def spool_write_timeout_s(self) -> float:
        """What is left of the answer deadline for the spool once the broker's budget is spent."""
        return (ANSWER_DEADLINE_MS - ANSWER_MARGIN_MS - self.ingest_publish_budget_ms) / 1000

    @property
    def drain_interval_s(self) -> float:
        return self.ingest_drain_interval_ms / 1000


def _split(secrets: SecretStr) -> list[str]:
    return [part.strip() for part in secrets.get_secret_value().split(",")]
