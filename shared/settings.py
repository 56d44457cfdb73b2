"""Typed settings read once from the environment at start-up.

Each service declares a frozen pydantic-settings class; field ``kafka_bootstrap_servers``
is read from ``KAFKA_BOOTSTRAP_SERVERS`` and so on. :func:`load_settings` turns a
validation failure into a :class:`SettingsError` that names the variables but never
echoes their values (they may be secrets).
"""

import re
import sys
from typing import Annotated, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.errors import SettingsError

_HOST_PORT = re.compile(r"^[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")


def _check_bootstrap_servers(value: str) -> str:
    servers = [part.strip() for part in value.split(",")]
    if not servers or not all(_HOST_PORT.match(server) for server in servers):
        raise ValueError("must be a comma-separated list of host:port")
    return ",".join(servers)


def _check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL")
    return value.rstrip("/")


LogLevel = Annotated[
    Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
    BeforeValidator(lambda value: value.upper() if isinstance(value, str) else value),
]
BootstrapServers = Annotated[str, AfterValidator(_check_bootstrap_servers)]
HttpUrl = Annotated[str, AfterValidator(_check_http_url)]
"""An absolute http(s) URL, without a trailing slash."""


class ServiceSettings(BaseSettings):
    """Base of every service's settings: frozen, from the environment, unknown keys ignored.

    An empty variable counts as unset, so ``INGEST_TOKEN=`` (as compose passes an unset
    ``${INGEST_TOKEN:-}``) means "no token", never "the empty token".
    """

    model_config = SettingsConfigDict(
        frozen=True, extra="ignore", case_sensitive=False, env_ignore_empty=True
    )


class KafkaSettings(ServiceSettings):
    """Where the broker is and what the topics are called."""

    kafka_bootstrap_servers: BootstrapServers = "localhost:9092"
    raw_topic: str = "kladana.webhooks.raw"
    enriched_topic: str = "kladana.documents.enriched"
    dead_letter_topic: str = "kladana.deadletter"
    log_level: LogLevel = "INFO"


class ConsumerSettings(KafkaSettings):
    """What every consuming service adds: how it backs off from transient failures, and
    how long it may take to stop."""

    retry_backoff_base_s: float = Field(default=0.5, gt=0)
    retry_backoff_cap_s: float = Field(default=30.0, gt=0)
    shutdown_timeout_s: float = Field(default=20.0, gt=0)
    """After SIGTERM, finishing the events in hand may take this long; then the process
    exits anyway and what it had not committed is delivered again."""


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def _describe(location: tuple[int | str, ...], message: str) -> str:
    """``VARIABLE: problem``; a check across several variables names them in its message."""
    variable = ".".join(str(part) for part in location).upper()
    return f"{variable}: {message}" if variable else message


def load_settings(settings_class: type[SettingsT]) -> SettingsT:
    """Read ``settings_class`` from the environment or raise :class:`SettingsError`."""
    try:
        return settings_class()
    except ValidationError as error:
        problems = [
            _describe(problem["loc"], problem["msg"])
            for problem in error.errors(include_input=False, include_url=False)
        ]
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None


def load_settings_or_exit(settings_class: type[SettingsT]) -> SettingsT:
    """Entry points call this: a bad setting stops start-up with a clear message."""
    try:
        return load_settings(settings_class)
    except SettingsError as error:
        sys.exit(f"{settings_class.__name__}: {error}")


def environment_variables(settings_class: type[BaseSettings]) -> frozenset[str]:
    """The names of the environment variables ``settings_class`` reads."""
    return frozenset(name.upper() for name in settings_class.model_fields)
