"""Shared reporting for CLI commands: consoles, one-line errors, exit codes."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from colorcli import hub
from colorcli.errors import ColorcliError, UsageError


class _Stdout(Console):
    """A console whose reader may go away (``| head``, a closed pipe) without ending the run.

    Rich's default exits with status 1 and no message on a broken pipe, turning a run that
    succeeded into a failure; here the output is dropped instead (see :func:`say`).
    """

    broken = False

    def on_broken_pipe(self) -> None:
        self.quiet = True
        self.broken = True
        # so that Python's flush at exit does not fail on the dead pipe either
        with contextlib.suppress(OSError, ValueError, AttributeError, io.UnsupportedOperation):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)


console = _Stdout()
"""Standard output: results, tables."""


def reset_consoles() -> None:
    """Start an invocation with a working stdout (a previous one in this process may have
    seen its reader go away, as tests calling the app in turn do)."""
    console.broken = False
    console.quiet = False


err_console = Console(stderr=True)
"""Standard error: progress, warnings, errors."""

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def say(text: str, **options: object) -> None:
    """Print a result line on stdout, or on stderr once stdout has been closed."""
    console.print(text, **options)  # type: ignore[arg-type]
    if console.broken:
        err_console.print(text, **options)  # type: ignore[arg-type]


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
        fail("interrupted", EXIT_INTERRUPTED)


@contextmanager
def download_progress() -> Iterator[hub.ProgressCallback]:
    """A rich progress bar on stderr, as a callback for :func:`colorcli.hub.download_entry`.

    The bar appears with the first byte, so a download that fails to start prints nothing.
    """
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err_console,
    )
    tasks: dict[str, TaskID] = {}

    def update(entry: hub.ModelEntry, done: int) -> None:
        if not tasks:
            bar.start()
        if entry.name not in tasks:
            tasks[entry.name] = bar.add_task(entry.name, total=entry.size)
        bar.update(tasks[entry.name], completed=done)

    try:
        yield update
    finally:
        if tasks:
            bar.stop()
