"""The streaming runner: same bytes as the plain path, bounded queues, failures stay per file."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

import colorcli.runner as runner_module
from colorcli.imageio import read_image, write_image
from colorcli.jobs import Job, plan_jobs
from colorcli.models import get_model
from colorcli.pipeline import Colorizer, ModelInput
from colorcli.runner import (
    ColorizeSettings,
    JobResult,
    RunInterrupted,
    colorize_jobs,
    default_workers,
    model_threads,
)


def _picture(width: int, height: int, seed: int, colour: bool = False) -> Image.Image:
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 200, width)[None, :] + np.linspace(0, 50, height)[:, None]
    gray = np.clip(x + rng.normal(0, 8, (height, width)), 0, 255).astype(np.uint8)
    if not colour:
        return Image.fromarray(gray, mode="L")
    rgb = np.stack((gray, np.roll(gray, 3, axis=1), 255 - gray), axis=2)
    return Image.fromarray(rgb, mode="RGB")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Seven small photos of mixed sizes, formats and colour."""
    photos = tmp_path / "photos"
    photos.mkdir()
    sizes = [(40, 30), (33, 47), (64, 48), (20, 90), (50, 50), (17, 9), (70, 35)]
    for index, (width, height) in enumerate(sizes):
        picture = _picture(width, height, index, colour=index % 3 == 2)
        name = f"p{index}.{'png' if index % 2 else 'jpg'}"
        picture.save(photos / name, **({"quality": 90} if name.endswith("jpg") else {}))
    return photos


@pytest.fixture
def colorizer() -> Colorizer:
    torch.manual_seed(0)
    model = get_model("unet", width=4, depth=2)
    with torch.no_grad():
        model.head.conv.bias.copy_(torch.tensor([8.0, -6.0]))  # visible colour
    return Colorizer(model, size=32)


def _jobs(folder: Path, out: Path) -> list[Job]:
    return plan_jobs([folder], out).jobs


def _contents(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))}


def _sequential(jobs: Sequence[Job], colorizer: Colorizer, batch_size: int) -> None:
    """The plain path: read a batch, colourize it with colorize_many, write it."""
    for start in range(0, len(jobs), batch_size):
        batch = jobs[start : start + batch_size]
        images = [read_image(job.source) for job in batch]
        colours = colorizer.colorize_many([image.pixels for image in images])
        for job, image, colour in zip(batch, images, colours, strict=True):
            job.output.parent.mkdir(parents=True, exist_ok=True)
            write_image(
                job.output,
                colour,
                alpha=image.alpha,
                icc_profile=image.icc_profile,
                exif=image.exif,
            )


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_stream_writes_the_same_bytes_as_the_plain_path(
    folder: Path,
    colorizer: Colorizer,
    tmp_path: Path,
    workers: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With workers the stream gives torch model_threads() (half the cores) and OpenCV one
    # thread. Other thread counts may sum floats in another order and round a value one
    # level apart, so both paths get the same counts: only the stream's structure differs.
    monkeypatch.setattr("colorcli.workers.model_threads", lambda cpus=None: torch.get_num_threads())
    cv2_threads = cv2.getNumThreads()
    cv2.setNumThreads(1 if workers else cv2_threads)
    try:
        _sequential(_jobs(folder, tmp_path / "plain"), colorizer, batch_size=3)
    finally:
        cv2.setNumThreads(cv2_threads)
    settings = ColorizeSettings(batch_size=3, workers=workers, out_root=tmp_path / "stream")
    summary = colorize_jobs(_jobs(folder, tmp_path / "stream"), colorizer, settings)
    assert summary.done == 7 and not summary.failed and summary.workers == workers
    plain, stream = _contents(tmp_path / "plain"), _contents(tmp_path / "stream")
    assert list(stream) == list(plain)
    assert stream == plain
    assert all(seconds >= 0 for seconds in summary.stage_seconds.values())
    assert summary.stage_seconds["model"] > 0


class _RecordingColorizer(Colorizer):
    """Records the batches it sees, optionally slowly, and how far reads ran ahead."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__(get_model("tiny", width=4), size=16)
        self.delay = delay
        self.batches: list[int] = []
        self.consumed = 0

    def predict(self, inputs: Sequence[ModelInput], **options: object) -> list[torch.Tensor]:
        time.sleep(self.delay)
        self.batches.append(len(inputs))
        self.consumed += len(inputs)
        return super().predict(inputs)


def test_mixed_sizes_share_one_batch(folder: Path, tmp_path: Path) -> None:
    fake = _RecordingColorizer()
    summary = colorize_jobs(
        _jobs(folder, tmp_path / "out"), fake, ColorizeSettings(batch_size=4, workers=2)
    )
    assert summary.done == 7
    assert fake.batches == [4, 3]


def test_reader_never_runs_more_than_read_ahead_images_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = tmp_path / "many"
    photos.mkdir()
    for index in range(14):
        _picture(12, 10, index).save(photos / f"{index:02}.png")
    fake = _RecordingColorizer(delay=0.02)
    started = 0
    ahead: list[int] = []
    lock = threading.Lock()
    real_read = runner_module.read_image

    def counting_read(path, **kwargs):
        nonlocal started
        with lock:
            started += 1
            ahead.append(started - fake.consumed)
        return real_read(path, **kwargs)

    monkeypatch.setattr(runner_module, "read_image", counting_read)
    writing = 0
    most_writing = 0
    real_write = runner_module.write_photo

    def counting_write(*args, **kwargs):
        nonlocal writing, most_writing
        with lock:
            writing += 1
            most_writing = max(most_writing, writing)
        time.sleep(0.01)
        try:
            return real_write(*args, **kwargs)
        finally:
            with lock:
                writing -= 1

    monkeypatch.setattr(runner_module, "write_photo", counting_write)
    settings = ColorizeSettings(batch_size=2, workers=4, read_ahead=3, write_behind=2)
    summary = colorize_jobs(_jobs(photos, tmp_path / "out"), fake, settings)
    assert summary.done == 14
    assert max(ahead) <= 3 + 2  # read ahead, plus the batch being filled
    assert most_writing <= 2


def test_pixel_budget_lets_one_large_image_through_at_a_time(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_flight = 0
    most = 0
    lock = threading.Lock()
    real_read, real_write = runner_module.read_image, runner_module.write_photo

    def read(path, **kwargs):
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        return real_read(path, **kwargs)

    def write(*args, **kwargs):
        nonlocal in_flight
        try:
            return real_write(*args, **kwargs)
        finally:
            with lock:
                in_flight -= 1

    monkeypatch.setattr(runner_module, "read_image", read)
    monkeypatch.setattr(runner_module, "write_photo", write)
    settings = ColorizeSettings(batch_size=4, workers=3, pixel_budget=1)
    summary = colorize_jobs(_jobs(folder, tmp_path / "out"), _RecordingColorizer(), settings)
    assert summary.done == 7
    assert most == 1


def test_a_bad_file_and_a_crashing_worker_fail_alone(
    folder: Path, colorizer: Colorizer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    real_prepare = runner_module.prepare_input

    def prepare(pixels: np.ndarray, size: int) -> ModelInput:
        if pixels.shape[:2] == (9, 17):
            raise RuntimeError("simulated bug")
        return real_prepare(pixels, size)

    monkeypatch.setattr(runner_module, "prepare_input", prepare)
    out = tmp_path / "out"
    results: list[JobResult] = []
    summary = colorize_jobs(
        _jobs(folder, out), colorizer, ColorizeSettings(batch_size=2, workers=2), results.append
    )
    assert summary.done == 6
    reasons = sorted(r.reason for r in summary.failed)
    assert len(reasons) == 2
    assert "broken.jpg" in reasons[0]
    assert "p5.png: RuntimeError: simulated bug" in reasons[1]
    assert len(results) == 8  # every job reported exactly once
    assert not (out / "broken.jpg").exists() and not list(out.glob(".*partial"))


def test_a_failing_model_fails_its_batch_only(
    folder: Path, colorizer: Colorizer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0
    real_predict = colorizer.predict

    def predict(inputs, **options):
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("CUDA out of memory")
        return real_predict(inputs)

    monkeypatch.setattr(colorizer, "predict", predict)
    summary = colorize_jobs(
        _jobs(folder, tmp_path / "out"), colorizer, ColorizeSettings(batch_size=3, workers=2)
    )
    assert summary.done == 4 and len(summary.failed) == 3
    assert all("colourizing failed: CUDA out of memory" in r.reason for r in summary.failed)


def test_results_are_reported_from_the_calling_thread(
    folder: Path, colorizer: Colorizer, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "p0.jpg").write_bytes(b"precious")
    threads: set[int] = set()
    statuses: list[str] = []

    def on_result(result: JobResult) -> None:
        threads.add(threading.get_ident())
        statuses.append(result.status)

    colorize_jobs(_jobs(folder, out), colorizer, ColorizeSettings(workers=3), on_result)
    assert threads == {threading.get_ident()}
    assert sorted(statuses) == ["done"] * 6 + ["skipped"]
    assert (out / "p0.jpg").read_bytes() == b"precious"


def test_ctrl_c_stops_the_workers_and_leaves_no_partial_file(
    folder: Path, colorizer: Colorizer, tmp_path: Path
) -> None:
    before = threading.active_count()
    out = tmp_path / "out"

    def interrupt(result: JobResult) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        colorize_jobs(
            _jobs(folder, out), colorizer, ColorizeSettings(batch_size=2, workers=3), interrupt
        )
    assert threading.active_count() == before
    assert not list(out.rglob("*partial"))
    written = list(out.glob("*.*")) if out.exists() else []
    assert len(written) < 7
    for path in written:  # whatever was written is complete
        Image.open(path).load()


def test_outputs_outside_the_output_folder_are_refused(
    folder: Path, colorizer: Colorizer, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "sub").symlink_to(elsewhere)
    job = Job(source=folder / "p0.jpg", output=out / "sub" / "p0.jpg", relative=Path("p0.jpg"))
    summary = colorize_jobs([job], colorizer, ColorizeSettings(out_root=out, workers=1))
    assert summary.failed and "refusing to write outside" in summary.failed[0].reason
    assert not list(elsewhere.iterdir())


def test_compare_writes_the_gray_view_beside_the_colour(
    folder: Path, colorizer: Colorizer, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    jobs = [job for job in _jobs(folder, out) if job.source.name == "p2.jpg"]
    colorize_jobs(jobs, colorizer, ColorizeSettings(compare=True, workers=2))
    pair = np.asarray(Image.open(out / "p2_compare.jpg").convert("RGB")).astype(int)
    colour = np.asarray(Image.open(out / "p2.jpg").convert("RGB")).astype(int)
    left, right = pair[:, :64], pair[:, 64:]
    assert np.abs(left[..., 0] - left[..., 2]).max() <= 6  # gray (after JPEG)
    assert np.abs(right - colour).mean() < 3


def test_thread_settings_are_restored(folder: Path, colorizer: Colorizer, tmp_path: Path) -> None:
    torch_threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    colorize_jobs(_jobs(folder, tmp_path / "out"), colorizer, ColorizeSettings(workers=1))
    assert (torch.get_num_threads(), cv2.getNumThreads()) == (torch_threads, cv2_threads)


def test_default_workers_share_the_cores() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert default_workers(cpu, 2) == 2
    assert default_workers(cpu, 64) == 16
    assert default_workers(cuda, 16) == 15
    assert default_workers(cuda, 1) == 2
    assert (model_threads(2), model_threads(1), model_threads(16)) == (1, 1, 8)


def test_negative_workers_are_refused(colorizer: Colorizer) -> None:
    with pytest.raises(ValueError, match="workers must be >= 0"):
        colorize_jobs([], colorizer, ColorizeSettings(workers=-1))


def test_large_images_hand_freed_memory_back(
    folder: Path, colorizer: Colorizer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trims = 0
    real_trim = runner_module.trim_heap

    def counting_trim() -> None:
        nonlocal trims
        trims += 1
        real_trim()

    monkeypatch.setattr(runner_module, "TRIM_PIXELS", 1000)
    monkeypatch.setattr(runner_module, "trim_heap", counting_trim)
    summary = colorize_jobs(_jobs(folder, tmp_path / "out"), colorizer, ColorizeSettings())
    assert summary.done == 7
    assert trims == 6  # every image but the 17x9 one


def test_ctrl_c_ends_the_run_soon_with_what_was_done_despite_a_blocked_worker(
    folder: Path, colorizer: Colorizer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SIGINT sent from a thread while a worker hangs in a read (a dead network mount)."""
    monkeypatch.setattr(runner_module, "CANCEL_WAIT", 0.5)
    first_done, release = threading.Event(), threading.Event()
    real_read = runner_module.read_image

    def read(path: Path, **options: object):
        if path.name == "p3.png":
            first_done.wait(30)
            os.kill(os.getpid(), signal.SIGINT)
            release.wait(30)  # blocked until the test ends
        return real_read(path, **options)

    monkeypatch.setattr(runner_module, "read_image", read)
    settings = ColorizeSettings(batch_size=1, workers=2)
    started = time.monotonic()
    try:
        with pytest.raises(RunInterrupted) as stop:
            colorize_jobs(
                _jobs(folder, tmp_path / "out"), colorizer, settings, lambda r: first_done.set()
            )
        seconds = time.monotonic() - started
    finally:
        release.set()
    assert isinstance(stop.value, KeyboardInterrupt)
    assert seconds < 10
    summary = stop.value.summary
    assert summary.done >= 1 and not summary.failed
    assert summary.done == len(
        [p for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")]
    )
