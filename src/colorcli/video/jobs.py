"""Colourize planned video jobs: one bad file fails alone, the others go on."""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from colorcli.atomic import remove_stale_partials
from colorcli.errors import ColorcliError, VideoError
from colorcli.imageio import DEFAULT_MAX_PIXELS
from colorcli.jobs import Job, JobResult, check_inside
from colorcli.pipeline import Colorizer
from colorcli.video.colorize import (
    DEFAULT_TEMPORAL,
    VideoProgress,
    colorize_video,
)


@dataclass
class VideoSettings:
    """Per-run options of :func:`colorize_video_jobs`."""

    temporal: float = DEFAULT_TEMPORAL
    batch_size: int = 8
    overwrite: bool = False
    audio: bool = True
    max_pixels: int = DEFAULT_MAX_PIXELS
    out_root: Path | None = None
    """Outputs must resolve inside this folder (symlinked sub-folders may not lead out)."""

    def options(self) -> dict[str, Any]:
        """The keyword arguments of :func:`colorize_video` these settings give (all but
        ``out_root``)."""
        return {
            option.name: getattr(self, option.name)
            for option in dataclasses.fields(self)
            if option.name != "out_root"
        }


VideoJobResult = JobResult
"""Videos and photos share one result type (kept under this name for importers)."""


@dataclass
class VideoRunSummary:
    """Results of a run over video jobs."""

    done: list[VideoJobResult] = field(default_factory=list)
    skipped: list[VideoJobResult] = field(default_factory=list)
    failed: list[VideoJobResult] = field(default_factory=list)
    seconds: float = 0.0


def colorize_video_jobs(
    jobs: Sequence[Job],
    colorizer: Colorizer,
    settings: VideoSettings,
    on_progress: Callable[[Job, VideoProgress], None] | None = None,
    on_result: Callable[[VideoJobResult], None] | None = None,
) -> VideoRunSummary:
    """Colourize every video job; a bad file fails alone and the others go on.

    An existing output is skipped unless ``settings.overwrite``. ``on_progress`` is called
    after every batch of frames, ``on_result`` once per job as soon as its fate is known.
    """
    summary = VideoRunSummary()
    started = time.perf_counter()
    remove_stale_partials(job.output for job in jobs)  # what a killed run left behind
    for job in jobs:
        # lexists: a link counts, and a name too long for the file system does not raise
        if not settings.overwrite and os.path.lexists(job.output):
            result = VideoJobResult(job, "skipped", "output exists (use --overwrite to redo it)")
        else:
            progress = None if on_progress is None else functools.partial(on_progress, job)
            try:
                check_inside(job.output, settings.out_root, VideoError)
                video = colorize_video(
                    job.source, job.output, colorizer, on_progress=progress, **settings.options()
                )
            except ColorcliError as error:
                result = VideoJobResult(job, "failed", str(error))
            else:
                result = VideoJobResult(job, "done", video=video)
        if result.status == "done":
            summary.done.append(result)
        elif result.status == "skipped":
            summary.skipped.append(result)
        else:
            summary.failed.append(result)
        if on_result is not None:
            on_result(result)
    summary.seconds = time.perf_counter() - started
    return summary
