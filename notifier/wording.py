"""One text of a rule: its template, in one language, and the DLT registration it matches.

A rule has a default wording (its ``template``) and may have one per language
(``[rule.templates]``). Each is checked at start-up (:func:`parse_wording`: the
template's fixed text against the DLT template; :func:`check_sample`: the text on the
sample document), and each rendered message is checked once more before it is sent
(:func:`refusal`), since a value of the document can make it too long for the carrier.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from notifier.dlt import DltTemplate, drift, oversized_variable, parse_dlt
from notifier.errors import DocumentIncomplete, RuleProblem
from notifier.languages import language_code
from notifier.render import Template, parse_template
from notifier.segments import sms_length

MAX_TEMPLATE_SEGMENTS = 10
"""A text longer than this many SMS segments on a sample is a mistake, not a message:
carriers and providers cap concatenated SMS around here, and each segment is billed."""
DLT_KEYS = ("dlt_template_id", "dlt_template")


@dataclass(frozen=True)
class Wording:
    template: Template
    dlt: DltTemplate | None
    language: str | None = None
    """The language code it is for; ``None``: the rule's default wording."""

    @property
    def label(self) -> str:
        """How errors name it, after the rule's name."""
        return _label(self.language)

    @property
    def dlt_template_id(self) -> str | None:
        return self.dlt.template_id if self.dlt else None

    def render(self, document: Mapping[str, Any], *, locale: str, zone: ZoneInfo) -> str:
        return self.template.render(document, locale=locale, zone=zone)


def parse_wording(table: Mapping[str, Any], *, language: str | None = None) -> Wording:
    """The wording of ``table``'s ``template`` and DLT keys; :class:`RuleProblem` when the
    text cannot match its DLT template, at the first difference."""
    label = _label(language)
    text = table["template"]
    if not isinstance(text, str) or not text.strip():
        raise RuleProblem(f"{label!r} must be a non-empty string")
    template = parse_template(text)
    given = [key for key in DLT_KEYS if key in table]
    if not given:
        return Wording(template=template, dlt=None, language=language)
    if len(given) != len(DLT_KEYS):
        missing = next(key for key in DLT_KEYS if key not in table)
        raise RuleProblem(f"{label}: {given[0]!r} needs {missing!r} too (both or neither)")
    dlt = parse_dlt(table["dlt_template_id"], table["dlt_template"])
    difference = drift(template, dlt)
    if difference:
        raise RuleProblem(f"{label}: text drifts from DLT template {dlt.template_id}: {difference}")
    return Wording(template=template, dlt=dlt, language=language)


def parse_languages(tables: object) -> list[Wording]:
    """The wordings of ``[rule.templates]``: ``hi = "..."`` or a ``[rule.templates.hi]``
    table with ``template`` and, for a language registered apart, the DLT keys."""
    if tables is None:
        return []
    if not isinstance(tables, dict) or not tables:
        raise RuleProblem("'templates' must be a table of languages, e.g. hi = \"...\"")
    wordings: dict[str, Wording] = {}
    for key, value in tables.items():
        language = language_code(key)
        if language in wordings:
            raise RuleProblem(f"templates: language {language!r} is given twice")
        table = value if isinstance(value, dict) else {"template": value}
        unknown = sorted(set(table) - {"template", *DLT_KEYS})
        if unknown or "template" not in table:
            raise RuleProblem(
                f"templates.{key}: a text, or a table of 'template' and optionally"
                f" {' and '.join(map(repr, DLT_KEYS))}"
            )
        wordings[language] = parse_wording(table, language=language)
    return list(wordings.values())


def parse_max_segments(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RuleProblem("'max_segments' must be a positive whole number")
    if value > MAX_TEMPLATE_SEGMENTS:
        raise RuleProblem(f"'max_segments' is at most {MAX_TEMPLATE_SEGMENTS}")
    return value


def refusal(wording: Wording, text: str, max_segments: int | None) -> str | None:
    """Why ``text`` must not be sent (longer than the rule allows, or a DLT variable longer
    than TRAI allows), without quoting it; ``None`` when it may go."""
    if max_segments is not None:
        length = sms_length(text)
        if length.segments > max_segments:
            return (
                f"{wording.label} is {length.segments} SMS segments long"
                f" ({length.units} {length.encoding} characters); the rule allows"
                f" at most {max_segments}"
            )
    return oversized_variable(wording.dlt, text) if wording.dlt else None


def check_sample(
    wording: Wording,
    sample: Mapping[str, Any],
    *,
    type_name: str,
    locale: str,
    zone: ZoneInfo,
    max_segments: int | None,
) -> None:
    """The wording on the sample document of its rule's type: it renders, no placeholder
    shows nothing, it fits :data:`MAX_TEMPLATE_SEGMENTS` SMS segments and is not refused."""
    label = wording.label
    try:
        text = wording.render(sample, locale=locale, zone=zone)
    except (DocumentIncomplete, ValueError, KeyError, AttributeError, TypeError) as error:
        raise RuleProblem(f"{label} does not render on a sample {type_name}: {error}") from None
    blank = wording.template.blank_placeholders(sample, locale=locale, zone=zone)
    if blank:
        raise RuleProblem(f"{label} placeholder(s) {', '.join(blank)} render as nothing")
    length = sms_length(text)
    if length.segments > MAX_TEMPLATE_SEGMENTS:
        raise RuleProblem(
            f"{label} is {length.segments} SMS segments long on a sample {type_name}"
            f" ({length.units} {length.encoding} characters); at most"
            f" {MAX_TEMPLATE_SEGMENTS} are allowed"
        )
    refused = refusal(wording, text, max_segments)
    if refused:
        raise RuleProblem(f"on a sample {type_name}, {refused}")


def _label(language: str | None) -> str:
    return "template" if language is None else f"templates.{language}"
