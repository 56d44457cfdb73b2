"""A rule's channels and what each needs beside the rule's text: the keys ``channels``,
``whatsapp_template``, ``whatsapp_language``, ``whatsapp_parameters`` and
``email_subject`` (docs/rules.md, "Channels").

They are parsed when the rules load (:func:`parse_channel_keys`) and tried on the rule's
sample document (``check_sample``), so a parameter or subject that does not render,
renders as nothing, or holds what Meta refuses in a parameter stops start-up as a
template does.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError

from notifier.channels import DEFAULT_CHANNELS, Channel, WhatsAppTemplate
from notifier.errors import DocumentIncomplete, RuleProblem
from notifier.render import Template, parse_template

WHATSAPP_KEYS = ("whatsapp_template", "whatsapp_language", "whatsapp_parameters")
EMAIL_KEYS = ("email_subject",)
CHANNEL_KEYS = ("channels", *WHATSAPP_KEYS, *EMAIL_KEYS)
DEFAULT_WHATSAPP_LANGUAGE = "en"

_KEYS_OF: Mapping[Channel, tuple[str, ...]] = {
    Channel.WHATSAPP: WHATSAPP_KEYS,
    Channel.EMAIL: EMAIL_KEYS,
}
_REQUIRED: Mapping[Channel, tuple[str, str]] = {
    Channel.WHATSAPP: ("whatsapp_template", "the approved template's name"),
    Channel.EMAIL: ("email_subject", "the email's subject"),
}
TEMPLATE_NAME = re.compile(r"[a-z0-9_]{1,512}")
"""A message template's name as WhatsApp Manager allows it."""
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(_[A-Z]{2})?")
"""A template language as Meta writes it: ``en``, ``en_US``, ``hi``, ``fil``. Meta matches
the code exactly, so ``EN`` or ``en-US`` would name no approved template."""
REFUSED_IN_PARAMETER = re.compile(r"[\n\r\t]| {5}")
"""What Meta refuses in a template parameter: a line break, a tab, more than four
consecutive spaces."""


@dataclass(frozen=True)
class WhatsAppWording:
    """A rule's approved WhatsApp template and the templates of its body's parameters."""

    name: str
    language: str
    parameters: tuple[Template, ...] = ()
    """The templates that fill the body's ``{{1}}``, ``{{2}}``, ... in order."""

    def render(
        self, document: Mapping[str, Any], *, locale: str, zone: ZoneInfo
    ) -> WhatsAppTemplate:
        return WhatsAppTemplate(
            name=self.name,
            language=self.language,
            parameters=tuple(
                parameter.render(document, locale=locale, zone=zone)
                for parameter in self.parameters
            ),
        )

    def check_sample(
        self, sample: Mapping[str, Any], *, type_name: str, locale: str, zone: ZoneInfo
    ) -> None:
        """Each parameter renders on the sample, to something Meta accepts."""
        for number, parameter in enumerate(self.parameters, 1):
            label = f"whatsapp_parameters {{{{{number}}}}}"
            shown = _shown_on_sample(
                label, parameter, sample, type_name=type_name, locale=locale, zone=zone
            )
            if REFUSED_IN_PARAMETER.search(shown):
                raise RuleProblem(
                    f"{label} holds a line break, a tab or more than four spaces in a row on"
                    f" a sample {type_name}; Meta refuses such a parameter"
                )


@dataclass(frozen=True)
class EmailSubject:
    template: Template

    def render(self, document: Mapping[str, Any], *, locale: str, zone: ZoneInfo) -> str:
        # A header is one line: a line break from a document's value would end it.
        return " ".join(self.template.render(document, locale=locale, zone=zone).splitlines())

    def check_sample(
        self, sample: Mapping[str, Any], *, type_name: str, locale: str, zone: ZoneInfo
    ) -> None:
        _shown_on_sample(
            "email_subject", self.template, sample, type_name=type_name, locale=locale, zone=zone
        )


@dataclass(frozen=True)
class ChannelKeys:
    channels: tuple[Channel, ...] = DEFAULT_CHANNELS
    whatsapp: WhatsAppWording | None = None
    """Set exactly when WhatsApp is one of :attr:`channels`."""
    email_subject: EmailSubject | None = None
    """Set exactly when email is one of :attr:`channels`."""


def parse_channel_keys(table: Mapping[str, Any]) -> ChannelKeys:
    """A rule's channel keys; :class:`RuleProblem` for the first thing wrong with them."""
    channels = _channels(table["channels"]) if "channels" in table else DEFAULT_CHANNELS
    for channel, keys in _KEYS_OF.items():
        given = [key for key in keys if key in table]
        if given and channel not in channels:
            raise RuleProblem(
                f"{given[0]!r} is for the {channel} channel, which 'channels' does not list"
                f" ({', '.join(channels)})"
            )
        required, meaning = _REQUIRED[channel]
        if channel in channels and required not in table:
            raise RuleProblem(f"'channels' lists {channel}: {required!r} ({meaning}) is missing")
    return ChannelKeys(
        channels=channels,
        whatsapp=_whatsapp(table) if Channel.WHATSAPP in channels else None,
        email_subject=(
            EmailSubject(_template("email_subject", table["email_subject"]))
            if Channel.EMAIL in channels
            else None
        ),
    )


def _channels(value: object) -> tuple[Channel, ...]:
    names = [channel.value for channel in Channel]
    if not isinstance(value, list) or not value:
        raise RuleProblem(
            f"'channels' must be a non-empty list of {', '.join(names)}, in order of preference"
        )
    channels: list[Channel] = []
    for item in value:
        if not isinstance(item, str) or item not in names:
            raise RuleProblem(f"channels: {item!r} is not a channel (known: {', '.join(names)})")
        if Channel(item) in channels:
            raise RuleProblem(f"channels: {item!r} is listed twice")
        channels.append(Channel(item))
    return tuple(channels)


def _whatsapp(table: Mapping[str, Any]) -> WhatsAppWording:
    name = table["whatsapp_template"]
    if not isinstance(name, str) or not TEMPLATE_NAME.fullmatch(name):
        raise RuleProblem(
            "'whatsapp_template' must be the approved template's name: lowercase letters,"
            " digits and underscores, e.g. order_shipped"
        )
    language = table.get("whatsapp_language", DEFAULT_WHATSAPP_LANGUAGE)
    if not _is_language_code(language):
        raise RuleProblem(
            f"'whatsapp_language' {language!r} is not a language code as Meta writes them,"
            " e.g. en, en_US, hi"
        )
    parameters = table.get("whatsapp_parameters", [])
    if not isinstance(parameters, list) or not all(isinstance(p, str) for p in parameters):
        raise RuleProblem(
            '\'whatsapp_parameters\' must be a list of templates, e.g. ["{number}", "{date}"]'
        )
    return WhatsAppWording(
        name=name,
        language=language,
        parameters=tuple(
            _template(f"whatsapp_parameters {{{{{number}}}}}", text)
            for number, text in enumerate(parameters, 1)
        ),
    )


def _is_language_code(value: object) -> bool:
    if not isinstance(value, str) or not LANGUAGE_CODE.fullmatch(value):
        return False
    try:
        Locale.parse(value)
    except (ValueError, UnknownLocaleError):
        return False
    return True


def _template(label: str, text: object) -> Template:
    if not isinstance(text, str):
        raise RuleProblem(f"{label} must be a string")
    try:
        return parse_template(text)
    except RuleProblem as problem:
        raise RuleProblem(f"{label}: {problem}") from None


def _shown_on_sample(
    label: str,
    template: Template,
    sample: Mapping[str, Any],
    *,
    type_name: str,
    locale: str,
    zone: ZoneInfo,
) -> str:
    """``template`` on the sample; :class:`RuleProblem` when it does not render or any
    placeholder or the whole of it shows nothing."""
    try:
        shown = template.render(sample, locale=locale, zone=zone)
    except (DocumentIncomplete, ValueError, KeyError, AttributeError, TypeError) as error:
        raise RuleProblem(f"{label} does not render on a sample {type_name}: {error}") from None
    blank = template.blank_placeholders(sample, locale=locale, zone=zone)
    if blank:
        raise RuleProblem(f"{label} placeholder(s) {', '.join(blank)} render as nothing")
    if not shown.strip():
        raise RuleProblem(f"{label} renders as nothing on a sample {type_name}")
    return shown
