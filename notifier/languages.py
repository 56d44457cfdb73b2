"""Which of a rule's languages a customer reads, from what a counterparty attribute says.

People fill that attribute in by hand: a code (``hi``, ``hi_IN``, ``hi-IN``) or the
language's name in English or in itself (``Hindi``, ``हिन्दी``), in any case. Babel (CLDR)
knows the codes and the names, so no list of languages is kept here.
"""

import functools
from collections.abc import Collection

from babel import Locale, UnknownLocaleError

from notifier.errors import RuleProblem


def language_code(key: str) -> str:
    """The language a rule's ``[rule.templates]`` key names (``hi``, ``hi_IN``: ``hi``)."""
    language = _language_of(key)
    if language is None:
        raise RuleProblem(f"templates: {key!r} is not a language code Babel knows, e.g. hi")
    return language


def chosen_language(value: object, languages: Collection[str]) -> str | None:
    """The one of ``languages`` (codes) that ``value`` names, or ``None``."""
    if not isinstance(value, str) or not value.strip():
        return None
    written = value.strip()
    code = _language_of(written)
    if code in languages:
        return code
    wanted = written.casefold()
    return next((language for language in languages if wanted in _names(language)), None)


# Both run for every message of a rule with languages: Babel's parsing is not free, and
# the values people type into the attribute are few.
@functools.lru_cache(maxsize=1024)
def _language_of(written: str) -> str | None:
    try:
        return str(Locale.parse(written.replace("-", "_")).language)
    except (ValueError, TypeError, UnknownLocaleError):
        return None


@functools.lru_cache(maxsize=256)
def _names(language: str) -> frozenset[str]:
    """What ``language`` is called in English and in itself, casefolded."""
    locale = Locale.parse(language)
    return frozenset(
        name.casefold()
        for name in (locale.get_language_name("en"), locale.get_language_name(language))
        if name
    )
