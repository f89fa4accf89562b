"""Nothing unverified is published: a video or image that does not read back is a failure."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from robustness_support import tmpfs

from colorcli import imageio
from colorcli.errors import ImageError, VideoError
from colorcli.imageio import writing as imageio_writing
from colorcli.jobs import Job
from colorcli.models import get_model
from colorcli.pipeline import Colorizer
from colorcli.video import VideoSettings, colorize_video, colorize_video_jobs, writable_fourcc
from colorcli.video import audio as video_audio
from colorcli.video import writer as video_writer
from test_video import make_video


@pytest.fixture(scope="module")
def colorizer() -> Colorizer:
    torch.manual_seed(0)
    return Colorizer(get_model("unet", width=4, depth=2), size=32)


@pytest.fixture(autouse=True)
def _no_ffmpeg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(video_audio, "find_ffmpeg", lambda: None)


def test_a_video_on_a_full_disk_fails_with_the_reason_and_a_rerun_redoes_it(
    tmp_path: Path, colorizer: Colorizer
) -> None:
    source = make_video(tmp_path / "film.mp4", frames=200, size=(160, 120))
    with tmpfs(tmp_path / "mnt", "32k") as mount:
        job = Job(source, mount / "film.mp4", Path("film.mp4"), kind="video")
        for _ in range(2):  # the rerun must try again, not skip a broken file
            summary = colorize_video_jobs([job], colorizer, VideoSettings())
            assert not summary.done and not summary.skipped
            assert summary.failed[0].reason == (
                f"{job.output}: the written video cannot be read back (No space left on device)"
            )
            assert list(mount.iterdir()) == []


_REAL_WRITER = cv2.VideoWriter


class _ShortWriter:
    """An encoder whose file loses its second half at release (what a full disk does).

    A wrapper, not a subclass: OpenCV's types are not made to be subclassed from Python.
    """

    fourcc = staticmethod(_REAL_WRITER.fourcc)

    def __init__(self, path: str, *args: object) -> None:
        self.writer = _REAL_WRITER(path, *args)
        self.path = Path(path)

    def isOpened(self) -> bool:
        return bool(self.writer.isOpened())

    def write(self, frame: np.ndarray) -> None:
        self.writer.write(frame)

    def release(self) -> None:
        self.writer.release()
        data = self.path.read_bytes()
        self.path.write_bytes(data[: len(data) // 2])


def test_a_video_that_does_not_read_back_is_not_published(
    tmp_path: Path, colorizer: Colorizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make_video(tmp_path / "film.mp4", frames=20)
    writable_fourcc("mp4")  # probed with the real encoder
    monkeypatch.setattr(video_writer.cv2, "VideoWriter", _ShortWriter)
    out = tmp_path / "out"
    with pytest.raises(VideoError, match="cannot be read back") as caught:
        colorize_video(source, out / "film.mp4", colorizer)
    assert str(caught.value).startswith(str(out / "film.mp4"))
    assert list(out.iterdir()) == []


def _truncated(file) -> None:  # type: ignore[no-untyped-def]
    file.truncate(24)  # the file system kept the signature and half a header


def _replaced(file) -> None:  # type: ignore[no-untyped-def]
    file.seek(0)
    file.truncate()
    file.write(b"not an image at all")


@pytest.mark.parametrize(("fault", "reason"), [(_truncated, "bytes are on disk"), (_replaced, "")])
def test_an_image_that_does_not_read_back_is_not_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault, reason: str
) -> None:
    real = imageio_writing._pillow_encoder

    def faulty(*args: object):  # type: ignore[no-untyped-def]
        encode = real(*args)  # type: ignore[arg-type]

        def broken(file) -> None:  # type: ignore[no-untyped-def]
            encode(file)
            fault(file)

        return broken

    monkeypatch.setattr(imageio_writing, "_pillow_encoder", faulty)
    target = tmp_path / "out.png"
    with pytest.raises(ImageError, match="cannot be read back") as caught:
        imageio.write_image(target, np.zeros((8, 8, 3), np.uint8))
    assert str(caught.value).startswith(str(target)) and reason in str(caught.value)
    assert list(tmp_path.iterdir()) == []
