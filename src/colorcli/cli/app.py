"""The Typer application: registers one command per module."""

from __future__ import annotations

import inspect
import io
import sys

import typer

from colorcli import __version__
from colorcli.cli import colorize, evaluate, models, serve, train
from colorcli.cli._report import reset_consoles

app = typer.Typer(
    name="colorcli",
    help="Colourize grayscale photographs and films with neural networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"colorcli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Show the version."
    ),
) -> None:
    """Colourize grayscale photographs and films with neural networks."""
    reset_consoles()
    _print_any_file_name()


def _print_any_file_name() -> None:
    """Let file names that are not valid UTF-8 print (as ``\\udcXX``) instead of crashing.

    Python hands such names over with surrogate escapes, which a strict stdout (any UTF-8
    locale but C) refuses to encode: the summary line would end a finished run in a traceback.
    """
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            stream.reconfigure(errors="backslashreplace")


app.command("colorize", no_args_is_help=True)(colorize.colorize_command)
app.command("train")(train.train_command)
app.command("eval")(evaluate.eval_command)
app.add_typer(models.app, name="models")
app.command("serve")(serve.serve_command)


def _paragraphs_on_one_line(group: typer.Typer) -> None:
    """Give each command its docstring as help with every paragraph on one line.

    Typer's Rich help keeps a docstring's single line breaks, and they would show
    mid-sentence wherever the terminal is not as wide as the source.
    """
    for command in group.registered_commands:
        text = command.help or (command.callback.__doc__ if command.callback else None)
        if text:
            paragraphs = inspect.cleandoc(text).split("\n\n")
            command.help = "\n\n".join(" ".join(paragraph.split()) for paragraph in paragraphs)
    for subgroup in group.registered_groups:
        if subgroup.typer_instance is not None:
            _paragraphs_on_one_line(subgroup.typer_instance)


_paragraphs_on_one_line(app)  # after every command is registered


def main() -> None:
    """Console-script entry point."""
    app()
