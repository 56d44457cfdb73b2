"""``python -m notifier optout add|remove|list``: the numbers and email addresses that get
no message on any channel.

Numbers are read as the service reads phones (DEFAULT_PHONE_REGION for those without a
country code) and kept in E.164; addresses are normalised as the service reads them
(notifier/addresses.py). Listings mask both.
"""

import argparse
import json
import sys

from notifier.addresses import first_email_address
from notifier.command import Command
from notifier.errors import LedgerUnavailable
from notifier.masking import mask_address
from notifier.opt_outs import OptOutList, is_email
from notifier.phones import first_mobile_number
from notifier.settings import LedgerSettings
from notifier.wiring import open_database
from shared.settings import load_settings_or_exit


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="stop every message to a number or email address")
    add.add_argument("address", help="a phone number (+91 98765 43210) or an email address")
    add.add_argument("--note", help="why, e.g. 'replied STOP on 2026-06-10'")
    remove = actions.add_parser("remove", help="let a number or address get messages again")
    remove.add_argument("address")
    listing = actions.add_parser("list", help="the numbers and addresses on the list (masked)")
    listing.add_argument("--json", action="store_true", help="one JSON array instead of lines")


def run(arguments: argparse.Namespace) -> int:
    settings = load_settings_or_exit(LedgerSettings)
    try:
        with open_database(settings) as database:
            opt_outs = OptOutList(database)
            if arguments.action == "list":
                _list(opt_outs, as_json=arguments.json)
                return 0
            address = _address(arguments.address, settings.default_phone_region)
            if arguments.action == "add":
                added = opt_outs.add(address, arguments.note)
                print(f"{mask_address(address)}: {'added' if added else 'already on the list'}")
            else:
                removed = opt_outs.remove(address)
                print(f"{mask_address(address)}: {'removed' if removed else 'was not on the list'}")
    except LedgerUnavailable as error:
        sys.exit(f"notifier optout: {error}")
    return 0


def _address(text: str, region: str) -> str:
    """The number or address as the list keeps it; exits naming a text that is neither."""
    if is_email(text):
        address = first_email_address(text)
        if address is None:
            sys.exit(f"notifier optout: {text!r} is not an email address")
        return address
    phone = first_mobile_number(text, region)
    if phone is None:
        sys.exit(f"notifier optout: {text!r} is not a mobile number")
    return phone


def _list(opt_outs: OptOutList, *, as_json: bool) -> None:
    entries = opt_outs.entries()
    if as_json:
        rows = [
            {
                "phone": None if is_email(entry.address) else mask_address(entry.address),
                "email": mask_address(entry.address) if is_email(entry.address) else None,
                "note": entry.note,
                "created_at": entry.created_at.isoformat(),
            }
            for entry in entries
        ]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not entries:
        print("no numbers or addresses opted out")
    for entry in entries:
        print(
            f"{entry.created_at:%Y-%m-%d %H:%M:%S}Z  {mask_address(entry.address)}  "
            f"{entry.note or ''}"
        )


COMMAND = Command(
    help="manage the opt-out list: add, remove or list numbers and email addresses that "
    "get no message",
    add_arguments=_add_arguments,
    run=run,
)
