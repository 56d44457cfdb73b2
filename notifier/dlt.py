"""DLT content templates: does a rule's text match the one registered with the carriers?

Under TRAI's DLT rules an Indian carrier delivers a commercial SMS only when its text is
the registered template's fixed text, with something of at most
:data:`MAX_VARIABLE_CHARS` characters wherever the template has ``{#var#}``. Two checks:
:func:`drift` compares a rule's parsed template with the registration once, at start-up
(each placeholder must fall inside a ``{#var#}``, every fixed character must be equal), and
:func:`oversized_variable` tells, for one rendered text, whether the carrier would
reject it for a variable that is too long.
"""

import functools
import re
from dataclasses import dataclass
from functools import cached_property

from notifier.errors import RuleProblem
from notifier.render import Placeholder, Template

VARIABLE = "{#var#}"
MAX_VARIABLE_CHARS = 30
"""TRAI's limit on one ``{#var#}`` of a DLT content template."""
_CONTEXT_CHARS = 20
"""How much of each text a drift message quotes."""


@dataclass(frozen=True)
class DltTemplate:
    template_id: str
    text: str
    """As registered, with ``{#var#}`` where the message may vary."""

    @cached_property
    def fixed(self) -> tuple[str, ...]:
        """The fixed texts around the variables: one more than there are variables."""
        return tuple(self.text.split(VARIABLE))

    def variables(self, text: str) -> tuple[str, ...] | None:
        """The variables' values in a rendered ``text``, or ``None`` if it does not match."""
        found = _pattern(self.fixed, None).fullmatch(text)
        return found.groups() if found else None

    def fits(self, text: str) -> bool:
        """Whether a carrier would accept ``text``: some reading of it gives every variable
        at most :data:`MAX_VARIABLE_CHARS` characters."""
        return _pattern(self.fixed, MAX_VARIABLE_CHARS).fullmatch(text) is not None


def parse_dlt(template_id: object, text: object) -> DltTemplate:
    """The registration a rule names; :class:`RuleProblem` when it is incomplete."""
    if not isinstance(template_id, str) or not template_id.strip():
        raise RuleProblem("'dlt_template_id' must be a non-empty string")
    if not isinstance(text, str) or not text.strip():
        raise RuleProblem("'dlt_template' must be a non-empty string")
    return DltTemplate(template_id=template_id.strip(), text=text)


def drift(template: Template, dlt: DltTemplate) -> str | None:
    """Why ``template`` cannot produce a text matching ``dlt``, at the first difference;
    ``None`` when every text it renders matches (variables' lengths aside)."""
    ours = _tokens(template)
    theirs: list[str | None] = []
    for index, fixed in enumerate(dlt.fixed):
        if index:
            theirs.append(None)
        theirs.extend(fixed)
    reached, ours_at, theirs_at = _furthest(ours, theirs)
    if reached:
        return None
    where = f"at character {_offset(ours, ours_at) + 1} of the rule's text"
    rule_has = _describe(ours, ours_at)
    if theirs_at >= len(theirs):
        return f"{where} the template has ended, the rule has {rule_has}"
    template_has = _quote("".join(c or "" for c in _until_variable(theirs, theirs_at)))
    if ours_at < len(ours) and isinstance(ours[ours_at], Placeholder):
        return f"{where} the template has fixed text {template_has}, the rule has {rule_has}"
    return f"{where} the template has {template_has}, the rule has {rule_has}"


def oversized_variable(dlt: DltTemplate, text: str) -> str | None:
    """Why a carrier would reject ``text`` (a variable too long, or no match at all),
    without quoting it; ``None`` when it fits."""
    if dlt.fits(text):
        return None
    values = dlt.variables(text)
    if values is None:
        return f"the text does not match DLT template {dlt.template_id}"
    number, value = next(
        (number, value) for number, value in enumerate(values, 1) if len(value) > MAX_VARIABLE_CHARS
    )
    return (
        f"variable {number} of DLT template {dlt.template_id} would be {len(value)}"
        f" characters long; TRAI allows at most {MAX_VARIABLE_CHARS}"
    )


@functools.cache
def _pattern(fixed: tuple[str, ...], limit: int | None) -> re.Pattern[str]:
    variable = "(.*?)" if limit is None else f"(.{{0,{limit}}}?)"
    return re.compile(variable.join(re.escape(part) for part in fixed), re.DOTALL)


Token = str | Placeholder
"""One character of a rule's fixed text, or one placeholder."""


def _tokens(template: Template) -> list[Token]:
    tokens: list[Token] = []
    for part in template.parts:
        if isinstance(part, Placeholder):
            tokens.append(part)
        else:
            tokens.extend(part)
    return tokens


def _furthest(ours: list[Token], theirs: list[str | None]) -> tuple[bool, int, int]:
    """Whether ``theirs`` (characters, ``None`` for a variable) can produce all of ``ours``,
    else where the two part: the dead end of the best alignment, scored one up for a
    fixed character matched and one down for a fixed character of ours a variable takes
    (so a variable is not stretched over half the text to get past a typo).

    A variable takes any run of our tokens (placeholders only there); a fixed character
    takes only the same character. Each step moves forward in one text or both, so one
    pass in order scores every alignment.
    """
    best: list[list[int | None]] = [[None] * (len(theirs) + 1) for _ in range(len(ours) + 1)]
    best[0][0] = 0
    ends: list[tuple[int, int, int]] = []
    for i in range(len(ours) + 1):
        for j in range(len(theirs) + 1):
            score = best[i][j]
            if score is None:
                continue
            steps = _steps(ours, theirs, i, j)
            if not steps and (i, j) != (len(ours), len(theirs)):
                ends.append((score, j, -i))
            for next_i, next_j, gained in steps:
                known = best[next_i][next_j]
                best[next_i][next_j] = (
                    score + gained if known is None else max(known, score + gained)
                )
    if best[len(ours)][len(theirs)] is not None:
        return True, len(ours), len(theirs)
    _, theirs_at, ours_at = max(ends)
    return False, -ours_at, theirs_at


def _steps(
    ours: list[Token], theirs: list[str | None], i: int, j: int
) -> list[tuple[int, int, int]]:
    """The states one step on from ``(i, j)``, each with its score (see :func:`_furthest`)."""
    if j >= len(theirs):
        return []
    if theirs[j] is None:
        # The variable ends here, or takes one more token of ours.
        if i == len(ours):
            return [(i, j + 1, 0)]
        return [(i, j + 1, 0), (i + 1, j, 0 if isinstance(ours[i], Placeholder) else -1)]
    if i < len(ours) and ours[i] == theirs[j]:
        return [(i + 1, j + 1, 1)]
    return []


def _offset(ours: list[Token], index: int) -> int:
    """Where token ``index`` starts in the rule's text as written."""
    return sum(len(_written(token)) for token in ours[:index])


def _written(token: Token) -> str:
    if isinstance(token, str):
        return token
    return f"{{{token.written}:{token.format}}}" if token.format else f"{{{token.written}}}"


def _describe(ours: list[Token], index: int) -> str:
    if index >= len(ours):
        return "ended"
    if isinstance(ours[index], Placeholder):
        return f"the placeholder {_written(ours[index])}"
    return _quote("".join(_written(token) for token in ours[index : index + _CONTEXT_CHARS]))


def _until_variable(theirs: list[str | None], index: int) -> list[str | None]:
    end = next((at for at in range(index, len(theirs)) if theirs[at] is None), len(theirs))
    return theirs[index : min(end, index + _CONTEXT_CHARS)]


def _quote(text: str) -> str:
    """The first words of ``text``, quoted."""
    words = text.split(" ")
    shown = words[0] or " ".join(words[:2])
    return f'"{shown}"'
