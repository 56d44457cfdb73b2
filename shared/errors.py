"""The exception tree every service builds on.

Each class says where the consumer runtime (``shared.consumer_runtime``) sends a record
whose handler raised it: ``retriable`` ones are tried again (in process, then on the
retry topic or in place), the others are dead-lettered, and a ``ConfigurationError``
halts consumption without settling the record at all.

    PipelineError
    ├── RetriableError          the outside world may recover: retry with backoff
    │   ├── BrokerUnavailable   Kafka did not acknowledge in time
    │   └── ConfigurationError  the service itself is misconfigured (a refused token): halt
    └── PermanentError          the same input will always fail: dead-letter it
        └── MalformedEvent      a record is not a valid event of ours
    SettingsError               bad configuration: the service refuses to start
"""

from typing import ClassVar


class PipelineError(Exception):
    """Base of every error the pipeline raises on purpose."""

    retriable: ClassVar[bool] = False


class RetriableError(PipelineError):
    """The operation may succeed if tried again later."""

    retriable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        """Seconds the other side asked us to wait, when it said so."""


class PermanentError(PipelineError):
    """Trying again with the same input cannot succeed."""

    retriable = False


class BrokerUnavailable(RetriableError):
    """The Kafka broker could not be reached or did not acknowledge in time."""


class ConfigurationError(RetriableError):
    """The service itself is misconfigured: halt, and never dead-letter the record at hand.

    Retriable on purpose: code that knows nothing of halting retries, and so loses nothing.
    """


class MalformedEvent(PermanentError):
    """A record on a topic is not a CloudEvent of a type this service understands."""


class SettingsError(PipelineError):
    """A setting is missing or malformed; the message names it (never its value)."""
