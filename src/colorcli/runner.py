"""Run planned colourize jobs: read, batch through the model, write atomically, never clobber."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from colorcli.errors import ColorcliError, ImageError
from colorcli.imageio import DEFAULT_MAX_PIXELS, LoadedImage, read_image, write_image
from colorcli.jobs import Job
from colorcli.pipeline import Colorizer, join_full_resolution

BATCH_PIXEL_BUDGET = 48_000_000
"""A batch is flushed early once its full-size images hold this many pixels (bounds memory)."""


@dataclass(frozen=True)
class JobResult:
    """What happened to one job: ``done``, ``skipped`` or ``failed``, with a reason."""

    job: Job
    status: str
    reason: str = ""


@dataclass
class RunSummary:
    """Counts and failures of a run."""

    done: int = 0
    skipped: list[JobResult] = field(default_factory=list)
    failed: list[JobResult] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class ColorizeSettings:
    """Per-run options of :func:`colorize_jobs`."""

    overwrite: bool = False
    skip_color: bool = False
    compare: bool = False
    batch_size: int = 8
    max_pixels: int = DEFAULT_MAX_PIXELS
    out_root: Path | None = None
    """Outputs must resolve inside this folder (symlinked sub-folders may not lead out)."""


def compare_path(output: Path) -> Path:
    """Where ``--compare`` writes the side-by-side of ``output``."""
    return output.with_name(f"{output.stem}_compare{output.suffix}")


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Input | output, ``(H, 2W, 3)``, same dtype."""
    return np.concatenate((left, right), axis=1)


def _check_inside(output: Path, root: Path | None) -> None:
    if root is None:
        return
    parent = output.parent.resolve()
    if not parent.is_relative_to(root.resolve()):
        raise ImageError(f"{output}: refusing to write outside the output folder (via {parent})")


def colorize_jobs(
    jobs: Sequence[Job],
    colorizer: Colorizer,
    settings: ColorizeSettings,
    on_result: Callable[[JobResult], None] | None = None,
) -> RunSummary:
    """Colourize every job; a bad file fails alone and the batch goes on.

    ``on_result`` is called once per job as soon as its fate is known.
    """
    summary = RunSummary()
    started = time.perf_counter()

    def report(result: JobResult) -> None:
        if result.status == "done":
            summary.done += 1
        elif result.status == "skipped":
            summary.skipped.append(result)
        else:
            summary.failed.append(result)
        if on_result is not None:
            on_result(result)

    pending: list[tuple[Job, LoadedImage]] = []
    pending_pixels = 0

    def flush() -> None:
        nonlocal pending_pixels
        if not pending:
            return
        batch = list(pending)
        pending.clear()
        pending_pixels = 0
        try:
            colours = colorizer.colorize_many([image.pixels for _, image in batch])
        except (RuntimeError, ValueError) as error:  # e.g. out of memory on the device
            for job, _ in batch:
                report(JobResult(job, "failed", f"{job.source}: colourizing failed: {error}"))
            return
        for (job, image), colour in zip(batch, colours, strict=True):
            report(_write(job, image, colour, settings))

    for job in jobs:
        if not settings.overwrite and (job.output.exists() or job.output.is_symlink()):
            report(JobResult(job, "skipped", "output exists (use --overwrite to redo it)"))
            continue
        try:
            image = read_image(job.source, max_pixels=settings.max_pixels)
        except ColorcliError as error:
            report(JobResult(job, "failed", str(error)))
            continue
        if settings.skip_color and not image.is_grayscale:
            report(JobResult(job, "skipped", "already in colour (--skip-color)"))
            continue
        pending.append((job, image))
        pending_pixels += image.pixels.shape[0] * image.pixels.shape[1]
        if len(pending) >= settings.batch_size or pending_pixels >= BATCH_PIXEL_BUDGET:
            flush()
    flush()
    summary.seconds = time.perf_counter() - started
    return summary


def _write(
    job: Job, image: LoadedImage, colour: np.ndarray, settings: ColorizeSettings
) -> JobResult:
    try:
        _check_inside(job.output, settings.out_root)
        try:
            job.output.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ImageError(
                f"{job.output.parent}: cannot create folder ({error.strerror})"
            ) from None
        write_image(
            job.output,
            colour,
            alpha=image.alpha,
            icc_profile=image.icc_profile,
            exif=image.exif,
            overwrite=settings.overwrite,
        )
        if settings.compare:
            write_image(
                compare_path(job.output),
                side_by_side(_gray_view(image.pixels), colour),
                overwrite=settings.overwrite,
            )
    except ColorcliError as error:
        return JobResult(job, "failed", str(error))
    return JobResult(job, "done")


def _gray_view(pixels: np.ndarray) -> np.ndarray:
    """The input as the model saw it: its L with zero ab (computed in strips, no float copy)."""
    return join_full_resolution(pixels, torch.zeros(2, 1, 1))
