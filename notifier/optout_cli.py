"""``python -m notifier optout add|remove|list``: the numbers that get no SMS.

Numbers are read as the service reads phones (DEFAULT_PHONE_REGION for those without a
country code) and kept in E.164; listings mask them.
"""

import argparse
import json
import sys

from notifier.command import Command
from notifier.errors import LedgerUnavailable
from notifier.opt_outs import OptOutList
from notifier.phones import first_mobile_number
from notifier.settings import LedgerSettings
from notifier.wiring import open_database
from shared.logs import mask_phone
from shared.settings import load_settings_or_exit


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="stop every SMS to a number")
    add.add_argument("number", help="the phone number, e.g. +91 98765 43210")
    add.add_argument("--note", help="why, e.g. 'replied STOP on 2026-06-10'")
    remove = actions.add_parser("remove", help="let a number get SMS again")
    remove.add_argument("number")
    listing = actions.add_parser("list", help="the numbers on the list (masked)")
    listing.add_argument("--json", action="store_true", help="one JSON array instead of lines")


def run(arguments: argparse.Namespace) -> int:
    settings = load_settings_or_exit(LedgerSettings)
    try:
        with open_database(settings) as database:
            opt_outs = OptOutList(database)
            if arguments.action == "list":
                _list(opt_outs, as_json=arguments.json)
                return 0
            phone = first_mobile_number(arguments.number, settings.default_phone_region)
            if phone is None:
                sys.exit(f"notifier optout: {arguments.number!r} is not a mobile number")
            if arguments.action == "add":
                added = opt_outs.add(phone, arguments.note)
                print(f"{mask_phone(phone)}: {'added' if added else 'already on the list'}")
            else:
                removed = opt_outs.remove(phone)
                print(f"{mask_phone(phone)}: {'removed' if removed else 'was not on the list'}")
    except LedgerUnavailable as error:
        sys.exit(f"notifier optout: {error}")
    return 0


def _list(opt_outs: OptOutList, *, as_json: bool) -> None:
    entries = opt_outs.entries()
    if as_json:
        rows = [
            {
                "phone": mask_phone(entry.phone),
                "note": entry.note,
                "created_at": entry.created_at.isoformat(),
            }
            for entry in entries
        ]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not entries:
        print("no numbers opted out")
    for entry in entries:
        print(
            f"{entry.created_at:%Y-%m-%d %H:%M:%S}Z  {mask_phone(entry.phone)}  {entry.note or ''}"
        )


COMMAND = Command(
    help="manage the opt-out list: add, remove or list numbers that get no SMS",
    add_arguments=_add_arguments,
    run=run,
)
