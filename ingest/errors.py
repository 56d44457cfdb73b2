"""What ingest refuses, with what the JSON error body tells the caller."""

from typing import Any

from shared.errors import PermanentError, RetriableError


class InvalidWebhook(PermanentError):
    """A webhook request that can never become a raw event; answered with 400.

    ``code`` is the body's ``error`` field; ``details`` become further fields
    (e.g. ``valid_types``). Neither ever echoes a secret.
    """

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, **self.details}


class SinkUnavailable(RetriableError):
    """Neither the broker nor the local spool could take an event in time; answered with 503."""


class DeliveryInProgress(RetriableError):
    """An earlier delivery of the same native ``requestId`` is still being accepted and did
    not end within the wait; answered with 503, so that Kladana tries again."""
