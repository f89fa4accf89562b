"""``--help`` reads well at 80 and 100 columns: every help text shows whole, defaults too."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from colorcli.cli.app import app

_BOX = re.compile(r"[│╭╮╰╯─]")
_MARKUP = re.compile(r"\[[a-z/]")
"""What Rich reads as a markup tag (and swallows): ``[default: …]``, ``[bold]``, ``[/]``."""


def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command and group, with the words that call it (typer vendors its own click)."""
    yield path, group
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command


COMMANDS = list(_commands(typer.main.get_command(app)))


_GAP = 3
"""Other words allowed between two of a text: a wrapped type column (``[8<=x<=4096]``)."""


def _words(text: str) -> list[str]:
    return _BOX.sub(" ", text).split()


def _shown_whole(text: str, shown: list[str]) -> bool:
    """Every word of ``text`` is shown, in order, each within :data:`_GAP` of the one before."""
    words = _words(text)
    for start in (i for i, word in enumerate(shown) if word == words[0]):
        position = start
        for word in words[1:]:
            window = shown[position + 1 : position + 2 + _GAP]
            if word not in window:
                break
            position += 1 + window.index(word)
        else:
            return True
    return False


def _texts(command: Any) -> list[str]:
    """The command's description paragraphs and each option's help."""
    helps = [getattr(param, "help", None) for param in command.params]  # typer's arguments too
    return [*(command.help or "").split("\n\n"), *(text for text in helps if text)]


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_no_help_text_holds_rich_markup(path: tuple[str, ...], command: Any) -> None:
    for text in _texts(command):
        assert not _MARKUP.search(text), f"{' '.join(path)}: Rich swallows [...] in {text!r}"


@pytest.mark.parametrize("columns", [80, 100])
@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_help_shows_every_text_whole(path: tuple[str, ...], command: Any, columns: int) -> None:
    result = CliRunner().invoke(
        app, [*path, "--help"], env={"COLUMNS": str(columns)}, terminal_width=columns
    )
    assert result.exit_code == 0, result.output
    shown = _words(result.output)
    for text in _texts(command):
        assert _shown_whole(text, shown), f"{' '.join(path)} at {columns} columns: {text!r}"
    widest = max(len(line) for line in result.output.splitlines())
    assert widest <= columns, f"{' '.join(path)}: a line of {widest} characters"
