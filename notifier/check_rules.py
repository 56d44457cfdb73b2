"""``python -m notifier check-rules FILE``: try a rules file without a broker.

Validates the file exactly as start-up does, then shows each rule on the sample document
of its type, in its state when it names one, once per language the rule has (or on
documents given with ``--document``): whether it matched, its channels when they are not
just SMS, who would get the message, its text, and per channel what would go out: the
SMS's encoding, segments and DLT template, the WhatsApp template and its parameters, the
email's address and subject; and why the SMS would be refused. Exit status
0 when the file is valid, 1 when it is not (the rule's name and the problem on stderr),
2 for a wrong command line.
"""

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale

from notifier.addresses import first_email_address
from notifier.channels import DEFAULT_CHANNELS, Channel, WhatsAppTemplate
from notifier.command import Command
from notifier.errors import DocumentIncomplete, RulesError
from notifier.masking import mask_address
from notifier.outbound import one_line
from notifier.quiet_hours import DEFAULT_ZONE
from notifier.rules import DEFAULT_LANGUAGE_ATTRIBUTE, PlannedMessage, Rule, RuleSet
from notifier.segments import sms_length
from shared.errors import MalformedEvent
from shared.logs import mask_phone

VALID, INVALID, USAGE = 0, 1, 2


class _UnreadableDocument(Exception):
    """A ``--document`` file that is not an enriched event or document."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="the rules file (TOML) to check")
    parser.add_argument(
        "--document",
        type=Path,
        action="append",
        default=[],
        metavar="JSON",
        help="try the rules on this enriched event or document instead of the samples"
        " of its type (repeatable)",
    )
    parser.add_argument(
        "--timezone",
        type=_zone,
        default=DEFAULT_ZONE,
        help="zone dates are shown in, as NOTIFY_TIMEZONE (default Asia/Kolkata)",
    )
    parser.add_argument(
        "--language-attribute",
        default=DEFAULT_LANGUAGE_ATTRIBUTE,
        metavar="NAME",
        help="the counterparty attribute that picks a rule's language, as"
        f" NOTIFIER_LANGUAGE_ATTRIBUTE (default {DEFAULT_LANGUAGE_ATTRIBUTE})",
    )


def run(arguments: argparse.Namespace) -> int:
    return check_rules(
        arguments.file,
        arguments.document,
        arguments.timezone,
        out=sys.stdout,
        err=sys.stderr,
        language_attribute=arguments.language_attribute,
    )


def check_rules(
    path: Path,
    document_paths: list[Path],
    zone: ZoneInfo,
    *,
    out: TextIO,
    err: TextIO,
    language_attribute: str = DEFAULT_LANGUAGE_ATTRIBUTE,
) -> int:
    try:
        documents = [_read_document(document_path) for document_path in document_paths]
    except _UnreadableDocument as error:
        err.write(f"check-rules: {error}\n")
        return USAGE
    try:
        rules = RuleSet.load(path, timezone=zone, language_attribute=language_attribute)
    except RulesError as error:
        err.write(f"check-rules: {error}\n")
        return INVALID
    out.write(f"{rules.source}: {len(rules.rules)} rule(s), all valid\n")
    for rule in rules.rules:
        out.write(f"\n{_heading(rule)}\n")
        given = [document for document in documents if document.get("type") == rule.type]
        if given:
            for document in given:
                _show(rules, rule, document, f"document {document.get('id')}", out=out)
        for wording in [] if given else rule.wordings:
            what = "sample" if wording.language is None else f"sample in {_named(wording.language)}"
            _show(rules, rule, rule.sample(wording), what, out=out)
    return VALID


def _heading(rule: Rule) -> str:
    when = f" entering state {rule.state!r}" if rule.state else ", once per document"
    parts = [f"{rule.name}: {rule.type}{when}"]
    if rule.conditions:
        parts.append("when " + " and ".join(c.describe() for c in rule.conditions))
    if rule.quiet_hours:
        parts.append(f"quiet {rule.quiet_hours.describe()}")
    return ", ".join(parts)


def _show(
    rules: RuleSet, rule: Rule, document: Mapping[str, Any], what: str, *, out: TextIO
) -> None:
    if not rule.applies_to(document):
        out.write(f"  {what}: did not match (state {document.get('state')!r})\n")
    elif failed := rule.failed_conditions(document):
        reasons = " and ".join(condition.describe() for condition in failed)
        out.write(f"  {what}: did not match (not {reasons})\n")
    else:
        out.write(f"  {what}: matched\n")
    if rule.channels != DEFAULT_CHANNELS:
        out.write(f"  channels: {', '.join(rule.channels)}\n")
    if any(channel.needs_phone for channel in rule.channels):
        phone = rule.recipient.phone_text(document)
        shown_phone = mask_phone(phone) if phone else "no phone in this document"
        sender = f", from {rule.sender}" if rule.sender else ""
        out.write(f"  to: {rule.recipient.describe()} ({shown_phone}){sender}\n")
    try:
        # Planned as the notifier plans it, so the language, DLT template and refusal
        # shown are those it would use.
        message = rules.planned(rule, document)
    except (DocumentIncomplete, MalformedEvent) as error:
        out.write(f"  text: cannot be rendered, the event would be dead-lettered: {error}\n")
        return
    out.write(f"  text: {message.text}\n")
    for channel in message.channels:
        out.write(f"  {channel}: {_what_goes_out(rule, message, channel)}\n")
    if message.refusal and message.channels == (Channel.SMS,):
        out.write(f"  refused: {message.refusal}\n")
    elif message.refusal and Channel.SMS in message.channels:
        out.write(f"  sms refused, the other channels still go: {message.refusal}\n")


def _named(language: str) -> str:
    return f"{Locale.parse(language).get_language_name('en')} ({language})"


def _what_goes_out(rule: Rule, message: PlannedMessage, channel: Channel) -> str:
    if channel is Channel.WHATSAPP:
        return _whatsapp(message.whatsapp)
    if channel is Channel.EMAIL:
        return _email(rule, message)
    return _cost(message)


def _whatsapp(template: WhatsAppTemplate | None) -> str:
    assert template is not None  # planned for every rule with WhatsApp among its channels
    # As sent: the whitespace Meta refuses in a parameter is folded at send time.
    parameters = ", ".join(
        json.dumps(one_line(parameter), ensure_ascii=False) for parameter in template.parameters
    )
    return f"{template.name} ({template.language}) parameters: {parameters or 'none'}"


def _email(rule: Rule, message: PlannedMessage) -> str:
    address = first_email_address(message.email_text)
    shown = mask_address(address) if address else "no usable email address in this document"
    subject = json.dumps(message.email_subject, ensure_ascii=False)
    return f"to {rule.recipient.describe_email()} ({shown}), subject {subject}"


def _cost(message: PlannedMessage) -> str:
    length = sms_length(message.text)
    segments = f"{length.segments} segment{'s' if length.segments > 1 else ''}"
    dlt = (
        f"DLT template {message.dlt_template_id}" if message.dlt_template_id else "no DLT template"
    )
    return f"{length.encoding}, {segments} ({length.units} characters), {dlt}"


def _read_document(path: Path) -> dict[str, Any]:
    """An enriched event (its ``data.document``) or a bare document, from a JSON file."""
    try:
        parsed = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise _UnreadableDocument(f"document {path}: cannot be read as JSON: {error}") from None
    except RecursionError:
        raise _UnreadableDocument(f"document {path}: nested too deeply to be a document") from None
    data = parsed.get("data") if isinstance(parsed, dict) else None
    document = data.get("document") if isinstance(data, dict) else parsed
    if not isinstance(document, dict) or not isinstance(document.get("type"), str):
        raise _UnreadableDocument(f"document {path}: neither an enriched event nor a document")
    return document


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(f"{name!r} is not a known time zone") from None


COMMAND = Command(
    help="validate a rules file and show each rule's message on sample documents (no broker)",
    add_arguments=add_arguments,
    run=run,
)
