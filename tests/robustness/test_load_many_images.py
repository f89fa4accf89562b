"""Load: thousands of images in one run with bounded memory and no file-descriptor leak.

The slow test colourizes 2,000 small images in one ``python -m colorcli`` child, sampling its
resident memory (``VmRSS``) and open descriptors (``/proc/<pid>/fd``) every 50 ms against
the number of finished outputs: memory must plateau (the peak of the last quarter of the run
is at most the second quarter's plus a small allowance) and the descriptors must not grow. A
quick in-process version checks the descriptors of 120 images in the default suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from robustness_support import (
    child_env,
    colorcli_command,
    open_descriptors,
    partials_under,
    process_rss_kib,
)

from colorcli.checkpoint import load_model
from colorcli.jobs import plan_jobs
from colorcli.pipeline import Colorizer
from colorcli.runner import ColorizeSettings, colorize_jobs
from support import gray_picture

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc to count memory and files"
)

IMAGES = 2000
RSS_GROWTH_KIB = 24 * 1024
"""Allowed growth of the peak RSS from the second quarter of the run to the last."""
FD_GROWTH = 4
"""Allowed growth of open descriptors from the second quarter of the run to the last."""


def _photos(folder: Path, count: int) -> Path:
    folder.mkdir()
    for index in range(count):
        picture = gray_picture(48 + index % 7, 36 + index % 5, index % 50)
        if index % 4 == 0:
            picture.save(folder / f"{index:04d}.jpg", quality=85)
        else:
            picture.save(folder / f"{index:04d}.png", compress_level=1)
    return folder


@dataclass(frozen=True)
class Sample:
    seconds: float
    done: int
    rss_kib: int
    descriptors: int


def _watch(child: subprocess.Popen[bytes], out: Path, every: float = 0.05) -> list[Sample]:
    """Sample the child until it exits."""
    samples: list[Sample] = []
    started = time.monotonic()
    while child.poll() is None:
        try:
            rss, descriptors = process_rss_kib(child.pid), open_descriptors(child.pid)
            done = sum(1 for _ in os.scandir(out)) if out.exists() else 0
        except (FileNotFoundError, ProcessLookupError, RuntimeError):
            break  # it just exited
        samples.append(Sample(time.monotonic() - started, done, rss, descriptors))
        time.sleep(every)
    return samples


def _quarter(samples: list[Sample], low: float, high: float) -> list[Sample]:
    return [s for s in samples if low * IMAGES <= s.done < high * IMAGES]


@pytest.mark.slow
def test_two_thousand_images_in_bounded_memory_without_leaking_files(
    tmp_path: Path, tiny_model: Path
) -> None:
    photos = _photos(tmp_path / "photos", IMAGES)
    out = tmp_path / "out"
    command = colorcli_command(
        "colorize", photos, "-o", out, "--model", tiny_model, "--size", "64", "-q"
    )
    child = subprocess.Popen(
        command, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    samples = _watch(child, out)
    stdout, stderr = child.communicate(timeout=600)
    assert child.returncode == 0, (stdout + stderr).decode()
    assert f"Summary: {IMAGES} done, 0 failed".encode() in stdout
    assert len(list(out.iterdir())) == IMAGES
    assert partials_under(out) == []

    # done == IMAGES: the child is exiting (interpreter teardown), no longer colourizing
    second, last = _quarter(samples, 0.25, 0.5), _quarter(samples, 0.75, 1.0)
    assert len(second) >= 3 and len(last) >= 3, f"too few samples: {len(samples)}"
    rss_second = max(s.rss_kib for s in second)
    rss_last = max(s.rss_kib for s in last)
    fd_second = max(s.descriptors for s in second)
    fd_last = max(s.descriptors for s in last)
    report = (
        f"{IMAGES} images in {samples[-1].seconds:.0f} s, {len(samples)} samples; peak RSS "
        f"{rss_second / 1024:.0f} MiB in the 2nd quarter, {rss_last / 1024:.0f} MiB in the last "
        f"(max {max(s.rss_kib for s in samples) / 1024:.0f} MiB); open files {fd_second} / "
        f"{fd_last} (max {max(s.descriptors for s in samples)})"
    )
    print(report, file=sys.stderr)
    assert rss_last <= rss_second + RSS_GROWTH_KIB, report
    assert fd_last <= fd_second + FD_GROWTH, report


def test_a_run_leaks_no_file_descriptors(tmp_path: Path, tiny_model: Path) -> None:
    """In-process: every file a run opens (inputs, partials, folders) is closed again."""
    photos = _photos(tmp_path / "photos", 120)
    colorizer = Colorizer(load_model(tiny_model), size=32)
    plan = plan_jobs([photos], tmp_path / "warm-up")
    colorize_jobs(plan.jobs[:8], colorizer, ColorizeSettings(workers=1))  # thread pools, caches
    before = open_descriptors(os.getpid())
    plan = plan_jobs([photos], tmp_path / "out")
    summary = colorize_jobs(plan.jobs, colorizer, ColorizeSettings(workers=1, batch_size=4))
    assert summary.done == 120 and not summary.failed
    assert open_descriptors(os.getpid()) <= before
