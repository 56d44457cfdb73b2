"""The notifier's errors, placed in the shared tree (``shared.errors``)."""

from shared.errors import PermanentError, RetriableError, SettingsError


class RulesError(SettingsError):
    """The rules file is unusable; the message names the rule and the problem."""


class SmsProviderUnavailable(RetriableError):
    """The SMS provider timed out, could not be reached, throttled us or failed (5xx).

    Retried in process with backoff up to NOTIFIER_SEND_ATTEMPTS, then recorded as failed.
    """


class SmsRejected(PermanentError):
    """The SMS provider refused the message (4xx other than 429): resending cannot help.

    Recorded as failed in the ledger at once, never retried.
    """


class LedgerUnavailable(RetriableError):
    """The delivery ledger's database could not be reached or did not answer.

    Nothing is sent without a claimed row, so the consumer loop retries the event.
    """


class DocumentIncomplete(PermanentError):
    """A matched rule needs a value (number, sum, ...) that the document lacks."""


class RuleProblem(RulesError):
    """What is wrong with one rule; the loader adds the file and the rule's name."""
