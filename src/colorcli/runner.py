"""Run planned colourize jobs as a stream: decode ahead, batch through the model, write behind.

Worker threads read and prepare images (decode, resize, L) ahead of the model, in job
order; the calling thread batches them through the model; workers then join each
image at full resolution and encode it. Pillow, OpenCV and torch release the GIL, so
threads run in parallel. Memory stays bounded whatever the folder size: at most
``read_ahead`` images are being read ahead, at most ``write_behind`` wait to be
written, and images in flight never hold more than ``pixel_budget`` pixels (one
image is always let through, however large). Batches are formed in job order, so the
outputs do not depend on the number of workers or on timing.

Outputs are atomic and never clobber (see :func:`colorcli.imageio.write_image`);
``on_result`` is always called from the calling thread; an error in a worker becomes
that file's failure; Ctrl-C cancels what has not started, gives running tasks
:data:`CANCEL_WAIT` seconds to finish (each takes well under a second, and a half-written
file is never left) and raises :class:`RunInterrupted` with the summary of what was done.
Workers are daemon threads, so one blocked in a system call (a dead network mount) cannot
keep the process alive after that.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from colorcli.atomic import remove_stale_partials
from colorcli.errors import ColorcliError
from colorcli.hints import Hints, hints_for
from colorcli.imageio import DEFAULT_MAX_PIXELS, LoadedImage, probe_size, read_image
from colorcli.jobs import Job, JobResult
from colorcli.photo_outputs import (
    compare_target,
    confidence_target,
    first_page_note,
    gray_view,
    write_confidence,
    write_photo,
)
from colorcli.pipeline import Colorizer, ModelInput, confidence_to_image, prepare_input
from colorcli.workers import (
    Clock,
    DaemonPool,
    InlinePool,
    cpu_count,
    default_workers,
    model_threads,
    thread_settings,
    trim_heap,
)

__all__ = [
    "CANCEL_WAIT",
    "STAGES",
    "ColorizeSettings",
    "JobResult",
    "RunInterrupted",
    "RunSummary",
    "colorize_jobs",
    "cpu_count",
    "default_workers",
    "model_threads",
]

BATCH_PIXEL_BUDGET = 48_000_000
"""A batch is flushed early once its full-size images hold this many pixels (bounds memory)."""

PIXEL_BUDGET = 32_000_000
"""Default bound on the pixels of all images in flight (read, batched or being written)."""

TRIM_PIXELS = 4_000_000
"""After writing an image this large, freed heap memory is handed back to the system."""

CANCEL_WAIT = 2.0
"""Seconds Ctrl-C waits for running worker tasks before the run ends without them."""

STAGES = ("read", "prepare", "model", "join", "write")
"""Stages timed in :attr:`RunSummary.stage_seconds`."""


@dataclass
class RunSummary:
    """Counts and failures of a run."""

    done: int = 0
    completed: list[JobResult] = field(default_factory=list)
    """The jobs that are done (``done`` of them)."""
    skipped: list[JobResult] = field(default_factory=list)
    failed: list[JobResult] = field(default_factory=list)
    seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    """Wall time spent in each stage, summed over images (stages overlap across threads)."""
    stage_cpu_seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    """CPU time of the thread running each stage, summed over images; unlike wall time it
    does not grow when other processes compete for the cores (torch's own intra-op threads
    are not counted, so ``model`` is exact only when torch runs one thread)."""
    workers: int = 0
    """Worker threads used (0: everything ran in the calling thread)."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C ended :func:`colorize_jobs`; ``summary`` holds what was done until then."""

    def __init__(self, summary: RunSummary) -> None:
        super().__init__("interrupted")
        self.summary = summary


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
    workers: int | None = None
    """Threads that read, join and write; None picks from the CPU count (see
    :func:`default_workers`); 0 runs every stage in the calling thread."""
    read_ahead: int | None = None
    """Images read ahead of the model at most (None: twice the batch size)."""
    write_behind: int | None = None
    """Images waiting to be joined and written at most (None: the batch size, at least 2)."""
    pixel_budget: int = PIXEL_BUDGET
    hints: Hints | None = None
    """Colour hints and/or a reference for every input (a guided model is needed); a
    ``<stem>.hints.png`` beside a photo adds its own scribble hints (see :func:`hints_for`)."""
    save_confidence: bool = False
    """Also write ``<output stem>_confidence.png``: the model's per-pixel confidence."""
    """Pixels of all images in flight at most (one image always goes through)."""


@dataclass(eq=False)
class _Loaded:
    """An image read and prepared by a worker, waiting for the model."""

    job: Job
    image: LoadedImage
    model_input: ModelInput | None
    """None once the model has run (frees it early)."""
    read_time: tuple[float, float]
    prepare_time: tuple[float, float]
    """(wall, cpu) seconds."""

    @property
    def pixels(self) -> int:
        return int(self.image.pixels.shape[0] * self.image.pixels.shape[1])


@dataclass(frozen=True)
class _Written:
    """A finished job with the time its join and write took."""

    result: JobResult
    join_time: tuple[float, float] = (0.0, 0.0)
    write_time: tuple[float, float] = (0.0, 0.0)
    """(wall, cpu) seconds."""


def _model_input(item: _Loaded) -> ModelInput:
    if item.model_input is None:
        raise RuntimeError(f"{item.job.source}: the model already ran on this image")
    return item.model_input


def _unexpected(job: Job, error: BaseException) -> JobResult:
    return JobResult(job, "failed", f"{job.source}: {type(error).__name__}: {error}")


class _Run:
    """One call of :func:`colorize_jobs`: the queues, the accounting and the workers' tasks."""

    def __init__(
        self,
        colorizer: Colorizer,
        settings: ColorizeSettings,
        on_result: Callable[[JobResult], None] | None,
        executor: DaemonPool | InlinePool,
        workers: int,
    ) -> None:
        self.colorizer = colorizer
        self.settings = settings
        self.on_result = on_result
        self.executor = executor
        self.summary = RunSummary(workers=workers)
        batch = max(1, settings.batch_size)
        self.read_ahead = max(1, settings.read_ahead or 2 * batch)
        self.write_behind = max(1, settings.write_behind or max(2, batch))
        self.reads: deque[tuple[Job, int, Future[_Loaded | JobResult]]] = deque()
        self.writes: dict[Future[_Written], int] = {}
        self.pixels_in_flight = 0
        self.stop = threading.Event()

    # ----------------------------------------------------------------- calling thread

    def report(self, result: JobResult) -> None:
        self.count(result)
        if self.on_result is not None:
            self.on_result(result)

    def count(self, result: JobResult) -> None:
        """Add ``result`` to the summary."""
        if result.status == "done":
            self.summary.done += 1
            self.summary.completed.append(result)
        elif result.status == "skipped":
            self.summary.skipped.append(result)
        else:
            self.summary.failed.append(result)

    def run(self, jobs: Sequence[Job]) -> None:
        pending = iter(jobs)
        upcoming: Job | None = next(pending, None)
        batch: list[_Loaded] = []
        batch_pixels = 0
        while True:
            upcoming = self.admit_reads(upcoming, pending)
            self.reap_writes(block=False)
            if self.reads:
                loaded = self.next_read()
                if isinstance(loaded, JobResult):
                    self.report(loaded)
                    continue
                batch.append(loaded)
                batch_pixels += loaded.pixels
                del loaded  # a stale name would keep a full-size image alive past its write
                if len(batch) >= self.settings.batch_size or batch_pixels >= BATCH_PIXEL_BUDGET:
                    self.flush(batch)
                    batch, batch_pixels = [], 0
            elif batch:
                self.flush(batch)
                batch, batch_pixels = [], 0
            elif upcoming is None:
                break
            else:  # the pixel budget is held by images being written
                self.reap_writes(block=True)
        while self.writes:
            self.reap_writes(block=True)

    def admit_reads(self, upcoming: Job | None, pending: Iterator[Job]) -> Job | None:
        """Start reading jobs while the read-ahead and pixel budgets allow."""
        while upcoming is not None and len(self.reads) < self.read_ahead:
            job = upcoming
            # lexists: a link counts, and a name too long for the file system does not raise
            if not self.settings.overwrite and os.path.lexists(job.output):
                self.report(JobResult(job, "skipped", "output exists (use --overwrite to redo it)"))
                upcoming = next(pending, None)
                continue
            try:
                width, height = probe_size(job.source)
            except (ColorcliError, OSError):
                width = height = 0  # unknown: the read will say why
            pixels = width * height
            in_flight = self.pixels_in_flight > 0 or bool(self.reads)
            if in_flight and self.pixels_in_flight + pixels > self.settings.pixel_budget:
                break
            self.pixels_in_flight += pixels
            self.reads.append((job, pixels, self.executor.submit(self.read, job)))
            upcoming = next(pending, None)
        return upcoming

    def next_read(self) -> _Loaded | JobResult:
        """The oldest read's outcome (job order), reporting writes that finish meanwhile."""
        _, pixels, future = self.reads[0]
        while not future.done():
            waiting: list[Future[Any]] = [future, *self.writes]
            wait(waiting, return_when=FIRST_COMPLETED)
            self.reap_writes(block=False)
        self.reads.popleft()
        loaded = future.result()
        if isinstance(loaded, JobResult):
            self.pixels_in_flight -= pixels
            return loaded
        self.add_time("read", loaded.read_time)
        self.add_time("prepare", loaded.prepare_time)
        self.pixels_in_flight += loaded.pixels - pixels  # the header may have been wrong
        return loaded

    def flush(self, batch: list[_Loaded]) -> None:
        """Run the model on ``batch`` and queue each image's join and write."""
        clock = Clock()
        try:
            abs_ = self.colorizer.predict(
                [_model_input(item) for item in batch], confidence=self.settings.save_confidence
            )
        except (RuntimeError, ValueError) as error:  # e.g. out of memory on the device
            for item in batch:
                self.pixels_in_flight -= item.pixels
                self.report(
                    JobResult(item.job, "failed", f"{item.job.source}: colourizing failed: {error}")
                )
            return
        finally:
            self.add_time("model", clock.lap())
        for item, ab in zip(batch, abs_, strict=True):
            item.model_input = None
            while len(self.writes) >= self.write_behind:
                self.reap_writes(block=True)
            self.writes[self.executor.submit(self.finish, item, ab)] = item.pixels

    def reap_writes(self, *, block: bool) -> None:
        """Report finished writes; with ``block``, wait for at least one first."""
        if not self.writes:
            return
        if block:
            wait(list(self.writes), return_when=FIRST_COMPLETED)
        for future in [f for f in self.writes if f.done()]:
            self.pixels_in_flight -= self.writes.pop(future)
            written = future.result()
            self.add_time("join", written.join_time)
            self.add_time("write", written.write_time)
            self.report(written.result)

    def add_time(self, stage: str, elapsed: tuple[float, float]) -> None:
        self.summary.stage_seconds[stage] += elapsed[0]
        self.summary.stage_cpu_seconds[stage] += elapsed[1]

    def cancel(self) -> None:
        """Stop: cancel queued tasks, tell running ones to give up, wait for them a little.

        Writes that finish within the wait are reported (their files are complete); a task
        still running after :data:`CANCEL_WAIT` seconds is left to its daemon thread.
        """
        self.stop.set()
        for _, _, read in self.reads:
            read.cancel()
        for write in self.writes:
            write.cancel()
        self.executor.shutdown(cancel_futures=True, timeout=CANCEL_WAIT)
        for future in [f for f in self.writes if f.done() and not f.cancelled()]:
            self.pixels_in_flight -= self.writes.pop(future)
            result = future.result().result
            if not result.reason.endswith(": interrupted"):  # not begun: not done, not failed
                self.count(result)  # no on_result: the caller is being interrupted

    # ----------------------------------------------------------------- worker threads

    def read(self, job: Job) -> _Loaded | JobResult:
        """Decode and prepare one image (worker thread); failures become a result."""
        try:
            if self.stop.is_set():
                return JobResult(job, "failed", f"{job.source}: interrupted")
            clock = Clock()
            try:
                image = read_image(job.source, max_pixels=self.settings.max_pixels)
            except ColorcliError as error:
                return JobResult(job, "failed", str(error))
            if self.settings.skip_color and not image.is_grayscale:
                return JobResult(job, "skipped", "already in colour (--skip-color)")
            read_time = clock.lap()
            try:
                guidance = hints_for(job.source, self.settings.hints)
                if guidance:
                    model_input = self.colorizer.prepare(image.pixels, guidance)
                else:
                    model_input = prepare_input(image.pixels, self.colorizer.size)
            except ColorcliError as error:  # a bad hint costs this photo only
                return JobResult(job, "failed", f"{job.source}: {error}")
            return _Loaded(job, image, model_input, read_time, clock.lap())
        except Exception as error:  # a bug or an exhausted resource: this file fails alone
            return _unexpected(job, error)

    def finish(self, item: _Loaded, ab: torch.Tensor) -> _Written:
        """Join at full resolution and write one image (worker thread)."""
        job, image = item.job, item.image
        try:
            if self.stop.is_set():
                return _Written(JobResult(job, "failed", f"{job.source}: interrupted"))
            clock = Clock()
            compare = compare_target(job, self.settings.compare)
            gray = gray_view(image.pixels) if compare is not None else None
            # in place: the input is not needed any more, and a full-size copy is saved
            confidence = None
            if ab.shape[0] == 3:  # ab, then the model's confidence
                confidence = confidence_to_image(ab[2], image.pixels.shape[:2])
                ab = ab[:2]
            colour = self.colorizer.join(image.pixels, ab, out=image.pixels)
            join_time = clock.lap()
            if self.stop.is_set():
                return _Written(JobResult(job, "failed", f"{job.source}: interrupted"))
            result = write_photo(
                job,
                image,
                colour,
                overwrite=self.settings.overwrite,
                out_root=self.settings.out_root,
                compare=compare,
                gray=gray,
            )
            if confidence is not None and result.status == "done":
                result = write_confidence(job, confidence, overwrite=self.settings.overwrite)
            if result.status == "done" and image.pages > 1:
                result = JobResult(job, "done", first_page_note(image.pages))
            del colour, gray
            if item.pixels >= TRIM_PIXELS:
                trim_heap()
            return _Written(result, join_time, clock.lap())
        except Exception as error:  # a bug or an exhausted resource: this file fails alone
            return _Written(_unexpected(job, error))


def colorize_jobs(
    jobs: Sequence[Job],
    colorizer: Colorizer,
    settings: ColorizeSettings,
    on_result: Callable[[JobResult], None] | None = None,
) -> RunSummary:
    """Colourize every job; a bad file fails alone and the batch goes on.

    ``on_result`` is called once per job, from the calling thread, as soon as its fate is
    known (not necessarily in job order). See the module docstring for the stream.

    Raises:
        RunInterrupted: on Ctrl-C, once the workers have stopped (or :data:`CANCEL_WAIT`
            has passed), with the summary of what was done.
    """
    started = time.perf_counter()
    workers = settings.workers
    if workers is None:
        workers = default_workers(colorizer.device)
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    # temporary files a killed run left (only ours: exact name pattern, not locked by a writer)
    remove_stale_partials(
        path
        for job in jobs
        for path in (
            *job.outputs,
            compare_target(job, settings.compare),
            confidence_target(job, settings.save_confidence),
        )
        if path is not None
    )
    with thread_settings(colorizer.device, workers):
        executor = DaemonPool(workers, "colorcli") if workers else InlinePool()
        run = _Run(colorizer, settings, on_result, executor, workers)
        try:
            run.run(jobs)
        except KeyboardInterrupt:
            run.cancel()
            run.summary.seconds = time.perf_counter() - started
            raise RunInterrupted(run.summary) from None
        except BaseException:
            run.cancel()
            raise
        executor.shutdown()
    run.summary.seconds = time.perf_counter() - started
    return run.summary
