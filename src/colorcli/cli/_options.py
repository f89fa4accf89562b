"""Options shared by ``colorize`` and ``eval``: the model's inference settings."""

from __future__ import annotations

from typing import Any

import typer

SATURATION = typer.Option(
    None,
    "--saturation",
    min=0.0,
    max=4.0,
    help="Scale predicted colour (ab) by this factor (default: the model's own, else 1).",
    show_default=False,
)
TEMPERATURE = typer.Option(
    None,
    "--temperature",
    min=0.01,
    max=10.0,
    help="Colour-class models (e.g. vivid): annealed-mean temperature; lower = bolder "
    "colours, 1 = plain mean (default: the model's own).",
    show_default=False,
)


def half_option(*, default: bool) -> Any:
    """``--half/--fp32``: one meaning in every command; only the default differs."""
    return typer.Option(
        default,
        "--half/--fp32",
        help="Half-precision autocast: bf16 on CUDA (fp16 where bf16 is missing), fp16 on "
        "MPS; no effect on CPU.",
    )
