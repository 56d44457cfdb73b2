"""What can go wrong while enriching, sorted into retriable, permanent and "halt".

A bad token (401, or a 403 about no type in particular) is no event's fault, so it must
never dead-letter one. It is a :class:`~shared.errors.ConfigurationError`, on which the
consumer runtime halts: stops consuming, reports not ready, commits nothing. A 403 that
refuses one type of document (code 1016) is that type's events' fault only:
:class:`TypeForbidden`, dead-lettered, and everything else keeps flowing.

Every error built from a Kladana answer carries ``status`` (``None`` when no answer came)
and ``body`` (Kladana's error body, truncated, the token scrubbed) for dead-letter headers.
"""

from shared.errors import ConfigurationError, PermanentError, PipelineError, RetriableError


class KladanaAnswer(PipelineError):
    """Base of the errors below: what Kladana answered, if anything.

    It sets no ``retriable`` flag, so the other base of each subclass decides.
    """

    def __init__(self, message: str, *, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class KladanaUnavailable(KladanaAnswer, RetriableError):
    """Kladana could not be reached, timed out, failed (5xx) or rate-limited us (429)."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = None,
        body: str = "",
    ) -> None:
        super().__init__(message, status=status, body=body)
        self.retry_after = retry_after


class NoRequestSlot(KladanaUnavailable):
    """The rate limiter granted no request slot before shutdown or its deadline.

    Nothing was sent to Kladana; the same request may be tried again later.
    """


class KladanaAuthFailed(KladanaAnswer, ConfigurationError):
    """Kladana refused our token (401, or a 403 that names no type)."""


class TypeForbidden(KladanaAnswer, PermanentError):
    """This user may not see this type of document (403, code 1016, or an error naming the
    type): only that type's events are dead-lettered, with reason ``forbidden: ...``."""


class DocumentNotFound(KladanaAnswer, PermanentError):
    """Kladana has no such document (404): deleted, or the webhook named a wrong id."""


class KladanaRejected(KladanaAnswer, PermanentError):
    """Kladana refused the request itself (a 4xx other than 401, 403, 404 and 429)."""


class InvalidDocument(KladanaAnswer, PermanentError):
    """Kladana's answer lacks what every enriched event needs (an id, a usable sum or date)."""
