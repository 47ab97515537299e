"""Command line: `python -m provision VERB` (only verbs that work are listed)."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console

from provision import topology
from provision.errors import UnderhoodError
from provision.validation import validate


def _check(args: argparse.Namespace, console: Console) -> int:
    from provision.cli_check import show

    plan = topology.load(args.plan, check=False)
    warnings = validate(plan, source=args.plan or str(topology.DEFAULT_PLAN))
    show(plan, warnings, console)
    return 0


#: Verbs of the lifecycle that later parts of underhood add; until then they say so.
NOT_YET = {"up", "down", "status", "ssh-config", "shell", "chaos", "report", "demo"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    verb = next((a for a in argv if not a.startswith("-")), None)
    if verb in NOT_YET:
        print(f"error: `{verb}` needs a provider, and none is available yet (see README: providers)", file=sys.stderr)
        return 2
    parser = argparse.ArgumentParser(prog="python -m provision", description="Build and inspect the underhood lab.")
    parser.add_argument("--plan", default=None, help="plan file (default: provision/lab.yaml)")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    p = sub.add_parser("check", help="validate the plan and print it with the documents' errata")
    p.add_argument("--plan", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.set_defaults(func=_check)
    args = parser.parse_args(argv)
    console = Console()
    try:
        return args.func(args, console)
    except UnderhoodError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_status


if __name__ == "__main__":
    sys.exit(main())
