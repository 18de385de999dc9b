"""One-line command-line errors, shared by ``skinscan`` and its sub-command groups.

A wrong input gets one line on stderr (``skinscan: error: …``) and an exit status, never a
traceback: exit 2 for unreadable, unsupported or invalid input (DESIGN.md, command line).
"""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

__all__ = ["EXIT_INPUT", "err_console", "fail"]

#: Exit status of an input the command cannot use.
EXIT_INPUT = 2

#: Console on stderr, for messages beside a command's output on stdout.
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, *, command: str = "skinscan", status: int = EXIT_INPUT) -> NoReturn:
    """Print ``{command}: error: {message}`` on stderr and exit with ``status``."""
    err_console.print(f"{command}: error: {message}", markup=False)
    raise typer.Exit(status)
