"""Keep a source's audio: find ``ffmpeg`` and copy the sound next to the colourized frames."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Literal

_AUDIO_FALLBACK_CODEC = {"mp4": "aac", "mov": "aac", "mkv": "aac", "avi": "libmp3lame"}


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
    video: Path, source: Path, target: Path, ext: str
) -> tuple[Literal["copied", "none", "dropped"], str]:
    """Mux ``source``'s audio and ``video``'s frames into ``target``, with :func:`find_ffmpeg`.

    Returns:
        ``("copied", "")``, ``("none", "")`` when the source has no audio, or
        ``("dropped", why)``.
    """
    ffmpeg = find_ffmpeg()
    if ffmpeg is None:
        return "dropped", "no ffmpeg found (install colorcli[video] or put ffmpeg on PATH)"
    try:
        if not _has_audio(ffmpeg, source):
            return "none", ""
        failure = _mux_audio(ffmpeg, video, source, target, ext)
    except OSError as error:
        return "dropped", f"cannot run {ffmpeg}: {error.strerror or error}"
    return ("dropped", failure) if failure else ("copied", "")
