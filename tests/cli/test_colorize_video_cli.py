"""``colorcli colorize`` on videos: mixed folders, options, per-video summary, bad files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from colorcli.cli.app import app
from colorcli.video import audio as video_audio

runner = CliRunner()


def run(*args: str | Path):
    return runner.invoke(app, ["colorize", *map(str, args)])


def make_video(path: Path, frames: int = 20, size: tuple[int, int] = (64, 48)) -> Path:
    """A gray 12 fps film: a square moving over a static gradient, light noise per frame."""
    width, height = size
    rng = np.random.default_rng(0)
    gradient = np.linspace(40, 160, width)[None, :] + np.linspace(0, 40, height)[:, None]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 12.0, (width, height))
    for index in range(frames):
        gray = gradient.copy()
        gray[8:20, 2 * index : 2 * index + 12] = 240
        frame = np.clip(gray + rng.normal(0, 1.5, gray.shape), 0, 255).astype(np.uint8)
        writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


def frame_count(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count


@pytest.fixture(autouse=True)
def _no_ffmpeg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(video_audio, "find_ffmpeg", lambda: None)


def test_folder_with_images_and_a_video(
    photo_folder: Path, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    make_video(photo_folder / "film.mp4")
    out = tmp_path / "out"
    result = run(photo_folder, "-o", out, "--model", tiny_checkpoint, "--size", "32")
    assert result.exit_code == 0, result.output
    assert "3 image(s), 1 video(s)" in result.stderr
    assert "4 done, 0 failed" in result.stdout
    line = next(line for line in result.stdout.splitlines() if "film.mp4 →" in line)
    assert "20 frames 64x48 @ 12 fps, codec " in line
    assert "flicker " in line and "(--temporal 0.6)" in line
    assert "audio dropped (no ffmpeg found" in line
    assert frame_count(out / "film.mp4") == 20
    assert (out / "a.jpg").exists()


def test_video_ext_and_temporal_options(tiny_checkpoint: Path, tmp_path: Path) -> None:
    film = make_video(tmp_path / "film.avi", frames=6)
    out = tmp_path / "out"
    result = run(
        film, "-o", out, "--model", tiny_checkpoint, "--size", "32",
        "--video-ext", "mkv", "--temporal", "0",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 done, 0 failed" in result.stdout
    assert "(--temporal 0)" in result.stdout
    assert frame_count(out / "film.mkv") == 6


def test_a_corrupt_video_fails_alone(
    photo_folder: Path, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    make_video(photo_folder / "film.mp4", frames=4)
    (photo_folder / "junk.mov").write_bytes(b"this is no film " * 100)
    out = tmp_path / "out"
    result = run(photo_folder, "-o", out, "--model", tiny_checkpoint, "--size", "32")
    assert result.exit_code == 1
    assert "4 done, 1 failed" in result.stdout
    failure_lines = [line for line in result.stderr.splitlines() if "junk.mov" in line]
    assert failure_lines and "not a readable video" in failure_lines[-1]
    assert frame_count(out / "film.mp4") == 4
    assert not (out / "junk.mp4").exists()
    assert not [p for p in out.iterdir() if "partial" in p.name]


def test_existing_video_output_is_skipped(tiny_checkpoint: Path, tmp_path: Path) -> None:
    film = make_video(tmp_path / "film.mp4", frames=3)
    out = tmp_path / "out"
    out.mkdir()
    (out / "film.mp4").write_bytes(b"earlier result")
    result = run(film, "-o", out, "--model", tiny_checkpoint, "--size", "32")
    assert result.exit_code == 0, result.output
    assert "0 done, 1 skipped (output exists), 0 failed" in result.stdout
    assert (out / "film.mp4").read_bytes() == b"earlier result"
    result = run(film, "-o", out, "--model", tiny_checkpoint, "--size", "32", "--overwrite")
    assert result.exit_code == 0, result.output
    assert frame_count(out / "film.mp4") == 3


@pytest.mark.parametrize(
    ("option", "value"), [("--temporal", "0.99"), ("--temporal", "-1"), ("--video-ext", "webm")]
)
def test_bad_video_options_are_usage_errors(
    tiny_checkpoint: Path, tmp_path: Path, option: str, value: str
) -> None:
    film = make_video(tmp_path / "film.mp4", frames=2)
    result = run(film, "-o", tmp_path / "out", "--model", tiny_checkpoint, option, value)
    assert result.exit_code == 2
    assert option in result.stderr
