"""What can go wrong while enriching, sorted into retriable and permanent."""

from shared.errors import PermanentError, RetriableError


class KladanaUnavailable(RetriableError):
    """Kladana could not be reached, timed out, failed (5xx) or rate-limited us (429)."""


class KladanaAuthFailed(RetriableError):
    """Kladana refused our token (401/403).

    A configuration error, not a property of the event: retried, so that fixing the
    token lets every waiting event through instead of dead-lettering them all.
    """


class DocumentNotFound(PermanentError):
    """Kladana has no such document (404): deleted, or the webhook named a wrong id."""


class KladanaRejected(PermanentError):
    """Kladana refused the request itself (a 4xx other than 401, 403, 404 and 429)."""


class InvalidDocument(PermanentError):
    """Kladana's answer lacks what every enriched event needs (an id, a usable sum or date)."""
