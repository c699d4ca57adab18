"""The ``autalk`` command. Each stage registers its subcommands from a module in ``autalk.commands``."""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import sys

from autalk.errors import AutalkError
from autalk.log import setup_logging

# One module per stage; each defines ``register(subparsers)`` adding parsers with ``func`` set.
COMMAND_MODULES = [
    "autalk.commands.config",
    "autalk.commands.acquire",
    "autalk.commands.demo",
    "autalk.commands.preprocess",
    "autalk.commands.aus",
    "autalk.commands.train",
    "autalk.commands.generate",
    "autalk.commands.evaluate",
    "autalk.commands.app",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autalk", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status. ``argv`` None: the command line of this process (the ``autalk``
    script), which ends when this returns."""
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        args.func(args)
    except AutalkError as err:
        logging.getLogger("autalk").error("%s", err)
        print(f"autalk {args.command}: error: {err}", file=sys.stderr)
        return 2
    finally:
        if argv is None:
            # The process exits next. Frozen, the objects still alive (~200 k after a command that used torch)
            # are left out of the interpreter's last collection, which would free nothing the command needs and
            # costs ~0.4 s of CPU after ``autalk generate``. Calls from Python (tests) pass argv and keep theirs.
            gc.freeze()
    return 0


if __name__ == "__main__":
    sys.exit(main())
