"""Open videos in a child process: what a file declares, then its frames through a pipe."""

from __future__ import annotations

import io
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

import numpy as np

from colorcli.errors import VideoError


@dataclass(frozen=True)
class VideoInfo:
    """What a video file declares about itself.

    Attributes:
        width, height: frame size in pixels.
        fps: frame rate (0 when the file does not say).
        frame_count: declared number of frames (0 when unknown; may be an estimate).
        codec: the FourCC of its video stream, e.g. ``"mp4v"`` or ``"h264"``.
    """

    width: int
    height: int
    fps: float
    frame_count: int
    codec: str


def _quiet_ffmpeg() -> None:
    # FFmpeg inside OpenCV logs decoder complaints and failed encoder probes straight to
    # stderr, which would garble the CLI's progress display; we report problems ourselves.
    # Read once, when OpenCV first uses FFmpeg; a value the user set is kept.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


_DECODER_SCRIPT = Path(__file__).with_name("_decoder_child.py")
"""The child that decodes videos (see :class:`_Decoder`)."""
# run the script without cwd on sys.path (-c puts it first): nothing there shadows cv2
_RUN_DECODER = (
    "import runpy, sys; sys.path.pop(0); runpy.run_path(sys.argv[1], run_name='__main__')"
)
_FRAME_HEADER = struct.Struct("<III")
_INFO_LINE_BYTES = 65_536


class _Decoder:
    """One video decoded by OpenCV in a child process, frames streamed through a pipe.

    OpenCV's FFmpeg readers are native code we do not control: a hostile file can abort
    the process (an uncompressed AVI made OpenCV die in ``malloc_consolidate``), and then
    only the child dies: the file fails with the reason, the batch goes on. A child per
    video rather than validating first: no check can vouch for every decoder path, and
    the pipe costs little next to colourizing a frame (the child decodes the next frame
    meanwhile).
    """

    def __init__(self, path: Path, mode: Literal["info", "frames"]) -> None:
        self.path = path
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _RUN_DECODER, str(_DECODER_SCRIPT), mode, str(path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=self.errors,
            )
        except OSError as error:
            self.errors.close()
            raise VideoError(
                f"{path}: cannot start the video decoder: {error.strerror or error}"
            ) from error
        # stdout=PIPE with the default buffering is a BufferedReader, which has readinto
        self.stream = cast(io.BufferedReader, self.process.stdout)

    def __enter__(self) -> _Decoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the child (if it still runs) and free its pipe."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.stream.close()
        self.errors.close()

    def info(self) -> VideoInfo | None:
        """What the file declares; None when OpenCV cannot open it."""
        line = self.stream.readline(_INFO_LINE_BYTES)
        if not line.endswith(b"\n"):
            raise self.crashed()
        data = json.loads(line)
        if "error" in data:
            return None
        return VideoInfo(
            width=int(data["width"]),
            height=int(data["height"]),
            fps=float(data["fps"]),
            frame_count=int(data["frame_count"]),
            codec=str(data["codec"]),
        )

    def frames(self) -> Iterator[np.ndarray]:
        """Decoded frames, ``(H, W, 3)`` uint8 BGR, until the stream ends or cannot be decoded.

        Raises:
            VideoError: the decoder died (a crash, a signal) before the end of the stream.
        """
        header = bytearray(_FRAME_HEADER.size)
        while True:
            self._read_into(memoryview(header))
            height, width, channels = _FRAME_HEADER.unpack(header)
            if height == 0:
                return
            frame = np.empty((height, width, channels), np.uint8)
            self._read_into(frame.data.cast("B"))
            yield frame

    def _read_into(self, buffer: memoryview) -> None:
        while buffer:
            count = self.stream.readinto(buffer)
            if not count:
                raise self.crashed()
            buffer = buffer[count:]

    def crashed(self) -> VideoError:
        """The error for a child that stopped talking: how it died and its last words."""
        try:
            code = self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        if code < 0:
            try:
                how = f"killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"killed by signal {-code}"
        else:
            how = f"exit status {code}"
        self.errors.seek(0)
        lines = self.errors.read()[-4096:].decode(errors="replace").strip().splitlines()
        said = f": {lines[-1].strip()}" if lines else ""
        return VideoError(
            f"{self.path}: the video decoder crashed ({how}{said}); the file is corrupt "
            "or made to crash decoders"
        )


def _open_decoder(path: Path, mode: Literal["info", "frames"]) -> tuple[_Decoder, VideoInfo]:
    """Check ``path`` and start decoding it; the caller closes the decoder."""
    if not path.is_file():
        raise VideoError(f"{path}: not found" if not path.exists() else f"{path}: not a file")
    if not os.access(path, os.R_OK):
        raise VideoError(f"{path}: permission denied")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: empty file")
    _quiet_ffmpeg()
    decoder = _Decoder(path, mode)
    try:
        info = decoder.info()
    except BaseException:
        decoder.close()
        raise
    if info is None:
        decoder.close()
        raise VideoError(f"{path}: not a readable video (unknown format, truncated or corrupt)")
    return decoder, info


def probe_video(path: str | Path) -> VideoInfo:
    """Size, frame rate, frame count and codec of a video file, without decoding it.

    The file is opened in a child process (see :class:`_Decoder`).

    Raises:
        VideoError: the file is missing, empty, not a video OpenCV can open, or crashes it.
    """
    path = Path(path)
    decoder, info = _open_decoder(path, "info")
    decoder.close()
    if info.width == 0 or info.height == 0:
        raise VideoError(f"{path}: not a readable video (no video stream)")
    return info
