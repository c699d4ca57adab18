"""Subcommands of the acquire stage (implemented by its issue)."""

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """No subcommands yet."""
