"""Colourize one video: frames in batches through the model, ab smoothed over time, encoded."""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from colorcli.atomic import fsync_path, short_name
from colorcli.errors import VideoError
from colorcli.imageio import DEFAULT_MAX_PIXELS
from colorcli.jobs import VIDEO_OUTPUT_EXTENSIONS, make_output_folder
from colorcli.pipeline import Colorizer, prepare_input
from colorcli.temporal import MAX_STRENGTH, SCENE_CUT_THRESHOLD, TemporalSmoother
from colorcli.video.audio import _add_audio
from colorcli.video.decoder import VideoInfo, _open_decoder
from colorcli.video.verify import _locked_new_file, _publish, _verify_written
from colorcli.video.writer import _open_writer, writable_fourcc

DEFAULT_TEMPORAL = 0.6
"""Default weight of the past in the ab moving average (0 = none, at most 0.95)."""
DEFAULT_FPS = 25.0
"""Frame rate written when the source does not declare a usable one."""
_TRUNCATION_TOLERANCE = 0.02
"""Declared frame counts may be estimates: fewer frames than this fraction is tolerated."""


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
        make_output_folder(output, VideoError)
        try:
            for path in (partial, with_audio):
                # held until the end: a later run's remove_stale_partials leaves them alone
                locks.enter_context(_locked_new_file(path))
        except OSError as error:
            raise VideoError(f"{output}: cannot write ({error.strerror or error})") from None
        writer = _open_writer(partial, output, fourcc, fps, (width, height))
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
            audio_state, audio_reason = _add_audio(partial, source, with_audio, ext)
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
