"""Options shared by the commands: the model's inference settings, optional values."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

import typer

from colorcli.errors import UnknownDeviceError, UnknownModelError, UsageError


def unset(*flags: str, help: str, **extra: Any) -> Any:
    """An option that is None (or ``[]`` for a list) unless given; no ``[default]`` shown."""
    return typer.Option(None, *flags, help=help, show_default=False, **extra)


def between(low: float, high: float) -> Callable[[float | None], float | None]:
    """Callback refusing a float outside ``[low, high]``, NaN included.

    Click's own ``min``/``max`` let NaN through to a misleading message ("should be <= 4"),
    since every comparison with NaN is false.
    """

    def check(value: float | None) -> float | None:
        if value is not None and not (math.isfinite(value) and low <= value <= high):
            raise typer.BadParameter(f"must be a number from {low:g} to {high:g}, got {value:g}")
        return value

    return check


SATURATION = typer.Option(
    None,
    "--saturation",
    callback=between(0.0, 4.0),
    help="Scale predicted colour (ab) by this factor, 0-4 (default: the model's own, else 1).",
    show_default=False,
)
TEMPERATURE = typer.Option(
    None,
    "--temperature",
    callback=between(0.01, 10.0),
    help="Colour-class models (e.g. vivid): annealed-mean temperature, 0.01-10; lower = "
    "bolder colours, 1 = plain mean (default: the model's own).",
    show_default=False,
)


@contextlib.contextmanager
def bad_values_are_usage_errors() -> Iterator[None]:
    """An unknown ``--model`` name or ``--device`` is a bad option value: exit 2, one line."""
    try:
        yield
    except UnknownModelError as error:
        raise UsageError(f"--model: {error}") from None
    except UnknownDeviceError as error:
        raise UsageError(f"--device: {error}") from None


def half_option(*, default: bool) -> Any:
    """``--half/--fp32``: one meaning in every command; only the default differs."""
    return typer.Option(
        default,
        "--half/--fp32",
        help="Half-precision autocast: bf16 on CUDA (fp16 where bf16 is missing), fp16 on "
        "MPS; no effect on CPU.",
    )


def size_option(*, note: str = "") -> Any:
    """``--size``: the long side of the L image the model sees (one definition everywhere)."""
    return typer.Option(
        None,
        "--size",
        min=8,
        max=4096,
        help=f"Long side of the L image the model sees{note} (default: the model's own, else 256).",
        show_default=False,
    )
