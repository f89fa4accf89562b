"""Encode videos with OpenCV: which codec each container gets here, and opening the writer."""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from colorcli.errors import VideoError
from colorcli.jobs import VIDEO_OUTPUT_EXTENSIONS
from colorcli.video.decoder import _quiet_ffmpeg

# Codecs to try per container, best first. H.264 ("avc1") is rarely in pip's OpenCV
# wheels, MPEG-4 part 2 ("mp4v", "XVID") nearly always is.
_FOURCC_PREFERENCES: dict[str, tuple[str, ...]] = {
    "mp4": ("avc1", "mp4v"),
    "mov": ("avc1", "mp4v"),
    "mkv": ("avc1", "mp4v", "MJPG"),
    "avi": ("XVID", "MJPG", "mp4v"),
}
_PROBE_SIZE = (64, 48)


def _fourcc_code(fourcc: str) -> int:
    return cv2.VideoWriter.fourcc(*fourcc)


@functools.cache
def writable_fourcc(ext: str) -> str:
    """The first codec OpenCV's build here can encode into an ``ext`` container.

    Probed once per container by writing a few frames to a temporary file.

    Raises:
        VideoError: ``ext`` is not a known container, or no codec works for it.
    """
    if ext not in _FOURCC_PREFERENCES:
        raise VideoError(
            f"cannot write .{ext} videos; use one of {', '.join(VIDEO_OUTPUT_EXTENSIONS)}"
        )
    _quiet_ffmpeg()
    frame = np.zeros((_PROBE_SIZE[1], _PROBE_SIZE[0], 3), np.uint8)
    with tempfile.TemporaryDirectory(prefix="colorcli-probe-") as folder:
        for fourcc in _FOURCC_PREFERENCES[ext]:
            path = os.path.join(folder, f"probe-{fourcc}.{ext}")
            with _silent_opencv():
                writer = cv2.VideoWriter(
                    path, cv2.CAP_FFMPEG, _fourcc_code(fourcc), 10.0, _PROBE_SIZE
                )
            try:
                if not writer.isOpened():
                    continue
                for _ in range(3):
                    writer.write(frame)
            finally:
                writer.release()
            if os.path.exists(path) and os.path.getsize(path) > 0:
                return fourcc
    raise VideoError(
        f"this OpenCV build cannot encode .{ext} videos (tried "
        f"{', '.join(_FOURCC_PREFERENCES[ext])}); try another --video-ext"
    )


@contextlib.contextmanager
def _silent_opencv() -> Iterator[None]:
    """Silence OpenCV's own log while probing codecs that may be missing."""
    logging = cv2.utils.logging
    previous = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        logging.setLogLevel(previous)


def _open_writer(
    partial: Path, output: Path, fourcc: str, fps: float, size: tuple[int, int]
) -> cv2.VideoWriter:
    """An open ``fourcc`` writer of ``size`` (width, height) frames into ``partial``.

    Raises:
        VideoError: naming ``output``, when OpenCV cannot open the writer.
    """
    writer = cv2.VideoWriter(str(partial), cv2.CAP_FFMPEG, _fourcc_code(fourcc), fps, size)
    if not writer.isOpened():
        writer.release()
        raise VideoError(f"{output}: cannot open a {fourcc} video writer in {output.parent}")
    return writer
