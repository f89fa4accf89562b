"""Write what a colourized photo produces: the colour file, its side-by-side, its confidence map.

Every write is atomic and never clobbers unless asked (:func:`colorcli.imageio.write_image`);
a failure becomes the job's result, never an exception.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from colorcli.color_lut import join_full_resolution
from colorcli.errors import ColorcliError, ImageError, OutputExistsError
from colorcli.imageio import LoadedImage, write_gray_image, write_image, write_like
from colorcli.jobs import (
    Job,
    JobResult,
    check_inside,
    compare_path,
    confidence_path,
    make_output_folder,
)


def compare_target(job: Job, asked: bool) -> Path | None:
    """Where ``job``'s side-by-side goes: as planned, else beside the output if ``asked``."""
    if job.compare is not None:
        return job.compare
    return compare_path(job.output) if asked else None


def confidence_target(job: Job, asked: bool) -> Path | None:
    """Where ``job``'s confidence map goes: as planned, else beside the output if ``asked``."""
    return _confidence_file(job) if asked or job.confidence is not None else None


def _confidence_file(job: Job) -> Path:
    return job.confidence or confidence_path(job.output)


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Input | output, ``(H, 2W, 3)``, same dtype."""
    return np.concatenate((left, right), axis=1)


def gray_view(pixels: np.ndarray) -> np.ndarray:
    """The input as the model saw it: its L with zero ab (computed in strips, no float copy)."""
    return join_full_resolution(pixels, torch.zeros(2, 1, 1))


def write_photo(
    job: Job,
    image: LoadedImage,
    colour: np.ndarray,
    *,
    overwrite: bool,
    out_root: Path | None,
    compare: Path | None = None,
    gray: np.ndarray | None = None,
) -> JobResult:
    """Write ``colour`` ``(H, W, 3)`` with the input's alpha and metadata, and the
    side-by-side ``gray | colour`` to ``compare`` when given.

    An output another run wrote meanwhile makes the job a skip, not a failure.
    """
    try:
        check_inside(job.output, out_root, ImageError)
        make_output_folder(job.output, ImageError)
        try:
            write_like(job.output, colour, image, overwrite=overwrite)
        except OutputExistsError:
            # another run wrote it since the plan (two runs into one folder): not a failure
            return JobResult(job, "skipped", "output exists (written meanwhile by another run)")
        if compare is not None:
            write_image(
                compare,
                side_by_side(gray if gray is not None else gray_view(image.pixels), colour),
                overwrite=overwrite,
            )
    except ColorcliError as error:
        return JobResult(job, "failed", str(error))
    return JobResult(job, "done")


def write_confidence(job: Job, confidence: np.ndarray, *, overwrite: bool) -> JobResult:
    """Write the ``(H, W)`` uint8 confidence map beside the output (or where planned)."""
    path = _confidence_file(job)
    try:
        write_gray_image(path, confidence, overwrite=overwrite)
    except ColorcliError as error:
        return JobResult(job, "failed", f"{path}: confidence map not written: {error}")
    return JobResult(job, "done")


def first_page_note(pages: int) -> str:
    """Why a done multi-page file is not all done (said in the summary)."""
    return (
        f"{pages} pages or frames: only the first was colourized "
        "(save each page as its own file to colourize them all)"
    )
