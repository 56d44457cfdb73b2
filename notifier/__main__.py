"""``python -m notifier [COMMAND]``: the service (``run``, the default) and its tools.

A new subcommand is one line in :data:`COMMANDS`: a name and a
:class:`~notifier.command.Command` (help, arguments, what it runs).
"""

import argparse
import sys

from notifier import check_rules, ledger_cli, optout_cli, run
from notifier.command import Command

COMMANDS: dict[str, Command] = {
    "run": run.COMMAND,
    "check-rules": check_rules.COMMAND,
    "ledger": ledger_cli.LIST_COMMAND,
    "resolve": ledger_cli.RESOLVE_COMMAND,
    "optout": optout_cli.COMMAND,
}
DEFAULT_COMMAND = "run"


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m notifier",
        description="The notifier service (run, the default) and its tools.",
    )
    subcommands = top.add_subparsers(dest="command", metavar="COMMAND")
    for name, command in COMMANDS.items():
        sub = subcommands.add_parser(name, help=command.help, description=command.help)
        command.add_arguments(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    return COMMANDS[arguments.command or DEFAULT_COMMAND].run(arguments)


if __name__ == "__main__":
    sys.exit(main())
