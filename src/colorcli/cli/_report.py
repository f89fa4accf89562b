"""Shared reporting for CLI commands: consoles, one-line errors, exit codes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from colorcli.errors import ColorcliError, UsageError

console = Console()
"""Standard output: results, tables."""

err_console = Console(stderr=True)
"""Standard error: progress, warnings, errors."""

EXIT_FAILED = 1
EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print ``Error: message`` on stderr and exit with ``code``."""
    err_console.print(f"[bold red]Error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn colorcli's exceptions into one-line errors (exit 2 for usage errors, else 1)."""
    try:
        yield
    except UsageError as error:
        fail(str(error), EXIT_USAGE)
    except ColorcliError as error:
        fail(str(error), EXIT_FAILED)
    except KeyboardInterrupt:
        fail("interrupted", 130)
