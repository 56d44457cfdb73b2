"""The enricher's settings, read once from the environment at start-up."""

from typing import Annotated, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field, PositiveFloat, SecretStr, model_validator

from shared.kladana_types import TRANSACTION_TYPES, TypeTable
from shared.settings import ConsumerSettings, HttpUrl, KafkaSettings
from shared.topics import DEFAULT_RETRY_TOPIC

_ENTITY_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz")


def parse_entity_overrides(text: str) -> dict[str, str]:
    """``"ProductionTask=processingorder,Move=move"`` -> ``{"ProductionTask": ..., "Move": ...}``.

    Raises ``ValueError`` on a malformed pair or an unknown transaction type.
    """
    overrides: dict[str, str] = {}
    for pair in filter(None, (part.strip() for part in text.split(","))):
        name, equals, entity = (side.strip() for side in pair.partition("="))
        if not equals or not name or not entity or not set(entity) <= _ENTITY_CHARACTERS:
            raise ValueError("expected Type=entity pairs with lower-case entities, comma-separated")
        overrides[name] = entity
    try:
        TRANSACTION_TYPES.with_entities(overrides)
    except KeyError as error:
        raise ValueError(error.args[0]) from None
    return overrides


def _check_entity_overrides(text: str) -> str:
    parse_entity_overrides(text)
    return text


def _check_redis_url(url: SecretStr) -> SecretStr:
    parts = urlsplit(url.get_secret_value())
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        parts = parts._replace(netloc="")
    database = parts.path.strip("/") or "0"
    if not (
        (parts.scheme in ("redis", "rediss") and parts.hostname and database.isdigit())
        or (parts.scheme == "unix" and parts.path)
    ):
        # Never the value: the URL may carry a password.
        raise ValueError("expected redis://[:password@]host:port/db (or rediss://, unix://)")
    return url


RedisUrl = Annotated[SecretStr, AfterValidator(_check_redis_url)]

DEFAULT_GROUP_ID = "enricher"


class RedriveSettings(KafkaSettings):
    """What ``python -m enricher redrive`` reads: the topics and whose dead letters to move."""

    enricher_group_id: str = Field(default=DEFAULT_GROUP_ID, min_length=1)


class EnricherSettings(ConsumerSettings):
    kladana_api_url: HttpUrl = "https://api.kladana.com/api/remap/1.2"
    kladana_token: SecretStr = Field(min_length=1)
    kladana_timezone: ZoneInfo = ZoneInfo("Europe/Moscow")
    """The zone of Kladana's zone-less dates (the docs say Moscow time)."""
    kladana_timeout_s: PositiveFloat = 30.0
    kladana_entity_overrides: Annotated[str, AfterValidator(_check_entity_overrides)] = ""
    enricher_group_id: str = Field(default=DEFAULT_GROUP_ID, min_length=1)
    kladana_max_parallel: int = Field(default=5, ge=1)
    """Kladana's cap on parallel requests: also the number of documents enriched at once."""
    kladana_rate_units: int = Field(default=45, ge=1)
    """This process's share of Kladana's bucket (45 units per window per token)."""
    kladana_rate_window_s: PositiveFloat = 3.0
    kladana_request_cost: int = Field(default=1, ge=1)
    """Units one request costs: 1 with an application token, 4 with a user token."""
    kladana_limiter_url: RedisUrl | None = None
    """Redis that holds one bucket for every replica of the token; unset: each process
    keeps to its own ``KLADANA_RATE_UNITS`` and ``KLADANA_MAX_PARALLEL``."""
    kladana_limiter_fallback_replicas: int = Field(default=2, ge=1)
    """While that Redis is unreachable, each replica takes the budget divided by this many
    replicas, or by the replicas it last saw there if more."""
    enricher_retry_topic: str = Field(default=DEFAULT_RETRY_TOPIC, min_length=1)
    """Raw events parked after a transient failure, until their not-before time."""
    enricher_quick_retries: int = Field(default=2, ge=0)
    """In-process retries of a transient failure before the event goes to the retry topic."""
    enricher_max_attempts: int = Field(default=5, ge=1)
    """Rounds (first delivery + retry-topic deliveries) before a dead letter."""
    enricher_retry_delay_s: float = Field(default=5.0, gt=0)
    enricher_retry_delay_cap_s: float = Field(default=300.0, gt=0)
    enricher_auth_recheck_s: float = Field(default=60.0, ge=0)
    """After a 401/403, try Kladana again this often; 0 waits for a restart."""
    metrics_port: int = Field(default=0, ge=0, le=65535)
    """Port of /healthz, /readyz and /metrics; 0 serves none."""

    @model_validator(mode="after")
    def _request_fits_the_bucket(self) -> Self:
        if self.kladana_request_cost > self.kladana_rate_units:
            raise ValueError("KLADANA_REQUEST_COST must not exceed KLADANA_RATE_UNITS")
        return self

    def transaction_types(self) -> TypeTable:
        """The type table with ``KLADANA_ENTITY_OVERRIDES`` applied."""
        return TRANSACTION_TYPES.with_entities(
            parse_entity_overrides(self.kladana_entity_overrides)
        )
