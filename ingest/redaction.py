"""The configured tokens, masked wherever they occur in what ingest writes: every log line
(gunicorn's included) and every answer.

:mod:`ingest.access` masks the places a token belongs (``/webhook/<token>``, ``token=``),
sent right or wrong. A configured token sent where it does not belong (a mistyped path,
another parameter's value or name, a header) or quoted in a message is found here by
its value.
"""

import json
import logging
import re
from collections.abc import Iterable

from pydantic import SecretStr

from ingest.access import MASK


class SecretMask:
    """``mask(text)``: ``text`` with every one of ``secrets`` replaced by ``****``.

    A secret is found however a line spells it: as it is, percent-encoded (any of its
    characters, hex digits in either case), or as WSGI hands its UTF-8 bytes over (each
    byte one Latin-1 character); and each of those as Python's ``repr`` and as JSON (ASCII
    only, as the log lines and Flask's answers are written) escape it.
    """

    def __init__(self, secrets: Iterable[SecretStr]) -> None:
        # Longest first, so that a secret that starts another leaves no tail of it.
        values = sorted({secret.get_secret_value() for secret in secrets}, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(_secret_pattern, values))) if values else None

    def __call__(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub(MASK, text)


class MaskingFormatter(logging.Formatter):
    """Another formatter's lines, with the secrets masked in the finished line: the message,
    every extra field and the traceback alike."""

    def __init__(self, inner: logging.Formatter, mask: SecretMask) -> None:
        super().__init__()
        self._inner = inner
        self._mask = mask

    def format(self, record: logging.LogRecord) -> str:
        return self._mask(self._inner.format(record))


def mask_log_lines(mask: SecretMask, logger: logging.Logger | None = None) -> None:
    """Every line the handlers of ``logger`` (default: the root logger, where gunicorn's
    loggers and the app's end up) write from now on is masked."""
    for handler in (logger or logging.getLogger()).handlers:
        handler.setFormatter(MaskingFormatter(handler.formatter or logging.Formatter(), mask))


def _secret_pattern(secret: str) -> str:
    return "".join(map(_character_pattern, secret))


def _character_pattern(character: str) -> str:
    # surrogateescape: a secret read from the environment may hold bytes that are not UTF-8.
    utf8 = character.encode("utf-8", "surrogateescape")
    written = {
        form
        for spelling in (character, utf8.decode("latin-1"))
        for quoted in (spelling, repr(spelling)[1:-1])
        for form in (quoted, json.dumps(quoted)[1:-1])
    }
    literal = [re.escape(form) for form in sorted(written, key=len, reverse=True)]
    # Plain ASCII, which neither repr nor JSON escapes.
    percent_encoded = "".join(f"%{_hex_either_case(byte)}" for byte in utf8)
    return f"(?:{'|'.join([*literal, percent_encoded])})"


def _hex_either_case(byte: int) -> str:
    return "".join(
        f"[{digit}{digit.lower()}]" if digit.isalpha() else digit for digit in f"{byte:02X}"
    )
