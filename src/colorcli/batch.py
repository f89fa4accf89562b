"""Colourize the photos and films under some paths: plan, shard, run, one summary.

:func:`colorize_paths` is the one library entry point behind ``colorcli colorize``: it
plans every output (:func:`colorcli.jobs.plan_jobs`), keeps this shard's part, gets the
model only once there is work, runs the photos as a stream
(:func:`colorcli.runner.colorize_jobs`) and then the videos
(:func:`colorcli.video.colorize_video_jobs`), and returns one :class:`Summary` whose
results are :class:`JobResult` for photos and videos alike. Ctrl-C ends the run with
the summary of what was done (``interrupted`` set), never with a half-written file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from colorcli.errors import UsageError
from colorcli.jobs import Job, JobResult, Plan, plan_jobs
from colorcli.pipeline import Colorizer
from colorcli.runner import ColorizeSettings, RunInterrupted, colorize_jobs
from colorcli.sharding import Shard, select_shard
from colorcli.video import (
    DEFAULT_TEMPORAL,
    VideoProgress,
    VideoSettings,
    colorize_video_jobs,
)


@dataclass
class PathSettings(ColorizeSettings):
    """Everything :func:`colorize_paths` needs besides the inputs, the output and the model:
    how to find and name the files, and how to colourize them (:class:`ColorizeSettings`)."""

    recursive: bool = False
    follow_links: bool = False
    """With ``recursive``: walk links to folders too (each real folder once)."""
    ext: str = "auto"
    suffix: str = ""
    video_ext: str = "mp4"
    temporal: float = DEFAULT_TEMPORAL
    shard: Shard | None = None
    model_label: str = "this model"
    """How messages name the model (e.g. ``default = lite0-photos``)."""


_PLAN_OPTIONS = ("recursive", "follow_links", "ext", "suffix", "video_ext", "compare")
"""The fields of :class:`PathSettings` that :func:`colorcli.jobs.plan_jobs` takes as they are."""


@dataclass
class Events:
    """Optional callbacks, all called from the calling thread."""

    planned: Callable[[Plan, Colorizer], None] | None = None
    """Once the model is loaded, with this shard's plan and the model (e.g. for a header)."""
    result: Callable[[JobResult], None] | None = None
    """Once per photo and per video, as soon as its fate is known."""
    video_progress: Callable[[Job, VideoProgress], None] | None = None
    """After every batch of frames of a video."""


@dataclass
class Summary:
    """What a :func:`colorize_paths` run did."""

    images: int = 0
    videos: int = 0
    """Photos and videos this run (shard) took on."""
    done: list[JobResult] = field(default_factory=list)
    skipped: list[JobResult] = field(default_factory=list)
    failed: list[JobResult] = field(default_factory=list)
    refused: list[tuple[Path, str]] = field(default_factory=list)
    """Inputs refused while planning (their output would clobber something)."""
    passed_over: list[tuple[Path, str]] = field(default_factory=list)
    """Files and folders found but not taken as inputs, with why (see :class:`Plan`)."""
    ignored: int = 0
    """Files that are neither photos nor videos (by suffix)."""
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def failures(self) -> list[tuple[Path, str]]:
        """Every file that failed or was refused, with the reason (naming the file)."""
        failed = [(result.job.source, result.reason) for result in self.failed]
        return failed + self.refused

    @property
    def not_done(self) -> int:
        """Files left undone by an interruption."""
        finished = len(self.done) + len(self.skipped) + len(self.failed)
        return self.images + self.videos - finished

    def add(self, result: JobResult) -> None:
        {"done": self.done, "skipped": self.skipped, "failed": self.failed}[result.status].append(
            result
        )


def colorize_paths(
    inputs: Sequence[Path],
    output: Path,
    colorizer: Colorizer | Callable[[], Colorizer],
    settings: PathSettings,
    events: Events | None = None,
) -> Summary:
    """Colourize every photo and video under ``inputs`` into the folder ``output``.

    Args:
        inputs: files and folders.
        output: the output folder (created as needed; outputs never leave it).
        colorizer: the model, or a function that loads it (called only when there is
            work, so a typo in a path is reported before a model is downloaded).
        settings: planning and colourizing options.
        events: progress callbacks.

    Raises:
        UsageError: no inputs found, an unsafe output folder, or options the model
            cannot honour (hints without a guided model, hints or confidence for videos).
        ColorcliError: the model could not be loaded (from ``colorizer()``).
    """
    events = events or Events()
    settings = dataclasses.replace(settings, out_root=output)  # the caller's stays as given
    naming = {name: getattr(settings, name) for name in _PLAN_OPTIONS}
    plan = plan_jobs(inputs, output, confidence=settings.save_confidence, **naming)
    summary = Summary(ignored=plan.ignored, passed_over=plan.passed_over)
    planned = len(plan.jobs)
    shard = settings.shard
    if shard is not None:
        plan.jobs = select_shard(plan.jobs, shard)
        if shard.index != 1:  # shard 1 reports them, so the shards' union is one run's
            plan.refused, plan.passed_over, summary.passed_over = [], [], []
    summary.refused = plan.refused
    if planned and not plan.jobs and not plan.refused:
        summary.notes.append(
            f"shard {shard} has nothing to do ({planned} input(s) in all, each done by "
            "another shard)"
        )
        return summary
    if not plan.jobs and not plan.refused:
        raise UsageError(
            f"no images found in {', '.join(str(p) for p in inputs)}"
            + (f" ({plan.ignored} non-image file(s) ignored)" if plan.ignored else "")
        )
    images = [job for job in plan.jobs if job.kind == "image"]
    videos = [job for job in plan.jobs if job.kind == "video"]
    summary.images, summary.videos = len(images), len(videos)
    model = colorizer if isinstance(colorizer, Colorizer) else colorizer()
    _check_options(model, settings, has_videos=bool(videos))
    if events.planned is not None:
        events.planned(plan, model)
    _run_images(images, model, settings, events, summary)
    if videos and not summary.interrupted:
        _run_videos(videos, model, settings, events, summary)
    return summary


def _check_options(model: Colorizer, settings: PathSettings, *, has_videos: bool) -> None:
    label = settings.model_label
    if settings.hints and not model.model.accepts_hints:
        raise UsageError(
            f"model {label} takes no colour hints or reference; "
            "use a guided model (--model lite0-guided)"
        )
    if has_videos and (settings.hints or settings.save_confidence):
        raise UsageError("--hint, --hints, --reference and --save-confidence apply to photos")


def _run_images(
    jobs: list[Job], model: Colorizer, settings: PathSettings, events: Events, summary: Summary
) -> None:
    try:
        run = colorize_jobs(jobs, model, settings, events.result)
    except RunInterrupted as stop:  # report what was done
        run, summary.interrupted = stop.summary, True
    summary.done += run.completed
    summary.skipped += run.skipped
    summary.failed += run.failed
    summary.seconds += run.seconds


def _run_videos(
    jobs: list[Job], model: Colorizer, settings: PathSettings, events: Events, summary: Summary
) -> None:
    video_settings = VideoSettings(
        temporal=settings.temporal,
        batch_size=settings.batch_size,
        overwrite=settings.overwrite,
        max_pixels=settings.max_pixels,
        out_root=settings.out_root,
    )

    def on_result(result: JobResult) -> None:
        summary.add(result)
        if events.result is not None:
            events.result(result)

    try:
        run = colorize_video_jobs(jobs, model, video_settings, events.video_progress, on_result)
    except KeyboardInterrupt:  # Ctrl-C during a video: the photos and videos done stand
        summary.interrupted = True
        return
    summary.seconds += run.seconds
