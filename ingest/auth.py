"""The shared-secret check. Kladana signs nothing, so the secret travels in the URL."""

import hmac
from collections.abc import Sequence

from pydantic import SecretStr

TOKEN_PARAMETER = "token"  # noqa: S105 - the name of the query parameter, not a secret


def token_accepted(expected: SecretStr | None, presented: Sequence[str]) -> bool:
    """True when no token is configured, or when exactly one value was presented and it matches.

    ``presented`` holds every value of the ``token`` query parameter.
    """
    if expected is None:
        return True
    if len(presented) != 1:
        return False
    # Bytes, because compare_digest refuses str with non-ASCII characters.
    return hmac.compare_digest(presented[0].encode(), expected.get_secret_value().encode())
