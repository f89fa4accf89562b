"""Colourize throughput against the I/O floor, measured alternately in the same process."""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from colorcli.imageio import read_image, write_image
from colorcli.jobs import plan_jobs
from colorcli.pipeline import Colorizer
from colorcli.runner import STAGES, ColorizeSettings, RunSummary, colorize_jobs, cpu_count


@dataclass
class Throughput:
    """Totals over the repeats of one (model, device, folder) measurement."""

    images: int = 0
    colorize_seconds: float = 0.0
    floor_seconds: float = 0.0
    model_seconds: float = 0.0
    """Wall time the calling thread spent in the model (the stream's critical stage)."""
    stage_cpu: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    workers: int = 0
    inference_size: int = 0

    @property
    def images_per_second(self) -> float:
        return self.images / self.colorize_seconds

    @property
    def floor_images_per_second(self) -> float:
        return self.images / self.floor_seconds

    @property
    def ratio(self) -> float:
        """Colourize time / I/O-floor time."""
        return self.colorize_seconds / self.floor_seconds

    @property
    def model_busy(self) -> float:
        """Share of the wall time the model was running."""
        return self.model_seconds / self.colorize_seconds

    @property
    def non_forward_cpu_share(self) -> float:
        """Share of the CPU time spent outside the model (decode, L, resize, join, encode)."""
        total = sum(self.stage_cpu.values())
        return (total - self.stage_cpu["model"]) / total if total else 0.0

    def add(self, summary: RunSummary, floor_seconds: float, images: int) -> None:
        self.images += images
        self.colorize_seconds += summary.seconds
        self.floor_seconds += floor_seconds
        self.model_seconds += summary.stage_seconds["model"]
        for stage in STAGES:
            self.stage_cpu[stage] += summary.stage_cpu_seconds[stage]
        self.workers = summary.workers


def io_floor(folder: Path, out: Path, threads: int | None = None) -> float:
    """Seconds to decode and re-encode every JPEG of ``folder`` (same library and settings)."""
    paths = sorted(folder.glob("*.jpg"))
    out.mkdir(parents=True, exist_ok=True)

    def copy(path: Path) -> None:
        image = read_image(path)
        write_image(
            out / path.name,
            image.pixels,
            alpha=image.alpha,
            icc_profile=image.icc_profile,
            exif=image.exif,
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(threads or cpu_count()) as pool:
        list(pool.map(copy, paths))
    return time.perf_counter() - started


def steady_io_floor(folder: Path, out: Path, min_seconds: float = 1.0) -> float:
    """:func:`io_floor` of one pass, averaged over passes lasting ``min_seconds`` in all."""
    total, passes = 0.0, 0
    while passes == 0 or total < min_seconds:
        total += io_floor(folder, out)
        shutil.rmtree(out)
        passes += 1
    return total / passes


def colorize_folder(
    folder: Path, out: Path, colorizer: Colorizer, batch_size: int, limit: int | None = None
) -> RunSummary:
    """One ``colorize_jobs`` run over ``folder`` (default workers), as the CLI does it."""
    jobs = plan_jobs([folder], out).jobs[:limit]
    summary = colorize_jobs(jobs, colorizer, ColorizeSettings(batch_size=batch_size))
    if summary.failed:
        raise RuntimeError(f"benchmark run failed: {summary.failed[0].reason}")
    return summary


def measure(
    folder: Path, scratch: Path, colorizer: Colorizer, *, repeats: int, batch_size: int
) -> Throughput:
    """Alternate I/O-floor and colourize runs ``repeats`` times; outputs go to ``scratch``."""
    images = len(list(folder.glob("*.jpg")))
    warm = scratch / "warm-up"
    colorize_folder(folder, warm, colorizer, batch_size, limit=batch_size)  # first-call costs
    shutil.rmtree(warm)
    result = Throughput(inference_size=colorizer.size)
    for _ in range(repeats):
        floor = steady_io_floor(folder, scratch / "floor")
        summary = colorize_folder(folder, scratch / "colour", colorizer, batch_size)
        shutil.rmtree(scratch / "colour")
        result.add(summary, floor, images)
    return result
