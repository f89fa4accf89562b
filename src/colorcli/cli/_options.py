"""Options shared by ``colorize`` and ``eval``: the model's inference settings."""

from __future__ import annotations

import typer

SATURATION = typer.Option(
    None,
    "--saturation",
    min=0.0,
    max=4.0,
    help="Scale predicted colour (ab) by this factor [default: the model's own, else 1].",
)
TEMPERATURE = typer.Option(
    None,
    "--temperature",
    min=0.01,
    max=10.0,
    help="Colour-class models (e.g. vivid): annealed-mean temperature; lower = bolder "
    "colours, 1 = plain mean [default: the model's own].",
)
