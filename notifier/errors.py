"""The notifier's errors, placed in the shared tree (``shared.errors``)."""

from shared.errors import PermanentError, RetriableError, SettingsError


class RulesError(SettingsError):
    """The rules file is unusable; the message names the rule and the problem."""


class SmsProviderUnavailable(RetriableError):
    """The SMS provider timed out, could not be reached, throttled us or failed (5xx)."""


class SmsRejected(PermanentError):
    """The SMS provider refused the message (4xx other than 429): resending cannot help."""


class DocumentIncomplete(PermanentError):
    """A matched rule needs a value (number, sum, ...) that the document lacks."""
