"""``python -m notifier ledger`` lists notifications; ``... resolve`` settles a stuck one.

Both read NOTIFIER_DATABASE_URL (and NOTIFIER_STUCK_AFTER_S) like the service. Phones
and email addresses are masked in every output.
"""

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from notifier.command import Command
from notifier.errors import LedgerUnavailable
from notifier.ledger import Ledger, LedgerEntry, LedgerQuery, Resolution
from notifier.ledger_schema import Status
from notifier.masking import mask_address
from notifier.settings import LedgerSettings
from notifier.wiring import open_database
from shared.settings import load_settings_or_exit

KEY_SHOWN = 12
"""Characters of the key in the table; ``resolve`` accepts any unique prefix."""
COLUMNS = (
    "created", "key", "status", "channel", "document", "rule", "state", "to", "tries",
    "delivery", "detail",
)  # fmt: skip


def _moment(text: str) -> datetime:
    """An ISO 8601 date or time; without an offset it is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _add_list_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--document", metavar="ID", help="only this document's notifications")
    parser.add_argument("--phone", metavar="NUMBER", help="only to this number (E.164)")
    parser.add_argument("--status", choices=[status.value for status in Status])
    parser.add_argument("--since", metavar="ISO", type=_moment, help="created at or after")
    parser.add_argument("--until", metavar="ISO", type=_moment, help="created before")
    parser.add_argument(
        "--stuck",
        action="store_true",
        help="only rows left 'sending' longer than NOTIFIER_STUCK_AFTER_S",
    )
    parser.add_argument("--json", action="store_true", help="one JSON array instead of a table")


def list_notifications(arguments: argparse.Namespace) -> int:
    settings = load_settings_or_exit(LedgerSettings)
    query = LedgerQuery(
        document_id=arguments.document,
        phone=arguments.phone,
        status=Status(arguments.status) if arguments.status else None,
        since=arguments.since,
        until=arguments.until,
    )
    try:
        with open_database(settings) as database:
            ledger = Ledger(database)
            if arguments.stuck:
                entries = ledger.stuck(settings.notifier_stuck_after_s, query)
            else:
                entries = ledger.entries(query)
    except LedgerUnavailable as error:
        sys.exit(f"notifier ledger: {error}")
    if arguments.json:
        json.dump([_as_json(entry) for entry in entries], sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        _write_table([_as_row(entry) for entry in entries], sys.stdout)
    return 0


def _as_json(entry: LedgerEntry) -> dict[str, Any]:
    notification = entry.notification
    whatsapp = notification.whatsapp
    return {
        "key": notification.key,
        "document_id": notification.document_id,
        "rule": notification.rule,
        "state": notification.state,
        "channel": notification.channel.value,
        "channels": [channel.value for channel in notification.channels],
        "phone": mask_address(notification.phone) if notification.phone else None,
        "email": mask_address(notification.email) if notification.email else None,
        "sender": notification.sender,
        "text": notification.text,
        "email_subject": notification.email_subject,
        "whatsapp": {
            "template": whatsapp.name,
            "language": whatsapp.language,
            "parameters": list(whatsapp.parameters),
        }
        if whatsapp
        else None,
        "status": entry.status.value,
        "delivery_status": entry.delivery_status.value if entry.delivery_status else None,
        "provider_message_id": entry.provider_message_id,
        "attempts": entry.attempts,
        "last_error": entry.last_error,
        "fallback_from": entry.fallback_from.value if entry.fallback_from else None,
        "fallback_reason": entry.fallback_reason,
        "replaced_message_id": entry.replaced_message_id,
        "due_at": entry.due_at.isoformat() if entry.due_at else None,
        "created_at": entry.created_at.isoformat(),
        "updated_at": entry.updated_at.isoformat(),
    }


def _as_row(entry: LedgerEntry) -> tuple[str, ...]:
    notification = entry.notification
    if entry.status is Status.HELD and entry.due_at:
        state = f"due {entry.due_at:%Y-%m-%d %H:%M}Z"
    else:
        state = entry.last_error or entry.provider_message_id or ""
    fallback = (
        f"{entry.fallback_from} → {notification.channel}: {entry.fallback_reason}"
        if entry.fallback_from
        else ""
    )
    return (
        f"{entry.created_at:%Y-%m-%d %H:%M:%S}Z",
        notification.key[:KEY_SHOWN],
        entry.status.value,
        notification.channel.value,
        notification.document_id,
        notification.rule,
        notification.state,
        mask_address(notification.address),
        str(entry.attempts),
        entry.delivery_status.value if entry.delivery_status else "-",
        "; ".join(part for part in (fallback, state) if part),
    )


def _write_table(rows: list[tuple[str, ...]], stdout: TextIO) -> None:
    if not rows:
        stdout.write("no notifications\n")
        return
    widths = [max(len(cell) for cell in column) for column in zip(COLUMNS, *rows, strict=True)]
    for row in (COLUMNS, *rows):
        stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        stdout.write("\n")


def _add_resolve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("key", help="the notification's key, or a prefix that names one row")
    parser.add_argument(
        "--as",
        dest="resolution",
        required=True,
        choices=[resolution.value for resolution in Resolution],
        help="sent: the customer got it; failed: it did not and must not go out; "
        "resend: it did not, send it again (by the running notifier)",
    )


def resolve_notification(arguments: argparse.Namespace) -> int:
    settings = load_settings_or_exit(LedgerSettings)
    resolution = Resolution(arguments.resolution)
    try:
        with open_database(settings) as database:
            ledger = Ledger(database)
            keys = ledger.keys_starting_with(arguments.key)
            if len(keys) != 1:
                problem = "no notification has" if not keys else "several notifications have"
                sys.exit(f"notifier resolve: {problem} a key starting with {arguments.key!r}")
            (key,) = keys
            if not ledger.resolve(key, resolution):
                entry = ledger.entry(key)
                status = entry.status.value if entry else "gone"
                sys.exit(
                    f"notifier resolve: {key} is {status}; "
                    f"--as {resolution.value} applies to a stuck (sending) row"
                    + (" or a failed one" if resolution is Resolution.RESEND else "")
                )
    except LedgerUnavailable as error:
        sys.exit(f"notifier resolve: {error}")
    print(f"{key}: {resolution.value}")
    return 0


LIST_COMMAND = Command(
    help="list notifications in the delivery ledger (phones masked)",
    add_arguments=_add_list_arguments,
    run=list_notifications,
)
RESOLVE_COMMAND = Command(
    help="settle a stuck notification: --as sent, failed or resend",
    add_arguments=_add_resolve_arguments,
    run=resolve_notification,
)
