"""Colourize video files: streamed in batches, ab smoothed over time, audio kept when possible.

Frames are decoded one by one with OpenCV's FFmpeg backend (a video is never held in
memory whole), colourized ``batch_size`` at a time like images (small L into the model,
ab joined to the full-resolution L), with the small ab maps smoothed across frames by
:class:`~colorcli.temporal.TemporalSmoother`, and encoded to a hidden
``.<name>.<random>.partial.<ext>`` file next to the output. If an ``ffmpeg`` executable is
found (on ``PATH``, or from the optional ``imageio-ffmpeg`` package) the source's audio is
copied in; the finished file is then moved into place, so an interrupted run never leaves
a half-written video under the final name.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import json
import os
import re
import secrets
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast

import cv2
import numpy as np

from colorcli.atomic import (
    fsync_path,
    move_into_place,
    partial_path,
    remove_stale_partials,
    short_name,
    writer_lock,
)
from colorcli.errors import ColorcliError, VideoError
from colorcli.imageio import DEFAULT_MAX_PIXELS
from colorcli.jobs import VIDEO_OUTPUT_EXTENSIONS, Job
from colorcli.pipeline import Colorizer, prepare_input
from colorcli.temporal import MAX_STRENGTH, SCENE_CUT_THRESHOLD, TemporalSmoother

__all__ = [
    "DEFAULT_TEMPORAL",
    "VideoInfo",
    "VideoJobResult",
    "VideoProgress",
    "VideoResult",
    "VideoRunSummary",
    "VideoSettings",
    "colorize_video",
    "colorize_video_jobs",
    "find_ffmpeg",
    "probe_video",
    "writable_fourcc",
]

DEFAULT_TEMPORAL = 0.6
"""Default weight of the past in the ab moving average (0 = none, at most 0.95)."""
DEFAULT_FPS = 25.0
"""Frame rate written when the source does not declare a usable one."""

# Codecs to try per container, best first. H.264 ("avc1") is rarely in pip's OpenCV
# wheels, MPEG-4 part 2 ("mp4v", "XVID") nearly always is.
_FOURCC_PREFERENCES: dict[str, tuple[str, ...]] = {
    "mp4": ("avc1", "mp4v"),
    "mov": ("avc1", "mp4v"),
    "mkv": ("avc1", "mp4v", "MJPG"),
    "avi": ("XVID", "MJPG", "mp4v"),
}
_AUDIO_FALLBACK_CODEC = {"mp4": "aac", "mov": "aac", "mkv": "aac", "avi": "libmp3lame"}
_TRUNCATION_TOLERANCE = 0.02
"""Declared frame counts may be estimates: fewer frames than this fraction is tolerated."""
_PROBE_SIZE = (64, 48)


# --------------------------------------------------------------------------- results


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


@dataclass(frozen=True)
class VideoProgress:
    """Progress of one video, passed to ``on_progress`` after every batch."""

    source: Path
    frames_done: int
    frames_total: int | None
    """Declared frame count, None when unknown."""
    seconds: float

    @property
    def fps(self) -> float:
        """Frames colourized per second so far."""
        return self.frames_done / self.seconds if self.seconds > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        """Estimated seconds left, None when the total or the rate is unknown."""
        if self.frames_total is None or self.fps <= 0:
            return None
        return max(0, self.frames_total - self.frames_done) / self.fps


@dataclass(frozen=True)
class VideoResult:
    """A colourized video and how it went.

    Attributes:
        source, output: input and written file.
        frames: frames written (equal to the frames decoded).
        width, height: output frame size (the input's, less one pixel on an odd side).
        fps: output frame rate (the input's).
        codec: FourCC the frames were encoded with, e.g. ``"mp4v"``.
        audio: ``"copied"``, ``"none"`` (the source has no audio) or ``"dropped"``.
        audio_reason: why audio was dropped (empty otherwise).
        flicker_before, flicker_after: mean ab change (Lab units) between consecutive frames
            over static pixels, of the raw predictions and of the smoothed ab (None for a
            single-frame video or one without static pixels).
        scene_cuts: scene cuts detected (smoothing restarted at each).
        temporal: smoothing strength used.
        seconds: wall time of the whole video.
        notes: anything else the user should know (cropping, guessed frame rate).
    """

    source: Path
    output: Path
    frames: int
    width: int
    height: int
    fps: float
    codec: str
    audio: Literal["copied", "none", "dropped"]
    audio_reason: str
    flicker_before: float | None
    flicker_after: float | None
    scene_cuts: int
    temporal: float
    seconds: float
    notes: tuple[str, ...] = ()

    @property
    def frames_per_second(self) -> float:
        """Processing speed: frames colourized per second of wall time."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0


# --------------------------------------------------------------------------- OpenCV / FFmpeg


def _quiet_ffmpeg() -> None:
    # FFmpeg inside OpenCV logs decoder complaints and failed encoder probes straight to
    # stderr, which would garble the CLI's progress display; we report problems ourselves.
    # Read once, when OpenCV first uses FFmpeg; a value the user set is kept.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


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


def find_ffmpeg() -> str | None:
    """Path of an ``ffmpeg`` executable: on ``PATH``, else from ``imageio-ffmpeg``, else None."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (RuntimeError, OSError):  # the package is there but its binary is not
        return None


_DECODER_SCRIPT = Path(__file__).with_name("_video_decoder.py")
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


# --------------------------------------------------------------------------- audio


def _has_audio(ffmpeg: str, source: Path) -> bool:
    # ffmpeg with an input and no output lists the streams on stderr and exits 1.
    completed = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostdin", "-i", str(source)],
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
    )
    return re.search(r"Stream #\S+.*: Audio:", completed.stderr) is not None


def _mux_audio(ffmpeg: str, video: Path, source: Path, target: Path, ext: str) -> str:
    """Copy ``source``'s audio next to ``video``'s frames into ``target``; '' or why not."""
    reason = ""
    for codec in ("copy", _AUDIO_FALLBACK_CODEC[ext]):
        inputs = ["-i", str(video), "-i", str(source)]
        streams = ["-map", "0:v:0", "-map", "1:a", "-c:v", "copy", "-c:a", codec]
        completed = subprocess.run(
            [
                ffmpeg,
                "-hide_banner",
                "-nostdin",
                "-v",
                "error",
                "-y",
                *inputs,
                *streams,
                str(target),
            ],
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
        )
        if completed.returncode == 0 and target.is_file() and target.stat().st_size > 0:
            return ""
        lines = completed.stderr.strip().splitlines()
        reason = lines[-1] if lines else f"exit status {completed.returncode}"
    return f"ffmpeg could not copy it: {reason}"


def _add_audio(
    ffmpeg: str | None, video: Path, source: Path, target: Path, ext: str
) -> tuple[Literal["copied", "none", "dropped"], str]:
    if ffmpeg is None:
        return "dropped", "no ffmpeg found (install colorcli[video] or put ffmpeg on PATH)"
    try:
        if not _has_audio(ffmpeg, source):
            return "none", ""
        failure = _mux_audio(ffmpeg, video, source, target, ext)
    except OSError as error:
        return "dropped", f"cannot run {ffmpeg}: {error.strerror or error}"
    return ("dropped", failure) if failure else ("copied", "")


# --------------------------------------------------------------------------- one video


@contextlib.contextmanager
def _locked_new_file(path: Path) -> Iterator[None]:
    """Create ``path`` (it must not exist) and hold its writer lock until the block ends.

    The encoder and ffmpeg later open the same name and write the same inode, so the lock
    tells :func:`colorcli.atomic.remove_stale_partials` of another run that it is live.
    """
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with writer_lock(descriptor):
            os.close(descriptor)
            descriptor = -1
            yield
    finally:
        if descriptor >= 0:
            os.close(descriptor)


def _publish(partial: Path, path: Path, *, overwrite: bool) -> None:
    try:
        move_into_place(partial, path, overwrite=overwrite)
    except FileExistsError as error:
        raise VideoError(f"{path}: already exists") from error


def _written_frames(path: Path) -> int | None:
    """Frames ``path`` declares (0: it does not say), None when it does not open as a video."""
    try:
        decoder, info = _open_decoder(path, "info")
    except VideoError:
        return None
    decoder.close()
    return info.frame_count


def _verify_written(path: Path, output: Path, frames: int) -> None:
    """Refuse to publish ``path`` unless it reads back as a video of ``frames`` frames.

    OpenCV's writer reports no error: a full disk or quota only shows as a file that does
    not open (no ``moov`` atom) or holds fewer frames.

    Raises:
        VideoError: naming ``output`` and the reason (the file system's, when it has one).
    """
    written = _written_frames(path)
    if written is not None and written in (0, frames):
        return
    space = _space_problem(output)
    if written is None:
        reason = space or "unreadable: the encoder's file is truncated or corrupt"
        raise VideoError(f"{output}: the written video cannot be read back ({reason})")
    raise VideoError(
        f"{output}: the encoder wrote {written} of {frames} frames"
        + (f" ({space})" if space else "")
    )


_SPACE_PROBE_BYTES = 1 << 20


def _space_problem(output: Path) -> str:
    """Why a file cannot grow next to ``output`` (e.g. ``No space left on device``), or ''.

    Writes and removes a 1 MiB file named like a partial of ``output`` (so a killed run's
    clean-up finds it): the encoder failed somewhere below that, so a full disk or an
    exhausted quota shows here in the file system's own words.
    """
    probe = partial_path(output)
    try:
        descriptor = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        return error.strerror or str(error)
    try:
        block = memoryview(bytes(_SPACE_PROBE_BYTES))
        while block:  # a short write is how a nearly full disk first answers
            written = os.write(descriptor, block)
            if written == 0:
                return os.strerror(errno.ENOSPC)
            block = block[written:]
        os.fsync(descriptor)
    except OSError as error:
        return error.strerror or str(error)
    finally:
        os.close(descriptor)
        with contextlib.suppress(OSError):
            os.unlink(probe)
    return ""


def _output_geometry(
    info: VideoInfo, source: Path, max_pixels: int
) -> tuple[int, int, float, list[str]]:
    """Output width, height and frame rate for a source, and notes on what had to change."""
    if info.width == 0 or info.height == 0:
        raise VideoError(f"{source}: not a readable video (no video stream)")
    if info.width * info.height > max_pixels:
        raise VideoError(
            f"{source}: frames of {info.width}x{info.height} exceed --max-pixels {max_pixels}"
        )
    notes: list[str] = []
    # FFmpeg's encoders here need even sizes (4:2:0 chroma); OpenCV would crop silently.
    width, height = info.width - info.width % 2, info.height - info.height % 2
    if width == 0 or height == 0:
        raise VideoError(f"{source}: frames of {info.width}x{info.height} are too small")
    if (width, height) != (info.width, info.height):
        notes.append(
            f"cropped to {width}x{height} (from {info.width}x{info.height}): "
            "the encoder needs even sizes"
        )
    fps = info.fps
    if not 0 < fps <= 1000:
        fps = DEFAULT_FPS
        notes.append(f"the source declares no frame rate: written at {DEFAULT_FPS:g} fps")
    return width, height, fps, notes


def colorize_video(
    source: str | Path,
    output: str | Path,
    colorizer: Colorizer,
    *,
    temporal: float = DEFAULT_TEMPORAL,
    batch_size: int = 8,
    overwrite: bool = False,
    audio: bool = True,
    scene_cut_threshold: float = SCENE_CUT_THRESHOLD,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    on_progress: Callable[[VideoProgress], None] | None = None,
) -> VideoResult:
    """Colourize a video file into ``output`` (same size, frame rate and frame count).

    Args:
        source: any video OpenCV's FFmpeg backend reads.
        output: file to write; its suffix (``.mp4``, ``.mkv``, ``.mov``, ``.avi``) picks the
            container, and the codec is the first of the container's that this OpenCV build
            encodes (see :func:`writable_fourcc`). Its folder is created if missing.
        colorizer: model and settings (size, saturation, device).
        temporal: weight of the past in the ab moving average, 0 (off) ‥ 0.95.
        batch_size: frames per model batch (frames in memory at once, about).
        overwrite: replace an existing ``output`` instead of failing.
        audio: copy the source's audio when an ``ffmpeg`` executable is found.
        scene_cut_threshold: luminance histogram distance (0‥1) that restarts smoothing.
        max_pixels: refuse frames larger than this (width * height).
        on_progress: called after every batch.

    Returns:
        What was written, with flicker before/after smoothing and the audio outcome.

    Raises:
        VideoError: the source is missing, unreadable, truncated or corrupt; the output
            exists (``overwrite=False``) or cannot be written; colourizing failed.
        ValueError: ``temporal`` or ``batch_size`` out of range.
    """
    source, output = Path(source), Path(output)
    if not (0.0 <= temporal <= MAX_STRENGTH):
        raise ValueError(f"temporal must be in [0, {MAX_STRENGTH}], got {temporal}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    ext = output.suffix.lower().lstrip(".")
    if ext not in VIDEO_OUTPUT_EXTENSIONS:
        raise VideoError(
            f"{output}: cannot write {output.suffix or 'files without a suffix'!r} videos; "
            f"use one of {', '.join('.' + e for e in VIDEO_OUTPUT_EXTENSIONS)}"
        )
    if not overwrite and os.path.lexists(output):
        raise VideoError(f"{output}: already exists")
    started = time.perf_counter()
    decoder, info = _open_decoder(source, "frames")
    token = secrets.token_hex(4)
    partial = output.parent / f".{short_name(output.name)}.{token}.partial.{ext}"
    with_audio = output.parent / f".{short_name(output.name)}.{token}.audio.partial.{ext}"
    locks = contextlib.ExitStack()
    try:
        width, height, fps, notes = _output_geometry(info, source, max_pixels)
        fourcc = writable_fourcc(ext)
        try:
            output.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise VideoError(f"{output.parent}: cannot create folder ({error.strerror})") from None
        try:
            for path in (partial, with_audio):
                # held until the end: a later run's remove_stale_partials leaves them alone
                locks.enter_context(_locked_new_file(path))
        except OSError as error:
            raise VideoError(f"{output}: cannot write ({error.strerror or error})") from None
        writer = cv2.VideoWriter(
            str(partial), cv2.CAP_FFMPEG, _fourcc_code(fourcc), fps, (width, height)
        )
        if not writer.isOpened():
            writer.release()
            raise VideoError(f"{output}: cannot open a {fourcc} video writer in {output.parent}")
        smoother = TemporalSmoother(temporal, scene_cut_threshold=scene_cut_threshold)
        total = info.frame_count or None
        frames = 0

        def run_batch(batch: list[np.ndarray]) -> None:
            nonlocal frames
            rgb = [cv2.cvtColor(frame[:height, :width], cv2.COLOR_BGR2RGB) for frame in batch]
            inputs = [prepare_input(pixels, colorizer.size) for pixels in rgb]
            try:
                predicted = colorizer.predict(inputs)
            except RuntimeError as error:  # e.g. out of memory on the device
                raise VideoError(f"{source}: colourizing failed: {error}") from error
            for pixels, item, ab in zip(rgb, inputs, predicted, strict=True):
                rows, cols = item.content
                smoothed = smoother.update(item.lightness[0, :rows, :cols], ab)
                colour = colorizer.join(pixels, smoothed, out=pixels)  # our own copy: reuse it
                writer.write(cv2.cvtColor(colour, cv2.COLOR_RGB2BGR, dst=colour))
            frames += len(batch)
            if on_progress is not None:
                seconds = time.perf_counter() - started
                on_progress(VideoProgress(source, frames, total, seconds))

        try:
            batch: list[np.ndarray] = []
            for frame in decoder.frames():
                if frame.shape[:2] != (info.height, info.width):
                    raise VideoError(
                        f"{source}: frame {frames + len(batch) + 1} is "
                        f"{frame.shape[1]}x{frame.shape[0]}, not {info.width}x{info.height}"
                    )
                batch.append(frame)
                if len(batch) >= batch_size:
                    run_batch(batch)
                    batch = []
            if batch:
                run_batch(batch)
        finally:
            writer.release()
        if frames == 0:
            raise VideoError(f"{source}: truncated or corrupt video: no frame could be decoded")
        if total is not None and frames < total - max(2, _TRUNCATION_TOLERANCE * total):
            raise VideoError(
                f"{source}: truncated or corrupt video: decoded {frames} of {total} frames"
            )
        _verify_written(partial, output, frames)

        audio_state: Literal["copied", "none", "dropped"] = "none"
        audio_reason = ""
        final = partial
        if audio:
            audio_state, audio_reason = _add_audio(find_ffmpeg(), partial, source, with_audio, ext)
            if audio_state == "copied":
                final = with_audio
                _verify_written(final, output, frames)
        else:
            audio_state, audio_reason = "dropped", "not asked for"
        fsync_path(final)
        try:
            _publish(final, output, overwrite=overwrite)
        except OSError as error:
            raise VideoError(f"{output}: cannot write: {error.strerror or error}") from error
        return VideoResult(
            source=source,
            output=output,
            frames=frames,
            width=width,
            height=height,
            fps=fps,
            codec=fourcc,
            audio=audio_state,
            audio_reason=audio_reason,
            flicker_before=smoother.flicker_before.value,
            flicker_after=smoother.flicker_after.value,
            scene_cuts=smoother.scene_cuts,
            temporal=temporal,
            seconds=time.perf_counter() - started,
            notes=tuple(notes),
        )
    finally:
        decoder.close()
        for leftover in (partial, with_audio):
            # not only "not found": on a read-only folder unlink fails too, and must not
            # hide the VideoError being raised
            with contextlib.suppress(OSError):
                os.unlink(leftover)
        locks.close()


# --------------------------------------------------------------------------- planned jobs


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


@dataclass(frozen=True)
class VideoJobResult:
    """What happened to one video job: ``done``, ``skipped`` or ``failed``, with a reason."""

    job: Job
    status: str
    reason: str = ""
    video: VideoResult | None = None


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
                _check_inside(job.output, settings.out_root)
                video = colorize_video(
                    job.source,
                    job.output,
                    colorizer,
                    temporal=settings.temporal,
                    batch_size=settings.batch_size,
                    overwrite=settings.overwrite,
                    audio=settings.audio,
                    max_pixels=settings.max_pixels,
                    on_progress=progress,
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


def _check_inside(output: Path, root: Path | None) -> None:
    if root is None:
        return
    parent = output.parent.resolve()
    if not parent.is_relative_to(root.resolve()):
        raise VideoError(f"{output}: refusing to write outside the output folder (via {parent})")
